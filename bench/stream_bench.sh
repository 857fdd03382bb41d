#!/usr/bin/env bash
# stream_bench.sh — streaming benchmarks (numbers, not pass/fail):
#   1. VP9 encode speed (bench/encode_bench.c) at 1024x576, 1280x720, 1920x1080
#   2. fan-out: 50 / 200 / 500 websocket viewers (bench/ws_load.c) on loopback against
#      dream-stream-demo at 1024x576 @ 25 fps: server CPU, bytes sent, viewers that fell back.
# Output: a markdown table on stdout and in bench/out/stream_bench.md.
#   bench/stream_bench.sh [--quick]      (after make)
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
DEMO=$ROOT/$BUILD/tests/dream-stream-demo
[ -x "$DEMO" ] && [ -f "$ROOT/$BUILD/lib/libserver.a" ] || { echo "stream_bench: run make first" >&2; exit 1; }
cc -O2 -Wall -Wextra -Werror -o "$ROOT/$BUILD/bin/ws_load" bench/ws_load.c || exit 1
cc -std=gnu11 -O2 -Wall -Wextra -Werror -Iserver -Icommon -o "$ROOT/$BUILD/bin/encode_bench" bench/encode_bench.c \
   "$ROOT/$BUILD/lib/libserver.a" "$ROOT/$BUILD/lib/libcommon.a" $(pkg-config --libs vpx) -lm -pthread || exit 1
J() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }
REPORT=$OUT/stream_bench.md
{
echo "# stream benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
echo "## VP9 encode (speed 8, CBR, row-mt; 1 thread = the \"<= 1 core\" goal, and $(nproc) threads; dream-like textured frames)"
echo
echo "| size | threads | target kbps | encode fps | x realtime (25 fps) | mean ms | max ms | kbps out |"
echo "|---|---|---|---|---|---|---|---|"
} | tee "$REPORT"
FR=150; [ $QUICK = 1 ] && FR=40
for cfg in 1024x576:2500 1280x720:4000 1920x1080:6000; do
  size=${cfg%%:*}; kbps=${cfg##*:}
  for th in 1 $(nproc); do
  r=$("$ROOT/$BUILD/bin/encode_bench" --size "$size" --bitrate "$kbps" --frames $FR --threads "$th")
  fps=$(echo "$r" | J fps)
  rt=$(/usr/bin/python3 -c "print('%.2fx' % ($fps / 25.0))")
  echo "| $size | $th | $kbps | $fps | $rt | $(echo "$r" | J ms_mean) | $(echo "$r" | J ms_max) | $(echo "$r" | J kbps_out) |" | tee -a "$REPORT"
  done
done

{
echo
echo "## fan-out on loopback (dream-stream-demo 1024x576 @ 25 fps, 2500 kbps; load client on the same host)"
echo
echo "| viewers | connected | server CPU % | MB sent | Mbit/s out | delivered / encoded | viewers fell back | join ms | client errors |"
echo "|---|---|---|---|---|---|---|---|---|"
} | tee -a "$REPORT"
SECS=10; [ $QUICK = 1 ] && SECS=5
for n in 50 200 500; do
  rm -f "$OUT/port"
  # --conns-per-ip 0: every load-client connection comes from 127.0.0.1 (the per-address cap
  # of docs/security.md would admit 16)
  "$DEMO" --port 0 --bind 127.0.0.1 --port-file "$OUT/port" --web-root "$ROOT/web" --max-viewers 2000 --conns-per-ip 0 2>"$OUT/demo.err" >/dev/null &
  pid=$!
  for _ in $(seq 50); do [ -s "$OUT/port" ] && break; sleep 0.1; done
  port=$(cat "$OUT/port")
  sleep 1
  s0=$(curl -s "http://127.0.0.1:$port/api/status")
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  t0=$(date +%s%N)
  r=$("$ROOT/$BUILD/bin/ws_load" --port "$port" --clients $n --seconds $SECS --ramp-ms 2)
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  t1=$(date +%s%N)
  s1=$(curl -s "http://127.0.0.1:$port/api/status")
  e0=$(echo "$s0" | J bytes_encoded); e1=$(echo "$s1" | J bytes_encoded)
  kill -INT $pid; wait $pid
  hz=$(getconf CLK_TCK)
  cpu=$(/usr/bin/python3 -c "print(round(100.0*($c1-$c0)/$hz/(($t1-$t0)/1e9),1))")
  b0=$(echo "$s0" | J bytes_sent); b1=$(echo "$s1" | J bytes_sent)
  f0=$(echo "$s0" | J viewer_fallbacks); f1=$(echo "$s1" | J viewer_fallbacks)
  mb=$(/usr/bin/python3 -c "print(round(($b1-$b0)/1e6,1))")
  mbit=$(/usr/bin/python3 -c "print(round(($b1-$b0)*8/1e6/(($t1-$t0)/1e9),1))")
  # every viewer should receive every encoded byte (plus headers/events): ratio ~1.0 = full delivery
  ratio=$(/usr/bin/python3 -c "print('%.2f' % (($b1-$b0) / max(1, ($e1-$e0) * $n)))")
  echo "| $n | $(echo "$r" | J opened) | $cpu | $mb | $mbit | $ratio | $((f1 - f0)) | $(echo "$r" | J join_ms_avg) | $(echo "$r" | J errors) |" | tee -a "$REPORT"
done
echo | tee -a "$REPORT"
echo "(server CPU: the demo process, including its frame generator and the encoder; 100 % = one core." | tee -a "$REPORT"
echo " delivered / encoded: bytes sent / (bytes encoded x viewers) over the run; ~1.0 = every viewer got the whole stream)" | tee -a "$REPORT"
