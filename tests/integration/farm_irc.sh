#!/usr/bin/env bash
# farm_irc.sh — the IRC chat bridge against a real IRC server: ngircd (Debian) on loopback
# with its own config in the test's temp dir; dreamd joins a channel, a second client (python3
# socket) says "the goldfish please" there: the current subject (/api/status, the page's
# #current-subject) becomes goldfish (single-word matching), and the bot's playful answer,
# addressed to the nick, appears in the channel. With --frames-out the burned-in overlay
# ("@tester: goldfish") is in the PNG frames: the top-left box differs from the canvas.
source "$(dirname "$0")/farm_lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
[ -x "$NGIRCD" ] || { echo "SKIP: ngircd not installed (apt-get install ngircd)"; exit 77; }

IPORT=$(free_port)
HPORT=$(free_port)
while [ "$HPORT" = "$IPORT" ]; do HPORT=$(free_port); done
TPORT=$(free_port)
while [ "$TPORT" = "$IPORT" ] || [ "$TPORT" = "$HPORT" ]; do TPORT=$(free_port); done
# TLS listener: a self-signed certificate (ngircd reads it as user nobody)
mkdir -p "$TMP/tls" && chmod 711 "$TMP" && chmod 755 "$TMP/tls"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" -days 1 \
  -subj /CN=localhost >/dev/null 2>&1 && openssl dhparam -dsaparam -out "$TMP/tls/dh.pem" 2048 >/dev/null 2>&1 ||
  die "openssl could not make the test certificate"
