#!/usr/bin/env bash
# farm_hostile.sh — hostile processes on the worker port (no CURVE) cannot take over or stall
# the show (docs/security.md; each step failed before the fix). build/tests/hostile_peer
# speaks the worker protocol:
#  0. without --allow-sim a "sim" worker (the test backend's hash) is refused;
#  1. a worker answering at once with its own pixels is caught (faster than
#     --min-ms-per-mpix-step): no tile of it is used, it is quarantined;
#  2. a worker claiming 0.001 ms/MPx-step but slow gets no more than its measured share;
#  3. a Hello with the real worker's name does not evict it; its Error flood (newlines in
#     name and message) is rate-limited and escaped in the log and in `dreamctl workers`;
#  4. holding a job and saying Hello again counts as failures: quarantined;
#  5. 30 idle fake connections: at most --max-unproven admitted, dropped after
#     --unproven-timeout-s, keyframes keep coming and a new real worker joins.
source "$(dirname "$0")/farm_lib.bash"
HP=${DREAM_BUILD:-$ROOT/build}/tests/hostile_peer
[ -x "$HP" ] || { echo "SKIP: $HP not built (make all)"; exit 77; }
t0=$SECONDS

# --- 0: the model pin has no sim exception in production
FARM_ALLOW_SIM= start_dreamd --size 320x256 --fps 5 --steps 1
out=$("$HP" "$WEP" --name fake0 --hash sim --seconds 1.5)
echo "0: $out"
grep -q "refused=1" <<<"$out" && grep -q "sim_backend_refused" <<<"$out" || die "a sim worker was not refused without --allow-sim"
ctl quit >/dev/null; wait "$DREAMD_PID" 2>/dev/null; mv "$TMP/dreamd.log" "$TMP/dreamd-0.log"

# 5 steps: an honest sim tile takes >= 55 ms, above the coordinator's loop latency, so the
# plausibility floor (50 ms/MPx-step, under the sim's 60) can tell instant answers apart
start_dreamd --size 640x480 --fps 5 --steps 5 --min-ms-per-mpix-step 50 --max-unproven 4 \
  --unproven-timeout-s 4 --hellos-per-s 20 --heartbeat-ms 500
start_worker w1 --backend sim --sim-ms-per-mpix-step 60
wait_for 20 '[ "$(worker_jobs w1)" -ge 3 ] 2>/dev/null' "w1 working"

# --- 1: instant answers with its own pixels
"$HP" "$WEP" --name fast --hash sim --claim 0.001 --reply-ms 0 --seconds 6 >"$TMP/fast.out" &
HPID=$!; PIDS+=("$HPID")
wait_for 5 'grep -q "worker fast (this connection) QUARANTINED" "$TMP/dreamd.log"' "the instant worker quarantined"
line=$(ctl workers | grep "^worker:fast ")
wait "$HPID"; echo "1: $(cat "$TMP/fast.out")"
echo "1: $line"
grep -q "state=quarantined" <<<"$line" || die "fast not quarantined: $line"
imp=$(field implausible_results)
echo "1: implausible_results=$imp"
[ "$imp" -ge 1 ] || die "instant results were not rejected"
grep -q "worker fast (this connection) QUARANTINED" "$TMP/dreamd.log" || die "the instant worker was not quarantined"

# --- 2: a lying speed claim, slow delivery
j0=$(worker_jobs w1)
"$HP" "$WEP" --name liar --hash sim --claim 0.001 --reply-ms 700 --seconds 8 >"$TMP/liar.out" &
HPID=$!; PIDS+=("$HPID")
sleep 6
line=$(ctl workers | grep "^worker:liar ")
echo "2: $line"
wait "$HPID"; cat "$TMP/liar.out"
j1=$(worker_jobs w1)
echo "2: w1 jobs during the liar: $((j1 - j0))"
[ $((j1 - j0)) -ge 4 ] || die "the worker claiming 0.001 ms/MPx-step took the tiles (w1 did $((j1 - j0)))"
grep -q "measured=1" <<<"$line" || die "the liar's speed was never measured: $line"
spd=$(sed -n 's/.*speed_ms_per_mpix_step=\([0-9.]*\).*/\1/p' <<<"$line")
awk -v s="$spd" 'BEGIN{exit !(s >= 100)}' || die "the liar is planned at $spd ms/MPx-step, not its measured speed"

