#!/bin/sh
# install-runtime.sh — the runtime stage of docker/Dockerfile.{coordinator,worker-cpu}: installs
# the packages of docker/runtime-pkgs.txt that are missing (none on the images test's base,
# which has them preinstalled: no network needed there), then drops apt's lists.
set -eu
pkgs=$(grep -v '^#' "${1:-/tmp/runtime-pkgs.txt}" | tr '\n' ' ')
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $missing
  rm -rf /var/lib/apt/lists/*
fi
echo "install-runtime: ok ($(echo $pkgs | wc -w) packages${missing:+, installed:$missing})"
