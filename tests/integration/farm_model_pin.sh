#!/usr/bin/env bash
# farm_model_pin.sh — dreamd pins the farm's model from its own --weights, before any worker:
#  * dreamd --weights /nonexistent (and a garbage file) exits non-zero naming the file + reason;
#  * dreamd --weights random requires the random-init hash at once (status: model_hash,
#    model_source, untrained:1 with no worker); a REAL CPU dream-worker with --weights random
#    joins and computes a keyframe (224x224, 1 step); a worker loading a different (tiny,
#    generated here) safetensors VGG is refused: both logs name both hashes and dreamd's
#    weights source, and the refused worker backs off instead of spinning;
#  * dreamd --weights tiny.safetensors pins that file's hash (= `dream inspect`), trained,
#    and now the tiny worker joins and computes while the random one is refused; a sim
#    worker is accepted with "model check skipped" (dreamd --allow-sim).
# Every process started here is stopped on exit (farm_lib.bash's trap).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/farm_lib.bash"
PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || { echo "SKIP: /usr/bin/python3 with numpy needed to write a safetensors file"; exit 77; }
[ -x "$BIN/dream" ] || { echo "SKIP: $BIN/dream not built"; exit 77; }
t0=$SECONDS

# --- startup errors: never a silent fallback
rc=0; timeout 20 "$BIN/dreamd" --weights /nonexistent/vgg16.safetensors --http-port 0 --state :memory: \
  --worker-bind "$WEP" --admin-bind "$AEP" >"$TMP/bad1.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || die "dreamd --weights /nonexistent: exit $rc, expected an error"
grep -q "option 'weights'.*/nonexistent/vgg16.safetensors: cannot open: No such file" "$TMP/bad1.log" ||
  die "no clear message for a missing weights file: $(cat "$TMP/bad1.log")"
head -c 1000 /dev/urandom >"$TMP/junk.safetensors"
rc=0; timeout 20 "$BIN/dreamd" --weights "$TMP/junk.safetensors" --http-port 0 --state :memory: \
  --worker-bind "$WEP" --admin-bind "$AEP" >"$TMP/bad2.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || die "dreamd --weights junk: exit $rc, expected an error"
grep -q "junk.safetensors: " "$TMP/bad2.log" || die "junk weights: message does not name the file"
echo "bad weights files: clear startup errors"

# --- a tiny torchvision-named VGG (2 convs + 2 pools + 3 fc, 1000 classes), seeded values
TINY=$TMP/tiny.safetensors
PYTHONPATH=$ROOT/tests/python $PY - "$TINY" <<'EOF' || die "could not write the tiny safetensors file"
import sys
import numpy as np
import st
r = np.random.default_rng(5)
f = lambda *s: (r.standard_normal(s) * 0.1).astype(np.float32)
st.save(sys.argv[1], {
    "features.0.weight": f(4, 3, 3, 3), "features.0.bias": f(4),
    "features.3.weight": f(4, 4, 3, 3), "features.3.bias": f(4),
    "classifier.0.weight": f(8, 4 * 7 * 7), "classifier.0.bias": f(8),
    "classifier.3.weight": f(8, 8), "classifier.3.bias": f(8),
    "classifier.6.weight": f(1000, 8), "classifier.6.bias": f(1000)})
