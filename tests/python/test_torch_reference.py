#!/usr/bin/python3
"""test_torch_reference.py — `dream grad` against PyTorch (float64, CPU) on full-size VGG-16.

Random VGG-16 weights in torchvision naming are written to .safetensors; `dream grad`
(CPU backend) and a float64 PyTorch implementation of the same objective compute the loss
and dL/dx for the same image. The prior is taken from the ORIGINAL reference .npy files
(../shared/data/seed-prior) applied as a TRUE convolution, as the 2015 code did, so the
flip convention of data/prior.safetensors is checked too.

Asserted:
  - cases: one subject with the single layout (one whole-grid mean), two subjects with the
    seed layout, and one subject with the seed layout = the 2015 reference's [A, A]
  - loss, net term and prior term: relative error <= 1e-4
  - prior gradient (engine: full run minus a --prior none run, whose network parts are
    bit-identical) vs PyTorch float64: relative L2 <= 1e-4
  - full gradient: relative L2 <= 1e-4; where float32 arithmetic cannot reach that, the
    error must be a localised decision flip (<= 1e-4 without the worst 3% of pixels) or
    no worse than 2x what PyTorch's own float32 gets against float64 on the same input;
    and always <= 2e-2. (A deep random ReLU net on noise flips a few ReLU/max-pool
    decisions under float32 rounding, which moves the gradient by ~1e-3 around the
    flipped unit; PyTorch float32 shows the same floor: 5e-3 on the first case.)
  - `dream steps` with its defaults (the seed optimiser, the seed layout: [A, A]): a 3-step
    trajectory, teacher-forced (see check_steps), against the float64 seed update on dream's
    own gradients (<= 0.1% of pixels off by > 1e-2) and on PyTorch float64 gradients (<= 10%,
    median <= 1e-3); a textbook Adam step is off on >= 50% of pixels from step 2 on

Skips (exit 77) when torch is not importable.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import st  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: python3-torch is not installed")
    sys.exit(77)

DREAM = os.path.join(ROOT, "build", "bin", "dream")
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def random_vgg16(seed):
    """torchvision-named state dict (float64 torch tensors), He-normal, small random biases."""
    g = torch.Generator().manual_seed(seed)
    sd, cin, idx = {}, 3, 0
    for v in CFG:
        if v == "M":
            idx += 1
            continue
        sd["features.%d.weight" % idx] = torch.randn(v, cin, 3, 3, generator=g, dtype=torch.float64) * (2.0 / (9 * cin)) ** 0.5
        sd["features.%d.bias" % idx] = torch.randn(v, generator=g, dtype=torch.float64) * 0.01
        cin = v
        idx += 2
    for name, (o, i) in (("classifier.0", (4096, 25088)), ("classifier.3", (4096, 4096)), ("classifier.6", (1000, 4096))):
        sd[name + ".weight"] = torch.randn(o, i, generator=g, dtype=torch.float64) * (2.0 / i) ** 0.5
        sd[name + ".bias"] = torch.randn(o, generator=g, dtype=torch.float64) * 0.01
    return sd


def torch_objective(sd, x, classes, layout, prior_w, prior_mean, strength, pools, nu=0.665248, mean_weight=1.0,
                    dtype=torch.float64):
    """x: (H, W, 3) tensor with requires_grad. Returns (loss, net, prior)."""
    H, W, _ = x.shape
    t = (x / 255.0 - torch.tensor(MEAN, dtype=dtype)) / torch.tensor(STD, dtype=dtype)
    a = t.permute(2, 0, 1).unsqueeze(0)
    idx = 0
    for v in CFG:
        if v == "M":
            a = F.max_pool2d(a, 2, 2)
            idx += 1
            continue
        a = F.relu(F.conv2d(a, sd["features.%d.weight" % idx], sd["features.%d.bias" % idx], padding=1))
        idx += 2
    a = F.relu(F.conv2d(a, sd["classifier.0.weight"].view(4096, 512, 7, 7), sd["classifier.0.bias"]))
    a = F.relu(F.conv2d(a, sd["classifier.3.weight"].view(4096, 4096, 1, 1), sd["classifier.3.bias"]))
    logits = F.conv2d(a, sd["classifier.6.weight"].view(1000, 4096, 1, 1), sd["classifier.6.bias"])[0]
    _, gh, gw = logits.shape
    net = mean_weight * logits.mean()
    if layout == "seed" and len(classes) == 1:
        classes = [classes[0], classes[0]]  # the 2015 reference's [A, A]: lower half + upper half
    for s, c in enumerate(classes):
        r0, r1 = 0, gh
        if layout == "seed" and len(classes) == 2:
            r0, r1 = (gh // 2, gh) if s == 0 else (0, gh // 2)
        elif layout == "bands":
            k = len(classes)
            r0, r1 = s * gh // k, (s + 1) * gh // k
        if r1 <= r0:
            r0, r1 = 0, gh
        net = net - logits[c, r0:r1, :].mean()
    prior = torch.zeros((), dtype=dtype)
    if strength == 0:
        return net, net, prior
    # prior: TRUE convolution with the reference's filters (k, c, kh, kw), on x - 128
    wk = torch.tensor(np.ascontiguousarray(prior_w.transpose(3, 2, 0, 1)))  # (k, c, kh, kw)
    wk_flipped = torch.flip(wk, dims=[2, 3])  # conv2d in torch is cross-correlation
    mu = torch.tensor(prior_mean).view(1, -1, 1, 1)
    img = x.permute(2, 0, 1).unsqueeze(0)
    for p in pools:
        hp, wp = H // p, W // p
        if hp < 8 or wp < 8:
            continue
        d = F.avg_pool2d(img[:, :, : hp * p, : wp * p], p) if p > 1 else img
        z = F.conv2d(d - 128.0, wk_flipped)
        prior = prior + torch.log1p((z - mu) ** 2 / nu).mean()
    prior = strength * prior / len(pools)
    return net + prior, net, prior


LR, B1, B2, EPS = 5.0, 0.9, 0.999, 1e-8


def torch_grad64(sd, x, classes, layout):
    """dL/dx in float64 at pixels x (numpy)."""
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    loss, _, _ = torch_objective(sd, xt, classes, layout, PW, PM, 10.0, [1, 4, 8, 16, 32])
    loss.backward()
    return xt.grad.detach()


def opt_step(optimizer, x, g, m, v, t):
    """One float64 optimiser step + clip; returns (x, m, v). seed = the 2015 reference's update."""
    if optimizer == "seed":
        m = B1 * g + (1 - B1) * m
        v = B2 * g * g + (1 - B2) * v
        x = x - LR * (m / (1 - (1 - B1) ** t)) / (torch.sqrt(v / (1 - (1 - B2) ** t)) + EPS)
    else:
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        x = x - LR * (1 - B2 ** t) ** 0.5 / (1 - B1 ** t) * m / (torch.sqrt(v) + EPS)
    return x.clamp(0.0, 255.0), m, v


