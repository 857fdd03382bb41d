#!/usr/bin/env bash
# farm_reconnect.sh — a worker started before its coordinator retries with exponential
# backoff (1, 2, 4 s, capped) recreating its socket, joins once dreamd is up, and after
# a kill -9 + restart of dreamd it notices the silence, reconnects and works again.
source "$(dirname "$0")/farm_lib.bash"

start_worker early --backend sim --sim-ms-per-mpix-step 50 --heartbeat-ms 200 --liveness 3 --backoff-max-s 4
wait_for 20 'grep -q "reconnecting in 4 s" "$TMP/worker-early.log"' "backoff reaching 4 s"
seq=$(grep -o "reconnecting in [0-9]* s" "$TMP/worker-early.log" | awk '{print $3}' | tr '\n' ' ')
echo "backoff: $seq"
[[ "$seq" == "1 2 4"* ]] || die "backoff sequence '$seq' is not 1 2 4 ..."
wait_for 12 '[ "$(grep -c "reconnecting in 4 s" "$TMP/worker-early.log")" -ge 2 ]' "backoff capped at 4 s"
start_dreamd --size 320x256 --fps 10 --steps 1 --heartbeat-ms 200
wait_for 15 '[ "$(field keyframes)" -ge 2 ]' "the early worker joined and works"

kill -9 "$DREAMD_PID"; wait "$DREAMD_PID" 2>/dev/null
n0=$(grep -c "hello sent" "$TMP/worker-early.log")
mv "$TMP/dreamd.log" "$TMP/dreamd-first.log"
start_dreamd --size 320x256 --fps 10 --steps 1 --heartbeat-ms 200
wait_for 20 '[ "$(field keyframes)" -ge 2 ]' "the worker rejoined the restarted coordinator"
[ "$(grep -c "hello sent" "$TMP/worker-early.log")" -gt "$n0" ] || die "worker did not reconnect"
echo "PASS"
