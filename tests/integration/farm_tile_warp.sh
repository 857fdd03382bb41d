#!/usr/bin/env bash
# farm_tile_warp.sh — the tile warp (dreamd --tile-warp worker, docs/farm.md): with three sim
# workers the keyframes are tiled and every tile goes out as a window of the canvas (8.8 fixed
# point); each worker warps its tile from it and reports the hash of the 8-bit input it
# computed on, which the coordinator checks against its own warp of the whole canvas
# (window_mismatch must stay 0: the two warps agree bit for bit). A worker that fails the
# check would get pixel jobs; one killed mid-keyframe has its tile requeued, and the farm
# goes on.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 640x480 --fps 10 --steps 4 --motion wallclock --tile-warp worker --zoom-per-sec 1.3 --rotate-deg-per-sec 5
for w in w1 w2 w3; do start_worker $w --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000; done
W3=$LAST_WORKER_PID
wait_for 15 '[ "$(field connected)" = 3 ]' "3 workers connected"
wait_for 40 '[ "${WJ:=0}" -ge 24 ] || { WJ=$(field window_jobs); false; }' "24 window jobs"
[ "$(field tiles_last)" -ge 3 ] || die "keyframes not tiled: tiles_last=$(field tiles_last)"
[ "$(field window_mismatch)" = 0 ] || die "a worker's warp differs from the coordinator's: $(field window_mismatch) mismatches"
[ "$(field tiles_missed)" = 0 ] || die "tiles missed: $(field tiles_missed)"
# bytes: a window is ~2x an 8-bit tile (16 bits a channel) in the job direction
kill -9 "$W3"
k0=$(field keyframes)
wait_for 40 '[ "$(field keyframes)" -ge $((k0 + 4)) ]' "keyframes go on after a worker died"
[ "$(field window_mismatch)" = 0 ] || die "mismatches after the kill: $(field window_mismatch)"
echo "window_jobs=$(field window_jobs) keyframes=$(field keyframes) requeued=$(field requeued) tiles_missed=$(field tiles_missed)"
echo "PASS"
