#!/usr/bin/env bash
# farm_tls.sh — dreamd serves its live page over HTTPS when given --tls-cert/--tls-key (the
# stream options of the config table reach the server): /api/status answers over https,
# plain http on the same port does not, and a half-given pair is refused with a clear error.
source "$(dirname "$0")/farm_lib.bash"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj /CN=localhost >/dev/null 2>&1 || die "openssl could not make a certificate"
# a certificate without a key: refused at start
if "$BIN/dreamd" --worker-bind "tcp://127.0.0.1:$WPORT" --admin-bind "$AEP" --http-port "$(free_port)" \
     --tls-cert "$TMP/cert.pem" --state :memory: --run-seconds 5 >"$TMP/half.log" 2>&1; then
  die "dreamd started with --tls-cert but no --tls-key"
fi
grep -q "needs both --tls-cert and --tls-key" "$TMP/half.log" || die "no clear message: $(tail -2 "$TMP/half.log")"
HPORT=$(free_port)
start_dreamd --size 256x224 --fps 5 --steps 1 --http-port "$HPORT" --http-bind 127.0.0.1 \
  --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --hold-s 30 --encoder-speed 9
wait_for 10 'curl -sk --max-time 3 "https://127.0.0.1:$HPORT/api/status" | grep -q "\"workers\""' "https /api/status"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$HPORT/api/status")
[ "$code" != 200 ] || die "plain http answered 200 on the TLS port"
ctl config | grep -qx "hold-s:30" || die "hold-s not in dreamctl config"
echo PASS