def torch_f32_floor(sd, x, classes, layout):
    """Relative L2 between PyTorch float32 and float64 gradients of the network terms."""
    grads = []
    for dt in (torch.float32, torch.float64):
        sdd = {k: v.to(dt) for k, v in sd.items()}
        xt = torch.tensor(x, dtype=dt, requires_grad=True)
        loss, _, _ = torch_objective(sdd, xt, classes, layout, PW, PM, 0.0, [1], dtype=dt)
        loss.backward()
        grads.append(xt.grad.double().numpy())
    return rel(grads[0], grads[1])


def rel_trimmed(a, b, frac):
    """Relative L2 over the pixels outside the worst `frac` of per-pixel errors."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    err = ((a - b) ** 2).sum(axis=-1).ravel()
    keep = np.argsort(err)[: int(len(err) * (1 - frac))]
    bb = (b ** 2).sum(axis=-1).ravel()
    return float(np.sqrt(err[keep].sum() / max(bb[keep].sum(), 1e-30)))


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    if not os.access(DREAM, os.X_OK):
        print("FAIL: %s not built" % DREAM)
        return 1
    global PW, PM
    shared = os.path.join(ROOT, "..", "shared", "data", "seed-prior")
    if os.path.exists(os.path.join(shared, "student_prior_filters.npy")):
        PW = np.load(os.path.join(shared, "student_prior_filters.npy"))
        PM = np.load(os.path.join(shared, "student_prior_mean.npy"))
        print("prior: reference .npy files (true convolution)")
    else:  # stored cross-correlation form -> undo the flip to get the reference's kernels
        t, _ = st.load(os.path.join(ROOT, "data", "prior.safetensors"))
        PW = t["student.filters"][::-1, ::-1].astype(np.float64)
        PM = t["student.mean"].astype(np.float64)
        print("prior: data/prior.safetensors (../shared absent)")
    torch.set_num_threads(2)
    # weights as the engine sees them: float32-rounded
    sd = {k: v.float().double() for k, v in random_vgg16(2015).items()}
    rng = np.random.default_rng(7)
    cases = [  # (H, W, classes, layout)
        (240, 272, [31], "single"),
        (263, 229, [31, 980], "seed"),
        (263, 229, [31], "seed"),          # one subject: [A, A] on a 2-row grid
    ]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "vgg16.safetensors")
        st.save(wpath, {k: v.numpy() for k, v in sd.items()})
        for H, W, classes, layout in cases:
            x = rng.uniform(0, 255, size=(H, W, 3)).astype(np.float32)
            xpath = os.path.join(tmp, "x.npy")
            np.save(xpath, x)

            def dream(*extra):
                gpath = os.path.join(tmp, "g.npy")
                cmd = [DREAM, "grad", "--weights", wpath, "--image", xpath, "--layout", layout,
                       "--backend", "cpu", "--out-grad", gpath] + list(extra)
                for c in classes:
                    cmd += ["--class", str(c)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                if out.returncode != 0:
                    raise SystemExit("FAIL: dream grad exited %d:\n%s" % (out.returncode, out.stderr[-2000:]))
                return json.loads(out.stdout.strip().splitlines()[-1]), np.load(gpath)

            res, g = dream()
            res0, g0 = dream("--prior", "none")
            xt = torch.tensor(x.astype(np.float64), requires_grad=True)
            loss, net, prior = torch_objective(sd, xt, classes, layout, PW, PM, 10.0, [1, 4, 8, 16, 32])
            loss.backward()
            gt = xt.grad.numpy().copy()
            xp = torch.tensor(x.astype(np.float64), requires_grad=True)
            _, _, ponly = torch_objective(sd, xp, classes, layout, PW, PM, 10.0, [1, 4, 8, 16, 32])
            ponly.backward()
            gpt = xp.grad.numpy()
            floor = torch_f32_floor(sd, x, classes, layout)
            e = {
                "loss": abs(res["loss"] - loss.item()) / abs(loss.item()),
                "net": abs(res["net"] - net.item()) / abs(net.item()),
                "prior": abs(res["prior"] - prior.item()) / abs(prior.item()),
                "prior_grad": rel(g - g0, gpt),
                "grad": rel(g, gt),
                "grad_trim1%": rel_trimmed(g, gt, 0.01),
                "grad_trim3%": rel_trimmed(g, gt, 0.03),
            }
            print("%dx%d %s %s grid %s: loss %.6f vs %.6f | rel errors: %s | torch f32-vs-f64 grad floor %.2e"
                  % (W, H, layout, classes, res["grid"], res["loss"], loss.item(),
                     ", ".join("%s %.2e" % kv for kv in e.items()), floor))
            if g.shape != (H, W, 3):
                print("FAIL: gradient shape %s" % (g.shape,))
                ok = False
            for k in ("loss", "net", "prior", "prior_grad"):
                if not e[k] <= 1e-4:
                    print("FAIL: %s relative error %.2e > 1e-4" % (k, e[k]))
                    ok = False
            if not (e["grad"] <= 1e-4 or e["grad_trim3%"] <= 1e-4 or e["grad"] <= 2 * floor):
                print("FAIL: gradient relative L2 %.2e above 1e-4, not localised (%.2e without the worst 3%% of "
                      "pixels) and above 2x the float32 floor %.2e" % (e["grad"], e["grad_trim3%"], floor))
                ok = False
            if not e["grad"] <= 2e-2:
                print("FAIL: gradient relative L2 %.2e above 2e-2" % e["grad"])
                ok = False
        ok &= check_steps(tmp, wpath, sd, rng)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def check_steps(tmp, wpath, sd, rng, H=263, W=229, classes=(31,), steps=3):
    """`dream steps` with the DEFAULTS (seed optimiser, seed layout = [A, A]) over a 3-step
    trajectory, teacher-forced: dream's image after k steps (a `dream steps --steps k` run from
    the same start; runs are deterministic) is predicted from dream's image after k-1 steps, a
    gradient there and the optimiser state carried from step 1 (m, v accumulated from those
    gradients, t = k), in float64:
      (a) with dream's own gradient there (`dream grad`, float32): isolates the optimiser;
          <= 0.1% of pixels off by > 1e-2, median |diff| <= 1e-4
      (b) with PyTorch's float64 gradient: <= 10% of pixels off by > 1e-2, median <= 1e-3.
          The seed update divides by the current gradient's size (m / sqrt(v), v ~ g^2), so
          where the new gradient almost cancels the old one, or is near 0, float32-vs-float64
          gradient differences (ReLU/max-pool decision flips ~1e-3) move a pixel visibly: 5% at
          step 2 here. A free-running comparison is meaningless for the same reason (the sign
          flips of step 1 change every later gradient: 74% of pixels off by step 2).
      (c) the same prediction with textbook Adam is off on >= 50% of pixels from step 2 on."""
    ok = True
    x0 = rng.uniform(0, 255, size=(H, W, 3)).astype(np.float32)
    xpath, opath = os.path.join(tmp, "xs.npy"), os.path.join(tmp, "xs_out.npy")
    gpath, kpath = os.path.join(tmp, "xs_grad.npy"), os.path.join(tmp, "xs_k.npy")
    np.save(xpath, x0)
    cls_args = []
    for c in classes:
        cls_args += ["--class", str(c)]

    def run(args):
        out = subprocess.run([DREAM] + args + ["--weights", wpath, "--backend", "cpu"] + cls_args,
                             capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            raise SystemExit("FAIL: dream %s exited %d:\n%s" % (args[0], out.returncode, out.stderr[-2000:]))
        return json.loads(out.stdout.strip().splitlines()[-1])

    traj, dgrads = [x0.astype(np.float64)], []
    for k in range(1, steps + 1):
        res = run(["steps", "--image", xpath, "--steps", str(k), "--out", opath])
        if res.get("optimizer") != "seed" or res.get("layout") != "seed":
            print("FAIL: dream steps defaults are optimizer %s layout %s, expected seed/seed"
                  % (res.get("optimizer"), res.get("layout")))
            ok = False
        np.save(kpath, traj[-1].astype(np.float32))
        run(["grad", "--image", kpath, "--out-grad", gpath])
        dgrads.append(torch.tensor(np.load(gpath).astype(np.float64)))
        traj.append(np.load(opath).astype(np.float64))
    zero = lambda: (torch.zeros(H, W, 3, dtype=torch.float64), torch.zeros(H, W, 3, dtype=torch.float64))
    st = {"dream": zero(), "seed": zero(), "adam": zero()}
    for k in range(1, steps + 1):
        xprev = torch.tensor(traj[k - 1])
        gt = torch_grad64(sd, traj[k - 1], list(classes), "seed")
        res = {}
        for key, o, g in (("dream", "seed", dgrads[k - 1]), ("seed", "seed", gt), ("adam", "adam", gt)):
            m, v = st[key]
            pred, m, v = opt_step(o, xprev, g, m, v, k)
            st[key] = (m, v)
            d = np.abs(traj[k] - pred.numpy())
            res[key] = (float((d > 1e-2).mean()), float(np.median(d)))
        moved = float((np.abs(traj[k] - traj[k - 1]) > 1.0).mean())
        print("%dx%d %s defaults (seed optimiser, [A, A]) step %d: pixels off by > 1e-2 from the float64 seed step "
              "with dream's gradient %.3f%% (median %.1e), with PyTorch's %.3f%% (median %.1e); off a textbook Adam "
              "step %.1f%%; moved > 1 px %.1f%%"
              % (W, H, list(classes), k, 100 * res["dream"][0], res["dream"][1], 100 * res["seed"][0], res["seed"][1],
                 100 * res["adam"][0], 100 * moved))
        if not (res["dream"][0] <= 1e-3 and res["dream"][1] <= 1e-4):
            print("FAIL: step %d: dream's update is not the seed formula on its own gradient" % k)
            ok = False
        if not (res["seed"][0] <= 0.10 and res["seed"][1] <= 1e-3):
            print("FAIL: step %d: dream's trajectory is off the float64 PyTorch seed update" % k)
            ok = False
        if k >= 2 and not res["adam"][0] >= 0.5:
            print("FAIL: step %d is as close to textbook Adam (%.1f%% off)" % (k, 100 * res["adam"][0]))
            ok = False
        if not moved >= 0.5:
            print("FAIL: step %d moved only %.1f%% of pixels" % (k, 100 * moved))
            ok = False
    return ok

if __name__ == "__main__":
    sys.exit(main())
