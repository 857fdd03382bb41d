#!/usr/bin/env bash
# cuda_emu.sh — the CUDA backend's sources (worker/cuda/*.cu) run on the CPU through
# tools/cuda_emu (ASan + UBSan) against the CPU reference: test_backend_parity, every op
# and a whole step. Catches index / operand / caching bugs without a GPU (~1 min).
cd "$(dirname "$0")/../.."
exec tools/cuda-emu-check.sh
