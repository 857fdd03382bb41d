#!/usr/bin/env bash
# farm_console_restart.sh — durable operator state: after `kill -9` of dreamd and a restart on
# the same --state file, the viewers' queue (with votes), the current subject and its
# remaining hold, bans, live config changes, the pause, and the canvas are back; the picture
# continues (the first frame after the restart is much closer to the last frame before it
# than to a fresh start's first frame).
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
PYLIB="$(dirname "$0")/console_lib.py"
HP=$(free_port)
while [ "$HP" = "$WPORT" ] || [ "$HP" = "$APORT" ]; do HP=$(free_port); done
BASE=http://127.0.0.1:$HP
ARGS=(--size 256x224 --fps 5 --steps 1 --http-port "$HP" --http-bind 127.0.0.1 --drift false --zoom-per-sec 1.25 --rotate-deg-per-sec 8)

start_dreamd "${ARGS[@]}" --frames-out "$TMP/run1"
start_worker w1 --backend sim --sim-ms-per-mpix-step 200
wait_for 15 '[ "$(field connected)" = 1 ]' "worker connected"
ctl queue push tree frog >/dev/null || die "push 1"       # shown now
ctl queue push volcano >/dev/null || die "push 2"
ctl queue push broccoli >/dev/null || die "push 3"
curl -s -o /dev/null -d subject=volcano "$BASE/api/request"   # a viewer's vote
curl -s -o /dev/null -d subject=jellyfish -d name=alice "$BASE/api/request"   # who asked is kept
ctl ban word add goldfish >/dev/null || die "ban word"
ctl ban ip add 10.9.8.7 >/dev/null || die "ban ip"
ctl config set hold-s 300 >/dev/null || die "config hold-s"
ctl config set steps 2 >/dev/null || die "config steps"
wait_for 30 '[ "${KF:=0}" -ge 12 ] || { KF=$(field keyframes); false; }' "12 keyframes"
ctl queue >"$TMP/q1" || die "queue"
grep -q "^1:volcano votes=2" "$TMP/q1" || die "vote not counted: $(cat "$TMP/q1")"
grep -qx "3:jellyfish votes=1 by=alice" "$TMP/q1" || die "who asked not shown: $(cat "$TMP/q1")"
ctl pause >/dev/null || die "pause"
sleep 4     # saves: the queue at once, the canvas every few keyframes (none while paused)
rem1=$(awk -F: '$1 == "remaining_s" {print $2}' "$TMP/q1")
kill -9 "$DREAMD_PID"; wait "$DREAMD_PID" 2>/dev/null
last=$(ls "$TMP/run1" | tail -1)
first1=$(ls "$TMP/run1" | head -1)
[ -n "$last" ] || die "no frames before the kill"

start_dreamd "${ARGS[@]}" --frames-out "$TMP/run2"
wait_for 10 '[ -n "$(ls "$TMP/run2" 2>/dev/null)" ]' "a frame after the restart"
ctl queue >"$TMP/q2" || die "queue after restart"
grep -qx "current:tree frog" "$TMP/q2" || die "current subject lost: $(cat "$TMP/q2")"
grep -q "^1:volcano votes=2" "$TMP/q2" || die "queue/votes lost: $(cat "$TMP/q2")"
grep -q "^2:broccoli votes=1" "$TMP/q2" || die "queue lost: $(cat "$TMP/q2")"
grep -qx "3:jellyfish votes=1 by=alice" "$TMP/q2" || die "who asked lost: $(cat "$TMP/q2")"
rem2=$(awk -F: '$1 == "remaining_s" {print $2}' "$TMP/q2")
# the hold resumes where it was (minus the seconds before the kill), not a fresh 300 s
[ "$rem2" -le "$rem1" ] && [ "$rem2" -ge $((rem1 - 30)) ] || die "remaining hold $rem1 -> $rem2"
ctl ban list >"$TMP/bans" || die "ban list"
grep -qx "word goldfish" "$TMP/bans" && grep -qx "ip 10.9.8.7" "$TMP/bans" || die "bans lost: $(cat "$TMP/bans")"
[ "$(curl -s -o /dev/null -w '%{http_code}' -d subject=goldfish "$BASE/api/request")" = 403 ] || die "ban not enforced"
ctl config get hold-s | grep -qx "hold-s:300" || die "live config hold-s lost"
ctl config get steps | grep -qx "steps:2" || die "live config steps lost"
[ "$(field paused)" = 1 ] || die "pause lost"
ctl status server | grep -qx "subjects:tree frog" || wait_for 5 'ctl status server | grep -qx "subjects:tree frog"' "subjects restored"
grep -q "event=restore what=canvas size=256x224" "$TMP/dreamd.log" || die "canvas not restored"
# the picture continues: the first frame after the restart vs the last before / a fresh start
first2=$(ls "$TMP/run2" | head -1)
read -r d_cont d_fresh < <(python3 "$PYLIB" pngdiff "$TMP/run2/$first2" "$TMP/run1/$last" "$TMP/run1/$first1") || die "pngdiff"
echo "mean abs diff: first-after vs last-before $d_cont, vs a fresh start $d_fresh"
python3 -c "import sys; sys.exit(0 if $d_cont * 3 < $d_fresh else 1)" || die "the picture restarted ($d_cont vs $d_fresh)"
ctl resume >/dev/null || die "resume"
start_worker w2 --backend sim --sim-ms-per-mpix-step 200
wait_for 20 '[ "$(field keyframes)" -ge 2 ]' "keyframes after the restart"
echo "PASS"
