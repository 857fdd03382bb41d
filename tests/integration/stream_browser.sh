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
BROWSER_DIR=$ROOT/tests/browser
LOGDIR=$ROOT/build/test-logs
mkdir -p "$LOGDIR"

SUDO=""
[ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "installing Debian's chromium"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
      { $SUDO apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }
  fi
  [ -x /usr/bin/chromium ] || { echo "SKIP: /usr/bin/chromium missing and could not be installed"; exit 77; }
fi
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }
if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
  echo "npm install playwright-core into tests/browser/node_modules"
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error) ||
    { echo "SKIP: npm install playwright-core failed (no registry access?)"; exit 77; }
fi

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
