#!/usr/bin/env bash
# stream_record.sh — --record writes IVF (any name) or WebM (*.webm): the files are complete
# after a clean shutdown (IVF frame count in the header, WebM EBML header + cues).
set -u
. "$(dirname "$0")/stream_lib.bash"
need_bins
for ext in ivf webm; do
  out=$TMP/rec.$ext
  start_demo --size 320x180 --fps 20 --bitrate 500 --record "$out"
  sleep 3
  stop_demo
  [ -s "$out" ] || die "$out is empty"
  frames=$(json frames_encoded < "$TMP/demo.out")
  [ "$frames" -ge 30 ] || die "only $frames frames encoded in 3 s"
  if [ $ext = ivf ]; then
    /usr/bin/python3 - "$out" "$frames" <<'PY' || die "IVF file malformed"
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:4] == b"DKIF" and d[8:12] == b"VP90", "bad IVF header"
w, h, rate, scale, n = struct.unpack("<HHIII", d[12:28])
assert (w, h) == (320, 180), (w, h)
assert n == int(sys.argv[2]), ("header frame count", n, sys.argv[2])
off, count = 32, 0
while off < len(d):
    size = struct.unpack("<I", d[off:off + 4])[0]
    off += 12 + size
    count += 1
assert off == len(d) and count == n, ("frames", count, n)
print("IVF ok:", n, "frames")
PY
  else
    [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 1a45dfa3 ] || die "WebM lacks the EBML magic"
    grep -qa webm "$out" || die "WebM doctype missing"
    grep -qa V_VP9 "$out" || die "WebM track is not V_VP9"
    # an independent reader (tools/install-deps.sh --test installs ffmpeg) must count every frame
    command -v ffprobe >/dev/null || die "ffprobe not found (tools/install-deps.sh --test installs ffmpeg)"
    n=$(ffprobe -v error -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$out")
    [ "$n" = "$frames" ] || die "ffprobe counts $n packets, expected $frames"
    echo "WebM ok: $(stat -c %s "$out") bytes"
  fi
done
# unwritable record path: a clear error, exit status 1
"$DEMO" --port 0 --record /nonexistent-dir/x.webm --duration 1 >/dev/null 2>"$TMP/err.txt" && die "bad record path accepted"
grep -q "x.webm" "$TMP/err.txt" || die "error does not name the file: $(cat "$TMP/err.txt")"
echo "PASS"
