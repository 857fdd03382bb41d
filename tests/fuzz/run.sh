#!/usr/bin/env bash
# tests/fuzz/run.sh — builds the libFuzzer harnesses tests/fuzz/fuzz_*.c with clang
# (ASan + UBSan, into build-fuzz/) and runs each one:
#   run.sh            `make fuzz`: each harness FUZZ_SECONDS (default 60) from its seeds,
#                     new inputs kept in build-fuzz/corpus/NAME
#   run.sh --smoke    `make test` (tests/integration/fuzz_smoke.sh): the seed corpus plus
#                     FUZZ_SMOKE_SECONDS (default 1) of fuzzing each
# Exit 77 (skip) with a message when clang's libFuzzer is not installed
# (Debian: clang libclang-rt-dev, in tools/install-deps.sh TEST_PKGS). A crash exits 1
# and leaves the input in build-fuzz/ (crash-*, printed by libFuzzer).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
MODE=${1:-}
OUT=${FUZZ_BUILD:-$ROOT/build-fuzz}
CLANG=${CLANG:-clang}
SECS=${FUZZ_SECONDS:-60}
[ "$MODE" = --smoke ] && SECS=${FUZZ_SMOKE_SECONDS:-1}
mkdir -p "$OUT/obj"
command -v "$CLANG" >/dev/null || { echo "SKIP: $CLANG not installed (apt-get install clang libclang-rt-dev)"; exit 77; }
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$OUT/probe.c"
"$CLANG" -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null ||
  { echo "SKIP: $CLANG cannot link -fsanitize=fuzzer (install libclang-rt-dev)"; exit 77; }
# the generated protobuf code comes from the normal build's rule
make -s --no-print-directory build/gen/dreamfarm.pb-c.h >/dev/null || { echo "FAIL: protoc-c step"; exit 1; }
PKG_CFLAGS=$(pkg-config --cflags libprotobuf-c libpng libcjson libzmq 2>/dev/null)
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  -Wall -Wextra -Werror -Wno-unused-parameter -Wno-unknown-pragmas -Icommon -Iserver -Ibuild/gen $PKG_CFLAGS"
LIBS="-lzmq -lprotobuf-c -lpng16 -ljpeg -lcjson -lm -lpthread"
SRC="common/dlog.c common/wire.c common/safetensors.c common/image.c common/npy.c common/config.c
  common/classes.c common/paths.c common/warp.c common/parfor.c common/atomicfile.c server/http.c server/requests.c
  build/gen/dreamfarm.pb-c.c"
objs=()
for s in $SRC; do
  o="$OUT/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$0" -nt "$o" ]; then
    extra=""; [[ $s == build/gen/* ]] && extra="-Wno-error"
    # shellcheck disable=SC2086
    "$CLANG" $CFLAGS $extra -fsanitize=fuzzer-no-link -c "$s" -o "$o" || { echo "FAIL: compiling $s"; exit 1; }
  fi
  objs+=("$o")
done
fail=0; n=0
for h in tests/fuzz/fuzz_*.c; do
  name=$(basename "$h" .c)
  bin="$OUT/$name"
  if [ ! -x "$bin" ] || [ "$h" -nt "$bin" ] || [ -n "$(find "$OUT/obj" -newer "$bin" -name '*.o' | head -1)" ]; then
    # shellcheck disable=SC2086
    "$CLANG" $CFLAGS -fsanitize=fuzzer "$h" "${objs[@]}" $LIBS -o "$bin" || { echo "FAIL: linking $name"; exit 1; }
  fi
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  work="$OUT/corpus/${name#fuzz_}"
  mkdir -p "$work"
  [ "$MODE" = --smoke ] && { rm -rf "$work"; mkdir -p "$work"; }
  nseeds=$(ls "$seeds" 2>/dev/null | wc -l)
  log="$OUT/$name.log"
  if (cd "$OUT" && DREAM_DATA_DIR=${DREAM_DATA_DIR:-$ROOT/data} ASAN_OPTIONS=detect_leaks=1 \
        "$bin" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 "$work" "$ROOT/$seeds" >"$log" 2>&1); then
    runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | awk '{print $2}')
    echo "ok $name: $nseeds seeds, ${runs:-?} runs in ${SECS} s, no crash"
  else
    echo "FAIL $name (log: $log)"; tail -n 30 "$log"; fail=1
  fi
  n=$((n + 1))
done
[ $fail = 0 ] && echo "PASS: $n harnesses" || exit 1
