#!/usr/bin/env bash
# run-local.sh — what `make run` starts after building: dreamd (coordinator + live page on
# http://localhost:8080) and one local dream-worker. Ctrl-C stops both cleanly.
#   DREAM_BACKEND=auto|cpu|cuda|sim  worker backend (default auto: cuda when usable, else cpu)
#   DREAM_WEIGHTS=FILE|random        default: data/weights/vgg16*.safetensors if present; else it
#                                    first tries tools/get-weights.sh (`make weights`; fails fast
#                                    offline) and goes on with UNTRAINED random weights if that fails
#   DREAM_GET_WEIGHTS=CMD            the download command tried then (default tools/get-weights.sh)
#   DREAM_SIZE=WxH (canvas) DREAM_STREAM=WxH (frames, upscaled from the canvas)
#   DREAM_STEPS=N DREAM_FPS=N DREAM_HTTP_PORT=N DREAM_SUBJECTS="tree frog"
#   DREAM_WORKER_PORT / DREAM_ADMIN_PORT   (defaults 5555 / 5556)
#   DREAM_STATE=FILE                 dreamd's SQLite state (default build/dreamd-state.sqlite)
set -u
cd "$(dirname "$0")/.."
BIN=${BUILD:-build}/bin
for b in dreamd dream-worker; do
  [ -x "$BIN/$b" ] || { echo "run-local: $BIN/$b missing; run 'make' first" >&2; exit 1; }
done
weights=${DREAM_WEIGHTS:-}
find_weights() { ls data/weights/vgg16*.safetensors 2>/dev/null | head -1; }
if [ -z "$weights" ]; then
  weights=$(find_weights)
  if [ -z "$weights" ]; then
    getw=${DREAM_GET_WEIGHTS:-tools/get-weights.sh}
    echo "run-local: no weights in data/weights/ and DREAM_WEIGHTS not set: trying '$getw' (make weights)"
    if $getw; then
      weights=$(find_weights)
      [ -n "$weights" ] || echo "run-local: '$getw' succeeded but left no data/weights/vgg16*.safetensors" >&2
    else
      echo "run-local: '$getw' failed (see above)" >&2
    fi
    if [ -z "$weights" ]; then
      weights=random
      echo "run-local: *** GOING ON WITH UNTRAINED RANDOM WEIGHTS: the dream will be coloured noise, not objects ***" >&2
      echo "run-local: *** (put a VGG-16 .safetensors in data/weights/ or set DREAM_WEIGHTS=FILE; see docs/weights.md) ***" >&2
    fi
  fi
fi
backend=${DREAM_BACKEND:-auto}
# On a CPU-only machine VGG-16 is slow (tens of seconds per megapixel-step on 2 cores):
# default to a small canvas and few steps there, still upscaled for the stream; a GPU gets the
# 2015 stream's 840x472 canvas shown at 1024x576.
gpu=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && gpu=1
[ "$backend" = cpu ] && gpu=0
if [ $gpu = 1 ]; then size=${DREAM_SIZE:-840x472}; stream=${DREAM_STREAM:-1024x576}; steps=${DREAM_STEPS:-10}
else size=${DREAM_SIZE:-448x252}; stream=${DREAM_STREAM:-640x360}; steps=${DREAM_STEPS:-2}; fi
wport=${DREAM_WORKER_PORT:-5555}; aport=${DREAM_ADMIN_PORT:-5556}; hport=${DREAM_HTTP_PORT:-8080}
mkdir -p build
echo "run-local: dreamd canvas $size shown at $stream, $steps steps/keyframe, weights=$weights, worker backend=$backend"
echo "run-local: open http://localhost:$hport/   (Ctrl-C stops everything)"
"$BIN/dreamd" --worker-bind "tcp://127.0.0.1:$wport" --admin-bind "tcp://127.0.0.1:$aport" \
  --http-port "$hport" --size "$size" --stream-width "${stream%x*}" --stream-height "${stream#*x}" --steps "$steps" --fps "${DREAM_FPS:-25}" \
  --subjects "${DREAM_SUBJECTS:-volcano}" --weights "$weights" --state "${DREAM_STATE:-build/dreamd-state.sqlite}" \
  $([ "$backend" = sim ] && echo --allow-sim) &
DPID=$!
sleep 0.5
if ! kill -0 $DPID 2>/dev/null; then wait $DPID; echo "run-local: dreamd failed to start" >&2; exit 1; fi
"$BIN/dream-worker" --connect "tcp://127.0.0.1:$wport" --backend "$backend" --weights "$weights" --name local-worker &
WPID=$!
stop() {
  trap - INT TERM
  echo; echo "run-local: stopping"
  kill -TERM $WPID 2>/dev/null
  kill -TERM $DPID 2>/dev/null
  for _ in $(seq 100); do
    kill -0 $WPID 2>/dev/null || kill -0 $DPID 2>/dev/null || break
    sleep 0.1
  done
  # a worker in the middle of a long CPU tile finishes it first; don't wait forever
  kill -0 $WPID 2>/dev/null && { echo "run-local: worker still busy, killing it"; kill -KILL $WPID 2>/dev/null; }
  kill -0 $DPID 2>/dev/null && kill -KILL $DPID 2>/dev/null
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM
# either one exiting on its own stops the other
while kill -0 $DPID 2>/dev/null && kill -0 $WPID 2>/dev/null; do sleep 0.5; done
stop
