#!/usr/bin/env bash
# dream_budget.sh — `dream grad` on a small PNG (200 kB) declaring 8000x8000 is refused from
# its header against the pixel budget (--max-pixels, default 2048x2048), before the weights
# load: exit 1, a clear message, < 64 MB resident above the program's own footprint (it grew
# to ~7 GB before); `dream render`
# with such an --init, or a --size over the budget, likewise.
set -u
ROOT=${DREAM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DREAM_BIN:-$ROOT/build/bin}
[ -x "$BIN/dream" ] || { echo "SKIP: $BIN/dream not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 needed to write the PNG"; exit 77; }
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time (Debian package time) needed"; exit 77; }
TMP=$(mktemp -d /tmp/dreambudget.XXXXXX); trap 'rm -rf "$TMP"' EXIT
python3 - "$TMP/big.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
w = h = 8000
row = b'\x00' + b'\x80' * (w * 3)
z = zlib.compressobj(9); idat = b''.join(z.compress(row) for _ in range(h)) + z.flush()
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                              + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
PY
# the program's own footprint (libraries: with CUDA compiled in, cuBLAS alone maps ~200 MB):
# the same command on a missing file, refused before any pixel buffer or weights
/usr/bin/time -f "rss_kb=%M" -o "$TMP/time0" "$BIN/dream" grad --image "$TMP/missing.png" --class volcano \
  --weights random >/dev/null 2>&1
rss0=$(sed -n 's/rss_kb=//p' "$TMP/time0")
rc=0
/usr/bin/time -f "rss_kb=%M" -o "$TMP/time" "$BIN/dream" grad --image "$TMP/big.png" --class volcano --weights random \
  >"$TMP/out" 2>&1 || rc=$?
cat "$TMP/out" "$TMP/time"
[ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
grep -q "8000x8000 exceeds the limit" "$TMP/out" || { echo "FAIL: no budget message"; exit 1; }
rss=$(sed -n 's/rss_kb=//p' "$TMP/time")
[ "$((rss - rss0))" -lt 65536 ] || { echo "FAIL: $rss kB resident for a refused input ($rss0 kB for a missing file)"; exit 1; }
# dream render: --init over the budget, and --size over it, are refused before the weights too
rc=0; "$BIN/dream" render --init "$TMP/big.png" --class volcano --weights random --out "$TMP/r" >"$TMP/out2" 2>&1 || rc=$?
cat "$TMP/out2"
[ "$rc" != 0 ] && grep -q "8000x8000 exceeds the limit" "$TMP/out2" || { echo "FAIL: render --init not refused"; exit 1; }
rc=0; "$BIN/dream" render --size 4096x4096 --class volcano --weights random --out "$TMP/r" >"$TMP/out3" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "exceeds --max-pixels" "$TMP/out3" || { echo "FAIL: render --size 4096x4096 not refused: $(cat "$TMP/out3")"; exit 1; }
echo "PASS (refused, ${rss} kB resident, ${rss0} kB for a missing file)"
