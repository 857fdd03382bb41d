#!/usr/bin/env bash
# stream_request_durable.sh — an acknowledged viewer request (HTTP 202) survives `kill -9` of
# dreamd at once after the answer: the 202 is sent only after the queue that holds the request
# is committed to the --state file (server/stream.h, stream_mark_durable). Five requests, each
# followed by a kill -9 as soon as curl has the 202, and a restart on the same state file:
# every acknowledged request is in the queue afterwards.
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
HP=$(free_port)
while [ "$HP" = "$WPORT" ] || [ "$HP" = "$APORT" ]; do HP=$(free_port); done
BASE=http://127.0.0.1:$HP
ARGS=(--size 256x224 --fps 5 --steps 1 --http-port "$HP" --http-bind 127.0.0.1 --drift false --hold-s 3600
      --min-hold-s 3600 --rate-burst 100)
wait_page() { wait_for 10 '[ "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/api/status")" = 200 ]' "live page"; }

start_dreamd "${ARGS[@]}"
wait_page
ctl queue push tree frog >/dev/null || die "push"      # on screen: the requests below queue
sleep 1
kill -9 "$DREAMD_PID"; wait "$DREAMD_PID" 2>/dev/null
asked=()
for subj in volcano broccoli goldfish daisy jellyfish; do
  start_dreamd "${ARGS[@]}"
  wait_page
  code=$(curl -s -o "$TMP/reply" -w '%{http_code}' -d "subject=$subj" "$BASE/api/request")
  kill -9 "$DREAMD_PID"      # right after the answer: nothing more may be saved
  wait "$DREAMD_PID" 2>/dev/null
  [ "$code" = 202 ] || die "request $subj: HTTP $code $(cat "$TMP/reply")"
  asked+=("$subj")
done
start_dreamd "${ARGS[@]}"
wait_page
ctl queue >"$TMP/q" || die "queue"
cat "$TMP/q"
grep -qx "current:tree frog" "$TMP/q" || die "current subject lost"
i=1
for subj in "${asked[@]}"; do
  grep -q "^$i:$subj votes=1" "$TMP/q" || die "acknowledged request $subj (position $i) lost after kill -9"
  i=$((i + 1))
done
echo "PASS (${#asked[@]} acknowledged requests, each followed by kill -9, all kept)"
