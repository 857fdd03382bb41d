#!/usr/bin/env bash
# cuda-emu-check.sh — runs the CUDA backend's own source (worker/cuda/*.cu) on the CPU, under
# ASan + UBSan, through a small emulation of the CUDA runtime / cuBLAS (tools/cuda_emu/), and runs
# tests/unit/test_backend_parity against it (emulated "cuda" vs the real CPU backend).
# It checks the kernels' index math, the gemm operand swap, bf16 caching/invalidation, the
# reductions and the iface wiring on machines without a GPU. It does not check performance,
# races between real GPU threads, or the real cuBLAS.
#   Kernel launches k<<<g, b, 0, s>>>(args) are rewritten into emu_launch(g, b, s, "k", k, args);
#   kernels with block reductions run their block's threads as real threads with a barrier.
# Needs the normal build first (make): links build/lib/libworker.a and libcommon.a.
# Exit 0 pass, 1 fail, 77 skip (missing tools or build).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/cuda-emu
for t in g++ gcc python3 pkg-config; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not found"; exit 77; }
done
for l in build/lib/libworker.a build/lib/libcommon.a; do
  [ -f "$l" ] || { echo "SKIP: $l missing (run make first)"; exit 77; }
done
ls worker/cuda/*.cu >/dev/null 2>&1 || { echo "SKIP: no worker/cuda sources"; exit 77; }
printf '#include <barrier>\nint main(){std::barrier<> b(1); b.arrive_and_wait(); return 0;}\n' \
  | g++ -std=c++20 -x c++ - -o /dev/null -pthread 2>/dev/null || { echo "SKIP: g++ without C++20 <barrier>"; exit 77; }
rm -rf "$B"; mkdir -p "$B/src" "$B/obj"

# rewrite launches
python3 - "$B/src" worker/cuda/*.cu <<'PY' || exit 1
import re, sys, os
out = sys.argv[1]
for path in sys.argv[2:]:
    s = open(path).read()
    # kernels whose body synchronises (block reductions) run as real threads
    sync = set()
    for m in re.finditer(r'__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(', s):
        i = s.index('{', m.end())
        depth, j = 0, i
        while True:
            if s[j] == '{': depth += 1
            elif s[j] == '}':
                depth -= 1
                if depth == 0: break
            j += 1
        body = s[i:j]
        if '__syncthreads' in body or 'block_sum' in body or 'emu: sync' in body:
            sync.add(m.group(1))
    res, pos = [], 0
    for m in re.finditer(r'(\w+)<<<', s):
        if m.start() < pos: continue
        name = m.group(1)
        k, depth, args, cur = m.end(), 0, [], ''
        while not (depth == 0 and s.startswith('>>>', k)):
            ch = s[k]
            if ch in '([': depth += 1
            if ch in ')]': depth -= 1
            if ch == ',' and depth == 0: args.append(cur); cur = ''
            else: cur += ch
            k += 1
        args.append(cur)
        k += 3
        while s[k].isspace(): k += 1
        assert s[k] == '(', path + ': launch of ' + name + ' without arguments'
        fn = 'emu_launch_sync' if name in sync else 'emu_launch'
        stream = args[3].strip() if len(args) > 3 else 'nullptr'
        res.append(s[pos:m.start()] + '%s((%s), (%s), (%s), "%s", %s, ' % (fn, args[0].strip(), args[1].strip(), stream, name, name))
        pos = k + 1
    res.append(s[pos:])
    open(os.path.join(out, os.path.basename(path)[:-3] + '.cc'), 'w').write(''.join(res))
    print('emu: %s: %d launches rewritten, synchronising kernels: %s' % (path, len(res) - 1, ', '.join(sorted(sync)) or '-'))
PY

SAN="-fsanitize=address,undefined -fno-omit-frame-pointer"
PKGS="libzmq libprotobuf-c vpx libwebsockets openblas libpng libjpeg libcjson sqlite3 libavformat libavcodec libavutil"
PKG_LIBS=$(pkg-config --libs $PKGS 2>/dev/null)
objs=()
for f in "$B"/src/*.cc tools/cuda_emu/emu.cc; do
  o=$B/obj/$(basename "$f").o
  g++ -std=c++20 -O1 -g $SAN -pthread -Itools/cuda_emu -Iworker/cuda -Icommon -Iworker -c "$f" -o "$o" \
    || { echo "emu: compile failed: $f"; exit 1; }
  objs+=("$o")
done
gcc -std=gnu11 -O1 -g $SAN -fopenmp -pthread -Icommon -Iworker -c tests/unit/test_backend_parity.c -o "$B/obj/test.o" || exit 1
g++ $SAN -o "$B/test_backend_parity_emu" "$B/obj/test.o" "${objs[@]}" \
  -Wl,--start-group build/lib/libworker.a build/lib/libcommon.a -Wl,--end-group $PKG_LIBS -lcmocka -fopenmp -pthread -lm \
  || { echo "emu: link failed"; exit 1; }
echo "emu: running test_backend_parity against the emulated CUDA backend"
ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  DREAM_TEST_QUICK=${DREAM_TEST_QUICK:-1} "$B/test_backend_parity_emu"
