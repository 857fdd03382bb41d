#!/usr/bin/env bash
# farm_console.sh — the operator's console against a running coordinator (2 sim workers, live
# page on): every command one-shot with its exit code (0 ok, 1 error reply, 2 unreachable),
# `config set` live in /api/status, pause/resume (keyframes stop, frames go on), queue and
# bans through the page's POST /api/request, worker drain/kick, snapshot, record, log level,
# /metrics parsed by a strict Prometheus text parser with counters moving, and the
# interactive console through a pty (tab completion from dreamd's table, help, history).
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
PYLIB="$(dirname "$0")/console_lib.py"
HP=$(free_port)
while [ "$HP" = "$WPORT" ] || [ "$HP" = "$APORT" ]; do HP=$(free_port); done
BASE=http://127.0.0.1:$HP

start_dreamd --size 320x256 --fps 10 --steps 2 --http-port "$HP" --http-bind 127.0.0.1 --drift false
start_worker zebra --backend sim --sim-ms-per-mpix-step 50
start_worker alpha --backend sim --sim-ms-per-mpix-step 50
wait_for 15 '[ "$(field connected)" = 2 ]' "2 workers connected"
wait_for 20 '[ "${KF:=0}" -ge 3 ] || { KF=$(field keyframes); false; }' "3 keyframes"

expect_rc() {  # expect_rc RC ARGS...  (runs dreamctl one-shot, checks the exit code)
  local want=$1; shift
  ctl "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
  [ $rc = "$want" ] || die "dreamctl $* exited $rc, expected $want: $(cat "$TMP/out" "$TMP/err")"
}

# --- one-shot basics and exit codes
expect_rc 0 status
grep -qx "# Stream" "$TMP/out" || die "status lacks # Stream"
expect_rc 0 status keyframes
grep -qx "# Keyframes" "$TMP/out" && ! grep -qx "# Server" "$TMP/out" || die "status keyframes: wrong sections"
expect_rc 1 status bogus
grep -q "unknown section 'bogus'" "$TMP/err" || die "bad section message: $(cat "$TMP/err")"
expect_rc 1 bogus
expect_rc 1 worker
grep -q "worker drain" "$TMP/err" || die "incomplete command does not list the subcommands"
"$BIN/dreamctl" --admin "tcp://127.0.0.1:$(free_port)" --timeout-ms 300 status >/dev/null 2>&1
[ $? = 2 ] || die "unreachable dreamd is not exit code 2"
expect_rc 0 help
for c in "queue push TEXT" "config set KEY VALUE" "ban word add WORD" "record start FILE" "worker kick NAME"; do
  grep -q "^$c " "$TMP/out" || die "help lacks '$c'"
done
expect_rc 0 help queue
[ "$(grep -c '^queue' "$TMP/out")" = 5 ] || die "help queue: $(cat "$TMP/out")"

# --- config: validation through the table, live effect
expect_rc 1 config set steps 5000
grep -q "'steps'.*5000.*\[0, 1000\]" "$TMP/err" || die "range error does not name key, value, range: $(cat "$TMP/err")"
expect_rc 1 config set size 640x480
grep -q "restart needed" "$TMP/err" || die "non-live key not refused: $(cat "$TMP/err")"
expect_rc 1 config set nosuchkey 1
expect_rc 1 config set layout diagonal
expect_rc 1 config set min-hold-s 100000
expect_rc 0 config set steps 3
expect_rc 0 config get steps
grep -qx "steps:3" "$TMP/out" || die "config get steps: $(cat "$TMP/out")"
expect_rc 0 config set bitrate-kbps 1200
wait_for 5 'curl -s "$BASE/api/status" | grep -q "\"bitrate_kbps\":1200"' "bitrate 1200 in /api/status"
wait_for 5 'curl -s "$BASE/api/status" | grep -q "3 steps/keyframe"' "3 steps in /api/status"
expect_rc 0 config set layout quadrants
expect_rc 0 config set hold-s 90

