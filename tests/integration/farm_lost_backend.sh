#!/usr/bin/env bash
# farm_lost_backend.sh — a worker whose backend dies for good (a CUDA context after a sticky
# error; simulated here with DREAM_SIM_LOSE_AFTER on the sim backend) reports the failed job,
# says bye, leaves the farm and exits with status 1 (so systemd / k8s restart it) instead of
# failing every later job; the job is redone by the other worker and keyframes go on.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 2 --heartbeat-ms 300 --liveness 3
export DREAM_SIM_LOSE_AFTER=2
# (--sim-device-warp: a modelled GPU worker, whose tile-resident result is made on its device:
# the job that fails there lets go of its result buffer, under ASan too)
start_worker doomed --backend sim --sim-ms-per-mpix-step 50 --max-tile-pixels 90000 --heartbeat-ms 300 --sim-device-warp true
DOOMED=$LAST_WORKER_PID
unset DREAM_SIM_LOSE_AFTER
start_worker steady --backend sim --sim-ms-per-mpix-step 50 --max-tile-pixels 90000 --heartbeat-ms 300
wait_for 15 '[ "$(field connected)" = 2 ] || ! kill -0 $DOOMED 2>/dev/null' "2 workers connected"
# the doomed worker fails its third job and must exit by itself
end=$((SECONDS + 30))
while kill -0 "$DOOMED" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
kill -0 "$DOOMED" 2>/dev/null && die "the worker with a lost backend is still running"
wait "$DOOMED"; rc=$?
[ "$rc" = 1 ] || die "exit status $rc, want 1 (a supervisor restarts on failure)"
grep -q "backend lost" "$TMP/worker-doomed.log" || die "no 'backend lost' in the worker's log"
# 2 good jobs + the failed one (its error is sent), then no more
grep -q "stopped after 3 jobs" "$TMP/worker-doomed.log" || die "the worker did not stop right after the failed job"
grep -q "worker doomed (sim) gone: said bye" "$TMP/dreamd.log" || die "the coordinator did not get a bye"
wait_for 10 '[ "$(field connected)" = 1 ]' "the doomed worker gone from the farm"
kf0=$(field keyframes)
wait_for 20 '[ "$(field keyframes)" -ge $((kf0 + 2)) ]' "keyframes continuing on the other worker"
echo "PASS"
