#!/usr/bin/env bash
# stream_api.sh — dream-stream-demo's HTTP side: page, /api/status, /api/classes,
# POST /api/request (form, JSON, refusals, 413 / 415 / 405 / 404 / 429), /snapshot.png,
# malformed HTTP and websocket input refused while the server keeps serving.
set -u
. "$(dirname "$0")/stream_lib.bash"
need_bins
start_demo --size 320x180 --fps 10 --bitrate 400 --burst 6 --rate 6 --hold 60 --no-drift
sleep 1

code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }

# the page and its assets
[ "$(code "$BASE/")" = 200 ] || die "GET / failed"
grep -q 'id="video"' "$TMP/body" && grep -q 'id="request-form"' "$TMP/body" || die "index.html lacks #video/#request-form"
curl -s -D "$TMP/hdr" -o /dev/null "$BASE/" && grep -qi "^content-security-policy: default-src 'none'" "$TMP/hdr" || die "page lacks the CSP header"
grep -qi "^x-content-type-options: nosniff" "$TMP/hdr" || die "page lacks nosniff"
curl -s -D "$TMP/hdr" -o /dev/null "$BASE/api/status" && grep -qi "^content-security-policy:" "$TMP/hdr" || die "API lacks the CSP header"
[ "$(code "$BASE/app.js")" = 200 ] || die "GET /app.js failed"
[ "$(code "$BASE/style.css")" = 200 ] || die "GET /style.css failed"
[ "$(code "$BASE/nope.html")" = 404 ] || die "missing file not 404"
[ "$(code "$BASE/../../etc/passwd" --path-as-is)" != 200 ] || die "path traversal served a file"
echo "ok page"

# status + classes
[ "$(code "$BASE/api/status")" = 200 ] || die "GET /api/status failed"
[ "$(json width < "$TMP/body")" = 320 ] || die "status width wrong: $(cat "$TMP/body")"
json current.text < "$TMP/body" >/dev/null || die "status lacks current subject"
[ "$(code "$BASE/api/classes")" = 200 ] || die "GET /api/classes failed"
[ "$(json count < "$TMP/body")" = 1000 ] || die "classes count not 1000"
echo "ok status, classes"

# requests
[ "$(code -d 'subject=tree+frog' "$BASE/api/request")" = 202 ] || die "tree frog not accepted: $(cat "$TMP/body")"
[ "$(json position < "$TMP/body")" = 0 ] || die "tree frog should show at once: $(cat "$TMP/body")"
json message < "$TMP/body" | grep -qi 'tree frog' || die "confirmation does not name the subject"
curl -s "$BASE/api/status" | json current.text | grep -qx 'tree frog' || die "current subject is not tree frog"
[ "$(code -H 'Content-Type: application/json' -d '{"subject":"volcano + broccoli"}' "$BASE/api/request")" = 202 ] || die "JSON request refused: $(cat "$TMP/body")"
[ "$(json position < "$TMP/body")" = 1 ] || die "volcano+broccoli should be next"
[ "$(code -d 'subject=VOLCANO%20%2B%20%20broccoli' "$BASE/api/request")" = 202 ] || die "duplicate (same typed order) refused"
[ "$(json merged < "$TMP/body")" = True ] || die "duplicate not merged: $(cat "$TMP/body")"
[ "$(code -d 'subject=treee+frgo' "$BASE/api/request")" = 400 ] || die "unknown word not 400"
json closest < "$TMP/body" | grep -q 'tree frog' || die "no closest suggestion: $(cat "$TMP/body")"
[ "$(code -d 'subject=a+%2B+b+%2B+c+%2B+d+%2B+e' "$BASE/api/request")" = 400 ] || die "5 subjects not 400"
[ "$(code -d 'nosubject=1' "$BASE/api/request")" = 400 ] || die "missing field not 400"
[ "$(code -d 'subject=%zz' "$BASE/api/request")" = 400 ] || die "bad escape not 400"
[ "$(code -H 'Content-Type: application/json' -d '{"subject":' "$BASE/api/request")" = 400 ] || die "bad JSON not 400"
[ "$(code -H 'Content-Type: application/xml' -d '<a/>' "$BASE/api/request")" = 415 ] || die "xml not 415"
head -c 5000 /dev/zero | tr '\0' 'a' > "$TMP/big"
[ "$(code --data-binary @"$TMP/big" "$BASE/api/request")" = 413 ] || die "5000-byte body not 413"
[ "$(code -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/big" "$BASE/api/request")" = 411 ] || die "chunked body (no length) not 411"
[ "$(code "$BASE/api/request")" = 405 ] || die "GET /api/request not 405"
[ "$(code -d x=1 "$BASE/api/status")" = 405 ] || die "POST /api/status not 405"
[ "$(code "$BASE/api/nothing")" = 404 ] || die "unknown API not 404"
# rate limit: burst 6 per address; 5 tokens spent so far: 3 accepted (tree frog,
# volcano+broccoli, merge) + 2 refused at the class lookup (unknown word, 5 subjects: refused
# requests cost a token too, docs/security.md);
# X-Forwarded-For is ignored unless --trust-forwarded-for
n202=0; n429=0
for w in goldfish tench daisy teapot bubble gondola; do
  c=$(code -H "X-Forwarded-For: 10.9.$((RANDOM % 250)).$((RANDOM % 250))" -d "subject=$w" "$BASE/api/request"); [ "$c" = 202 ] && n202=$((n202+1)); [ "$c" = 429 ] && n429=$((n429+1))