chmod 644 "$TMP"/tls/*.pem
cat >"$TMP/ngircd.conf" <<EOF
[Global]
Name = irc.dreamfarm.test
Info = dreamfarm test server
Listen = 127.0.0.1
Ports = $IPORT
MotdPhrase = dreamfarm test
[Limits]
MaxNickLength = 30
PingTimeout = 120
PongTimeout = 20
[Options]
DNS = no
Ident = no
PAM = no
[SSL]
CertFile = $TMP/tls/cert.pem
KeyFile = $TMP/tls/key.pem
DHFile = $TMP/tls/dh.pem
Ports = $TPORT
EOF
"$NGIRCD" --nodaemon --config "$TMP/ngircd.conf" >"$TMP/ngircd.log" 2>&1 &
PIDS+=("$!")
wait_for 10 "(exec 3<>/dev/tcp/127.0.0.1/$IPORT) 2>/dev/null" "ngircd listening on $IPORT"

# a nick already taken by someone else: the bot must pick another (433)
python3 - "$IPORT" >"$TMP/squatter.log" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"NICK dreambot\r\nUSER squat 0 * :squatter\r\n")
end = time.time() + 60
buf = b""
while time.time() < end:
    d = s.recv(4096)
    if not d: break
    buf += d
    while b"\r\n" in buf:
        line, buf = buf.split(b"\r\n", 1)
        if line.startswith(b"PING"): s.sendall(b"PONG" + line[4:] + b"\r\n")
        if b" 001 " in line: print("registered", flush=True)
EOF
PIDS+=("$!")
wait_for 15 'grep -q registered "$TMP/squatter.log"' "the squatter holding the nick dreambot"

FR="$TMP/frames"
start_dreamd --size 320x256 --fps 10 --steps 1 --http-port "$HPORT" --http-bind 127.0.0.1 --subjects volcano \
  --frames-out "$FR" --frames-every 5 --hold-s 4 --min-hold-s 4 \
  --irc-server "127.0.0.1:$IPORT" --irc-channel '#dreamtest' --irc-nick dreambot
start_worker s1 --backend sim --sim-ms-per-mpix-step 50
api() { curl -s --max-time 5 "http://127.0.0.1:$HPORT$1"; }
wait_for 20 'grep -q "joined #dreamtest" "$TMP/dreamd.log"' "dreamd's bot joining #dreamtest"
grep -q "nick taken, trying dreambot" "$TMP/dreamd.log" || die "the bot did not handle the nick collision"
api /api/status | grep -q '"text":"volcano"' || die "initial subject not volcano: $(api /api/status)"

# the viewer: joins, waits for the bot, asks, prints the bot's answer
python3 - "$IPORT" >"$TMP/viewer.out" 2>"$TMP/viewer.log" <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1.0)
def send(l): s.sendall(l.encode() + b"\r\n")
send("NICK tester"); send("USER tester 0 * :tester")
buf, asked, joined, end = b"", False, False, time.time() + 40
while time.time() < end:
    try: d = s.recv(4096)
    except socket.timeout: d = None
    if d == b"": break
    if d: buf += d
    while b"\r\n" in buf:
        line, buf = buf.split(b"\r\n", 1)
        t = line.decode("utf-8", "replace")
        print(t, file=sys.stderr)
        p = t.split(" ")
        if p[0] == "PING": send("PONG " + " ".join(p[1:]))
        elif len(p) > 1 and p[1] == "001": send("JOIN #dreamtest")
        elif len(p) > 1 and p[1] == "353" and "dreambot" in t: joined = True
        elif len(p) > 2 and p[1] == "PRIVMSG" and p[2] == "#dreamtest" and t.startswith(":dreambot"):
            print(t.split(" :", 1)[1]); sys.stdout.flush(); sys.exit(0)
    if joined and not asked:
        # a CTCP that is not ACTION is ignored; colour codes are stripped
        send("PRIVMSG #dreamtest :\x01VERSION\x01")
        send("PRIVMSG #dreamtest :\x0304the goldfish\x03 please")
        asked = True
sys.exit(1)
EOF
VIEWER=$!
PIDS+=("$VIEWER")
wait_for 25 'api /api/status | grep -q "\"current\":{[^}]*\"text\":\"goldfish\""' "/api/status current subject goldfish (from IRC)"
api /api/status | grep -q '"label":"@tester: goldfish"' || die "overlay label not '@tester: goldfish': $(api /api/status)"
wait "$VIEWER" || die "no answer from the bot in the channel: $(tail -n 5 "$TMP/viewer.log")"
grep -q "^tester: .*goldfish" "$TMP/viewer.out" || die "bot answer not addressed to tester about goldfish: $(cat "$TMP/viewer.out")"
wait_for 10 'ctl status | grep -qx "subjects:goldfish"' "the coordinator following the IRC request"

# burned-in overlay: frames have a dark box with white text top-left
sleep 1
last=$(ls "$FR"/*.png 2>/dev/null | tail -n 1)
[ -n "$last" ] || die "no PNG frames in $FR"
python3 - "$last" <<'EOF' || die "no burned-in overlay in $last"
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
pos, idat, w, h = 8, b"", 0, 0
while pos < len(d):
    n, t = struct.unpack(">I4s", d[pos:pos + 8])
    c = d[pos + 8:pos + 8 + n]
    if t == b"IHDR": w, h, bd, ct = struct.unpack(">IIBB", c[:10]); assert bd == 8 and ct == 2, (bd, ct)
    if t == b"IDAT": idat += c
    pos += 12 + n
raw, bpp, stride = zlib.decompress(idat), 3, w * 3
rows, prev = [], bytearray(stride)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0; b = prev[i]; c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
# the box: x 10..60, y 12..30 (20 px text at margin 10); mostly dark, some near-white text pixels
box = [sum(rows[y][x * 3:x * 3 + 3]) / 3 for y in range(12, 30) for x in range(10, 60)]
dark = sum(v < 60 for v in box) / len(box)
white = sum(v > 200 for v in box)
print("box dark fraction %.2f, white pixels %d" % (dark, white))
sys.exit(0 if dark > 0.5 and white > 20 else 1)
EOF

# typed order end to end (web form with a name): "volcano + broccoli" = [volcano, broccoli]
# (not sorted), volcano on the lower half of the seed layout; it waits for goldfish's hold,
# then stays (no drift)
r=$(curl -s --max-time 5 -X POST --data-urlencode 'subject=volcano + broccoli' --data-urlencode 'name=Ann <b>' \
  "http://127.0.0.1:$HPORT/api/request")
grep -q '"position":[01]' <<<"$r" || die "web request refused: $r"
wait_for 15 'api /api/status | grep -q "\"current\":{\"ids\":\[980,937\]"' "current ids [980,937] (typed order)"
api /api/status | grep -q '"label":"@Ann_b: volcano & broccoli"' || die "label not '@Ann_b: volcano & broccoli': $(api /api/status)"
wait_for 10 'ctl status | grep -qx "subjects:volcano + broccoli"' "the coordinator's subjects in typed order"
sleep 5
api /api/status | grep -q '"current":{"ids":\[980,937\]' || die "the subject did not stay after its hold (drift should be off)"

# TLS (--irc-tls; the self-signed test certificate needs --no-irc-tls-verify, and is refused
# with verification on): a second dreamd joins over TLS
H2=$(free_port); W2=$(free_port); A2=$(free_port)
"$BIN/dreamd" --worker-bind "tcp://127.0.0.1:$W2" --admin-bind "tcp://127.0.0.1:$A2" --http-port "$H2" \
  --http-bind 127.0.0.1 --state :memory: --size 320x256 --fps 5 --burn-in off \
  --irc-server "127.0.0.1:$TPORT" --irc-channel '#dreamtls' --irc-nick tlsbot --irc-tls --no-irc-tls-verify \
  >"$TMP/dreamd-tls.log" 2>&1 &
PIDS+=("$!")
wait_for 20 'grep -q "joined #dreamtls" "$TMP/dreamd-tls.log"' "the TLS bot joining #dreamtls"
grep -q "connected to 127.0.0.1:$TPORT (TLS)" "$TMP/dreamd-tls.log" || die "the TLS bot did not use TLS"
H3=$(free_port); W3=$(free_port); A3=$(free_port)
"$BIN/dreamd" --worker-bind "tcp://127.0.0.1:$W3" --admin-bind "tcp://127.0.0.1:$A3" --http-port "$H3" \
  --http-bind 127.0.0.1 --state :memory: --size 320x256 --fps 5 --burn-in off \
  --irc-server "localhost:$TPORT" --irc-channel '#dreamtls' --irc-nick verifybot --irc-tls \
  >"$TMP/dreamd-verify.log" 2>&1 &
PIDS+=("$!")
wait_for 20 'grep -q "certificate verify failed" "$TMP/dreamd-verify.log"' "the self-signed certificate refused with verification on"
grep -q "joined" "$TMP/dreamd-verify.log" && die "joined despite an unverifiable certificate"
echo "PASS"