EOF
TINY_HASH=$("$BIN/dream" inspect "$TINY" 2>/dev/null | sed -n 's/^hash://p')
[ ${#TINY_HASH} = 16 ] || die "dream inspect gave no hash for the tiny file"

# --- dreamd --weights random: pinned before any worker
start_dreamd --weights random --size 224x224 --steps 1 --fps 5 --subjects volcano --heartbeat-ms 500
RND_HASH=$(field model_hash)
[ ${#RND_HASH} = 16 ] || die "status model_hash '$RND_HASH' is not pinned with no worker"
[ "$RND_HASH" != "$TINY_HASH" ] || die "random and tiny hashes are equal"
ctl status | grep -qx "model_source:dreamd --weights random, UNTRAINED random init" || die "status model_source"
ctl status | grep -qx "untrained:1" || die "status does not say untrained before any worker"
grep -q "farm requires model hash $RND_HASH (random init, --weights random)" "$TMP/dreamd.log" ||
  die "no INFO line saying which model the farm requires"

# a real CPU worker with the same random init: --speed-ms skips the start-up measurement
start_worker cpu1 --backend cpu --weights random --threads 1 --speed-ms 60000 --prior none
wait_for 30 'grep -q "worker cpu1 joined" "$TMP/dreamd.log"' "the CPU worker (random init) joining"
grep -q "hash $RND_HASH" "$TMP/worker-cpu1.log" || die "the worker's model hash is not dreamd's $RND_HASH"

# the tiny file: refused, with both hashes and the source in both logs
start_worker tiny --backend cpu --weights "$TINY" --threads 1 --speed-ms 1000 --prior none
TINY_PID=$LAST_WORKER_PID
WHY="model hash $TINY_HASH differs from the farm's $RND_HASH (dreamd --weights random, UNTRAINED random init)"
wait_for 15 'grep -qF "REFUSED by the coordinator: $WHY" "$TMP/worker-tiny.log"' "the tiny worker's refusal"
grep -qF "refusing worker tiny: $WHY" "$TMP/dreamd.log" || die "dreamd's log lacks the refusal reason"
grep -q "this worker's model: hash $TINY_HASH (--weights $TINY)" "$TMP/worker-tiny.log" ||
  die "the refused worker does not say which model it has"
# the only worker so far: its accepted tile (the whole 224x224 canvas) is the keyframe
wait_for 40 '[ "$(worker_jobs cpu1)" -ge 1 ] 2>/dev/null' "the CPU worker finishing a tile"
wait_for 10 '[ "$(field keyframes)" -ge 1 ]' "a keyframe"
# not a tight loop: reconnects back off 1, 2, 4 ... s
n=$(grep -c "REFUSED by the coordinator" "$TMP/worker-tiny.log")
el=$((SECONDS - t0))
[ "$n" -le 6 ] || die "the refused worker retried $n times (tight loop?)"
ctl status | grep -qx "connected:1" || die "expected only the CPU worker connected"
echo "random farm: cpu worker joined and computed, tiny worker refused $n time(s), ${el} s so far"

# --- dreamd --weights FILE: pins the file's value hash; now the tiny worker is the right one
kill -TERM "$DREAMD_PID"; wait "$DREAMD_PID" 2>/dev/null
kill -TERM "$TINY_PID"; wait "$TINY_PID" 2>/dev/null
mv "$TMP/dreamd.log" "$TMP/dreamd-random.log"
start_dreamd --weights "$TINY" --size 224x224 --steps 1 --fps 5 --subjects volcano --heartbeat-ms 500
[ "$(field model_hash)" = "$TINY_HASH" ] || die "dreamd --weights FILE pinned '$(field model_hash)', not $TINY_HASH"
ctl status | grep -qx "model_source:dreamd --weights $TINY, trained" || die "status model_source for a file"
ctl status | grep -qx "untrained:0" || die "a trained file must not be reported untrained"
grep -q "farm requires model hash $TINY_HASH (from --weights FILE)" "$TMP/dreamd.log" || die "no INFO line for FILE"
grep -q "farm model: custom (torchvision, trained) from $TINY" "$TMP/dreamd.log" || die "no description of the file"
start_worker tiny2 --backend cpu --weights "$TINY" --threads 1 --speed-ms 1000 --prior none
wait_for 15 '[ "$(worker_jobs tiny2)" -ge 1 ] 2>/dev/null' "the tiny worker computing for the file farm"
# the random-init worker (still running) reconnects to this dreamd and is refused
wait_for 20 'grep -q "refusing worker cpu1: model hash $RND_HASH differs from the farm.s $TINY_HASH (dreamd --weights $TINY, trained)" "$TMP/dreamd.log"' \
  "the random worker refused by the file farm"
# sim workers (tests, benchmarks) are accepted by a farm started with --allow-sim (farm_lib's
# start_dreamd passes it; farm_hostile.sh checks the refusal without it), saying so
start_worker simw --backend sim --sim-ms-per-mpix-step 1
wait_for 10 'grep -q "worker simw: model check skipped" "$TMP/dreamd.log"' "the sim worker accepted (check skipped)"
grep -q "worker simw joined" "$TMP/dreamd.log" || die "the sim worker did not join"
echo "PASS ($((SECONDS - t0)) s)"
