# browser_lib.bash — sourced by the browser tests (not a test itself): makes sure Debian's
# chromium (/usr/bin/chromium) and npm's playwright-core (tests/browser/node_modules) are there,
# installing them when possible, else exits 77 with a SKIP message. Sets BROWSER_DIR and LOGDIR.
BROWSER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../browser" && pwd)
LOGDIR=$(cd "$BROWSER_DIR/../.." && pwd)/build/test-logs
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
# (re)install when missing or when package-lock.json changed since the last install (a stamp
# holds its checksum), so an old checkout picks up a new pin
lock_sum=$(cksum <"$BROWSER_DIR/package-lock.json" 2>/dev/null)
stamp=$BROWSER_DIR/node_modules/.dreamfarm-lock
if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "npm ci: playwright-core into tests/browser/node_modules (as pinned in package-lock.json)"
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "SKIP: npm install playwright-core failed (no registry access?)"; exit 77; }
  printf '%s' "$lock_sum" >"$stamp"
fi
