#!/usr/bin/env bash
# farm_tile_resident.sh — tile-resident workers (dreamd --tile-warp resident, docs/farm.md):
# with three sim workers every tiled keyframe goes to workers that keep their tiles. Each job
# carries only the part of its window the worker does not hold (the rest comes from the 8.8
# result it kept), the worker reports the hash of the whole window it rebuilt, and the
# coordinator, which never warps, checks it against its own canvas (tile_resident_mismatch
# must stay 0, while most of every window is held). A worker killed mid-keyframe: its tile is
# requeued (as a whole window to a worker that holds none of it) or filled from a warp made
# then; the farm goes on, still tile-resident. Last, a worker that keeps a result differing from
# the one it sent (DREAM_TEST_CORRUPT_KEPT, a test hook in node.c) joins the farm: the check must
# catch it (a failure of that worker), requeue its tile and give it no tile-resident job again,
# while the others go on with tile-resident keyframes (one bad worker must not switch the farm
# back to the coordinator's warp). Results come in two parts (Job.rest): every rest arrives; then a
# worker that withholds its rests (DREAM_TEST_NO_REST): they are filled and count as its failures.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 640x480 --fps 10 --steps 4 --motion wallclock --tile-warp resident --zoom-per-sec 1.3 --rotate-deg-per-sec 5
# w2 warps through the compute seam's device op (the sim's --sim-device-warp stand-in) on its
# modelled device's own low-priority thread (--sim-device-thread), the others on the host: both
# paths rebuild the same windows
for w in w1 w2 w3; do
  dw=false; [ $w = w2 ] && dw=true
  # w1 and w3 send a rest only when dreamd asks for it or before their next result (no timer):
  # every rest must still come, through layout changes too
  ask=; [ $w != w2 ] && ask=1
  DREAM_TEST_REST_ON_ASK=$ask start_worker $w --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000 --sim-device-warp $dw --sim-device-thread $dw
  [ $w = w2 ] && W2=$LAST_WORKER_PID
done
W3=$LAST_WORKER_PID
# the modelled device is a thread of its own 10 nice levels below the worker (field 19 of its
# stat; at most 19), and only w2 has one
nice_of() { sed 's/^.*) //' "$1" | awk '{print $17}'; }
low_threads() {   # pid -> threads 10 nice levels below the process's main thread
  local n=0 f base want
  base=$(nice_of /proc/"$1"/stat); want=$((base + 10 > 19 ? 19 : base + 10))
  for f in /proc/"$1"/task/*/stat; do
    [ "$(nice_of "$f" 2>/dev/null)" = "$want" ] && n=$((n + 1))
  done
  echo $n
}
if [ "$(nice_of /proc/$W2/stat)" -lt 19 ]; then
  wait_for 10 '[ "$(low_threads $W2)" = 1 ]' "w2's device thread 10 nice levels down (have $(low_threads $W2))"
  [ "$(low_threads $W3)" = 0 ] || die "w3 (no --sim-device-thread) has $(low_threads $W3) low-priority threads"
else
  echo "workers already run at nice 19: device thread priority not checked"
fi
wait_for 15 '[ "$(field connected)" = 3 ]' "3 workers connected"
wait_for 40 '[ "${TJ:=0}" -ge 24 ] || { TJ=$(field tile_resident_jobs); false; }' "24 tile-resident jobs"
[ "$(field tiles_last)" -ge 3 ] || die "keyframes not tiled: tiles_last=$(field tiles_last)"
[ "$(field tile_resident_mismatch)" = 0 ] || die "a worker's window differs from the coordinator's canvas: $(field tile_resident_mismatch) mismatches"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
[ "$(field window_jobs)" = 0 ] || die "window jobs in a tile-resident farm: $(field window_jobs)"
# results in two parts (Job.rest, on by default): the rim at once, the bulk when dreamd asks for
# it (once the next keyframe's jobs are out); every rest came (none filled)
[ "$(field result_rest_parts)" -ge 12 ] || die "few results in two parts: $(field result_rest_parts)"
[ "$(field result_rest_filled)" = 0 ] || die "rests filled while every worker sent them: $(field result_rest_filled)"
[ "$(field result_rest_asks)" -ge 6 ] || die "dreamd asked for few rests: $(field result_rest_asks) of $(field result_rest_parts)"
held=$(field tile_resident_held_pct)
awk -v h="$held" 'BEGIN{exit !(h >= 15)}' || die "workers hold only ${held} % of their windows (want >= 15: small tiles, mostly overlap)"
kill -9 "$W3"
k0=$(field keyframes)
wait_for 40 '[ "$(field keyframes)" -ge $((k0 + 4)) ]' "keyframes go on after a worker died"
t0=$(field tile_resident_jobs)
wait_for 30 '[ "$(field tile_resident_jobs)" -ge $((t0 + 4)) ]' "tile-resident jobs go on with two workers"
[ "$(field tile_resident_mismatch)" = 0 ] || die "mismatches after the kill: $(field tile_resident_mismatch)"
echo "tile_resident_jobs=$(field tile_resident_jobs) held=$(field tile_resident_held_pct)% keyframes=$(field keyframes) requeued=$(field requeued) tiles_missed=$(field tiles_missed)"
# the keyframe that waited for the dead worker (its heartbeat's timeout) held the others' rests:
# asked for at their deadline, none counted against the living (w1 sends only when asked)
grep -q "the rest of its result did not come" "$TMP/dreamd.log" && die "an honest worker's rest was filled as missing: $(grep -m1 'did not come' "$TMP/dreamd.log")"
DREAM_TEST_CORRUPT_KEPT=1 start_worker bad --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000
wait_for 40 '[ "$(field tile_resident_mismatch)" -ge 1 ]' "the corrupt kept tile is caught"
k1=$(field keyframes)
t1=$(field tile_resident_jobs)
wait_for 40 '[ "$(field keyframes)" -ge $((k1 + 4)) ]' "keyframes go on after the mismatch"
[ "$(field tile_resident_mismatch)" = 1 ] || die "the corrupt worker got tile-resident jobs again: $(field tile_resident_mismatch) mismatches"
[ "$(field tile_resident_jobs)" -ge $((t1 + 4)) ] || die "the farm stopped being tile-resident after one bad worker ($t1 -> $(field tile_resident_jobs) jobs)"
grep -q "tile-resident window differs" "$TMP/dreamd.log" || die "the mismatch was not counted as a failure"
# a worker that never sends the rests of its results (DREAM_TEST_NO_REST, a test hook in node.c):
# each is filled from the warped keyframe before (the display does not wait for it for long),
# counted as its failure (quarantined after a few), and the farm goes on
DREAM_TEST_NO_REST=1 start_worker norest --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000
f0=$(field result_rest_filled)
wait_for 60 '[ "$(field result_rest_filled)" -gt "$f0" ]' "a withheld rest is filled"
grep -q "the rest of its result did not come" "$TMP/dreamd.log" || die "the withheld rest was not counted as a failure"
k2=$(field keyframes)
wait_for 60 '[ "$(field keyframes)" -ge $((k2 + 4)) ]' "keyframes go on with a worker that withholds its rests"
echo "rest_parts=$(field result_rest_parts) rest_filled=$(field result_rest_filled) rest_waits=$(field result_rest_waits) quarantined=$(field quarantined)"
echo "PASS"
