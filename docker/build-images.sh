#!/usr/bin/env bash
# build-images.sh — builds the images with buildah (podman's builder; no Docker daemon needed):
#   dreamfarm/dreamd:TAG      docker/Dockerfile.coordinator
#   dreamfarm/worker-cpu:TAG  docker/Dockerfile.worker-cpu
#   dreamfarm/worker:TAG      docker/Dockerfile.worker (CUDA), only when its bases are present
# `make images` runs it. Environment (all optional):
#   BASE=IMAGE         Debian 12 base of the coordinator/CPU images; default debian:bookworm-slim
#                      when podman has it, else the local debootstrapped base (docker/make-base.sh)
#   BINARIES=compile   compile inside (default) or prebuilt: copy NO_CUDA binaries made here by
#                      `make BUILD=build/images/nocuda NO_CUDA=1` (docker/build-stage.sh says why)
#   CUDA_BASE=IMAGE CUDA_DEVEL_BASE=IMAGE   the CUDA runtime/devel bases (nvidia/cuda:...); the
#                      CUDA image is built only when podman has both, else it says so
#   TAG=latest  ULIMIT_NOFILE=N (default: the hard limit of this shell; buildah cannot raise it)
# Every build runs with --isolation chroot (works inside a container sandbox without user
# namespaces) and --format docker (keeps HEALTHCHECK). Prints each build's seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TAG=${TAG:-latest}
BINARIES=${BINARIES:-compile}
NOFILE=${ULIMIT_NOFILE:-$(ulimit -Hn)}; [ "$NOFILE" = unlimited ] && NOFILE=65536
say() { echo "build-images: $*"; }
command -v buildah >/dev/null || { say "needs buildah and podman (apt-get install buildah podman)"; exit 1; }
if [ -z "${BASE:-}" ]; then
  if podman image exists debian:bookworm-slim 2>/dev/null || podman image exists docker.io/library/debian:bookworm-slim 2>/dev/null; then
    BASE=debian:bookworm-slim
  else
    BASE=$(docker/make-base.sh)
  fi
fi
PREBUILT_DIR=build/images/nocuda/bin
mkdir -p build/images     # logs (a fresh clone has no build/ while the base comes from podman's store)
if [ "$BINARIES" = prebuilt ]; then
  say "host build of the NO_CUDA binaries into $PREBUILT_DIR"
  nice make --no-print-directory -j"$(nproc)" BUILD=build/images/nocuda NO_CUDA=1 \
    $PREBUILT_DIR/dreamd $PREBUILT_DIR/dreamctl $PREBUILT_DIR/dream-worker >build/images/make.log 2>&1 ||
    { tail -n 20 build/images/make.log; say "make failed"; exit 1; }
fi
bud() { # Dockerfile image extra-args...
  local df=$1 img=$2 t0=$SECONDS; shift 2
  say "$img from $df (BASE=$BASE BINARIES=$BINARIES)"
  buildah bud --isolation chroot --ulimit "nofile=$NOFILE:$NOFILE" --format docker --layers=false \
    --build-arg "BINARIES=$BINARIES" --build-arg "PREBUILT_DIR=$PREBUILT_DIR" \
    "$@" -f "$df" -t "$img" . >"build/images/bud-$TAG-$(basename "$df").log" 2>&1 ||
    { tail -n 25 "build/images/bud-$TAG-$(basename "$df").log"; say "build of $img failed"; return 1; }
  say "$img built in $((SECONDS - t0)) s"
}
mkdir -p build/images
bud docker/Dockerfile.coordinator "dreamfarm/dreamd:$TAG" --build-arg "BASE=$BASE"
bud docker/Dockerfile.worker-cpu "dreamfarm/worker-cpu:$TAG" --build-arg "BASE=$BASE"
if [ -n "${CUDA_BASE:-}" ] && [ -n "${CUDA_DEVEL_BASE:-}" ] &&
   podman image exists "$CUDA_BASE" 2>/dev/null && podman image exists "$CUDA_DEVEL_BASE" 2>/dev/null; then
  bud docker/Dockerfile.worker "dreamfarm/worker:$TAG" --build-arg "CUDA_BASE=$CUDA_BASE" \
    --build-arg "CUDA_DEVEL_BASE=$CUDA_DEVEL_BASE"
else
  say "CUDA worker image NOT built: needs CUDA_BASE and CUDA_DEVEL_BASE present in podman's store" \
      "(got '${CUDA_BASE:-}' / '${CUDA_DEVEL_BASE:-}'; e.g. podman load an nvidia/cuda image, then" \
      "make images CUDA_BASE=nvidia/cuda:13.0.0-runtime-ubuntu24.04 CUDA_DEVEL_BASE=nvidia/cuda:13.0.0-devel-ubuntu24.04)"
fi
