#!/usr/bin/env bash
# gpu_check_dry.sh — tools/gpu-check.sh without a GPU: --dry-run (the script's syntax, the files
# it needs, torch_step.py's syntax, that the bench + parity test still compile), then the paths a
# fresh GPU machine may take: no PyTorch (torch rows skipped, not a failure), cuBLAS from a wheel
# when the toolkit has none (and a clear failure when neither exists), a bad --budget refused, and
# --out: the console log is in the folder and the log tarball is written on exit, also when the
# script stops early (here: no GPU, exit 77).
cd "$(dirname "$0")/../.."
command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] || { echo "SKIP: no nvcc"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

tools/gpu-check.sh --dry-run >"$T/dry.log" 2>&1 || { cat "$T/dry.log"; fail "--dry-run"; }
grep -q "dry run OK" "$T/dry.log" || fail "--dry-run did not say OK"

GPU_CHECK_NO_TORCH=1 tools/gpu-check.sh --dry-run --quick >"$T/notorch.log" 2>&1 \
  || { cat "$T/notorch.log"; fail "--dry-run without torch must pass"; }
grep -q "torch: skipped (GPU_CHECK_NO_TORCH)" "$T/notorch.log" || { cat "$T/notorch.log"; fail "plan does not say torch is skipped"; }
grep -q "budget      230s" "$T/notorch.log" || fail "--quick budget is not 230 s"

# cuBLAS from a wheel layout (nvidia/cublas/{lib,include}, versioned library name only)
W=$T/site/nvidia/cublas
mkdir -p "$W/lib" "$W/include"
: >"$W/lib/libcublas.so.13"; : >"$W/lib/libcublasLt.so.13"; : >"$W/include/cublas_v2.h"
GPU_CHECK_NO_TOOLKIT_CUBLAS=1 GPU_CHECK_CUBLAS_DIRS="$W" tools/gpu-check.sh --dry-run >"$T/wheel.log" 2>&1 \
  || { cat "$T/wheel.log"; fail "--dry-run with a wheel cuBLAS"; }
grep -q "cuBLAS      wheel $W/lib/libcublas.so.13" "$T/wheel.log" || { grep cuBLAS "$T/wheel.log"; fail "wheel cuBLAS not picked"; }
GPU_CHECK_NO_TOOLKIT_CUBLAS=1 GPU_CHECK_CUBLAS_DIRS="$T/none" tools/gpu-check.sh --dry-run >"$T/nocublas.log" 2>&1 && fail "--dry-run without any cuBLAS must fail"
grep -q "cuBLAS      MISSING" "$T/nocublas.log" || { cat "$T/nocublas.log"; fail "missing cuBLAS not reported"; }

tools/gpu-check.sh --budget 5 >"$T/budget.log" 2>&1; rc=$?
[ $rc = 2 ] || fail "--budget 5 must be refused (exit 2), got $rc"

# a real run on a machine without a GPU: SKIP (77), and --out still holds the logs
if ! command -v nvidia-smi >/dev/null 2>&1; then
  tools/gpu-check.sh --quick --out "$T/out" >"$T/run.log" 2>&1; rc=$?
  [ $rc = 77 ] || { cat "$T/run.log"; fail "no GPU must exit 77, got $rc"; }
  grep -q "SKIP: no NVIDIA GPU" "$T/out/gpu-check.log" || fail "console log not streamed into --out"
  [ -s "$T/out/gpu-check-logs.tgz" ] || fail "no log tarball in --out after an early exit"
  tar tzf "$T/out/gpu-check-logs.tgz" | grep -q 'logs/' || fail "log tarball without logs/"
fi
echo "gpu_check_dry: OK"
