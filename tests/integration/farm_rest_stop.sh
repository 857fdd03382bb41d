#!/usr/bin/env bash
# farm_rest_stop.sh — a tile-resident farm whose results come in two parts (Job.rest, the default)
# stops after --max-keyframes: the last keyframe's rests come a few ms after its finish, and
# dreamd waits for them (at most 300 ms) before it publishes that keyframe. Every keyframe,
# the last one included, must reach the keyframe sink (--keyframes-out), and none of them may
# hold a filled rest (result_rest_filled stays 0: dreamd logs it). The workers send a rest only
# when dreamd asks for it (Heartbeat.send_rest_job) or before their next result
# (DREAM_TEST_REST_ON_ASK: no timer): the last keyframe's rests come only if dreamd asks.
source "$(dirname "$0")/farm_lib.bash"

mkdir -p "$TMP/kf"
start_dreamd --size 640x480 --fps 10 --steps 4 --motion wallclock --tile-warp resident --max-keyframes 12 \
  --keyframes-out "$TMP/kf"
for w in w1 w2 w3; do
  DREAM_TEST_REST_ON_ASK=1 start_worker $w --backend sim --sim-ms-per-mpix-step 150 --max-tile-pixels 150000
done
for _ in $(seq 600); do kill -0 "$DREAMD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DREAMD_PID" 2>/dev/null && die "dreamd did not stop after 12 keyframes"
wait "$DREAMD_PID" || die "dreamd exited with an error"
n=$(ls "$TMP/kf" | grep -c '^keyframe_.*\.png$')
[ "$n" = 12 ] || die "$n keyframe PNGs, want 12 (the last keyframe must be published too): $(ls "$TMP/kf" | tr '\n' ' ')"
[ -s "$TMP/kf/keyframe_00000012.png" ] || die "no keyframe_00000012.png"
grep -q "filled from the warped keyframe before" "$TMP/dreamd.log" && die "a rest was filled: $(grep -m1 'filled from' "$TMP/dreamd.log")"
grep -q "summary: keyframes=12" "$TMP/dreamd.log" || die "no summary of 12 keyframes"
echo "PASS"
