#!/usr/bin/env bash
# farm_quarantine_key.sh — with CURVE the quarantine follows the worker's public key, not its
# name (docs/security.md): a worker that keeps missing deadlines is quarantined under its key
# (`dreamctl workers` shows key=...); after a dreamd restart on the same state file the same
# key is welcomed as quarantined, while a different key using the SAME name works normally;
# `dreamctl release KEY` ends it. An expired entry (--quarantine-s) no longer applies.
source "$(dirname "$0")/farm_lib.bash"

"$BIN/dreamctl" keygen >"$TMP/server.key" 2>"$TMP/keygen.err" ||
  { grep -qi curve "$TMP/keygen.err" && { echo "SKIP: libzmq without CURVE"; exit 77; }; die "keygen failed"; }
"$BIN/dreamctl" keygen >"$TMP/slow.key" && "$BIN/dreamctl" keygen >"$TMP/other.key" || die "keygen failed"
SERVER_PUB=$(awk '$1=="public"{print $3}' "$TMP/server.key")
SLOW_PUB=$(awk '$1=="public"{print $3}' "$TMP/slow.key")
awk '$1=="public"{print $3}' "$TMP/slow.key" "$TMP/other.key" >"$TMP/allow.txt"
CURVE=(--curve-secret-file "$TMP/server.key" --curve-allow-file "$TMP/allow.txt")

# a worker claiming 1 ms/MPx-step that takes 3000: every deadline (200 ms slack) is missed
start_dreamd --size 320x256 --fps 5 --steps 1 --deadline-min-ms 200 --heartbeat-ms 300 "${CURVE[@]}"
start_worker w --backend sim --sim-ms-per-mpix-step 3000 --speed-ms 1 --heartbeat-ms 300 \
  --curve-server-key "$SERVER_PUB" --curve-key-file "$TMP/slow.key"
SLOW_PID=$LAST_WORKER_PID
# (Z85 keys hold regex characters: fixed-string matches only)
wait_for 40 'ctl workers | grep "^worker:w " | grep "state=quarantined" | grep -qF "key=$SLOW_PUB"' "the slow worker quarantined under its key"
ctl workers | sed -n '/^# Quarantine/,$p' | grep -qF -e "$SLOW_PUB	" || die "the key is not in the persisted quarantine: $(ctl workers)"
kill "$SLOW_PID"; wait "$SLOW_PID" 2>/dev/null
ctl quit >/dev/null; wait "$DREAMD_PID" 2>/dev/null; mv "$TMP/dreamd.log" "$TMP/dreamd-1.log"

# restart on the same state: the key stays quarantined; another key with the same name works
start_dreamd --size 320x256 --fps 5 --steps 1 --heartbeat-ms 300 "${CURVE[@]}"
start_worker w --backend sim --sim-ms-per-mpix-step 50 --heartbeat-ms 300 \
  --curve-server-key "$SERVER_PUB" --curve-key-file "$TMP/slow.key"
start_worker w --backend sim --sim-ms-per-mpix-step 50 --heartbeat-ms 300 \
  --curve-server-key "$SERVER_PUB" --curve-key-file "$TMP/other.key"
wait_for 20 '[ "$(field keyframes)" -ge 3 ]' "keyframes from the other key"
ws=$(ctl workers); echo "$ws" | grep "^worker:"
grep "^worker:w " <<<"$ws" | grep "state=quarantined" | grep -qF "key=$SLOW_PUB" || die "the quarantined key was not remembered across the restart"
[ "$(grep -c "^worker:w .*state=\(idle\|busy\)" <<<"$ws")" = 1 ] || die "the other key with the same name is not working"
ctl release "$SLOW_PUB" | grep -q "^OK" || die "release by key failed"
wait_for 15 '[ "$(ctl workers | grep -c "^worker:w .*jobs_done=[1-9]")" = 2 ]' "both workers computing after the release"
ctl quit >/dev/null; wait "$DREAMD_PID" 2>/dev/null; mv "$TMP/dreamd.log" "$TMP/dreamd-2.log"
echo "PASS"
