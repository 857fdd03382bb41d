#!/usr/bin/env bash
# farm_stream.sh — dreamd with the live stream: frames from the frame clock reach the VP9
# encoder, /api/status reports the farm's workers, a viewer's request (POST /api/request)
# becomes the coordinator's subject, and the snapshot is a PNG of the stream size (the
# 320x256 canvas upscaled to 400x320 by the frame clock's warp).
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
HPORT=$(free_port)
start_dreamd --size 320x256 --stream-width 400 --stream-height 320 --fps 10 --steps 1 --http-port "$HPORT" --http-bind 127.0.0.1 --subjects volcano
start_worker s1 --backend sim --sim-ms-per-mpix-step 50
wait_for 15 '[ "$(field keyframes)" -ge 2 ]' "keyframes"
api() { curl -s --max-time 5 "http://127.0.0.1:$HPORT$1"; }
wait_for 10 'api /api/status | grep -q "\"workers\":1"' "/api/status shows the worker"
f0=$(api /api/status | sed -n 's/.*"frames_in":\([0-9]*\).*/\1/p')
sleep 1
f1=$(api /api/status | sed -n 's/.*"frames_in":\([0-9]*\).*/\1/p')
[ -n "$f0" ] && [ "$f1" -gt "$f0" ] || die "frames not reaching the stream ($f0 -> $f1)"
grep -qx "subjects:volcano" <(ctl status) || die "initial subject not volcano"
r=$(curl -s --max-time 5 -X POST -d 'subject=goldfish' "http://127.0.0.1:$HPORT/api/request")
grep -q '"position":0' <<<"$r" || die "request not shown now: $r"
wait_for 5 'ctl status | grep -qx "subjects:goldfish"' "the coordinator following the viewers' request"
code=$(curl -s --max-time 5 -o "$TMP/snap.png" -w '%{http_code}' "http://127.0.0.1:$HPORT/snapshot.png")
[ "$code" = 200 ] || die "snapshot HTTP $code"
head -c 24 "$TMP/snap.png" | od -An -tx1 | tr -d ' \n' | grep -q '^89504e470d0a1a0a0000000d494844520000019000000140' ||
  die "snapshot is not a 400x320 PNG"
echo "PASS"
