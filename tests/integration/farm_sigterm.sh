#!/usr/bin/env bash
# farm_sigterm.sh — graceful stops: SIGTERM to a busy worker lets it finish the job in hand
# (its result is used, nothing requeued), say bye and exit 0; SIGINT to dreamd (with
# CURVE's ZAP thread off and the frame clock running) exits 0 with a summary.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 480x352 --fps 10 --steps 10
start_worker slow --backend sim --sim-ms-per-mpix-step 1500 --max-tile-pixels 200000
SLOW=$LAST_WORKER_PID
wait_for 15 'ctl workers | grep -q "^worker:slow .*state=busy"' "worker busy"
ok0=$(field results_ok)
kill -TERM "$SLOW"
for _ in $(seq 100); do kill -0 "$SLOW" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SLOW" 2>/dev/null && die "worker did not stop within 10 s of SIGTERM"
wait "$SLOW"; rc=$?
[ $rc = 0 ] || die "worker exit code $rc"
grep -q "finishing the job in hand" "$TMP/worker-slow.log" || die "worker did not finish its job first"
sleep 0.3
[ "$(field results_ok)" -gt "$ok0" ] || die "the finished job's result was not used"
[ "$(field requeued)" = 0 ] || die "a job was requeued"
grep -q "stopped after" "$TMP/worker-slow.log" || die "worker did not stop cleanly"
# (the coordinator sees the bye, or the closed connection when it was quicker to send the next job)
grep -Eq "slow \(sim\) gone: (said bye|unreachable)" "$TMP/dreamd.log" || die "coordinator did not drop the worker"
[ "$(field connected)" = 0 ] || die "worker still registered"
# with no worker the frame clock keeps running on the last canvas
f0=$(field frames); sleep 1; f1=$(field frames)
[ $((f1 - f0)) -ge 5 ] || die "frames stopped without workers ($f0 -> $f1)"
kill -INT "$DREAMD_PID"
for _ in $(seq 50); do kill -0 "$DREAMD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DREAMD_PID" 2>/dev/null && die "dreamd did not stop on SIGINT"
wait "$DREAMD_PID"; rc=$?
[ $rc = 0 ] || die "dreamd exit code $rc"
grep -q "summary:" "$TMP/dreamd.log" || die "no summary"
echo "PASS"
