"""st.py — a tiny numpy-only safetensors writer/reader (helper module, not a test).

Used by the Python tests (e.g. the PyTorch reference test writes a torchvision-named
VGG as F32 and the C engine loads it) and by tools/convert_prior.py.
Needs only /usr/bin/python3 + numpy; no pip packages.

    import st
    st.save("net.safetensors", {"features.0.weight": w, ...}, metadata={"k": "v"})
    tensors, metadata = st.load("net.safetensors")
    st.save_state_dict("net.safetensors", model.state_dict())   # torch tensors -> F32

Format: 8-byte little-endian header length N, N bytes of JSON
{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the data section (offsets relative to it). The header is padded with spaces to a
multiple of 8 bytes, as the reference implementation does.
"""
import json
import struct

import numpy as np

MAX_HEADER = 100 * 1000 * 1000

_NP = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round to nearest even (NaN stays NaN)."""
    u = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    r = np.where(nan, (u >> 16) | 0x40, r)
    return r.astype("<u2")


def _from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def save(path, tensors, metadata=None, dtype="F32"):
    """Writes dict name -> array (converted to dtype F32 | F16 | BF16) in insertion order."""
    if dtype not in ("F32", "F16", "BF16"):
        raise ValueError("dtype must be F32, F16 or BF16, not %r" % (dtype,))
    header, blobs, off = {}, [], 0
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ValueError("metadata must map str -> str")
        header["__metadata__"] = dict(metadata)
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is not a tensor name")
        a = np.asarray(arr, dtype=np.float32)
        if dtype == "F32":
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif dtype == "F16":
            raw = np.ascontiguousarray(a, dtype="<f2").tobytes()
        else:
            raw = _to_bf16_bits(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    import os
    os.replace(tmp, path)


def save_state_dict(path, state_dict, metadata=None, dtype="F32"):
    """torch state_dict (tensors) -> safetensors, names kept (torchvision naming)."""
    arrs = {}
    for k, v in state_dict.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().float().numpy()
        arrs[k] = v
    save(path, arrs, metadata, dtype)


def load(path):
    """Returns (dict name -> float32 array (F32/F16/BF16) or native array, metadata dict)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError("%s: truncated (%d bytes)" % (path, len(buf)))
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or 8 + n > len(buf):
        raise ValueError("%s: bad header length %d" % (path, n))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("%s: header is not an object" % path)
    data = memoryview(buf)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out, spans = {}, []
    for name, e in header.items():
        dt, shape, (b, en) = e["dtype"], tuple(e["shape"]), e["data_offsets"]
        if not (0 <= b <= en <= len(data)):
            raise ValueError("%s: tensor %r: offsets out of range" % (path, name))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        raw = data[b:en]
        if dt == "BF16":
            if len(raw) != 2 * count:
                raise ValueError("%s: tensor %r: size mismatch" % (path, name))
            arr = _from_bf16_bits(np.frombuffer(raw, dtype="<u2")).reshape(shape)
        elif dt in _NP:
            if len(raw) != _NP[dt].itemsize * count:
                raise ValueError("%s: tensor %r: size mismatch" % (path, name))
            arr = np.frombuffer(raw, dtype=_NP[dt]).reshape(shape)
            if dt == "F16":
                arr = arr.astype(np.float32)
        else:
            raise ValueError("%s: tensor %r: unknown dtype %r" % (path, name, dt))
        out[name] = arr.copy()
        spans.append((b, en, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError("%s: tensors %r and %r overlap" % (path, n0, n1))
    return out, meta


def dtypes(path):
    """name -> dtype string, without reading the data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER:
            raise ValueError("%s: bad header length %d" % (path, n))
        header = json.loads(f.read(n).decode("utf-8"))
    return {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}
