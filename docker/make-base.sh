#!/usr/bin/env bash
# make-base.sh — the local Debian 12 base image that tests/integration/images.sh and
# `make images BASE=local` build from, where no registry is reachable: debootstrap bookworm
# (variant minbase, the host's apt mirror) with docker/runtime-pkgs.txt preinstalled, imported
# into podman's store as localhost/dreamfarm/base:KEY. KEY hashes the package list and the
# debootstrap recipe (RECIPE below: bump it when changing how the root is made), so a changed
# list makes a new base. The tarball is cached as
# build/images/base-KEY.tar.gz; a later run only imports it (seconds) when podman lacks it.
#   docker/make-base.sh            make (if needed) and print the image name
#   docker/make-base.sh --cached   print the name only if podman has it or base-KEY.tar.gz exists
#                                  (then imports it), else exit 3 (the images test skips then)
# Needs root, debootstrap and podman. Cold: 4.5-8.5 min here (2 shared cores, measured twice:
# most of it is debootstrap fetching and unpacking ~140 packages); cached: ~10 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/build/images
RECIPE="bookworm minbase sources+updates+security v1"
KEY=$( { cat "$ROOT/docker/runtime-pkgs.txt"; echo "$RECIPE"; } | sha256sum | cut -c1-12)
NAME=localhost/dreamfarm/base:$KEY
TAR=$CACHE/base-$KEY.tar.gz
say() { echo "make-base: $*" >&2; }

if ! podman image exists "$NAME" 2>/dev/null; then
  if [ ! -s "$TAR" ]; then
    [ "${1:-}" = --cached ] && { say "no cached base $TAR"; exit 3; }
    [ "$(id -u)" = 0 ] || { say "needs root (debootstrap)"; exit 1; }
    command -v debootstrap >/dev/null || { say "needs debootstrap (apt-get install debootstrap)"; exit 1; }
    host_uri() { # the host's Debian URI (deb822 or one-line format)
      cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v '^\s*#' | grep -oE 'https?://[^ ]+' | grep -E "/$1/?\$" | head -1 || true
    }
    MIRROR=${MIRROR:-$(host_uri debian)}; MIRROR=${MIRROR:-http://deb.debian.org/debian}
    SECURITY=$(host_uri debian-security); SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
    mkdir -p "$CACHE"
    tmp=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    pkgs=$(grep -v '^#' "$ROOT/docker/runtime-pkgs.txt" | paste -sd, -)
    say "debootstrap --variant=minbase bookworm from $MIRROR with $pkgs (minutes)"
    t0=$SECONDS
    debootstrap --variant=minbase --include="$pkgs" bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log" >&2; say "debootstrap failed (log: $CACHE/debootstrap.log)"; exit 1; }
    # what debian:bookworm-slim has: apt sources with updates and security, no caches
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
      "$MIRROR" "$MIRROR" "$SECURITY" >"$tmp/etc/apt/sources.list"
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
    tar -C "$tmp" --numeric-owner -czf "$TAR.part" . && mv "$TAR.part" "$TAR"
    say "base tarball $TAR ($(du -h "$TAR" | cut -f1), $((SECONDS - t0)) s)"
  fi
  podman import --quiet "$TAR" "$NAME" >/dev/null || { say "podman import $TAR failed"; exit 1; }
fi
echo "$NAME"
