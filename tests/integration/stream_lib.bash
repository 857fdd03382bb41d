# stream_lib.bash — helpers sourced by tests/integration/stream_*.sh (named .bash so that
# run-tests.sh, which runs *.sh, does not run it): starts dream-stream-demo on a free port,
# builds the websocket load client bench/ws_load.c, cleans up on exit.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/build/bin
DEMO=${DREAM_STREAM_DEMO:-${DREAM_BUILD:-$ROOT/build}/tests/dream-stream-demo}   # override to test another build (e.g. build-asan)
WS_LOAD=$BIN/ws_load
TMP=$(mktemp -d /tmp/dream-stream-test.XXXXXX)
DEMO_PID=""
cleanup() {
  if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then kill "$DEMO_PID"; wait "$DEMO_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "FAIL: $*"; [ -f "$TMP/demo.err" ] && { echo "--- demo log"; tail -n 20 "$TMP/demo.err"; }; exit 1; }
need_bins() {
  [ -x "$DEMO" ] || { echo "SKIP: $DEMO not built (run make)"; exit 77; }
  command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
  if [ ! -x "$WS_LOAD" ] || [ "$ROOT/bench/ws_load.c" -nt "$WS_LOAD" ]; then
    cc -O2 -Wall -Wextra -Werror -o "$WS_LOAD" "$ROOT/bench/ws_load.c" || die "cannot build ws_load"
  fi
}
# start_demo [args...]: sets PORT, DEMO_PID
start_demo() {
  rm -f "$TMP/port"
  "$DEMO" --port 0 --bind 127.0.0.1 --port-file "$TMP/port" --web-root "$ROOT/web" "$@" >"$TMP/demo.out" 2>"$TMP/demo.err" &
  DEMO_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/port" ] && break; kill -0 $DEMO_PID 2>/dev/null || die "demo exited: $(tail -n 3 "$TMP/demo.err")"; sleep 0.1; done
  PORT=$(cat "$TMP/port")
  [ -n "$PORT" ] || die "demo did not report its port"
  BASE=http://127.0.0.1:$PORT
}
# stop_demo: SIGINT, then the demo must exit 0 (a sanitizer build exits non-zero on errors/leaks)
stop_demo() {
  [ -n "$DEMO_PID" ] || return 0
  kill -INT "$DEMO_PID" 2>/dev/null
  wait "$DEMO_PID" 2>/dev/null
  local rc=$?
  DEMO_PID=""
  [ $rc -eq 0 ] || die "demo exited with status $rc on shutdown"
}
# json FIELD < json  (python: dotted path)
json() { /usr/bin/python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d[int(k)] if isinstance(d,list) else d[k]
print(json.dumps(d) if isinstance(d,(dict,list)) else d)' "$1"; }
rss_kb() { awk '/VmRSS/{print $2}' /proc/"$1"/status; }
