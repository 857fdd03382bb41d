#!/usr/bin/env python3
"""make_seeds.py — writes the small seed corpora of tests/fuzz/corpus/ (run once; the
outputs are committed). Needs numpy only for the .npy seeds."""
import json, os, struct, sys, zlib
HERE = os.path.dirname(os.path.abspath(__file__))
def put(kind, name, data):
    d = os.path.join(HERE, 'corpus', kind); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)
# --- wire: [u32 pixel length][Envelope]; hand-encoded protobuf
def varint(v):
    out = b''
    while True:
        b = v & 0x7f; v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v: return out
def field(n, wt, payload):
    key = varint(n << 3 | wt)
    if wt == 0: return key + varint(payload)
    if wt == 1: return key + payload
    return key + varint(len(payload)) + payload
def rect(x, y, w, h): return field(1, 0, x) + field(2, 0, y) + field(3, 0, w) + field(4, 0, h)
hello = field(1, 2, b'w1') + field(2, 2, b'cpu') + field(5, 0, 1 << 20) + field(6, 1, struct.pack('<d', 50.0)) + field(7, 2, b'sim')
# Envelope: version (field 1; DREAM_WIRE_VERSION of common/wire.h), type (field 2), body fields
# start at 10 in the proto's oneof order
WIRE_VERSION = 2
put('wire', 'hello', struct.pack('<I', 0) + field(1, 0, WIRE_VERSION) + field(2, 0, 1) + field(10, 2, hello))
res = field(1, 0, 1) + field(2, 0, 7) + field(3, 2, rect(0, 0, 4, 4)) + field(7, 1, struct.pack('<d', 3.0))
for t, body in ((5, 14), (6, 15), (7, 16)):
    put('wire', 'type%d' % t, struct.pack('<I', 48) + field(1, 0, WIRE_VERSION) + field(2, 0, t) + field(body, 2, res))
put('wire', 'garbage', b'\x30\x00\x00\x00' + bytes(range(64)))
# --- safetensors
def st(tensors, meta=None):
    hdr, data = {}, b''
    if meta: hdr['__metadata__'] = meta
    for name, dt, shape, raw in tensors:
        hdr[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode()
    return struct.pack('<Q', len(h)) + h + data
put('safetensors', 'f32', st([('a', 'F32', [2, 2], struct.pack('<4f', 1, 2, 3, 4))], {'format': 'pt'}))
put('safetensors', 'mixed', st([('h', 'F16', [3], b'\x00\x3c' * 3), ('b', 'BF16', [2, 1], b'\x80\x3f' * 2), ('i', 'I32', [], b'\x01\0\0\0')]))
put('safetensors', 'empty', st([]))
# --- images
def png(w, h, ct=2, depth=8, rows=None):
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
    raw = rows or b''.join(b'\x00' + bytes((x * 37 + y * 11 + c) & 255 for x in range(w) for c in range(ch)) for y in range(h))
    c = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    extra = c(b'PLTE', bytes(range(48))) if ct == 3 else b''
    return b'\x89PNG\r\n\x1a\n' + c(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ct, 0, 0, 0)) + extra + c(b'IDAT', zlib.compress(raw)) + c(b'IEND', b'')
put('image', 'rgb.png', png(5, 3))
put('image', 'grey.png', png(4, 4, 0))
put('image', 'rgba.png', png(3, 2, 6))
put('image', 'pal.png', png(4, 2, 3, rows=b''.join(b'\x00' + bytes([1, 2, 3, 4]) for _ in range(2))))
put('image', 'huge-header.png', png(1, 1)[:16] + struct.pack('>II', 8000, 8000) + png(1, 1)[24:])
jpg = sys.argv[1] if len(sys.argv) > 1 else None
if jpg: put('image', 'small.jpg', open(jpg, 'rb').read())
# --- npy
def npy(descr, shape, raw, fortran=False):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, 'True' if fortran else 'False',
                                                                   '(%s,)' % shape[0] if len(shape) == 1 else str(tuple(shape)))
    h = d.encode() + b' ' * ((64 - (10 + len(d) + 1) % 64) % 64) + b'\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h + raw
put('npy', 'f4', npy('<f4', [2, 3], struct.pack('<6f', *range(6))))
put('npy', 'f8', npy('<f8', [2], struct.pack('<2d', 1.5, -2)))
put('npy', 'scalar', npy('<f4', [], struct.pack('<f', 7)))
put('npy', 'hwc', npy('<f4', [2, 2, 3], struct.pack('<12f', *range(12))))
# --- http: [content-type selector][body]
for i, (sel, body) in enumerate([(0, b'subject=tree+frog'), (0, b'subject=volcano%20%2B%20broccoli&x=1'), (1, b'{"subject":"daisy"}'),
                                 (1, b'{"subject":"\\u00e9clair"}'), (2, b'goldfish\r\nignored'), (4, b'<a/>'), (0, b'subject=%ff%fe')]):
    put('http', 'b%d' % i, bytes([sel]) + body)
# --- config
put('config', 'basic', b'# comment\nname = "hello world"\ncount = 7\nratio = 2.5\nflag = true\n')
put('config', 'bad', b'count = 99999\nnope = 1\nname\n')
put('config', 'quotes', b"name = 'x = y' # trailing\n\n  flag=no\nratio=1e3\n")
put('config', 'lists', b"item = a\nitem = 'b c'\nitem = 01234567890\ngain = -2.5\nseed = 123456789012\nitem = over\n")
