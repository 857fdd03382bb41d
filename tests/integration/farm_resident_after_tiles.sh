#!/usr/bin/env bash
# farm_resident_after_tiles.sh — a worker whose FIRST resident job (dreamd --resident-canvas)
# comes after it has computed ordinary tiled jobs: the worker makes its resident canvas then,
# and must keep computing (its reused float buffer of the tiled jobs stays valid; a worker
# that freed it there crashed on a double free). w2 (which cannot hold the whole canvas) runs
# first, so w1 only ever sees tiles until w2 is killed; then w1 alone is seeded and goes on.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 4 --motion wallclock --resident-canvas
start_worker w2 --backend sim --sim-ms-per-mpix-step 100 --max-tile-pixels 120000
W2=$LAST_WORKER_PID
wait_for 15 '[ "$(field connected)" = 1 ]' "w2 connected"
wait_for 20 '[ "$(field keyframes)" -ge 1 ]' "a keyframe from w2 alone"
start_worker w1 --backend sim --sim-ms-per-mpix-step 100
W1=$LAST_WORKER_PID
wait_for 15 '[ "$(field connected)" = 2 ]' "2 workers connected"
wait_for 20 '[ "$(worker_jobs w1)" -ge 2 ]' "w1 computing tiles"
[ "$(field resident_seeds)" = 0 ] || die "a resident seed while w2 (which cannot hold the canvas) is connected"
kill -9 "$W2"
wait_for 30 '[ "$(field resident_seeds)" -ge 1 ]' "w1 seeded with the resident canvas"
k0=$(field resident_jobs)
wait_for 30 '[ "$(field resident_jobs)" -ge $((k0 + 3)) ] || ! kill -0 $W1 2>/dev/null' "resident jobs on w1"
kill -0 "$W1" 2>/dev/null || die "w1 died after its first resident job"
[ "$(field resident_mismatch)" = 0 ] || die "resident canvas differs: $(field resident_mismatch) mismatches"
echo "resident_jobs=$(field resident_jobs) seeds=$(field resident_seeds) w1_jobs=$(worker_jobs w1)"
echo "PASS"
