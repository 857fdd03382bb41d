#!/usr/bin/env bash
# make-keys.sh — the CURVE keys of the shipped deployment (compose, Kubernetes, systemd), made
# with `dreamctl keygen`, into deploy/secrets/ (git-ignored):
#   server.key            the coordinator's key pair (secret: dreamd --curve-secret-file)
#   worker.key            the workers' key pair (secret: dream-worker --curve-key-file)
#   allowed_workers.txt   the public line of worker.key (dreamd --curve-allow-file)
#   worker-curve.conf     `curve_server_key = <server public>` + `curve_key_file = ...` for the
#                         workers' --config (Z85 keys hold '$' and '#': a file, not a variable)
# Existing files are kept (rerun = no-op); --force makes new ones (then restart everything).
#   deploy/make-keys.sh [--force] [--out DIR] [--key-dir /run/secrets] [--owner 10001]
# dreamctl: $DREAMCTL, else build/bin/dreamctl, else the one on PATH, else the coordinator
# image's (podman or docker run --rm --entrypoint dreamctl dreamfarm/dreamd keygen).
# As root the files get owner --owner (default 10001, the images' dreamfarm user; `--owner root`
# for systemd, whose units read them as credentials) and mode 600, else mode 644 (compose
# bind-mounts secrets without changing owner or mode).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/deploy/secrets; KEYDIR=/run/secrets; FORCE=0; OWNER=10001
while [ $# -gt 0 ]; do
  case $1 in
    --force) FORCE=1; shift;;
    --out) OUT=$2; shift 2;;
    --key-dir) KEYDIR=$2; shift 2;;
    --owner) OWNER=$2; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
    *) echo "make-keys: unknown option '$1'" >&2; exit 2;;
  esac
done
keygen() {
  if [ -n "${DREAMCTL:-}" ]; then $DREAMCTL keygen
  elif [ -x "$ROOT/build/bin/dreamctl" ]; then "$ROOT/build/bin/dreamctl" keygen
  elif command -v dreamctl >/dev/null; then dreamctl keygen
  elif command -v podman >/dev/null; then podman run --rm --entrypoint dreamctl dreamfarm/dreamd keygen
  else docker run --rm --entrypoint dreamctl dreamfarm/dreamd keygen; fi
}
mkdir -p "$OUT"
for k in server worker; do
  f=$OUT/$k.key
  if [ -s "$f" ] && [ $FORCE = 0 ]; then echo "make-keys: keeping $f"; continue; fi
  (umask 077; keygen >"$f.part") && grep -q '^secret = ' "$f.part" && mv "$f.part" "$f" ||
    { rm -f "$f.part"; echo "make-keys: dreamctl keygen failed" >&2; exit 1; }
  echo "make-keys: new $f"
done
pub() { awk '$1 == "public" {print $3}' "$1"; }
pub "$OUT/worker.key" >"$OUT/allowed_workers.txt"
printf '# made by deploy/make-keys.sh: the coordinator public key and this worker key\ncurve_server_key = %s\ncurve_key_file = %s/worker.key\n' \
  "$(pub "$OUT/server.key")" "$KEYDIR" >"$OUT/worker-curve.conf"
if [ "$(id -u)" = 0 ]; then
  chown "$OWNER:$OWNER" "$OUT"/server.key "$OUT"/worker.key "$OUT"/allowed_workers.txt "$OUT"/worker-curve.conf
  chmod 600 "$OUT"/server.key "$OUT"/worker.key; chmod 644 "$OUT"/allowed_workers.txt "$OUT"/worker-curve.conf
else
  chmod 644 "$OUT"/*.key "$OUT"/allowed_workers.txt "$OUT"/worker-curve.conf
  echo "make-keys: not root: the keys are mode 644 so that the containers' user can read them;" \
       "keep $OUT private (or rerun as root: owner $OWNER, mode 600)"
fi
echo "make-keys: server public key $(pub "$OUT/server.key")"
