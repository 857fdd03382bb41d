#!/usr/bin/python3
"""convert_prior.py — converts the reference's learned patch priors (NumPy .npy,
float64) into data/prior.safetensors (F32) for the C engine.

    /usr/bin/python3 tools/convert_prior.py [--src DIR] [--out FILE]

Source (default ../shared/data/seed-prior relative to the repository root):
    student_prior_filters.npy (8, 8, 3, 192) = (kh, kw, c, k), student_prior_mean.npy (192,)
    prior_filters.npy / prior_mean.npy: the Gaussian variant
Output tensors (F32):
    student.filters, gauss.filters  (8, 8, 3, 192) = (kh, kw, c, k)  CROSS-CORRELATION form
    student.mean,    gauss.mean     (192,)
The reference applied the filters with a TRUE convolution (the kernel flipped in both
spatial axes), so the stored kernels are file[::-1, ::-1, :, :]: the engine can then
compute z[k](y, x) = sum_{i,j,c} patch(y+i, x+j, c) * filters[i, j, c, k].
"""
import argparse
import hashlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import st  # noqa: E402

KINDS = {"student": "student_prior", "gauss": "prior"}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.path.join(ROOT, "..", "shared", "data", "seed-prior"))
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "prior.safetensors"))
    a = ap.parse_args()
    tensors, meta = {}, {
        "source": "learned patch priors of 317070/Twitch-plays-LSD-neural-net "
                  "(student_prior_*.npy = student, prior_*.npy = gauss)",
        "licence": "MIT, Copyright (c) 2015 Jonas Degrave (see data/LICENSE.prior)",
        "layout": "filters (kh, kw, c, k) = (8, 8, 3, 192), mean (k,) = (192,), float32",
        "flip": "filters are stored in CROSS-CORRELATION form: the reference used them in a "
                "true convolution (kernel flipped in kh and kw), so stored = file[::-1, ::-1, :, :]",
        "converter": "tools/convert_prior.py",
    }
    for kind, stem in KINDS.items():
        fp = os.path.join(a.src, stem + "_filters.npy")
        mp = os.path.join(a.src, stem + "_mean.npy")
        w = np.load(fp, allow_pickle=False)
        m = np.load(mp, allow_pickle=False)
        if w.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[2] != 3:
            sys.exit("convert_prior: %s has shape %s, expected (k, k, 3, n)" % (fp, w.shape))
        if m.shape != (w.shape[3],):
            sys.exit("convert_prior: %s has shape %s, expected (%d,)" % (mp, m.shape, w.shape[3]))
        tensors[kind + ".filters"] = np.ascontiguousarray(w[::-1, ::-1, :, :], dtype=np.float32)
        tensors[kind + ".mean"] = m.astype(np.float32)
        meta["sha256." + os.path.basename(fp)] = sha256(fp)
        meta["sha256." + os.path.basename(mp)] = sha256(mp)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    st.save(a.out, tensors, meta, dtype="F32")
    print("convert_prior: wrote %s (%d bytes): %s" % (
        a.out, os.path.getsize(a.out),
        ", ".join("%s %s" % (k, v.shape) for k, v in tensors.items())))


if __name__ == "__main__":
    main()
