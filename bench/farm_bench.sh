#!/usr/bin/env bash
# farm_bench.sh — render-farm scaling with the sim backend (no engine cost, so this
# measures the farm: planning, transfers, blending, scheduling).
# For 1, 2, 4, 8 sim workers on loopback at 1920x1080 keyframes: keyframes/s measured
# vs ideal (N x one worker doing the whole keyframe), scaling efficiency, and bytes
# moved per keyframe (jobs out + results in).
#   SECONDS_PER_RUN (default 20)  SIM_MS (ms per megapixel-step, default 100)  STEPS (default 10)
#   SIZE (default 1920x1080)  COUNTS (default "1 2 4 8")
set -u
cd "$(dirname "$0")/.."
BIN=build/bin
for b in dreamd dream-worker; do [ -x $BIN/$b ] || { echo "farm_bench: build first (make)"; exit 1; }; done
T=${SECONDS_PER_RUN:-20}; SIM_MS=${SIM_MS:-100}; STEPS=${STEPS:-10}; SIZE=${SIZE:-1920x1080}
COUNTS=${COUNTS:-"1 2 4 8"}
W=${SIZE%x*}; H=${SIZE#*x}
OUT=bench/out; mkdir -p $OUT
REPORT=$OUT/farm_bench.txt
port() { echo $((20000 + RANDOM % 40000)); }
single=$(awk -v w=$W -v h=$H -v s=$STEPS -v m=$SIM_MS 'BEGIN{printf "%.4f", 1000 / (w*h/1e6*s*m)}')
{
echo "# farm_bench $(date -u +%FT%TZ) on $(nproc) cores: sim ${SIM_MS} ms/MPx-step, $STEPS steps, ${SIZE} keyframes, ${T} s per run"
echo "# ideal = N x $single kf/s (one worker computing the whole keyframe)"
printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s\n" workers kf_per_s ideal efficiency tiles bytes_per_kf requeued
} | tee $REPORT
for n in $COUNTS; do
  wp=$(port); ap=$(port)
  log=$OUT/farm_bench_dreamd_$n.log
  $BIN/dreamd --worker-bind tcp://127.0.0.1:$wp --admin-bind tcp://127.0.0.1:$ap --http-port 0 --size $SIZE \
    --fps 1 --steps $STEPS --state :memory: --run-seconds $T --log-level info >$log 2>&1 &
  dp=$!
  sleep 0.3
  wpids=()
  for i in $(seq $n); do
    $BIN/dream-worker --connect tcp://127.0.0.1:$wp --backend sim --sim-ms-per-mpix-step $SIM_MS \
      --name bench$i --log-level warn >/dev/null 2>&1 &
    wpids+=($!)
  done
  tiles=0
  for _ in $(seq $((T * 2))); do
    t=$($BIN/dreamctl --admin tcp://127.0.0.1:$ap status 2>/dev/null | awk -F: '$1=="tiles_last"{print $2}')
    [ -n "$t" ] && [ "$t" -gt 0 ] && tiles=$t
    kill -0 $dp 2>/dev/null || break
    sleep 0.5
  done
  wait $dp
  for p in "${wpids[@]}"; do kill -TERM $p 2>/dev/null; done
  wait 2>/dev/null
  line=$(grep "summary:" $log | tail -1)
  kfps=$(sed -n 's/.*kf_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
  bpk=$(sed -n 's/.*bytes_per_keyframe=\([0-9]*\).*/\1/p' <<<"$line")
  req=$(sed -n 's/.*requeued=\([0-9]*\).*/\1/p' <<<"$line")
  ideal=$(awk -v n=$n -v s=$single 'BEGIN{printf "%.3f", n*s}')
  eff=$(awk -v k=${kfps:-0} -v i=$ideal 'BEGIN{printf "%.0f%%", 100*k/i}')
  printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s\n" $n "${kfps:-?}" $ideal $eff $tiles "${bpk:-?}" "${req:-?}" | tee -a $REPORT
done
echo "report: $REPORT"
