#!/usr/bin/env bash
# run-bench.sh — `make bench`: every benchmark, each a ratio against a reference run
# in the same script.
#   1. engine: one dream step (forward + input gradient + prior + Adam) on the CPU backend
#      vs PyTorch CPU (Debian's python3-torch, same thread count, same objective), at
#      224x224 and 840x472. Goal: >= 1.0x PyTorch at 840x472.
#   2. then every bench/*_bench.sh (farm scaling, streaming), if present.
# BENCH_ONLY=engine|farm|stream restricts; BENCH_SIZES overrides the engine sizes.
set -uo pipefail
cd "$(dirname "$0")/.."
THREADS=${BENCH_THREADS:-$(nproc)}
SIZES=${BENCH_SIZES:-"224x224 840x472"}
only=${BENCH_ONLY:-}
mkdir -p bench/out
if [ -z "$only" ] || [ "$only" = engine ]; then
  echo "# Engine: dream step, CPU backend vs PyTorch CPU ($THREADS threads, random VGG-16, same objective)"
  printf "%-10s %12s %12s %10s %10s\n" size dream_ms torch_ms ratio dream_TF/s
  for s in $SIZES; do
    d=$(DREAM_LOG=error build/bin/dream bench --size "$s" --backend cpu --threads "$THREADS" --steps 2 --warmup 1 --weights random 2>/dev/null | tail -n1)
    t=$(/usr/bin/python3 bench/torch_step.py --size "$s" --device cpu --threads "$THREADS" --steps 2 --dtype float32 2>/dev/null | tail -n1)
    dm=$(echo "$d" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_step"])' 2>/dev/null || echo nan)
    tm=$(echo "$t" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ms_per_step"])' 2>/dev/null || echo nan)
    tf=$(echo "$d" | /usr/bin/python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["tflops"])' 2>/dev/null || echo nan)
    ratio=$(/usr/bin/python3 -c "print('%.2fx' % ($tm/$dm))" 2>/dev/null || echo "n/a")
    printf "%-10s %12s %12s %10s %10s\n" "$s" "$dm" "$tm" "$ratio" "$tf"
    echo "{\"size\":\"$s\",\"dream\":$d,\"torch\":$t}" >> bench/out/engine-cpu.jsonl
  done
  echo "(ratio = PyTorch ms / dream ms; > 1 means dream is faster)"
fi
for b in bench/*_bench.sh; do
  [ -f "$b" ] || continue
  name=$(basename "$b" _bench.sh)
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  echo; echo "# $name ($b)"
  bash "$b"
done
