#!/usr/bin/env bash
# gpu_check_dry.sh — tools/gpu-check.sh --dry-run: the GPU script's syntax, the files it
# needs, torch_step.py's syntax and that the bench + parity test still compile.
cd "$(dirname "$0")/../.."
command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] || { echo "SKIP: no nvcc"; exit 77; }
exec tools/gpu-check.sh --dry-run
