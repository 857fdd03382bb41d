#!/usr/bin/env bash
# farm_kill_worker.sh — kill -9 of a worker in the middle of a job: its tile is
# requeued to the other worker, keyframes go on, frames keep flowing with no gap
# longer than one keyframe interval; the worker restarts under the same name and
# rejoins (and gets work again).
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 4 --heartbeat-ms 300 --liveness 3
# slow sim so a job is in flight for ~0.3 s
start_worker victim --backend sim --sim-ms-per-mpix-step 1000 --max-tile-pixels 90000 --heartbeat-ms 300
VICTIM=$LAST_WORKER_PID
start_worker steady --backend sim --sim-ms-per-mpix-step 1000 --max-tile-pixels 90000 --heartbeat-ms 300
wait_for 15 '[ "$(field connected)" = 2 ]' "2 workers connected"
wait_for 20 '[ "$(field keyframes)" -ge 2 ]' "first keyframes"
wait_for 10 'ctl workers | grep -q "^worker:victim .*state=busy"' "victim busy with a job"
kill -9 "$VICTIM"
kf0=$(field keyframes)
echo "killed victim mid-job at keyframe $kf0"
wait_for 10 '[ "$(field requeued)" -ge 1 ]' "the victim's tile requeued"
wait_for 10 '[ "$(field connected)" = 1 ]' "victim dropped"
wait_for 20 '[ "$(field keyframes)" -ge $((kf0 + 3)) ]' "keyframes continuing after the kill"

gap=$(field frame_max_gap_ms); ival=$(field keyframe_interval_ms)
echo "frame_max_gap_ms=$gap keyframe_interval_ms=$ival"
awk -v g="$gap" -v i="$ival" 'BEGIN { exit !(g <= i || g <= 250) }' || die "frame gap $gap ms > keyframe interval $ival ms"
[ "$(field frames)" -gt 20 ] || die "frames not flowing"

# restart under the same name: it rejoins and works again
start_worker victim --backend sim --sim-ms-per-mpix-step 1000 --max-tile-pixels 90000 --heartbeat-ms 300
wait_for 15 '[ "$(field connected)" = 2 ]' "victim rejoined"
wait_for 20 '[ "$(worker_jobs victim)" -ge 1 ]' "rejoined victim gets jobs"
[ "$(field quarantined)" = 0 ] || die "a worker got quarantined"
echo "PASS"