# --- pause / resume
expect_rc 0 pause
sleep 0.5
k1=$(field keyframes); f1=$(field frames); sleep 1.5; k2=$(field keyframes); f2=$(field frames)
[ "$(field paused)" = 1 ] || die "status does not say paused"
[ "$k2" -le "$((k1 + 1))" ] || die "keyframes went on while paused: $k1 -> $k2"
[ "$f2" -gt "$f1" ] || die "frames stopped while paused: $f1 -> $f2"
expect_rc 0 resume
wait_for 10 '[ "$(field keyframes)" -gt "$((k2 + 2))" ]' "keyframes after resume"

# --- queue and subject
expect_rc 0 queue push tree frog
expect_rc 0 queue push volcano
expect_rc 0 queue push broccoli + goldfish
expect_rc 0 queue
grep -q "^1:volcano votes=1" "$TMP/out" || die "queue listing: $(cat "$TMP/out")"
grep -q "^length:2" "$TMP/out" || die "queue length: $(cat "$TMP/out")"
expect_rc 1 queue push notaclassname
expect_rc 1 queue remove 9
expect_rc 0 queue remove 1
expect_rc 0 queue
grep -q "^1:.*broccoli" "$TMP/out" || die "remove 1 did not drop volcano: $(cat "$TMP/out")"
expect_rc 0 queue skip
grep -q "broccoli" "$TMP/out" || die "skip did not move on: $(cat "$TMP/out")"
expect_rc 0 subject volcano
wait_for 5 'ctl status server | grep -qx "subjects:volcano"' "subject volcano now"
curl -s "$BASE/api/status" | grep -q '"volcano"' || die "/api/status does not show volcano"
expect_rc 0 queue push tree frog
expect_rc 0 queue clear
ctl queue | grep -qx "length:0" || die "queue clear"

# --- bans through the public request API
expect_rc 0 ban word add goldfish
code=$(curl -s -o /dev/null -w '%{http_code}' -d subject=goldfish "$BASE/api/request")
[ "$code" = 403 ] || die "banned word accepted ($code)"
expect_rc 0 ban ip add 10.9.8.7
expect_rc 0 ban list
grep -qx "word goldfish" "$TMP/out" && grep -qx "ip 10.9.8.7" "$TMP/out" || die "ban list: $(cat "$TMP/out")"
expect_rc 1 ban ip add not-an-address
expect_rc 0 ban word remove goldfish
expect_rc 1 ban word remove goldfish
code=$(curl -s -o /dev/null -w '%{http_code}' -d subject=goldfish "$BASE/api/request")
[ "$code" = 202 ] || die "unbanned word refused ($code)"
expect_rc 0 ban ip remove 10.9.8.7
# operator-typed text is escaped in the key=value log line (no forged fields or lines)
expect_rc 0 ban word add 'evil" forged=1'
grep -qF 'event=ban_add kind=word value="evil\" forged=1" source=operator' "$TMP/dreamd.log" || die "ban value not escaped in the log"
expect_rc 0 ban word remove 'evil" forged=1'

# --- snapshot, record, log level
expect_rc 0 snapshot "$TMP/snap.png"
head -c 8 "$TMP/snap.png" | od -An -tx1 | grep -q "89 50 4e 47" || die "snapshot is not a PNG"
expect_rc 1 snapshot "$TMP/snap.txt"
expect_rc 0 record start "$TMP/rec.ivf"
expect_rc 1 record start "$TMP/rec2.ivf"
sleep 2
expect_rc 0 record stop
grep -q "frames in" "$TMP/out" || die "record stop: $(cat "$TMP/out")"
[ "$(stat -c %s "$TMP/rec.ivf")" -gt 32 ] || die "recording empty"
head -c 4 "$TMP/rec.ivf" | grep -q DKIF || die "recording is not IVF"
expect_rc 1 record stop
expect_rc 0 log level debug
expect_rc 1 log level loud
expect_rc 0 log level info

