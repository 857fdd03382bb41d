#!/usr/bin/env bash
# stream_tls.sh — HTTPS with --tls-cert/--tls-key (a throw-away self-signed certificate):
# the page and API answer over TLS, plain HTTP on that port does not; a missing key is refused.
set -u
. "$(dirname "$0")/stream_lib.bash"
need_bins
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 \
  -subj /CN=localhost >/dev/null 2>&1 || die "openssl could not make a certificate"
start_demo --size 320x180 --fps 10 --bitrate 300 --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
sleep 1
HB=https://127.0.0.1:$PORT
[ "$(curl -sk -o "$TMP/b" -w '%{http_code}' "$HB/")" = 200 ] || die "GET / over HTTPS failed"
grep -q 'id="video"' "$TMP/b" || die "page over HTTPS wrong"
[ "$(curl -sk -o "$TMP/b" -w '%{http_code}' "$HB/api/status")" = 200 ] || die "status over HTTPS failed"
[ "$(curl -sk -o "$TMP/b" -w '%{http_code}' -d subject=volcano "$HB/api/request")" = 202 ] || die "request over HTTPS failed"
c=$(curl -s -m 3 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/status")
[ "$c" != 200 ] || die "plain HTTP answered on the TLS port"
stop_demo
"$DEMO" --port 0 --tls-cert "$TMP/cert.pem" --duration 1 >/dev/null 2>"$TMP/e" && die "cert without key accepted"
grep -qi "tls" "$TMP/e" || die "no clear TLS error: $(cat "$TMP/e")"
echo "PASS"
