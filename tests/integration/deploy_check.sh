#!/usr/bin/env bash
# deploy_check.sh — the shipped deployment files are valid and consistent:
#   compose   `docker-compose config` (Debian's docker-compose) accepts deploy/docker-compose.yml
#             (and refuses a copy with an unknown key: the check can fail); CURVE flags on
#             dreamd, the workers' --config from the keys, GPU reservations, the cpu profile
#   k8s       deploy/k8s/*.yaml against the Kubernetes OpenAPI schema (tests/deploy/
#             k8s-validate.mjs: npm's kubernetes-models, offline); a broken copy is refused
#   systemd   `make install PREFIX=tmp` then `systemd-analyze verify` of the installed units
#             (with their binaries), no warnings; the sandboxing and CURVE directives are there
#   keys      deploy/make-keys.sh makes the key files with dreamctl keygen
#   flags     every flag / config key a compose command, k8s args, unit ExecStart, Dockerfile
#             ENTRYPOINT, deploy/*.conf or the generated worker-curve.conf passes exists in
#             that program's --help (tests/deploy/check_flags.py)
# A part whose tool is missing is reported as skipped; the test SKIPs (77) when all are.
set -u
ROOT=${DREAM_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DREAM_BIN:-$ROOT/build/bin}
cd "$ROOT" || exit 1
TMP=$(mktemp -d /tmp/deploycheck.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
die() { echo "FAIL: $*"; exit 1; }
for b in dreamd dream-worker dreamctl dream; do
  [ -x "$BIN/$b" ] || { echo "SKIP: $BIN/$b not built (run make)"; exit 77; }
done
PY=/usr/bin/python3
ran=0; skipped=()

# ---- keys ----------------------------------------------------------------------------------
DREAMCTL=$BIN/dreamctl deploy/make-keys.sh --out "$TMP/secrets" >"$TMP/keys.log" 2>&1 ||
  die "make-keys.sh failed: $(cat "$TMP/keys.log")"
for f in server.key worker.key allowed_workers.txt worker-curve.conf; do
  [ -s "$TMP/secrets/$f" ] || die "make-keys.sh made no $f"
done
grep -q '^secret = .\{40\}$' "$TMP/secrets/server.key" || die "server.key is not a dreamctl keygen key"
[ "$(cat "$TMP/secrets/allowed_workers.txt")" = "$(awk '$1=="public"{print $3}' "$TMP/secrets/worker.key")" ] ||
  die "allowed_workers.txt is not worker.key's public key"
grep -qxF "curve_server_key = $(awk '$1=="public"{print $3}' "$TMP/secrets/server.key")" "$TMP/secrets/worker-curve.conf" ||
  die "worker-curve.conf lacks the server's public key"
before=$(md5sum "$TMP/secrets/server.key")
DREAMCTL=$BIN/dreamctl deploy/make-keys.sh --out "$TMP/secrets" >/dev/null 2>&1
[ "$before" = "$(md5sum "$TMP/secrets/server.key")" ] || die "make-keys.sh replaced an existing key without --force"
echo "keys: ok"

# ---- compose -------------------------------------------------------------------------------
if command -v docker-compose >/dev/null; then
  docker-compose -f deploy/docker-compose.yml --profile cpu config >"$TMP/compose.yml" 2>"$TMP/compose.err" ||
    die "docker-compose config: $(cat "$TMP/compose.err")"
  sed 's/^services:/bogus_top_level: 1\nservices:/' deploy/docker-compose.yml >deploy/.compose-neg.$$.yml
  docker-compose -f deploy/.compose-neg.$$.yml config >/dev/null 2>&1 && { rm -f deploy/.compose-neg.$$.yml; die "docker-compose config accepted an unknown key"; }
  rm -f deploy/.compose-neg.$$.yml
  $PY - "$TMP/compose.yml" <<'PYEOF' || die "compose content check failed"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["services"]
def need(cond, what):
    if not cond: sys.exit(f"compose: {what}")
d = c["dreamd"]["command"]
need("--curve-secret-file" in d and "--curve-allow-file" in d, "dreamd without CURVE")
need({s["source"] for s in c["dreamd"]["secrets"]} >= {"server.key", "allowed_workers.txt"}, "dreamd secrets")
for w in ("worker", "cpu-worker"):
    need("--config" in c[w]["command"] and "/run/secrets/worker-curve.conf" in c[w]["command"], f"{w} without the CURVE config")
    need({s["source"] for s in c[w]["secrets"]} >= {"worker.key", "worker-curve.conf"}, f"{w} secrets")
dev = c["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
need(dev["driver"] == "nvidia" and "gpu" in dev["capabilities"], "no GPU reservation for worker")
need(c["cpu-worker"].get("profiles") == ["cpu"], "cpu-worker not in the cpu profile")
need(c["cpu-worker"]["build"]["dockerfile"] == "docker/Dockerfile.worker-cpu", "cpu-worker image")
need("deploy" not in c["cpu-worker"], "cpu-worker reserves a GPU")
print("compose: ok (" + ", ".join(sorted(c)) + ")")
PYEOF
  ran=$((ran+1))
else skipped+=("compose (no docker-compose: apt-get install docker-compose)"); fi

# ---- kubernetes ----------------------------------------------------------------------------
K8S=tests/deploy
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d $K8S/node_modules/kubernetes-models ]; then
    (cd $K8S && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1 || true
  fi
  if [ -d $K8S/node_modules/kubernetes-models ]; then
    node $K8S/k8s-validate.mjs deploy/k8s/*.yaml || die "k8s manifests fail the schema check"
    sed 's/replicas: 2/replicas: two/' deploy/k8s/dream-worker.yaml >"$TMP/neg.yaml"
    node $K8S/k8s-validate.mjs "$TMP/neg.yaml" >/dev/null 2>&1 && die "the k8s check accepted replicas: two"
    ran=$((ran+1))
  else skipped+=("k8s (npm ci in tests/deploy failed: $(tail -n1 "$TMP/npm.log"))"); fi
else skipped+=("k8s (no node/npm)"); fi

# ---- systemd -------------------------------------------------------------------------------
P=$TMP/prefix
make --no-print-directory -s install PREFIX="$P" BUILD="$(dirname "$BIN")" >"$TMP/install.log" 2>&1 ||
  die "make install PREFIX=$P failed: $(tail -n 5 "$TMP/install.log")"
for b in dreamd dreamctl dream-worker; do [ -x "$P/bin/$b" ] || die "make install: no $P/bin/$b"; done
[ -f "$P/share/dreamfarm/data/prior.safetensors" ] && [ -f "$P/share/dreamfarm/web/index.html" ] ||
  die "make install: data or web page missing"
UNITS=$P/lib/systemd/system
grep -q "$P/bin/dreamd" "$UNITS/dreamd.service" || die "installed unit does not use PREFIX"
if command -v systemd-analyze >/dev/null; then
  cp "$UNITS/dream-worker@.service" "$TMP/dream-worker@0.service"
  for u in "$UNITS/dreamd.service" "$TMP/dream-worker@0.service"; do
    out=$(systemd-analyze verify "$u" 2>&1); rc=$?
    [ $rc = 0 ] && [ -z "$out" ] || die "systemd-analyze verify $(basename "$u") (rc=$rc): $out"
  done
  # the check can fail: a unit whose binary is missing is refused
  sed "s#$P/bin/dreamd#$P/bin/no-such-binary#" "$UNITS/dreamd.service" >"$TMP/neg.service"
  systemd-analyze verify "$TMP/neg.service" >/dev/null 2>&1 && die "systemd-analyze accepted a missing binary"
  ran=$((ran+1))
  echo "systemd: verify ok"
else skipped+=("systemd-analyze verify (no systemd-analyze)"); fi
for u in "$UNITS/dreamd.service" "$UNITS/dream-worker@.service"; do
  for d in '^DynamicUser=yes' '^ProtectSystem=strict' '^NoNewPrivileges=yes' '^Restart=on-failure' \
           '^ProtectHome=yes' '^LoadCredential=.*\.key:/etc/dreamfarm/'; do
    grep -qE "$d" "$u" || die "$(basename "$u") lacks $d"
  done
done
grep -q '^StateDirectory=dreamfarm' "$UNITS/dreamd.service" || die "dreamd.service lacks StateDirectory"
grep -q -- '--curve-secret-file %d/server.key' "$UNITS/dreamd.service" || die "dreamd.service: CURVE not on"
grep -q -- '--curve-key-file %d/worker.key' "$UNITS/dream-worker@.service" || die "dream-worker@.service: CURVE not on"

# ---- flags ---------------------------------------------------------------------------------
if [ -s "$TMP/compose.yml" ]; then
  $PY tests/deploy/check_flags.py "$P/bin" "$TMP/compose.yml" "$UNITS" "$ROOT" "$TMP/secrets/worker-curve.conf" ||
    die "a deployment file passes a flag its program does not have"
  # the check can fail
  sed 's/"--fps"/"--fsp"/' deploy/docker-compose.yml >deploy/.compose-neg.$$.yml
  docker-compose -f deploy/.compose-neg.$$.yml config >"$TMP/neg-compose.yml" 2>/dev/null
  rm -f deploy/.compose-neg.$$.yml
  $PY tests/deploy/check_flags.py "$P/bin" "$TMP/neg-compose.yml" "$UNITS" "$ROOT" >/dev/null 2>&1 &&
    die "check_flags.py accepted --fsp"
  ran=$((ran+1))
else skipped+=("flags (needs docker-compose's resolved config)"); fi

for s in "${skipped[@]:-}"; do [ -n "$s" ] && echo "skipped part: $s"; done
[ $ran = 0 ] && { echo "SKIP: no part could run: ${skipped[*]}"; exit 77; }
echo "PASS ($ran parts${skipped:+, ${#skipped[@]} skipped})"
