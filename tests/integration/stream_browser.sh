#!/usr/bin/env bash
# stream_browser.sh — browser end-to-end test of the viewer page: Debian's chromium driven by
# npm's playwright-core (no browser download). Against dream-stream-demo by default, or any
# running stream with DREAM_URL=http://host:port/ (e.g. dreamd + a CPU worker).
# Runs three times: the page's own player (WebCodecs), then forced MSE (live WebM) and snapshot
# fallbacks. Checks decoded, changing pictures on the canvas, autocomplete, a "tree frog"
# request reaching #current-subject, a refusal with suggestions, the status line, the untrained
# banner (the demo runs with --untrained), reconnecting, a phone layout.
# Screenshots: build/test-logs/stream_browser{,_phone,_mse,_snapshot}.png.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/browser_lib.bash"

if [ -z "${DREAM_URL:-}" ]; then
  . "$HERE/stream_lib.bash"
  need_bins
  start_demo --size 640x360 --fps 20 --bitrate 1200 --hold 10 --min-hold 5 --rate 30 --burst 10 --untrained
  sleep 1
  DREAM_URL=$BASE/
fi
rc=0
for mode in "" mse snapshot; do
  echo "testing $DREAM_URL (player: ${mode:-page default})"
  DREAM_URL=$DREAM_URL DREAM_MODE=$mode DREAM_SHOT_DIR=$LOGDIR timeout 150 node "$BROWSER_DIR/e2e.mjs" || rc=1
done
[ $rc -eq 0 ] && echo "PASS (screenshots in $LOGDIR/stream_browser*.png)"
exit $rc
