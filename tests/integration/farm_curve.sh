#!/usr/bin/env bash
# farm_curve.sh — optional CURVE security: `dreamctl keygen` key pairs, dreamd with its
# secret key and an allow list; an allowed worker joins and computes, a worker with an
# unlisted key and a plain (no CURVE) worker never join.
source "$(dirname "$0")/farm_lib.bash"

"$BIN/dreamctl" keygen >"$TMP/server.key" 2>"$TMP/keygen.err" ||
  { grep -qi curve "$TMP/keygen.err" && { echo "SKIP: libzmq without CURVE"; exit 77; }; die "keygen failed"; }
"$BIN/dreamctl" keygen >"$TMP/good.key" && "$BIN/dreamctl" keygen >"$TMP/bad.key" || die "keygen failed"
grep -q '^public = .\{40\}$' "$TMP/server.key" && grep -q '^secret = .\{40\}$' "$TMP/server.key" || die "bad key file format"
SERVER_PUB=$(awk '$1=="public"{print $3}' "$TMP/server.key")
awk '$1=="public"{print $3}' "$TMP/good.key" >"$TMP/allow.txt"

start_dreamd --size 320x256 --fps 5 --steps 1 --curve-secret-file "$TMP/server.key" --curve-allow-file "$TMP/allow.txt"
start_worker good --backend sim --sim-ms-per-mpix-step 50 --curve-server-key "$SERVER_PUB" --curve-key-file "$TMP/good.key"
start_worker intruder --backend sim --sim-ms-per-mpix-step 50 --curve-server-key "$SERVER_PUB" --curve-key-file "$TMP/bad.key"
start_worker plain --backend sim --sim-ms-per-mpix-step 50
wait_for 15 '[ "$(field keyframes)" -ge 3 ]' "keyframes from the allowed worker"
sleep 1
ws=$(ctl workers)
grep -q "^worker:good " <<<"$ws" || die "allowed worker missing"
grep -q "^worker:intruder " <<<"$ws" && die "worker with an unlisted key joined"
grep -q "^worker:plain " <<<"$ws" && die "worker without CURVE joined"
grep -q "refused a worker connection" "$TMP/dreamd.log" || die "no ZAP refusal logged"
echo "PASS"
