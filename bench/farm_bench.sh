#!/usr/bin/env bash
# farm_bench.sh — render-farm scaling with the sim backend (no engine cost, so this
# measures the farm: planning, transfers, blending, scheduling).
# For 1, 2, 4, 8 sim workers on loopback at 1920x1080 keyframes: keyframes/s measured
# vs the honest ideal (canvas megapixel-steps without halos / (N x sim speed)), scaling
# efficiency, and bytes moved per keyframe (jobs out + results in, heartbeats included),
# measured in the steady state (after all workers joined and two keyframes are done) over
# SECONDS_PER_RUN. A second table breaks one keyframe's wall time down (means over the
# window, ms, from the coordinator's "# Timing" status totals):
#   prep    warp + tile plan + 8-bit conversion before the first job goes out
#   send    cutting tiles and handing the first round of jobs out
#   work    first hand-out .. last result blended (the workers' part)
#   compute the slowest tile's compute time as the worker reported it (inside work)
#   xfer    per job: round trip - compute (transfers, worker-side conversions, queueing)
#   blend   blending results in as they arrive (inside work)
#   finish  last result .. keyframe handed to the frame clock (final blend, copies)
#   gap     keyframe done .. next one started
#   halo    tile pixels / canvas pixels - 1 (compute the halos add)
#   vs_halo_bound  kf/s / (N workers busy all the time on the tiles as cut, halos included):
#           how close the farm gets to what this tiling allows
#   crit    the coordinator's critical path: prep + send + finish + gap + blend / tiles (the
#           last tile's blend); everything else it does overlaps the workers' compute
#   SECONDS_PER_RUN (default 20)  SIM_MS (ms per megapixel-step, default 100)  STEPS (default 10)
#   SIZE (default 1920x1080)  COUNTS (default "1 2 4 8")
#   LINK_MBPS (default 0 = loopback): each sim worker models a link of that many Mbit/s (its job
#           waits for its bytes' transfer time before and after computing; tc netem is not
#           available everywhere); coord_link_cap = the coordinator's own NIC at that speed,
#           LINK_MBPS / (8 x bytes per keyframe) keyframes/s, all workers' bytes share it
#   RESIDENT=0: dreamd --resident-canvas false (on by default since issue 14; docs/farm.md)
#   TILE_WARP (default resident, dreamd's default: workers keep their tiles, 8.8 results, the
#           coordinator does not warp); worker: the workers warp their tiles from whole windows;
#           coordinator: the coordinator warps the canvas and sends 8-bit tiles (the old default)
#   TILE_RESULT (default 8.8, dreamd's default): 8 = dreamd --tile-result 8 (tile-resident results
#           rounded to 8 bits: half the bytes in)
#   DEVICE_WARP=1: the sim workers' --sim-device-warp (a tile-resident job's warp is modelled
#           device work, as on GPU workers on their own machines, instead of a bicubic warp on
#           this machine's cores, which the coordinator shares) and --sim-device-thread (the
#           modelled device's pixel work, warp and pattern, on a thread at nice 10: it gives way to
#           the coordinator's and the workers' host work; DEVICE_THREAD=0: not)
#   IO_THREADS (default 1): dreamd --io-threads (ZeroMQ I/O threads for the workers' transfers)
#   WORKER_THREADS (default 0 = all cores): each sim worker's --threads (its host-side passes)
#   RESULT_REST (default 1, dreamd's default): 0 = dreamd --result-rest false (tile-resident results
#           in one part instead of the rim first and the bulk after the next hand-out)
#   REPORT_NAME (default farm_bench): bench/out/REPORT_NAME.txt
# A default run (no SIM_MS given; FARM_BENCH_GPU=0 skips it) then repeats at GPU pace: first at
# the pace measured on an H200 (SIM_MS=16: dream's bf16 step, 32.9 ms at 1920x1080, docs/cuda.md)
# with 1 and 4 workers at 1080p and 4 and 8 at 4K (-> bench/out/farm_bench_h200*.txt), then at
# issue 14's target pace (SIM_MS=4, 4x faster: what a dream step at ~440 TFLOP/s would be):
# 1080p with 1 and 4 workers, 4 workers behind a modelled 1 GbE link, 4 workers with --tile-warp
# worker and coordinator, 4 workers with the sim's device warp, and 4K with 4 and 8 workers (and
# with the device warp) -> bench/out/farm_bench_gpu*.txt
set -u
cd "$(dirname "$0")/.."
BIN=build/bin
for b in dreamd dream-worker; do [ -x $BIN/$b ] || { echo "farm_bench: build first (make)"; exit 1; }; done
GPU_PASS=0; [ -z "${SIM_MS:-}" ] && [ "${FARM_BENCH_GPU:-1}" != 0 ] && GPU_PASS=1
T=${SECONDS_PER_RUN:-20}; SIM_MS=${SIM_MS:-100}; STEPS=${STEPS:-10}; SIZE=${SIZE:-1920x1080}
COUNTS=${COUNTS:-"1 2 4 8"}
LINK_MBPS=${LINK_MBPS:-0}; RESIDENT=${RESIDENT:-1}; TILE_WARP=${TILE_WARP:-resident}; DEVICE_WARP=${DEVICE_WARP:-0}
TILE_RESULT=${TILE_RESULT:-8.8}; IO_THREADS=${IO_THREADS:-1}; RESULT_REST=${RESULT_REST:-1}
EXTRA_D=(--resident-canvas "$([ "$RESIDENT" = 1 ] && echo true || echo false)" --tile-warp "$TILE_WARP" --tile-result "$TILE_RESULT"
  --io-threads "$IO_THREADS" --result-rest "$([ "$RESULT_REST" = 1 ] && echo true || echo false)")
