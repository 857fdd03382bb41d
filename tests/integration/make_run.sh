#!/usr/bin/env bash
# make_run.sh — what `make run` starts after building (tools/run-local.sh, run directly here so
# nothing is rebuilt): on free loopback ports, with no weights file it tries the weights download
# (replaced here by a command that fails, as offline) and goes on with random weights, saying so;
# /api/status then answers and shows 1 worker (the default backend: cuda if usable, else cpu),
# keyframes computed by that worker and frames progressing. Ctrl-C (SIGINT to the whole
# process group, as a terminal sends it) must stop run-local.sh, dreamd and dream-worker within
# a bound, leaving no process of the group behind.
source "$(dirname "$0")/farm_lib.bash"   # free_port, ctl, field, wait_for, die, cleanup trap
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v ps >/dev/null || { echo "SKIP: ps (procps) not installed: the stop check needs it"; exit 77; }
command -v setsid >/dev/null && env --default-signal=INT true 2>/dev/null || { echo "SKIP: setsid or env --default-signal (coreutils >= 9) missing"; exit 77; }
HPORT=$(free_port)
while [ "$HPORT" = "$WPORT" ] || [ "$HPORT" = "$APORT" ]; do HPORT=$(free_port); done
api() { curl -s --max-time 3 "http://127.0.0.1:$HPORT$1"; }
jnum() { api /api/status | sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"; }
group_alive() { [ -n "$(ps -o pid= -g "$RPID" 2>/dev/null)" ]; }

# SIGINT back to default (bash makes a script's background jobs ignore it, and an ignored
# signal cannot be trapped) and an own session / process group (setsid), so the whole group
# can be signalled like a terminal's Ctrl-C
empty=$TMP/no-weights; mkdir -p "$empty"
(cd "$ROOT" && DREAM_WEIGHTS= DREAM_GET_WEIGHTS="false" DREAM_SIZE=320x240 DREAM_STEPS=1 DREAM_FPS=10 \
   DREAM_HTTP_PORT=$HPORT DREAM_WORKER_PORT=$WPORT DREAM_ADMIN_PORT=$APORT DREAM_STATE=$TMP/state.sqlite \
   exec env --default-signal=INT setsid tools/run-local.sh) >"$TMP/run-local.log" 2>&1 &
RPID=$!
PIDS+=("$RPID")
kill_group() { group_alive && { kill -KILL -- -"$RPID"; wait "$RPID"; } 2>/dev/null; }
trap 'kill_group; farm_cleanup' EXIT
trap 'exit 130' INT; trap 'exit 143' TERM

t0=$SECONDS
wait_for 10 'api /api/status | grep -q "\"frames_in\""' "/api/status answering on port $HPORT"
if ls "$ROOT"/data/weights/vgg16*.safetensors >/dev/null 2>&1; then
  echo "note: data/weights/ has weights, so the random-weights fallback is not exercised"
else
  grep -q "trying 'false'" "$TMP/run-local.log" || die "run-local did not try the weights download"
  grep -q "UNTRAINED RANDOM WEIGHTS" "$TMP/run-local.log" || die "run-local did not say it goes on with random weights"
  untrained=1
fi
wait_for 45 '[ "$(jnum workers)" = 1 ]' "/api/status showing 1 worker"
[ "${untrained:-0}" = 0 ] || api /api/status | grep -q '"untrained":true' || die "/api/status does not report untrained weights"
wait_for 30 '[ "$(field results_ok)" -ge 1 ] 2>/dev/null' "a first keyframe tile from the worker"
k0=$(field keyframes); r0=$(field results_ok); f0=$(jnum frames_in)
wait_for 30 '[ "$(field results_ok)" -gt "$r0" ] && [ "$(field keyframes)" -gt "$k0" ] 2>/dev/null' "keyframes progressing"
f1=$(jnum frames_in)
[ -n "$f0" ] && [ "$f1" -gt "$f0" ] || die "frames not progressing ($f0 -> $f1)"
[ "$(jnum workers)" = 1 ] || die "/api/status no longer shows 1 worker"
echo "running after $((SECONDS - t0)) s: keyframes $k0 -> $(field keyframes), frames $f0 -> $f1"

# Ctrl-C
pids=$(ps -o pid=,comm= -g "$RPID")
echo "process group $RPID: $(echo $pids)"
grep -q dreamd <<<"$pids" && grep -q dream-worker <<<"$pids" || die "dreamd and dream-worker not both in the group"
kill -INT -- -"$RPID"
t1=$SECONDS
while group_alive && [ $((SECONDS - t1)) -lt 20 ]; do sleep 0.2; done
group_alive && die "still running 20 s after Ctrl-C: $(ps -o pid=,comm= -g "$RPID" | tr '\n' ' ')"
wait "$RPID"; rc=$?
echo "everything stopped $((SECONDS - t1)) s after SIGINT (run-local exit $rc)"
grep -q "run-local: stopping" "$TMP/run-local.log" || die "run-local did not run its stop handler"
[ $rc -eq 0 ] || die "run-local exited with $rc"
ss -tlnH 2>/dev/null | awk '{print $4}' | grep -qE ":($HPORT|$WPORT|$APORT)\$" && die "a port is still listening"
echo "PASS"