# --- /metrics: strict parse, counters moving
curl -sf "$BASE/metrics" >"$TMP/m1" || die "GET /metrics failed"
python3 "$PYLIB" metrics "$TMP/m1" >"$TMP/m1.txt" || die "/metrics does not parse"
for m in dreamfarm_keyframes_total dreamfarm_keyframe_duration_seconds_count dreamfarm_tile_duration_seconds_count \
         'dreamfarm_workers{state="idle"}' 'dreamfarm_worker_tiles_total{backend="sim",worker="alpha"}' \
         dreamfarm_requeues_total dreamfarm_viewers dreamfarm_encoder_frames_total dreamfarm_sent_bytes_total \
         dreamfarm_frames_skipped_total 'dreamfarm_requests_total{outcome="banned"}' dreamfarm_queue_length \
         dreamfarm_untrained dreamfarm_build_info; do
  grep -q "^$m" "$TMP/m1.txt" || die "/metrics lacks $m"
done
grep -q '^dreamfarm_requests_total{outcome="banned"} 1.0' "$TMP/m1.txt" || die "banned request not counted"
sleep 2.5
curl -sf "$BASE/metrics" >"$TMP/m2" && python3 "$PYLIB" metrics "$TMP/m2" >"$TMP/m2.txt" || die "second scrape"
v() { awk -v k="$1" '$1 == k {print int($2)}' "$2"; }
[ "$(v dreamfarm_keyframes_total "$TMP/m2.txt")" -gt "$(v dreamfarm_keyframes_total "$TMP/m1.txt")" ] || die "keyframes counter not moving"
[ "$(v dreamfarm_encoder_frames_total "$TMP/m2.txt")" -gt "$(v dreamfarm_encoder_frames_total "$TMP/m1.txt")" ] || die "encoder counter not moving"
[ "$(v dreamfarm_tile_duration_seconds_count "$TMP/m2.txt")" -gt "$(v dreamfarm_tile_duration_seconds_count "$TMP/m1.txt")" ] || die "tile histogram not moving"

# --- interactive console through a pty: completion, help, history
mkdir -p "$TMP/home"
python3 "$PYLIB" pty "$TMP/home" "$BIN/dreamctl" --admin "$AEP" >"$TMP/pty1.txt" 2>&1 <<'JSON' || { cat "$TMP/pty1.txt"; die "console session 1"; }
[["expect", "dreamctl> "],
 ["send", "stat\t server\n"], ["expect", "# Server"],
 ["send", "help config s\t\n"], ["expect", "config set KEY VALUE +change a live setting"],
 ["send", "config get ste\t\n"], ["expect", "steps:3"],
 ["send", "worker drain z\t\n"], ["expect", "OK zebra drains"],
 ["send", "queue push volc\t\n"], ["expect", "OK queued \"volcano"],
 ["send", "bogus\n"], ["expect", "ERR unknown command 'bogus'"]]
JSON
# libedit writes its history with spaces as \040
hist=$(sed 's/\\040/ /g' "$TMP/home/.dreamctl_history" 2>/dev/null)
grep -q "status  *server" <<<"$hist" || die "history file lacks the commands: $hist"
grep -q "worker drain zebra" <<<"$hist" || die "completed worker name not in history: $hist"
ctl workers | grep "^worker:zebra " | grep -q "state=draining" || die "zebra not draining after the console's command"
# a second session: the up arrow brings back the last command
python3 "$PYLIB" pty "$TMP/home" "$BIN/dreamctl" --admin "$AEP" >"$TMP/pty2.txt" 2>&1 <<'JSON' || { cat "$TMP/pty2.txt"; die "console session 2 (history)"; }
[["expect", "dreamctl> "], ["send", "\u001b[A\u001b[A\n"], ["expect", "OK queued \"volcano"]]
JSON

# --- worker kick; shutdown
expect_rc 0 worker kick alpha
grep -q "kicked by admin" "$TMP/dreamd.log" || die "kick not logged"
expect_rc 1 worker kick nobody
expect_rc 0 shutdown
for _ in $(seq 50); do kill -0 "$DREAMD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DREAMD_PID" 2>/dev/null && die "dreamd did not stop on shutdown"
echo "PASS"