W=${SIZE%x*}; H=${SIZE#*x}
OUT=bench/out; mkdir -p $OUT
RN=${REPORT_NAME:-farm_bench}
REPORT=$OUT/$RN.txt
# ports below the ephemeral range, so no outgoing connection holds them
. tools/free-port.bash                       # free_port
single=$(awk -v w=$W -v h=$H -v s=$STEPS -v m=$SIM_MS 'BEGIN{printf "%.4f", 1000 / (w*h/1e6*s*m)}')
{
echo "# farm_bench $(date -u +%FT%TZ) on $(nproc) cores: sim ${SIM_MS} ms/MPx-step, $STEPS steps, ${SIZE} keyframes, ${T} s per run, link ${LINK_MBPS} Mbit/s (0 = loopback), resident ${RESIDENT}, tile warp ${TILE_WARP}, tile result ${TILE_RESULT}, device warp ${DEVICE_WARP}, io threads ${IO_THREADS}, result rest ${RESULT_REST}"
echo "# ideal = N x $single kf/s (canvas MPx-steps without halos / (N x sim speed))"
printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s %-9s %s\n" workers kf_per_s ideal efficiency tiles bytes_per_kf requeued coord_ms coord_link_cap
} | tee $REPORT
BREAK=$OUT/${RN}_breakdown.txt
printf "%-8s %-7s %-7s %-7s %-8s %-7s %-7s %-7s %-7s %-7s %-7s %-13s %s\n" workers kf_ms prep send work compute xfer blend finish gap halo vs_halo_bound crit >$BREAK
now() { date +%s.%N; }
for n in $COUNTS; do
  wp=$(free_port); ap=$(free_port)
  log=$OUT/farm_bench_dreamd_$n.log
  ctl() { $BIN/dreamctl --admin tcp://127.0.0.1:$ap "$@" 2>/dev/null; }
  field() { ctl status | awk -F: -v k="$1" '$1==k{print $2; exit}'; }
  snap() { ctl status >"$1"; }
  # --motion wallclock: keyframes are not held back by the 1 fps display (the video-time
  # default waits once 2N frames are queued); the bench measures compute throughput
  $BIN/dreamd --worker-bind tcp://127.0.0.1:$wp --admin-bind tcp://127.0.0.1:$ap --http-port 0 --size $SIZE --allow-sim \
    --fps 1 --motion wallclock --steps $STEPS --state :memory: --run-seconds $((T * 3 + 60)) --log-level info "${EXTRA_D[@]}" >$log 2>&1 &
  dp=$!
  sleep 0.3
  wpids=()
  for i in $(seq $n); do
    $BIN/dream-worker --connect tcp://127.0.0.1:$wp --backend sim --sim-ms-per-mpix-step $SIM_MS \
      --sim-link-mbps $LINK_MBPS --sim-device-warp "$([ "$DEVICE_WARP" = 1 ] && echo true || echo false)" --sim-device-thread "$([ "${DEVICE_THREAD:-$DEVICE_WARP}" = 1 ] && echo true || echo false)" --threads "${WORKER_THREADS:-0}" --name bench$i --log-level warn >/dev/null 2>&1 &
    wpids+=($!)
  done
  # warm-up: all workers in and two keyframes done, then measure the steady state for T s
  for _ in $(seq 200); do
    [ "$(field connected)" = "$n" ] && [ "$(field keyframes)" -ge 2 ] 2>/dev/null && break
    sleep 0.1
  done
  # the window starts and ends just after a keyframe completes (whole keyframes only: with
  # ~2 s keyframes a window cut anywhere would be off by up to one keyframe)
  edge() { local k0; k0=$(field keyframes); for _ in $(seq 1000); do [ "$(field keyframes)" != "$k0" ] && break; sleep 0.01; done; }
  edge; snap $OUT/s1; t1=$(now)
  sleep "$T"
  edge; snap $OUT/s2; t2=$(now)
  get() { awk -F: -v k="$2" '$1==k{print $2; exit}' "$1"; }
  k1=$(get $OUT/s1 keyframes); b1=$(( $(get $OUT/s1 bytes_in) + $(get $OUT/s1 bytes_out) ))
  k2=$(get $OUT/s2 keyframes); b2=$(( $(get $OUT/s2 bytes_in) + $(get $OUT/s2 bytes_out) ))
  brk=$(awk -F: -v n=$n -v s=$t1 -v e=$t2 'NR==FNR{a[$1]=$2; next}{b[$1]=$2}
    END{k=b["keyframes"]-a["keyframes"]; if (k<=0) {print n, "?"; exit}
      split("t_prep_ms t_send_ms t_work_ms t_compute_ms t_blend_add_ms t_finish_ms t_gap_ms", f, " ");
      printf "%-8s %-7.0f", n, 1000*(e-s)/k;
      for (i=1;i<=4;i++) printf " %-7.0f", (b[f[i]]-a[f[i]])/k;
      r=b["results_timed"]-a["results_timed"]; x=0; if (r>0) x=(b["t_transfer_ms"]-a["t_transfer_ms"])/r; printf " %-7.0f", x;
      for (i=5;i<=7;i++) printf " %-7.0f", (b[f[i]]-a[f[i]])/k;
      tm=(b["tile_mpx"]-a["tile_mpx"])/k; printf " %-7s", sprintf("%.1f%%", 100*(tm/b["canvas_mpx"]-1));
      # the best this tiling allows: every worker busy all the time on tiles with their halos
      bound=n*1000/(tm*steps*simms); printf " %-13s", sprintf("%.0f%%", 100*(k/(e-s))/bound);
      nt=tm>0?b["tiles_last"]:1; if (nt<1) nt=1;
      crit=(b["t_prep_ms"]-a["t_prep_ms"]+b["t_send_ms"]-a["t_send_ms"]+b["t_finish_ms"]-a["t_finish_ms"]+b["t_gap_ms"]-a["t_gap_ms"]+(b["t_blend_add_ms"]-a["t_blend_add_ms"])/nt)/k;
      printf " %.0f\n", crit}' steps=$STEPS simms=$SIM_MS $OUT/s1 $OUT/s2)
  echo "$brk" >>$BREAK
  tiles=$(field tiles_last); req=$(field requeued); cms=$(field coord_ms_per_keyframe)
  ctl quit >/dev/null
  wait $dp
  for p in "${wpids[@]}"; do kill -TERM $p 2>/dev/null; done
  wait 2>/dev/null
  kfps=$(awk -v a=$k1 -v b=$k2 -v s=$t1 -v e=$t2 'BEGIN{printf "%.3f", (b-a)/(e-s)}')
  bpk=$(awk -v a=$k1 -v b=$k2 -v x=$b1 -v y=$b2 'BEGIN{ if (b > a) printf "%.0f", (y-x)/(b-a); else print "?" }')
  ideal=$(awk -v n=$n -v s=$single 'BEGIN{printf "%.3f", n*s}')
  eff=$(awk -v k=$kfps -v i=$ideal 'BEGIN{printf "%.0f%%", 100*k/i}')
  cap=$(awk -v l=$LINK_MBPS -v b="$bpk" 'BEGIN{ if (l > 0 && b > 0) printf "%.1f", l * 1e6 / 8 / b; else print "-" }')
  printf "%-8s %-10s %-10s %-11s %-8s %-14s %-8s %-9s %s\n" $n "$kfps" $ideal $eff "$tiles" "$bpk" "$req" "$cms" "$cap" | tee -a $REPORT
done
{
echo "# efficiency = measured / ideal; the ideal counts no halos (tiles overlap by 2 x 64 px),"
echo "# no coordinator work and no transfers; coord_ms = the coordinator's CPU ms per keyframe (critical path + overlapped)."
echo "# per-keyframe breakdown (ms; see the header of bench/farm_bench.sh):"
cat $BREAK
} | tee -a $REPORT
echo "report: $REPORT"
if [ "$GPU_PASS" = 1 ]; then
  g() { env -u TILE_WARP -u DEVICE_WARP -u DEVICE_THREAD -u TILE_RESULT -u IO_THREADS FARM_BENCH_GPU=0 SIM_MS=4 SECONDS_PER_RUN=${SECONDS_PER_RUN:-10} "$@" bash "$0"; }
  echo; echo "# at the pace measured on an H200 (sim 16 ms/MPx-step; docs/farm.md 'At the measured H200 pace')"
  g REPORT_NAME=farm_bench_h200 SIM_MS=16 COUNTS="1 4"
  g REPORT_NAME=farm_bench_h200_1gbe SIM_MS=16 COUNTS="4" LINK_MBPS=1000
  g REPORT_NAME=farm_bench_h200_1gbe_r8 SIM_MS=16 COUNTS="4" LINK_MBPS=1000 TILE_RESULT=8
  g REPORT_NAME=farm_bench_h200_4k SIM_MS=16 COUNTS="4 8" SIZE=3840x2160 DEVICE_WARP=1
  echo; echo "# at issue 14's target pace (sim 4 ms/MPx-step; docs/farm.md 'At GPU pace')"
  g REPORT_NAME=farm_bench_gpu COUNTS="1 4"
  g REPORT_NAME=farm_bench_gpu_1gbe COUNTS="4" LINK_MBPS=1000
  g REPORT_NAME=farm_bench_gpu_tilewarp COUNTS="4" TILE_WARP=worker
  g REPORT_NAME=farm_bench_gpu_coordwarp COUNTS="4" TILE_WARP=coordinator
  g REPORT_NAME=farm_bench_gpu_dev COUNTS="4" DEVICE_WARP=1
  g REPORT_NAME=farm_bench_gpu_4k_dev COUNTS="4 8" SIZE=3840x2160 DEVICE_WARP=1
  g REPORT_NAME=farm_bench_gpu_4k COUNTS="4 8" SIZE=3840x2160
fi
