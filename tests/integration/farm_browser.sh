#!/usr/bin/env bash
# farm_browser.sh — the whole farm end to end in a real browser: the REAL coordinator
# (build/bin/dreamd, 320x240 canvas, 1 step per keyframe, live page on a free loopback port)
# and ONE real dream-worker on the CPU backend with random VGG-16 weights (not the sim
# backend), viewed by Debian's headless chromium driven by npm's playwright-core
# (tests/browser/e2e.mjs, installed like stream_browser.sh does).
# Checks: the worker joins and computes tiles; the page decodes pictures and the canvas pixel
# data changes between two grabs 3 s apart; "tree frog" submitted through #request-form /
# #subject-input shows in #current-subject and becomes the coordinator's subject; the page
# shows the untrained banner (random weights); the worker kept computing keyframes meanwhile.
# Screenshot: build/test-logs/farm_browser.png (+ farm_browser_phone.png).
# Every process started here is stopped on exit (farm_lib.bash's trap).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/browser_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

source "$HERE/farm_lib.bash"   # ports, start_dreamd/start_worker, ctl, wait_for, die, cleanup trap
trap 'exit 130' INT; trap 'exit 143' TERM   # -> the EXIT trap's cleanup
HPORT=$(free_port)
while [ "$HPORT" = "$WPORT" ] || [ "$HPORT" = "$APORT" ]; do HPORT=$(free_port); done
URL=http://127.0.0.1:$HPORT
api() { curl -s --max-time 5 "$URL$1"; }
jnum() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }

t0=$SECONDS
start_dreamd --size 320x240 --steps 1 --fps 10 --http-port "$HPORT" --http-bind 127.0.0.1 --subjects volcano
# --speed-ms skips the start-up speed measurement (seconds of VGG-16 on this CPU); one thread
# leaves the other core to dreamd's encoder and the browser.
start_worker cpu1 --backend cpu --weights random --threads 1 --speed-ms 60000
WORKER_PID=$LAST_WORKER_PID
wait_for 10 'api /api/status | grep -q "\"frames_encoded\":[1-9]"' "the page's stream encoding frames"
wait_for 40 'api /api/status | grep -q "\"workers\":1"' "the CPU worker joining (random VGG-16 init)"
wait_for 40 '[ "$(worker_jobs cpu1)" -ge 1 ] 2>/dev/null' "the CPU worker finishing its first tile"
api /api/status | grep -q '"untrained":true' || die "/api/status does not report the untrained weights"
kf0=$(field keyframes)
echo "worker joined and computed a tile after $((SECONDS - t0)) s (keyframes so far: $kf0)"

echo "browser: $URL/"
# in the background, so that the cleanup trap can stop it (and with it chromium) on a signal
DREAM_URL=$URL/ DREAM_SHOT_DIR=$LOGDIR DREAM_SHOT_NAME=farm_browser DREAM_CHANGE_MS=3000 \
  DREAM_SUBJECT_WAIT_MS=20000 timeout 80 node "$BROWSER_DIR/e2e.mjs" >"$TMP/e2e.log" 2>&1 &
NODE_PID=$!
PIDS+=("$NODE_PID")
wait "$NODE_PID"
rc=$?
cat "$TMP/e2e.log"
[ $rc -eq 0 ] || die "browser check failed (rc $rc; screenshot $LOGDIR/farm_browser_fail.png)"
grep -q "mode: webcodecs" "$TMP/e2e.log" || die "the page did not play through WebCodecs"

# the browser's request reached the coordinator, and the real worker kept dreaming meanwhile
ctl status | grep -qx "subjects:tree frog" || die "coordinator subject is not tree frog: $(ctl status | grep '^subjects:')"
wait_for 30 '[ "$(field keyframes)" -gt "$kf0" ] 2>/dev/null' "a keyframe after the first one (still $kf0)"
kf1=$(field keyframes); jobs=$(worker_jobs cpu1)
kill -0 "$WORKER_PID" 2>/dev/null || die "the worker died"
[ -s "$LOGDIR/farm_browser.png" ] || die "no screenshot"
echo "keyframes $kf0 -> $kf1, worker jobs done $jobs, $((SECONDS - t0)) s in all"
echo "PASS (screenshots in $LOGDIR/farm_browser*.png)"
