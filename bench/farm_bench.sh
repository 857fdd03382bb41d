#!/usr/bin/env bash
# farm_bench.sh — render-farm scaling with the sim backend (no engine cost, so this
# measures the farm: planning, transfers, blending, scheduling).
# For 1, 2, 4, 8 sim workers on loopback at 1920x1080 keyframes: keyframes/s measured
# vs ideal (N x one worker doing the whole keyframe), scaling efficiency, and bytes
# moved per keyframe (jobs out + results in, heartbeats included), measured in the steady
# state (after all workers joined and two keyframes are done) over SECONDS_PER_RUN.
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
# ports below the ephemeral range, so no outgoing connection holds them
port() { echo $((10000 + RANDOM % 22000)); }
single=$(awk -v w=$W -v h=$H -v s=$STEPS -v m=$SIM_MS 'BEGIN{printf "%.4f", 1000 / (w*h/1e6*s*m)}')
{
echo "# farm_bench $(date -u +%FT%TZ) on $(nproc) cores: sim ${SIM_MS} ms/MPx-step, $STEPS steps, ${SIZE} keyframes, ${T} s per run"
echo "# ideal = N x $single kf/s (one worker computing the whole keyframe)"
printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s %s\n" workers kf_per_s ideal efficiency tiles bytes_per_kf requeued coord_ms
} | tee $REPORT
now() { date +%s.%N; }
for n in $COUNTS; do
  wp=$(port); ap=$(port)
  log=$OUT/farm_bench_dreamd_$n.log
  ctl() { $BIN/dreamctl --admin tcp://127.0.0.1:$ap "$@" 2>/dev/null; }
  field() { ctl status | awk -F: -v k="$1" '$1==k{print $2; exit}'; }
  $BIN/dreamd --worker-bind tcp://127.0.0.1:$wp --admin-bind tcp://127.0.0.1:$ap --http-port 0 --size $SIZE \
    --fps 1 --steps $STEPS --state :memory: --run-seconds $((T * 3 + 60)) --log-level info >$log 2>&1 &
  dp=$!
  sleep 0.3
  wpids=()
  for i in $(seq $n); do
    $BIN/dream-worker --connect tcp://127.0.0.1:$wp --backend sim --sim-ms-per-mpix-step $SIM_MS \
      --name bench$i --log-level warn >/dev/null 2>&1 &
    wpids+=($!)
  done
  # warm-up: all workers in and two keyframes done, then measure the steady state for T s
  for _ in $(seq 200); do
    [ "$(field connected)" = "$n" ] && [ "$(field keyframes)" -ge 2 ] 2>/dev/null && break
    sleep 0.1
  done
  k1=$(field keyframes); t1=$(now); b1=$(( $(field bytes_in) + $(field bytes_out) ))
  sleep "$T"
  k2=$(field keyframes); t2=$(now); b2=$(( $(field bytes_in) + $(field bytes_out) ))
  tiles=$(field tiles_last); req=$(field requeued); cms=$(field coord_ms_per_keyframe)
  ctl quit >/dev/null
  wait $dp
  for p in "${wpids[@]}"; do kill -TERM $p 2>/dev/null; done
  wait 2>/dev/null
  kfps=$(awk -v a=$k1 -v b=$k2 -v s=$t1 -v e=$t2 'BEGIN{printf "%.3f", (b-a)/(e-s)}')
  bpk=$(awk -v a=$k1 -v b=$k2 -v x=$b1 -v y=$b2 'BEGIN{ if (b > a) printf "%.0f", (y-x)/(b-a); else print "?" }')
  ideal=$(awk -v n=$n -v s=$single 'BEGIN{printf "%.3f", n*s}')
  eff=$(awk -v k=$kfps -v i=$ideal 'BEGIN{printf "%.0f%%", 100*k/i}')
  printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s %s\n" $n "$kfps" $ideal $eff "$tiles" "$bpk" "$req" "$cms" | tee -a $REPORT
done
{
echo "# efficiency = measured / ideal; the ideal ignores halos (tiles overlap by 2 x 64 px),"
echo "# the coordinator's serial work per keyframe (warp, blend, hand-off: coord_ms column) and transfers."
} | tee -a $REPORT
echo "report: $REPORT"
