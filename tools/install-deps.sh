#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages dreamfarm needs to build, run and test.
# Idempotent: only missing packages are installed. Works as root or through sudo.
#   tools/install-deps.sh          build + run packages
#   tools/install-deps.sh --test   plus what the test suite needs (python3-torch, chromium, ...)
set -euo pipefail
BUILD_PKGS="build-essential pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
 libvpx-dev libwebsockets-dev libopenblas-openmp-dev libpng-dev libjpeg-dev libcjson-dev
 libsqlite3-dev libedit-dev libavformat-dev libavcodec-dev libavutil-dev libssl-dev curl ca-certificates
 libfreetype-dev fonts-dejavu-core libxxhash-dev"
TEST_PKGS="libcmocka-dev python3 python3-numpy python3-torch iproute2 procps chromium openssl ffmpeg
 ngircd clang libclang-rt-dev time"
# images + deployment checks (tests/integration/images.sh, deploy_check.sh; docs/deploy.md)
TEST_PKGS="$TEST_PKGS podman buildah debootstrap docker-compose systemd"
pkgs="$BUILD_PKGS"
[ "${1:-}" = "--test" ] && pkgs="$pkgs $TEST_PKGS"
missing=()
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js/npm (browser test): any install will do (a distribution's, nvm's, the image's);
# only when there is none, take Debian's.
if [ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${pkgs//$'\n'/ } present" | sed 's/ \+/ /g' | cut -c1-100
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n";
  else
    echo "install-deps: need root to install: ${missing[*]}" >&2
    echo "install-deps: run 'sudo apt-get install ${missing[*]}' and try again" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed, trying with the cached lists" >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
