#!/bin/sh
# build-stage.sh — the build stage of docker/Dockerfile.* (run inside the image build, from the
# context's copy of the repository in /src): puts the named binaries into /out/bin.
#   docker/build-stage.sh [--cuda] BIN...
# BINARIES=compile (default): installs the -dev packages (tools/install-deps.sh) and builds
#   the binaries here with make (NO_CUDA=1 unless --cuda), in a fresh build directory.
# BINARIES=prebuilt: copies them from $PREBUILT_DIR of the build context instead (binaries that
#   the host's make built for the same Debian release as the image's base). The images test
#   (tests/integration/images.sh) uses this: compiling inside costs ~15 min on 2 cores (the
#   -dev packages plus a full build), the host's incremental build seconds. Users build with
#   the default.
set -eu
cuda=0
[ "${1:-}" = --cuda ] && { cuda=1; shift; }
mkdir -p /out/bin
case "${BINARIES:-compile}" in
  prebuilt)
    for b in "$@"; do
      [ -x "${PREBUILT_DIR:?}/$b" ] || { echo "build-stage: $PREBUILT_DIR/$b missing (BINARIES=prebuilt)" >&2; exit 1; }
      cp "$PREBUILT_DIR/$b" /out/bin/
    done;;
  compile)
    apt-get update
    tools/install-deps.sh
    rm -rf /var/lib/apt/lists/*
    targets=""
    for b in "$@"; do targets="$targets /tmp/build/bin/$b"; done
    if [ $cuda = 1 ]; then make -j"$(nproc)" BUILD=/tmp/build CUDA_HOME=/usr/local/cuda $targets
    else make -j"$(nproc)" BUILD=/tmp/build NO_CUDA=1 $targets; fi
    for b in "$@"; do cp "/tmp/build/bin/$b" /out/bin/; done;;
  *) echo "build-stage: BINARIES must be compile or prebuilt, not '$BINARIES'" >&2; exit 1;;
esac
ls -l /out/bin