# --- 3: name hijack + error flood with forged log lines
j0=$(worker_jobs w1)
out=$("$HP" "$WEP" --name w1 --hash sim --claim 1000 --errors 500 --seconds 3)
echo "3: $out"
out=$("$HP" "$WEP" --name 'evil\nworker:FORGED backend=x' --hash sim --claim 1000 --errors 5 --seconds 2)
[ "$(field connected)" -ge 1 ] || die "w1 gone"
wait_for 10 '[ "$(worker_jobs w1)" -gt '"$j0"' ] 2>/dev/null' "w1 still working after a hello with its name"
grep -q "worker w1 QUARANTINED\|w1 .*QUARANTINED" "$TMP/dreamd.log" && die "the real worker was quarantined through its name"
nerr=$(grep -c "worker w1 error 1" "$TMP/dreamd.log")
sup=$(field log_suppressed)
echo "3: 500 Error messages -> $nerr log lines, log_suppressed=$sup"
[ "$nerr" -le 8 ] || die "$nerr log lines for 500 Error messages"
[ "$sup" -ge 480 ] || die "log_suppressed=$sup"
grep -q "^2026-01-01T00:00:00.000Z" "$TMP/dreamd.log" && die "a forged line made it into the log"
grep -q '^worker:FORGED' "$TMP/dreamd.log" && die "a forged name line in the log"
grep -q 'FORGED line' "$TMP/dreamd.log" && ! grep -q 'boom\\\\*x0a2026' "$TMP/dreamd.log" && die "message newline not escaped"

# --- 4: hold a job, then say hello again, forever
out=$("$HP" "$WEP" --name holder --hash sim --claim 60 --hello-on-job 300 --seconds 12)
echo "4: $out"
grep -q "said hello again while holding a job" "$TMP/dreamd.log" || die "a hello during a job was not a failure"
grep -q "worker holder (this connection) QUARANTINED" "$TMP/dreamd.log" || die "the job holder was not quarantined"

# --- 5: fill the slots with idle fakes
kf0=$(field keyframes)
"$HP" "$WEP" --name idle --hash sim --claim 1000 --conns 30 --seconds 14 >"$TMP/idle.out" &
HPID=$!; PIDS+=("$HPID")
sleep 2
unp=$(field unproven)
echo "5: unproven=$unp refused_unproven=$(field refused_unproven) refused_rate=$(field refused_rate)"
[ "$unp" -le 4 ] || die "$unp unproven workers admitted (max 4)"
wait_for 20 '[ "$(field dropped_idle)" -ge 1 ]' "idle fakes dropped"
start_worker w2 --backend sim --sim-ms-per-mpix-step 60
wait_for 30 '[ "$(worker_jobs w2)" -ge 1 ] 2>/dev/null' "a new real worker joining after the fakes"
wait "$HPID"; echo "5: $(cat "$TMP/idle.out") dropped_idle=$(field dropped_idle)"
kf1=$(field keyframes)
[ $((kf1 - kf0)) -ge 3 ] || die "keyframes stalled under idle fakes ($kf0 -> $kf1)"
grep -q "welcome=[0-9]* refused=\([2-9][0-9]\)" "$TMP/idle.out" || die "fakes were not refused: $(cat "$TMP/idle.out")"

# --- 6: answer every job "no kept canvas or tile" (Error code 5): an honest worker says that
# only for a job that carried a held part or came from its resident canvas, so this one fails
# and is quarantined, instead of being handed the same tile back thousands of times a second
out=$("$HP" "$WEP" --name nokeep --hash sim --claim 1 --error-code 5 --seconds 6)
echo "6: $out"
jobs6=$(sed -n 's/.*jobs=\([0-9]*\).*/\1/p' <<<"$out")
[ "${jobs6:-0}" -ge 1 ] || die "the code-5 peer got no job: $out"
[ "$jobs6" -le 50 ] || die "the code-5 peer was sent $jobs6 jobs in 6 s (a requeue loop)"
grep -q "worker nokeep (this connection) QUARANTINED" "$TMP/dreamd.log" || die "the code-5 peer was not quarantined"
kill -0 "$DREAMD_PID" || die "dreamd died"
echo "PASS ($((SECONDS - t0)) s)"
