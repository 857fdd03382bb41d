#!/usr/bin/python3
"""test_prior_data.py — the committed data/prior.safetensors equals the reference's
seed-prior .npy files (../shared/data/seed-prior) converted to float32 and flipped in
both spatial axes (cross-correlation form), with the metadata and licence in place.
Skips (exit 77) when ../shared is absent.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import st  # noqa: E402

SRC = os.path.join(ROOT, "..", "shared", "data", "seed-prior")
DATA = os.path.join(ROOT, "data", "prior.safetensors")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def true_conv_valid(img, w):
    """Reference semantics: 'valid' TRUE convolution of img (H, W, C) with w (kh, kw, C)."""
    kh, kw, _ = w.shape
    H, W, _ = img.shape
    out = np.zeros((H - kh + 1, W - kw + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            s = 0.0
            for i in range(kh):
                for j in range(kw):
                    # convolution: output(y, x) sums img(y + kh-1 - i, x + kw-1 - j) * w(i, j)
                    s += float(np.dot(img[y + kh - 1 - i, x + kw - 1 - j, :], w[i, j, :]))
            out[y, x] = s
    return out


def xcorr_valid(img, w):
    kh, kw, _ = w.shape
    H, W, _ = img.shape
    out = np.zeros((H - kh + 1, W - kw + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            out[y, x] = float(np.sum(img[y:y + kh, x:x + kw, :] * w))
    return out


def main():
    if not os.path.isfile(DATA):
        fail("%s is missing (run tools/convert_prior.py)" % DATA)
    tensors, meta = st.load(DATA)
    if sorted(tensors) != ["gauss.filters", "gauss.mean", "student.filters", "student.mean"]:
        fail("unexpected tensors %s" % sorted(tensors))
    if set(st.dtypes(DATA).values()) != {"F32"}:
        fail("prior tensors must be F32: %s" % st.dtypes(DATA))
    for k in ("source", "licence", "flip"):
        if k not in meta:
            fail("__metadata__ lacks %r" % k)
    if "MIT" not in meta["licence"] or "Jonas Degrave" not in meta["licence"]:
        fail("licence metadata: %r" % meta["licence"])
    lic = os.path.join(ROOT, "data", "LICENSE.prior")
    if not os.path.isfile(lic) or "Jonas Degrave" not in open(lic).read():
        fail("data/LICENSE.prior missing or wrong")
    for kind in ("student", "gauss"):
        w, m = tensors[kind + ".filters"], tensors[kind + ".mean"]
        if w.shape != (8, 8, 3, 192) or m.shape != (192,):
            fail("%s shapes %s %s" % (kind, w.shape, m.shape))
        if not np.all(np.isfinite(w)) or np.abs(w).sum() == 0:
            fail("%s filters are empty or not finite" % kind)

    if not os.path.isdir(SRC):
        print("SKIP: %s not present; only checked the committed file's structure" % SRC)
        sys.exit(77)
    rng = np.random.default_rng(3)
    for kind, stem in (("student", "student_prior"), ("gauss", "prior")):
        fw = np.load(os.path.join(SRC, stem + "_filters.npy"))
        fm = np.load(os.path.join(SRC, stem + "_mean.npy"))
        w, m = tensors[kind + ".filters"], tensors[kind + ".mean"]
        # exact: float64 -> float32 of the flipped kernels
        if not np.array_equal(w, fw[::-1, ::-1, :, :].astype(np.float32)):
            fail("%s.filters != flip(file) as float32" % kind)
        if not np.array_equal(m, fm.astype(np.float32)):
            fail("%s.mean != file as float32" % kind)
        # the flip is real: stored[i, j] == file[7 - i, 7 - j], and not the unflipped file
        if not np.array_equal(w[0, 0], fw[7, 7].astype(np.float32)) or \
                not np.array_equal(w[2, 5], fw[5, 2].astype(np.float32)):
            fail("%s.filters: corner/element flip mismatch" % kind)
        if np.array_equal(w, fw.astype(np.float32)):
            fail("%s.filters are not flipped" % kind)
        # behaviour: cross-correlation with the stored kernels == the reference's
        # true convolution with the file's kernels
        img = rng.uniform(-128, 127, size=(10, 9, 3))
        for k in (0, 77, 191):
            ref = true_conv_valid(img, fw[:, :, :, k])
            got = xcorr_valid(img, w[:, :, :, k].astype(np.float64))
            err = np.max(np.abs(ref - got)) / (np.max(np.abs(ref)) + 1e-9)
            if err > 1e-6:
                fail("%s filter %d: xcorr(stored) differs from conv(file) by %g" % (kind, k, err))
            if k == 77:
                bad = xcorr_valid(img, fw[:, :, :, k])
                if np.max(np.abs(bad - ref)) / (np.max(np.abs(ref)) + 1e-9) < 1e-3:
                    fail("test is blind: unflipped kernel gives the same responses")
    print("prior data OK: %s matches %s (flipped, float32)" % (DATA, SRC))


if __name__ == "__main__":
    main()
