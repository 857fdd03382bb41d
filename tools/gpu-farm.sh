#!/usr/bin/env bash
# gpu-farm.sh — the farm itself on a lent GPU machine (which has CUDA and a driver but none of
# the Debian libraries dreamd needs): `pack` here, then `run` there.
#   tools/gpu-farm.sh pack   (here, after `make`) copies the libraries of build/bin/{dreamd,
#                            dream-worker,dreamctl} (ldd; glibc, libstdc++ and CUDA stay the
#                            machine's) into .devfarm/libs.tar.xz (~48 MB; libicudata is replaced
#                            by a stub: nothing in dreamd uses ICU's data); add /.devfarm/ to
#                            .git/info/exclude and carry ".devfarm" and "build/bin"
#   tools/gpu-farm.sh run    (there, ~85 s) unpacks them, runs bench/farm_bench.sh with sim workers
#                            at 4 ms/MPx-step on that host's cores (1080p 1/4 workers, 4 with
#                            --tile-result 8, 4K 4/8), then dreamd + ONE real CUDA dream-worker at
#                            1920x1080, 10 steps: keyframes/s against the step alone (32.9 ms in bf16
#                            on an H200). Results and logs go to $OUT (or bench/out).
# Results of 2026-12-04: bench/results/2026-12-04-h200-farm.md.
set -u
cd "$(dirname "$0")/.."
case "${1:-}" in
pack)
  for b in dreamd dream-worker dreamctl; do [ -x build/bin/$b ] || { echo "gpu-farm: make first" >&2; exit 1; }; done
  d=$(mktemp -d); mkdir -p "$d/lib" .devfarm
  for b in dreamd dream-worker dreamctl; do ldd build/bin/$b | awk '{print $3}' | grep '^/'; done | sort -u |
    grep -vE '/usr/local/cuda|/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+)\.so|ld-linux' |
    xargs -r cp -L -t "$d/lib/"
  if [ -f "$d/lib/libicudata.so.72" ]; then
    printf 'const char icudt72_dat[64] = {0};\n' >"$d/stub.c"
    cc -shared -fPIC -o "$d/lib/libicudata.so.72" -Wl,-soname,libicudata.so.72 "$d/stub.c"
  fi
  tar cf - -C "$d" lib | xz -T2 -6 >.devfarm/libs.tar.xz && rm -rf "$d"
  ls -la .devfarm/libs.tar.xz ;;
run)
  OUT=${OUT:-bench/out}; mkdir -p "$OUT"
  T0=$(date +%s)
  mkdir -p /tmp/gpu-farm && tar xJf .devfarm/libs.tar.xz -C /tmp/gpu-farm || exit 1
  export LD_LIBRARY_PATH=/tmp/gpu-farm/lib
  for b in dreamd dream-worker dreamctl; do
    m=$(ldd build/bin/$b | grep "not found"); [ -n "$m" ] && echo "MISSING for $b: $m"
  done
  echo "cores $(nproc); $(ldd --version | head -1)"
  build/bin/dreamd --help >/dev/null 2>&1 || { echo "dreamd does not start:"; build/bin/dreamd --help 2>&1 | head -5; exit 1; }
  r() { echo "== $*"; env "$@" FARM_BENCH_GPU=0 bash bench/farm_bench.sh 2>&1 | grep -A3 "^workers" | grep -v "^#\|^--"; echo "   [$(( $(date +%s) - T0 ))s]"; }
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="1 4" DEVICE_WARP=1 REPORT_NAME=gpufarm_1080
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="4" DEVICE_WARP=1 TILE_RESULT=8 REPORT_NAME=gpufarm_1080_r8
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="4 8" SIZE=3840x2160 DEVICE_WARP=1 REPORT_NAME=gpufarm_4k
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="4" DEVICE_WARP=1 RESULT_REST=0 REPORT_NAME=gpufarm_1080_norest
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="4" DEVICE_WARP=1 IO_THREADS=2 REPORT_NAME=gpufarm_1080_io2
  r SECONDS_PER_RUN=8 SIM_MS=4 COUNTS="8" SIZE=3840x2160 DEVICE_WARP=1 IO_THREADS=2 REPORT_NAME=gpufarm_4k_io2
  cp bench/out/gpufarm_*.txt "$OUT"/ 2>/dev/null
  echo "== real CUDA worker, 1920x1080, 10 steps  [$(( $(date +%s) - T0 ))s]"
  source tools/free-port.bash
  wp=$(free_port); ap=$(free_port)
  build/bin/dreamd --worker-bind tcp://127.0.0.1:$wp --admin-bind tcp://127.0.0.1:$ap --http-port 0 --size 1920x1080 \
    --fps 1 --motion wallclock --steps 10 --state :memory: --run-seconds 120 --log-level info >"$OUT/dreamd.log" 2>&1 &
  sleep 0.5
  build/bin/dream-worker --connect tcp://127.0.0.1:$wp --backend cuda --name gpu0 --log-level info >"$OUT/worker.log" 2>&1 &
  ctl() { build/bin/dreamctl --admin tcp://127.0.0.1:$ap "$@" 2>/dev/null; }
  field() { ctl status | awk -F: -v k="$1" '$1==k{print $2; exit}'; }
  for _ in $(seq 600); do k=$(field keyframes); [ "${k:-0}" -ge 3 ] 2>/dev/null && break; sleep 0.1; done
  k1=$(field keyframes); t1=$(date +%s.%N); sleep 15; k2=$(field keyframes); t2=$(date +%s.%N)
  awk -v a="$t1" -v b="$t2" -v k1="$k1" -v k2="$k2" 'BEGIN{printf "keyframes %d -> %d in %.1f s: %.2f kf/s (the step alone, 32.9 ms x 10: 3.04 kf/s)\n", k1, k2, b - a, (k2 - k1) / (b - a)}'
  ctl status >"$OUT/status.txt"; ctl workers >>"$OUT/status.txt"
  grep -E "^(keyframe_interval_ms|requeued|tiles_missed|t_compute_ms|results_timed|resident_jobs|resident_mismatch):" "$OUT/status.txt"
  echo "[$(( $(date +%s) - T0 ))s]" ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
