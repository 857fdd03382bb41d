#!/usr/bin/env bash
# stream_bind.sh — --bind 127.0.0.1 listens on loopback only (lws 4.1 would otherwise take an
# IPv6 wildcard socket), while no bind address listens on every address.
set -u
cd "$(dirname "$0")/../.."
DEMO=${DREAM_STREAM_DEMO:-${DREAM_BUILD:-$PWD/build}/tests/dream-stream-demo}
[ -x "$DEMO" ] || { echo "SKIP: $DEMO not built"; exit 77; }
command -v ss >/dev/null || { echo "SKIP: ss (iproute2) missing"; exit 77; }
. tools/free-port.bash
port=$(free_port)
"$DEMO" --port $port --bind 127.0.0.1 --duration 6 >/tmp/stream_bind.$$ 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null; rm -f /tmp/stream_bind.$$' EXIT
for _ in $(seq 50); do ss -tlnH | grep -q ":$port " && break; sleep 0.1; done
l=$(ss -tlnH | awk -v p=":$port" '$4 ~ p"$" {print $4}')
echo "listening: $l"
[ "$l" = "127.0.0.1:$port" ] || { echo "FAIL: expected only 127.0.0.1:$port, got '$l'"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/api/status")
[ "$code" = 200 ] || { echo "FAIL: /api/status HTTP $code"; exit 1; }
echo PASS
