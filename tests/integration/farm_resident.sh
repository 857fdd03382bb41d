#!/usr/bin/env bash
# farm_resident.sh — the resident canvas (dreamd --resident-canvas, docs/farm.md): one sim worker
# that holds the whole canvas is seeded once with the float canvas, then gets only the warp
# parameters; every result carries the hash of the 8-bit input it computed on and the
# coordinator checks it against its own warp (resident_mismatch must stay 0). A second worker
# makes the keyframes tiled (ordinary jobs); when it leaves, the first one is seeded again.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 10 --motion wallclock --resident-canvas
start_worker w1 --backend sim --sim-ms-per-mpix-step 200
wait_for 15 '[ "$(field connected)" = 1 ]' "1 worker connected"
wait_for 30 '[ "${RJ:=0}" -ge 8 ] || { RJ=$(field resident_jobs); false; }' "8 resident jobs"
[ "$(field resident_mismatch)" = 0 ] || die "resident canvas differs: $(field resident_mismatch) mismatches"
[ "$(field resident_seeds)" -ge 1 ] || die "no seed job"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
seeds=$(field resident_seeds)
start_worker w2 --backend sim --sim-ms-per-mpix-step 200 --max-tile-pixels 120000
W2=$LAST_WORKER_PID
wait_for 15 '[ "$(field connected)" = 2 ]' "2 workers connected"
wait_for 20 '[ "$(field tiles_last)" -ge 2 ]' "tiled keyframes"
kill -9 "$W2"
k0=$(field resident_jobs)
wait_for 30 '[ "$(field resident_jobs)" -ge $((k0 + 3)) ]' "resident jobs again after the tiled keyframes"
[ "$(field resident_seeds)" -gt "$seeds" ] || die "not seeded again after tiled keyframes"
[ "$(field resident_mismatch)" = 0 ] || die "resident canvas differs: $(field resident_mismatch) mismatches"
echo "resident_jobs=$(field resident_jobs) seeds=$(field resident_seeds) requeued=$(field requeued)"
echo "PASS"
