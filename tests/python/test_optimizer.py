#!/usr/bin/python3
"""test_optimizer.py — the CPU backend's pixel optimiser against float64 NumPy, whole trajectories.

build/tests/test_optim (the cmocka test) writes, with DREAM_OPTIM_TRACE=DIR, what the CPU
adam op did over 20 steps for each kind: DIR/seed.npy and DIR/adam.npy, float32
(T+1, 5, n) = per step the gradient g, then x, m, v after the step, and t (step 0: the
start; t resets to 1 with m = v = 0 at a keyframe boundary; the clip to [0, 255] acts).
Here each trajectory is recomputed in float64 from the start and the same gradients,
with the formulas of the data README (section "The reference's optimiser is NOT
textbook Adam", models/default.py build_updates) and of textbook Adam:

  seed: m = b1 g + (1-b1) m;  v = b2 g^2 + (1-b2) v
        x -= lr (m / (1 - (1-b1)^t)) / (sqrt(v / (1 - (1-b2)^t)) + eps)
  adam: m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
        x -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)
  then x = clip(x, 0, 255);  lr 5, b1 0.9, b2 0.999, eps 1e-8

Asserted: every step's x within 2e-4 (relative to 1 + |x|), m and v within 1e-6 of the
gradients' scale; and each trajectory is far (> 1 pixel mean) from the other formula's,
so the check tells the two optimisers apart. When python3-torch is importable the seed
formula is also run in torch float64 (same numbers expected to 1e-12).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "test_optim")
LR, B1, B2, EPS = 5.0, 0.9, 0.999, 1e-8


def seed_step(x, g, m, v, t, xp=np):
    m = B1 * g + (1 - B1) * m
    v = B2 * g * g + (1 - B2) * v
    x = x - LR * (m / (1 - (1 - B1) ** t)) / (xp.sqrt(v / (1 - (1 - B2) ** t)) + EPS)
    return xp.clip(x, 0, 255), m, v


def adam_step(x, g, m, v, t, xp=np):
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g * g
    x = x - LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t) * m / (xp.sqrt(v) + EPS)
    return xp.clip(x, 0, 255), m, v


def replay(tr, step, xp=np, asarray=np.asarray):
    """float64 trajectory from tr's start and gradients: (T+1, 3, n) rows x, m, v."""
    tr = tr.astype(np.float64)
    x, m, v = asarray(tr[0, 1]), asarray(tr[0, 2]), asarray(tr[0, 3])
    out = [np.stack([tr[0, 1], tr[0, 2], tr[0, 3]])]
    for k in range(1, tr.shape[0]):
        t = int(tr[k, 4, 0])
        if t == 1:
            m, v = m * 0, v * 0
        x, m, v = step(x, asarray(tr[k, 0]), m, v, t, xp)
        out.append(np.stack([np.asarray(x), np.asarray(m), np.asarray(v)]))
    return np.stack(out)


def check(name, tr, step, other):
    ok = True
    ref = replay(tr, step)
    got = tr[:, 1:4].astype(np.float64)
    gmax = np.maximum.accumulate(np.abs(tr[:, 0].astype(np.float64)), axis=0)
    ex = np.abs(got[:, 0] - ref[:, 0]) / (1 + np.abs(ref[:, 0]))
    em = np.abs(got[:, 1] - ref[:, 1]) / (np.abs(ref[:, 1]) + gmax + 1e-30)
    ev = np.abs(got[:, 2] - ref[:, 2]) / (np.abs(ref[:, 2]) + gmax ** 2 + 1e-30)
    alt = replay(tr, other)
    sep = float(np.abs(alt[-1, 0] - got[-1, 0]).mean())
    ts = tr[:, 4, 0].astype(int).tolist()
    clipped = int(((got[1:, 0] == 0) | (got[1:, 0] == 255)).sum())
    print("%s: %d steps (t %s), %d elements, %d clipped values; max rel. error x %.2e m %.2e v %.2e; "
          "mean |x - other formula's x| at the end %.2f px"
          % (name, tr.shape[0] - 1, ts[1:], tr.shape[2], clipped, ex.max(), em.max(), ev.max(), sep))
    if not (ex.max() <= 2e-4 and em.max() <= 1e-6 and ev.max() <= 1e-6):
        k, i = np.unravel_index(np.argmax(ex), ex.shape)
        print("FAIL: %s differs from float64 (worst x at step %d element %d: %.9g vs %.9g)"
              % (name, k, i, got[k, 0, i], ref[k, 0, i]))
        ok = False
    if not sep > 1.0:
        print("FAIL: %s: the other optimiser's trajectory is as close (%.3g px): the check cannot tell them apart"
              % (name, sep))
        ok = False
    if 1 not in ts[2:]:
        print("FAIL: %s: no keyframe reset in the trace" % name)
        ok = False
    if clipped == 0:
        print("FAIL: %s: the clip never acted" % name)
        ok = False
    return ok


def main():
    if not os.access(BIN, os.X_OK):
        print("FAIL: %s not built" % BIN)
        return 1
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DREAM_OPTIM_TRACE=tmp)
        out = subprocess.run([BIN], env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            print("FAIL: test_optim exited %d:\n%s%s" % (out.returncode, out.stdout[-2000:], out.stderr[-2000:]))
            return 1
        seed = np.load(os.path.join(tmp, "seed.npy"))
        adam = np.load(os.path.join(tmp, "adam.npy"))
    ok &= check("seed", seed, seed_step, adam_step)
    ok &= check("adam", adam, adam_step, seed_step)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        rt = replay(seed, seed_step, xp=torch, asarray=lambda a: torch.tensor(a, dtype=torch.float64))
        rn = replay(seed, seed_step)
        d = float(np.abs(rt - rn).max())
        print("seed in torch float64 vs NumPy float64: max |diff| %.2e" % d)
        if not d <= 1e-9:
            print("FAIL: torch and NumPy float64 disagree")
            ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
