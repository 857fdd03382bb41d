#!/usr/bin/env bash
# stream_viewers.sh — websocket viewers against dream-stream-demo (bench/ws_load.c client):
#   1. GOP-cache join: every viewer gets "hello" first, then a keyframe, then contiguous frames.
#   2. Lagging viewers (stop reading, tiny receive buffer) skip to the next keyframe; the
#      server counts the fallbacks; viewers that keep up never skip.
#   3. A burst of viewers (half of them stalled) keeps server memory bounded, the API answers
#      during the burst, and every viewer is released afterwards.
#   4. Viewers beyond --max-viewers are refused at the handshake.
set -u
. "$(dirname "$0")/stream_lib.bash"
need_bins
QUICK=${DREAM_TEST_QUICK:-}
start_demo --size 640x360 --fps 20 --bitrate 2000 --keyint 1 --viewer-queue 25 --max-viewers 1000 --conns-per-ip 0
sleep 1.5

# 1. join
"$WS_LOAD" --port "$PORT" --clients 20 --seconds 4 --ramp-ms 100 > "$TMP/join.json" || die "join run reported errors: $(cat "$TMP/join.json")"
cat "$TMP/join.json"
[ "$(json with_video < "$TMP/join.json")" = 20 ] || die "not every viewer got video"
[ "$(json first_key_ok < "$TMP/join.json")" = 20 ] || die "a viewer did not start on a keyframe"
[ "$(json resyncs < "$TMP/join.json")" = 0 ] || die "viewers that keep up skipped frames"
join_ms=$(json join_ms_avg < "$TMP/join.json")
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$join_ms') < 500 else 1)" || die "joining took $join_ms ms on average: GOP cache not used?"
echo "ok join (avg $join_ms ms to first picture)"

# 2. lagging viewers: 3 of 8 stop reading for 5 s
f0=$(curl -s "$BASE/api/status" | json viewer_fallbacks)
"$WS_LOAD" --port "$PORT" --clients 8 --seconds 9 --slow 3 --slow-after 2 --slow-pause 5 --rcvbuf 4096 > "$TMP/lag.json" || die "lag run reported errors: $(cat "$TMP/lag.json")"
cat "$TMP/lag.json"
f1=$(curl -s "$BASE/api/status" | json viewer_fallbacks)
[ "$(json slow_resynced < "$TMP/lag.json")" = 3 ] || die "stalled viewers did not resume at a keyframe"
[ "$(json fast_resyncs < "$TMP/lag.json")" = 0 ] || die "viewers that kept up were disturbed"
[ "$(json still_open < "$TMP/lag.json")" = 8 ] || die "a lagging viewer was disconnected"
[ $((f1 - f0)) -ge 3 ] || die "server counted $((f1 - f0)) fallbacks, expected >= 3"
echo "ok lagging viewers ($((f1 - f0)) fallbacks counted)"

# 3. burst: N viewers at once, half stalled for the whole run
N=300; [ -n "$QUICK" ] && N=120
rss0=$(rss_kb "$DEMO_PID")
"$WS_LOAD" --port "$PORT" --clients $N --seconds 8 --slow $((N / 2)) --slow-after 0.5 --slow-pause 100 --rcvbuf 4096 > "$TMP/burst.json" &
LPID=$!
sleep 4
t0=$(date +%s%N)
curl -s -m 5 "$BASE/api/status" > "$TMP/st.json" || die "API did not answer during the burst"
api_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
viewers=$(json viewers < "$TMP/st.json")
rss1=$(rss_kb "$DEMO_PID")
wait $LPID
cat "$TMP/burst.json"
[ "$viewers" -ge $((N * 9 / 10)) ] || die "only $viewers of $N viewers connected"
[ "$(json fast_resyncs < "$TMP/burst.json")" = 0 ] || echo "note: some reading viewers skipped during the burst (CPU-bound host)"
grow=$(( (rss1 - rss0) / 1024 ))
echo "burst: $viewers viewers, RSS $((rss0/1024)) -> $((rss1/1024)) MB (+$grow MB), API answered in $api_ms ms"
# per viewer: queue of <= 25 shared packet refs + lws buffers; 64 KB each is generous
[ $grow -lt $(( N * 64 / 1024 + 32 )) ] || die "memory grew by $grow MB for $N viewers"
[ $api_ms -lt 2000 ] || die "API took $api_ms ms during the burst"
sleep 1.5
left=$(curl -s "$BASE/api/status" | json viewers)
[ "$left" = 0 ] || die "$left viewers still registered after they left"
echo "ok burst"
kill -0 "$DEMO_PID" || die "demo died"
stop_demo

# 4. the viewer limit: beyond --max-viewers the handshake is refused
start_demo --size 320x180 --fps 10 --bitrate 300 --max-viewers 5
"$WS_LOAD" --port "$PORT" --clients 8 --seconds 2 > "$TMP/max.json"
cat "$TMP/max.json"
[ "$(json still_open < "$TMP/max.json")" = 5 ] || die "expected 5 viewers admitted"
[ "$(json with_video < "$TMP/max.json")" = 5 ] || die "admitted viewers got no video"
stop_demo
echo "ok viewer limit"
echo "PASS"
