#!/usr/bin/env bash
# farm_chaos.sh — `make soak`: dreamd + 3 sim workers for SOAK_SECONDS (default 600) while a
# chaos loop kill -9s and restarts a random worker every few seconds and fuzzes the worker port;
# asserts the coordinator stays up, keyframes keep coming (no stall longer than 3 keyframe
# intervals... bounded by 20 s), memory stays bounded, and the farm recovers to 3 workers.
source "$(dirname "$0")/../integration/farm_lib.bash"
SECS=${SOAK_SECONDS:-600}
start_dreamd --size 640x360 --fps 10 --steps 1
for w in a b c; do start_worker "$w" --backend sim --sim-ms-per-mpix-step 200; eval "PID_$w=$LAST_WORKER_PID"; done
wait_for 30 '[ "$(field keyframes)" -ge 3 ]' "first keyframes"
rss0=$(awk '/VmRSS/{print $2}' /proc/$DREAMD_PID/status)
end=$((SECONDS + SECS)); last_kf=$(field keyframes); last_t=$SECONDS; round=0
while [ $SECONDS -lt $end ]; do
  round=$((round + 1))
  w=$(printf 'a\nb\nc\n' | shuf -n1)
  eval "kill -9 \$PID_$w" 2>/dev/null
  sleep 1
  start_worker "$w" --backend sim --sim-ms-per-mpix-step 200; eval "PID_$w=$LAST_WORKER_PID"
  [ $((round % 5)) = 0 ] && "${DREAM_BUILD:-$ROOT/build}/tests/farm_fuzz" "$WEP" 50 $((1 << 20)) >/dev/null 2>&1
  sleep $((2 + RANDOM % 4))
  kill -0 "$DREAMD_PID" || die "dreamd died in round $round"
  kf=$(field keyframes)
  if [ "${kf:-0}" -gt "$last_kf" ]; then last_kf=$kf; last_t=$SECONDS; fi
  [ $((SECONDS - last_t)) -le 20 ] || die "no keyframe for $((SECONDS - last_t)) s (round $round)"
done
wait_for 30 '[ "$(field connected)" = 3 ]' "3 workers connected after the chaos"
rss1=$(awk '/VmRSS/{print $2}' /proc/$DREAMD_PID/status)
echo "rounds=$round keyframes=$last_kf rss_kb $rss0 -> $rss1"
[ "$rss1" -le $((rss0 * 2 + 65536)) ] || die "dreamd memory grew from $rss0 to $rss1 kB"
echo "PASS"
