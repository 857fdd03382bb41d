#!/usr/bin/env bash
# stream_slowloris.sh — one client address holding half-open HTTP connections (slowloris:
# headers never finished) gets at most --conns-per-ip (16) of them; the others are closed at
# accept, and another address (127.0.0.2) is served at once, as is the first address
# after it lets go. Before the cap one client held over a thousand of them. A connection that
# trickles header lines is closed by the header timeout (lws: ~10 s). 200 request bodies from
# 200 addresses in a burst: beyond --parse-per-s (20 here) they get 503 without being parsed.
set -u
. "$(dirname "$0")/stream_lib.bash"
need_bins
start_demo --size 160x96 --fps 5 --bitrate 200 --conns-per-ip 16 --parse-per-s 20 --rate 600 --burst 100
/usr/bin/python3 - "$PORT" <<'PY' || die "slowloris check failed"
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(300):
    s = socket.socket(); s.settimeout(2)
    s.bind(("127.0.0.1", 0)); s.connect(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")     # never finished
    held.append(s)
time.sleep(1.0)
open_n = 0
for s in held:
    s.setblocking(False)
    try:
        d = s.recv(1)
        if d: open_n += 1          # (a reply would also mean it was served)
    except BlockingIOError:
        open_n += 1                # nothing to read: still open
    except OSError:
        pass                       # reset: refused
print("slowloris: %d of %d connections from one address still open" % (open_n, len(held)))
if open_n > 16: sys.exit("cap not applied: %d open" % open_n)
def get(src):
    s = socket.socket(); s.settimeout(5)
    s.bind((src, 0)); s.connect(("127.0.0.1", port))
    t = time.time()
    s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = b""
    while True:
        b = s.recv(4096)
        if not b: break
        r += b
    s.close()
    return r, time.time() - t
r, dt = get("127.0.0.2")
print("another address: %r in %.0f ms" % (r[:15], dt * 1000))
if not r.startswith(b"HTTP/1.1 200"): sys.exit("another address was not served")
for s in held: s.close()
time.sleep(0.5)
r, dt = get("127.0.0.1")
if not r.startswith(b"HTTP/1.1 200"): sys.exit("the first address is not served after letting go")
# a global budget for request parsing: 200 bodies from 200 addresses at once
codes = {}
t0 = time.time()
for i in range(200):
    c = socket.socket(); c.settimeout(5)
    c.bind(("127.0.%d.%d" % (1 + i // 250, 2 + i % 250), 0)); c.connect(("127.0.0.1", port))
    c.sendall(b"POST /api/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              b"Content-Length: 15\r\nConnection: close\r\n\r\nsubject=volcano")
    r = b""
    while True:
        b = c.recv(4096)
        if not b: break
        r += b
    c.close()
    code = r[9:12].decode() if len(r) > 12 else "closed"
    codes[code] = codes.get(code, 0) + 1
dt = time.time() - t0
print("200 request bodies in %.1f s: %s" % (dt, codes))
budget = 20 + 20 * dt + 1
parsed = sum(n for c, n in codes.items() if c != "503")
if codes.get("503", 0) < 1 or parsed > budget: sys.exit("parse budget not applied: %d parsed, budget %.0f" % (parsed, budget))
# the header timeout: a connection trickling header lines is closed
t = socket.socket(); t.settimeout(1); t.bind(("127.0.0.3", 0)); t.connect(("127.0.0.1", port))
t.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
t0 = time.time(); closed = None
while time.time() - t0 < 30 and closed is None:
    try:
        t.sendall(b"X-a: b\r\n")
        if t.recv(100) == b"": closed = time.time() - t0
    except socket.timeout: pass
    except OSError: closed = time.time() - t0
    time.sleep(0.5)
print("trickling header connection closed after %s s" % (closed and round(closed, 1)))
if closed is None or closed > 25: sys.exit("a trickling connection was held for 30 s")
PY
grep -q "connection from 127.0.0.1 refused" "$TMP/demo.err" || die "no log line for the refused connections"
echo "log lines for the refusals: $(grep -c 'connection from 127.0.0.1 refused' "$TMP/demo.err")"
stop_demo
echo "PASS"
