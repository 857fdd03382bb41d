#!/usr/bin/env python3
"""console_lib.py — helpers for farm_console*.sh (python3 standard library only).

  console_lib.py metrics FILE            strict Prometheus text-format (0.0.4) parser; prints
                                         "name{labels} value" lines, exit 1 on any violation
  console_lib.py pngdiff A B [C]         mean absolute difference A-B (and A-C) of two PNGs
  console_lib.py pty HOME DREAMCTL ARGS  drives the interactive console through a pty, with the
                                         steps read as JSON from stdin: [["send", "text"],
                                         ["expect", "regex"], ...]; prints the transcript
"""
import json
import os
import pty
import re
import select
import struct
import sys
import time
import zlib

NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(msg):
    print("metrics: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_labels(s, lineno):
    """s is the text between { and }; returns a dict. Strict: quoted values, only \\\\ \\" \\n escapes."""
    labels, i = {}, 0
    while i < len(s):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', s[i:])
        if not m:
            fail("line %d: bad label at %r" % (lineno, s[i:]))
        name = m.group(1)
        i += m.end()
        val = ""
        while True:
            if i >= len(s):
                fail("line %d: unterminated label value" % lineno)
            c = s[i]
            if c == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    fail("line %d: bad escape in label value" % lineno)
                val += {'\\': '\\', '"': '"', 'n': '\n'}[s[i + 1]]
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                fail("line %d: raw newline in label value" % lineno)
            else:
                val += c
                i += 1
        if name in labels:
            fail("line %d: duplicate label %s" % (lineno, name))
        labels[name] = val
        if i < len(s):
            if s[i] != ',':
                fail("line %d: expected ',' between labels" % lineno)
            i += 1
    return labels


def parse_metrics(text):
    if not text.endswith("\n"):
        fail("exposition must end with a newline")
    types, helps, samples, seen = {}, {}, [], set()
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 4 or not NAME.match(parts[2]):
                    fail("line %d: malformed %s" % (lineno, parts[1]))
                d = helps if parts[1] == "HELP" else types
                if parts[2] in d:
                    fail("line %d: second %s for %s" % (lineno, parts[1], parts[2]))
                if parts[1] == "TYPE":
                    if parts[3] not in TYPES:
                        fail("line %d: unknown type %s" % (lineno, parts[3]))
                    if parts[2] in [s[0] for s in samples]:
                        fail("line %d: TYPE after samples of %s" % (lineno, parts[2]))
                d[parts[2]] = parts[3]
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?[0-9]+)?$', line)
        if not m:
            fail("line %d: not a sample: %r" % (lineno, line))
        name, labels = m.group(1), parse_labels(m.group(3) or "", lineno)
        v = m.group(4)
        try:
            value = float(v) if v not in ("+Inf", "-Inf", "NaN") else float(v.replace("Inf", "inf"))
        except ValueError:
            fail("line %d: bad value %r" % (lineno, v))
        base = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and types.get(name[:-len(suf)]) == "histogram":
                base = name[:-len(suf)]
        if base not in types:
            fail("line %d: sample %s without a TYPE line" % (lineno, name))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            fail("line %d: duplicate series %s%s" % (lineno, name, labels))
        seen.add(key)
        if types[base] == "counter" and value < 0:
            fail("line %d: negative counter" % lineno)
        samples.append((name, labels, value))
    # histograms: cumulative buckets, +Inf == _count
    for h in [n for n, t in types.items() if t == "histogram"]:
        b = [(s[1].get("le"), s[2]) for s in samples if s[0] == h + "_bucket"]
        if not b or b[-1][0] != "+Inf":
            fail("histogram %s lacks a final +Inf bucket" % h)
        vals = [x[1] for x in b]
        if any(vals[i] > vals[i + 1] for i in range(len(vals) - 1)):
            fail("histogram %s buckets not cumulative" % h)
        les = [float(x[0].replace("Inf", "inf")) for x in b]
        if les != sorted(les):
            fail("histogram %s le not increasing" % h)
        cnt = [s[2] for s in samples if s[0] == h + "_count"]
        if not cnt or cnt[0] != vals[-1]:
            fail("histogram %s: _count != +Inf bucket" % h)
    return samples


def read_png_rgb(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG: " + path)
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                raise ValueError("only 8-bit RGB/RGBA PNGs")
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = w * bpp
    out, prev = bytearray(), bytearray(stride)
    i = 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        for x in range(0, stride, bpp):
            out += line[x:x + 3]
    return w, h, out


def mad(a, b):
    if len(a) != len(b):
        raise ValueError("different sizes")
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def run_pty(home, argv, steps):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = home
        os.environ["TERM"] = "xterm"
        os.execv(argv[0], argv)
    buf = b""

    def read_until(rx, timeout=8.0):
        nonlocal buf
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(rx.encode(), buf)
            if m:
                return True
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
        return bool(re.search(rx.encode(), buf))

    ok = True
    for kind, arg in steps:
        if kind == "send":
            os.write(fd, arg.encode())
            time.sleep(0.3)
        elif kind == "expect":
            if not read_until(arg):
                print("PTY: expected %r" % arg, file=sys.stderr)
                ok = False
                break
        elif kind == "mark":    # forget what was read so far
            read_until("$^", 0.5)
            buf = b""
    try:
        os.write(fd, b"exit\n")
    except OSError:
        pass
    read_until("$^", 1.0)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = 0
    sys.stdout.write(buf.decode("utf-8", "replace"))
    return 0 if ok else 1


def main():
    cmd = sys.argv[1]
    if cmd == "metrics":
        for name, labels, value in parse_metrics(open(sys.argv[2]).read()):
            lab = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
            print("%s%s %r" % (name, "{" + lab + "}" if lab else "", value))
    elif cmd == "pngdiff":
        _, _, a = read_png_rgb(sys.argv[2])
        print(" ".join("%.3f" % mad(a, read_png_rgb(p)[2]) for p in sys.argv[3:]))
    elif cmd == "pty":
        sys.exit(run_pty(sys.argv[2], sys.argv[3:], json.load(sys.stdin)))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
