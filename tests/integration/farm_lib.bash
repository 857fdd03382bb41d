# farm_lib.bash — helpers sourced by tests/integration/farm_*.sh (not a test itself):
# free random high ports, starting dreamd / dream-worker in the background with logs,
# dreamctl queries, waiting for conditions, and cleanup of exactly the processes started.
set -u
ROOT=${DREAM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${DREAM_BIN:-$ROOT/build/bin}
TMP=$(mktemp -d /tmp/farmtest.XXXXXX)
PIDS=()
export DREAM_DATA_DIR=${DREAM_DATA_DIR:-$ROOT/data}

farm_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap farm_cleanup EXIT

die() { echo "FAIL: $*"; for f in "$TMP"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }; done; exit 1; }

for b in dreamd dream-worker dreamctl; do
  [ -x "$BIN/$b" ] || { echo "SKIP: $BIN/$b not built (run make)"; exit 77; }
done

# random free TCP ports below the kernel's ephemeral range
. "$ROOT/tools/free-port.bash"

WPORT=$(free_port); APORT=$(free_port)
while [ "$APORT" = "$WPORT" ]; do APORT=$(free_port); done
WEP=tcp://127.0.0.1:$WPORT
AEP=tcp://127.0.0.1:$APORT

start_dreamd() {   # extra args...  (FARM_ALLOW_SIM= : without --allow-sim, sim workers refused)
  "$BIN/dreamd" --worker-bind "tcp://127.0.0.1:$WPORT" --admin-bind "$AEP" --http-port 0 \
    --state "$TMP/state.sqlite" ${FARM_ALLOW_SIM---allow-sim} "$@" >"$TMP/dreamd.log" 2>&1 &
  DREAMD_PID=$!
  PIDS+=("$DREAMD_PID")
  for _ in $(seq 50); do
    ctl ping >/dev/null 2>&1 && return 0
    kill -0 "$DREAMD_PID" 2>/dev/null || break
    sleep 0.1
  done
  die "dreamd did not answer on $AEP"
}

start_worker() {   # name, extra args...  (sets LAST_WORKER_PID)
  local name=$1; shift
  "$BIN/dream-worker" --connect "${WORKER_CONNECT:-$WEP}" --name "$name" "$@" >>"$TMP/worker-$name.log" 2>&1 &
  LAST_WORKER_PID=$!
  PIDS+=("$LAST_WORKER_PID")
}

ctl() { "$BIN/dreamctl" --admin "$AEP" --timeout-ms 3000 "$@"; }

field() {   # field KEY -> value from `dreamctl status`
  ctl status 2>/dev/null | awk -F: -v k="$1" '$1 == k {print $2; exit}'
}

wait_for() {   # wait_for SECONDS "shell condition" "what"
  local t=$1 cond=$2 what=$3 end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do eval "$cond" && return 0; sleep 0.2; done
  die "timed out after ${t}s waiting for: $what"
}

worker_jobs() {  # jobs_done of a worker by name
  ctl workers 2>/dev/null | grep "^worker:$1 " | sed -n 's/.*jobs_done=\([0-9]*\).*/\1/p'
}