done
[ $n202 -eq 1 ] && [ $n429 -eq 5 ] || die "rate limit: expected 1 accepted + 5 x 429, got $n202 / $n429"
json retry_after_s < "$TMP/body" >/dev/null || die "429 lacks retry_after_s"
echo "ok requests"

# snapshot
[ "$(code "$BASE/snapshot.png")" = 200 ] || die "snapshot failed"
[ "$(head -c 8 "$TMP/body" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || die "snapshot is not a PNG"
echo "ok snapshot"

# malformed HTTP and websocket input (raw sockets); the server must refuse and keep serving
/usr/bin/python3 - "$PORT" <<'PY' || die "malformed-input checks failed"
import socket, sys, os, struct, base64
port = int(sys.argv[1])
class Sock(socket.socket):
    leftover = b""
def conn():
    s = Sock(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s
def reply(s, limit=65536):
    data = b""
    try:
        while len(data) < limit:
            b = s.recv(4096)
            if not b: break
            data += b
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 101"): break
    except socket.timeout:
        pass
    return data
def closed_or_error(s, wait=2.0):
    """Reads server frames for `wait` seconds: True if the server sent a close frame or closed
    the connection, False if it kept streaming to us."""
    import time
    deadline = time.time() + wait
    buf = getattr(s, "leftover", b"")
    while time.time() < deadline:
        try:
            s.settimeout(max(0.05, deadline - time.time()))
            b = s.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not b: return True
        buf += b
        while len(buf) >= 2:           # walk complete frames (server frames are unmasked)
            op, l7 = buf[0] & 0x0f, buf[1] & 0x7f
            hl = 2 + (2 if l7 == 126 else 8 if l7 == 127 else 0)
            if len(buf) < hl: break
            n = l7 if l7 < 126 else int.from_bytes(buf[2:hl], "big")
            if op == 8: return True
            if len(buf) < hl + n: break
            buf = buf[hl + n:]
    return False
fails = []
# 1. garbage request line
s = conn(); s.sendall(b"\x16\x03\x01garbage\r\n\r\n"); r = reply(s)
if r.startswith(b"HTTP/1.1 2"): fails.append("garbage request got 2xx")
s.close()
# 2. header section too large
s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"); r = reply(s)
if r.startswith(b"HTTP/1.1 2"): fails.append("20 KB header got 2xx")
s.close()
# 3. bad Content-Length
s = conn(); s.sendall(b"POST /api/request HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"); r = reply(s)
if r.startswith(b"HTTP/1.1 2"): fails.append("negative content-length got 2xx")
s.close()
# 3b. Content-Length and Transfer-Encoding together (request smuggling): 400
s = conn(); s.sendall(b"POST /api/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\nsubject=volcano"); r = reply(s)
if not r.startswith(b"HTTP/1.1 400"): fails.append("Content-Length + Transfer-Encoding not refused with 400: %r" % r[:60])
s.close()
# 3c. a websocket upgrade off the stream paths gets no video (no 101)
for path in (b"/api/status", b"/", b"/snapshot.png"):
    s = conn()
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
              base64.b64encode(os.urandom(16)) + b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: dreamfarm.v1\r\n\r\n")
    r = reply(s)
    if r.startswith(b"HTTP/1.1 101"): fails.append("websocket upgrade accepted on %r" % path)
    s.close()
def ws_open(proto=b"dreamfarm.v1"):
    s = conn()
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
              b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " + proto + b"\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b: raise RuntimeError("closed during handshake")
        buf += b
    if not buf.startswith(b"HTTP/1.1 101"): raise RuntimeError("no 101: %r" % buf[:80])
    s.settimeout(3)
    s.leftover = buf[buf.index(b"\r\n\r\n") + 4:]   # frames that came with the handshake
    return s
def frame(op, payload, mask=True, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126: hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536: hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else: hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask: return hdr + payload
    m = os.urandom(4)
    return hdr + m + bytes(c ^ m[i % 4] for i, c in enumerate(payload))
cases = [
    ("unmasked client frame", frame(1, b"hello", mask=False)),
    ("text from a viewer", frame(1, b'{"type":"hi"}')),
    ("binary from a viewer", frame(2, b"\x00" * 10)),
    ("oversized text", frame(1, b"a" * 5000)),
    ("invalid UTF-8 text", frame(1, b"\xff\xfe\xfd")),
    ("reserved opcode", frame(3, b"x")),
    ("garbage bytes", b"\xff" * 64),
]
for name, data in cases:
    s = ws_open()
    try: s.sendall(data)
    except OSError: pass
    if not closed_or_error(s): fails.append(name + ": connection not closed")
    s.close()
# a ping control frame is answered, the viewer stays
s = ws_open(); s.sendall(frame(9, b"pi"))
if closed_or_error(s): fails.append("ping closed the viewer")
s.close()
# the server still serves
s = conn(); s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n"); r = reply(s)
if not r.startswith(b"HTTP/1.1 200"): fails.append("server no longer answers after malformed input")
for f in fails: print("FAIL:", f)
print("malformed-input checks:", "ok" if not fails else "%d failed" % len(fails))
sys.exit(1 if fails else 0)
PY
echo "ok malformed input"
kill -0 "$DEMO_PID" || die "demo died"
stop_demo

# behind a reverse proxy: rate limits follow X-Forwarded-For only when trusted
start_demo --size 320x180 --fps 10 --bitrate 300 --burst 1 --rate 1 --trust-forwarded-for
[ "$(code -H 'X-Forwarded-For: 10.0.0.1' -d subject=volcano "$BASE/api/request")" = 202 ] || die "XFF 10.0.0.1 refused"
[ "$(code -H 'X-Forwarded-For: 10.0.0.1' -d subject=broccoli "$BASE/api/request")" = 429 ] || die "XFF 10.0.0.1 not rate limited"
[ "$(code -H 'X-Forwarded-For: 6.6.6.6, 10.0.0.2' -d subject=broccoli "$BASE/api/request")" = 202 ] || die "XFF 10.0.0.2 (last entry) refused"
stop_demo
echo "ok X-Forwarded-For"
echo "PASS"
