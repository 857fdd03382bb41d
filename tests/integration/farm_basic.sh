#!/usr/bin/env bash
# farm_basic.sh — coordinator + 2 sim workers on loopback produce keyframes and
# fixed-rate frames (PNG sinks), both workers get tiles, dreamctl status/workers/config
# answer INFO-style, the frame clock reuses dropped keyframes' memory, --io-threads gives dreamd's
# ZeroMQ context that many I/O threads, SIGTERM stops dreamd gracefully and the workers hear bye.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 2 --frames-out "$TMP/frames" --keyframes-out "$TMP/kf" --io-threads 2
# small max tile so the keyframe is cut into several tiles
start_worker w1 --backend sim --sim-ms-per-mpix-step 100 --max-tile-pixels 90000
start_worker w2 --backend sim --sim-ms-per-mpix-step 100 --max-tile-pixels 90000
wait_for 15 '[ "$(field connected)" = 2 ]' "2 workers connected"
wait_for 20 '[ "${KF:=0}" -ge 5 ] || { KF=$(field keyframes); false; }' "5 keyframes"

st=$(ctl status) || die "status failed"
for s in "# Server" "# Workers" "# Keyframes"; do grep -qx "$s" <<<"$st" || die "status lacks '$s'"; done
[ "$(field tiles_last)" -ge 2 ] || die "expected several tiles per keyframe, got $(field tiles_last)"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
[ "$(worker_jobs w1)" -gt 0 ] || die "w1 did no work"
[ "$(worker_jobs w2)" -gt 0 ] || die "w2 did no work"
ctl config | grep -qx "# Config" || die "config lacks # Config"
ctl config | grep -qx "size:480x352" || die "config lacks size"
ctl bogus >/dev/null && die "unknown command did not fail"
ctl config | grep -qx "io-threads:2" || die "config lacks io-threads:2"
io=$(cat /proc/"$DREAMD_PID"/task/*/comm 2>/dev/null | grep -c '^ZMQbg/IO/')
[ "$io" = 2 ] || die "dreamd --io-threads 2 runs $io ZeroMQ I/O threads"

wait_for 20 '[ "$(field frames)" -ge 25 ]' "25 frames from the frame clock"
# the frame clock gives the memory of keyframes it has dropped back for the next copies
wait_for 20 '[ "$(field kf_reused)" -ge 2 ]' "keyframe copies into dropped keyframes' memory (kf_reused)"
kill -TERM "$DREAMD_PID"
for _ in $(seq 50); do kill -0 "$DREAMD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DREAMD_PID" 2>/dev/null && die "dreamd did not stop on SIGTERM"
wait "$DREAMD_PID"; rc=$?
[ $rc = 0 ] || die "dreamd exit code $rc"
grep -q "summary: keyframes=" "$TMP/dreamd.log" || die "no summary line"

nf=$(ls "$TMP/frames" | wc -l); nk=$(ls "$TMP/kf" | wc -l)
echo "frames=$nf keyframes=$nk"
[ "$nk" -ge 5 ] || die "only $nk keyframe files"
[ "$nf" -ge 25 ] || die "only $nf frame files"
head -c 8 "$TMP/frames/$(ls "$TMP/frames" | head -1)" | od -An -tx1 | grep -q "89 50 4e 47" || die "frame is not a PNG"
sleep 0.5
grep -q "coordinator said bye" "$TMP/worker-w1.log" || die "w1 did not hear bye"
echo "PASS"
