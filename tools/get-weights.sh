#!/usr/bin/env bash
# get-weights.sh — `make weights`: downloads trained VGG-16 weights (timm vgg16.tv_in1k,
# the torchvision ImageNet weights in safetensors form, ~528 MB) into
# data/weights/vgg16.safetensors.
#   - resumable: downloads into FILE.part with `curl -C -`, renames when complete;
#     rerun after an interruption to continue
#   - no network: prints a clear message and exits 1 (nothing is left half-named)
#   - afterwards: structural check with `build/bin/dream inspect FILE` when that binary
#     exists, and the sha256 (checked against DREAM_WEIGHTS_SHA256 when that is set)
# Environment: DREAM_WEIGHTS_URL (default below), DREAM_WEIGHTS_DIR (default data/weights),
#              DREAM_WEIGHTS_SHA256 (optional expected hash).
# Alternative without this script: see docs/weights.md (copy any torchvision vgg16 saved
# with safetensors to data/weights/vgg16.safetensors).
set -uo pipefail
cd "$(dirname "$0")/.."
URL=${DREAM_WEIGHTS_URL:-https://huggingface.co/timm/vgg16.tv_in1k/resolve/main/model.safetensors}
DIR=${DREAM_WEIGHTS_DIR:-data/weights}
DEST=$DIR/vgg16.safetensors
PART=$DEST.part
MIN_BYTES=${DREAM_WEIGHTS_MIN_BYTES:-400000000}   # a complete VGG-16 is ~528 MB (F32)

say() { echo "get-weights: $*"; }
die() { echo "get-weights: $*" >&2; exit 1; }

verify() {
  local f=$1
  if [ -x build/bin/dream ]; then
    say "structural check: build/bin/dream inspect $f"
    local out
    out=$(build/bin/dream inspect "$f") || die "$f failed the structural check (see above); delete it and rerun"
    echo "$out"
    grep -q '^arch:vgg1[69]$' <<<"$out" || die "$f is not a VGG-16/19 (see above); delete it and rerun"
  else
    say "build/bin/dream not built yet: run 'make' then 'build/bin/dream inspect $f' to check it"
  fi
  local sum
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  say "sha256 $sum  $f"
  if [ -n "${DREAM_WEIGHTS_SHA256:-}" ] && [ "$sum" != "$DREAM_WEIGHTS_SHA256" ]; then
    die "sha256 mismatch: expected $DREAM_WEIGHTS_SHA256"
  fi
}

if [ -f "$DEST" ]; then
  say "$DEST already present ($(stat -c %s "$DEST") bytes)"
  verify "$DEST"
  exit 0
fi
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
mkdir -p "$DIR" || die "cannot create $DIR"

# Reachability first, so that an offline machine gets one clear message.
if ! curl -sS -f -L -I --connect-timeout 10 --max-time 30 -o /dev/null "$URL" 2>/tmp/get-weights.$$; then
  reason=$(tail -n1 /tmp/get-weights.$$ 2>/dev/null); rm -f /tmp/get-weights.$$
  cat >&2 <<EOF
get-weights: cannot reach $URL
get-weights:   ($reason)
get-weights: this machine has no route to the download server. Either
get-weights:   - run 'make weights' on a machine with internet access and copy
get-weights:     data/weights/vgg16.safetensors here, or
get-weights:   - save a torchvision vgg16 with safetensors (see docs/weights.md) to
get-weights:     $DEST
get-weights: Without weights the worker runs an UNTRAINED random VGG-16 (noise, not dreams).
EOF
  exit 1
fi
rm -f /tmp/get-weights.$$

[ -f "$PART" ] && say "resuming $PART ($(stat -c %s "$PART") bytes so far)"
say "downloading $URL"
if ! curl -f -L --retry 3 --retry-delay 2 --connect-timeout 15 -C - -o "$PART" "$URL"; then
  die "download interrupted; $PART is kept: run 'make weights' again to resume"
fi
size=$(stat -c %s "$PART")
if [ "$size" -lt "$MIN_BYTES" ]; then
  die "$PART is only $size bytes (expected ~528 MB); delete it and rerun"
fi
mv -f "$PART" "$DEST" || die "cannot rename $PART to $DEST"
say "saved $DEST ($size bytes)"
verify "$DEST"
