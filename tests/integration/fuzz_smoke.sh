#!/usr/bin/env bash
# fuzz_smoke.sh — `make test`'s short run of every libFuzzer harness in tests/fuzz/ (wire
# decoding with the pixel frame, safetensors, PNG/JPEG, .npy, HTTP bodies + request queue,
# config text): the seed corpus plus FUZZ_SMOKE_SECONDS (default 1) of fuzzing each, under
# ASan/UBSan. Skips with a message when clang's libFuzzer is absent. `make fuzz` runs longer.
exec "$(dirname "$0")/../fuzz/run.sh" --smoke
