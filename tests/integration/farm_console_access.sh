#!/usr/bin/env bash
# farm_console_access.sh — who may run admin commands: a non-local admin bind without CURVE
# keys is refused at startup; an ipc:// admin socket is mode 0600; over CURVE an unknown or
# missing key gets no answer (exit 2), an admin key runs everything, a read-only key only the
# read-only commands (next to the workers' own CURVE); --metrics-bind moves /metrics off the
# public port.
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
PYLIB="$(dirname "$0")/console_lib.py"

# 1. remote bind without keys: dreamd refuses to start
rc=0
"$BIN/dreamd" --worker-bind "$WEP" --admin-bind "tcp://0.0.0.0:$APORT" --http-port 0 --state ":memory:" \
  --size 256x224 --fps 5 >"$TMP/refused.log" 2>&1 || rc=$?
[ $rc != 0 ] || die "dreamd started with a remote admin bind and no CURVE keys"
grep -q "reachable from other hosts" "$TMP/refused.log" || die "no clear refusal: $(tail -3 "$TMP/refused.log")"

# 2. ipc:// admin socket: mode 0600, dreamctl works through it
"$BIN/dreamd" --worker-bind "$WEP" --admin-bind "ipc://$TMP/admin.sock" --http-port 0 --state ":memory:" \
  --size 256x224 --fps 5 >"$TMP/ipc.log" 2>&1 &
IPC_PID=$!; PIDS+=("$IPC_PID")
wait_for 10 '"$BIN/dreamctl" --admin "ipc://$TMP/admin.sock" --timeout-ms 500 ping >/dev/null 2>&1' "dreamd on ipc"
[ "$(stat -c %a "$TMP/admin.sock")" = 600 ] || die "ipc socket mode $(stat -c %a "$TMP/admin.sock"), expected 600"
"$BIN/dreamctl" --admin "ipc://$TMP/admin.sock" shutdown >/dev/null || die "shutdown over ipc"
wait "$IPC_PID" 2>/dev/null

# 3. CURVE on a non-local bind (next to CURVE on the worker socket)
"$BIN/dreamctl" keygen >"$TMP/server.key" 2>"$TMP/keygen.err" ||
  { grep -qi curve "$TMP/keygen.err" && { echo "SKIP: libzmq without CURVE"; exit 77; }; die "keygen failed"; }
for k in admin ro stranger wserver wgood; do "$BIN/dreamctl" keygen >"$TMP/$k.key" || die keygen; done
pub() { awk '$1=="public"{print $3}' "$TMP/$1.key"; }
pub admin >"$TMP/admins.txt"; pub ro >"$TMP/readonly.txt"; pub wgood >"$TMP/workers.txt"
HP=$(free_port); MP=$(free_port)
while [ "$HP" = "$MP" ] || [ "$HP" = "$APORT" ] || [ "$MP" = "$APORT" ] || [ "$HP" = "$WPORT" ] || [ "$MP" = "$WPORT" ]; do HP=$(free_port); MP=$(free_port); done
"$BIN/dreamd" --worker-bind "$WEP" --admin-bind "tcp://0.0.0.0:$APORT" --http-port "$HP" --http-bind 127.0.0.1 --allow-sim \
  --metrics-bind "127.0.0.1:$MP" --state "$TMP/state.sqlite" --size 256x224 --fps 5 --steps 1 \
  --admin-secret-file "$TMP/server.key" --admin-allow-file "$TMP/admins.txt" --admin-readonly-file "$TMP/readonly.txt" \
  --curve-secret-file "$TMP/wserver.key" --curve-allow-file "$TMP/workers.txt" --allow-sim >"$TMP/dreamd.log" 2>&1 &
DREAMD_PID=$!; PIDS+=("$DREAMD_PID")
SK=$(pub server)
actl() { local key=$1; shift; "$BIN/dreamctl" --admin "tcp://127.0.0.1:$APORT" --timeout-ms 1500 --server-key "$SK" --key-file "$TMP/$key.key" "$@"; }
wait_for 10 'actl admin ping >/dev/null 2>&1' "dreamd with admin CURVE"
start_worker wgood --backend sim --sim-ms-per-mpix-step 50 --curve-server-key "$(pub wserver)" --curve-key-file "$TMP/wgood.key"
wait_for 15 'actl admin status keyframes 2>/dev/null | grep -q "^keyframes:[1-9]"' "keyframes from the CURVE worker"

rc=0; "$BIN/dreamctl" --admin "tcp://127.0.0.1:$APORT" --timeout-ms 800 status >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || die "admin without a key: exit $rc, expected 2 (no answer)"
rc=0; actl stranger status >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || die "admin with an unlisted key: exit $rc, expected 2"
grep -q "event=admin_refused" "$TMP/dreamd.log" || die "no admin ZAP refusal logged"
actl admin pause >/dev/null || die "admin key cannot pause"
actl admin resume >/dev/null || die "admin key cannot resume"
actl ro status server | grep -qx "# Server" || die "read-only key cannot read status"
actl ro queue >/dev/null || die "read-only key cannot read the queue"
rc=0; actl ro pause >/dev/null 2>"$TMP/ro.err" || rc=$?
[ $rc = 1 ] && grep -q "read-only" "$TMP/ro.err" || die "read-only key could pause (exit $rc: $(cat "$TMP/ro.err"))"
rc=0; actl ro config set steps 2 >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || die "read-only key could change config"

# 4. /metrics on --metrics-bind, not on the public page
curl -sf "http://127.0.0.1:$MP/metrics" >"$TMP/m" || die "GET /metrics on --metrics-bind"
python3 "$PYLIB" metrics "$TMP/m" | grep -q '^dreamfarm_workers{state="idle"}\|^dreamfarm_workers{state="busy"}' || die "metrics-bind output"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/metrics")
[ "$code" = 404 ] || die "/metrics still on the public port ($code)"
actl admin shutdown >/dev/null || die "shutdown"
echo "PASS"
