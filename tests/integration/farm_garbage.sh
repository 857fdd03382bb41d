#!/usr/bin/env bash
# farm_garbage.sh — random bytes (raw TCP, no ZMTP handshake), malformed ZeroMQ
# messages, wrong-version envelopes and an oversized frame sent to the worker port
# leave the coordinator serving: keyframes keep coming and the admin socket answers.
source "$(dirname "$0")/farm_lib.bash"

start_dreamd --size 320x256 --fps 10 --steps 1
start_worker w1 --backend sim --sim-ms-per-mpix-step 50
wait_for 15 '[ "$(field keyframes)" -ge 2 ]' "first keyframes"

# raw random bytes over plain TCP (bash /dev/tcp)
for i in 1 2 3 4 5; do
  (exec 3<>/dev/tcp/127.0.0.1/$WPORT && head -c $((1000 * i)) /dev/urandom >&3; exec 3>&-) 2>/dev/null
done
# malformed ZeroMQ messages + a 64 MiB frame (the coordinator's frame cap is the canvas size)
"${DREAM_BUILD:-$ROOT/build}/tests/farm_fuzz" "$WEP" 200 $((64 << 20)) || die "fuzz client failed"
kf0=$(field keyframes)
wait_for 15 '[ "$(field keyframes)" -ge $((kf0 + 3)) ]' "keyframes after the garbage"
mal=$(field malformed_dropped)
echo "malformed_dropped=$mal"
[ "$mal" -ge 100 ] || die "expected >= 100 malformed messages counted, got $mal"
kill -0 "$DREAMD_PID" || die "dreamd died"
[ "$(field connected)" = 1 ] || die "the real worker was lost"
echo "PASS"
