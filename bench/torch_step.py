#!/usr/bin/env python3
"""torch_step.py — the PyTorch reference for one dream step (benchmarks and parity).

One step = forward through a VGG-style net, the dream objective of engine.h
(one subject; layout "seed" (dream's default) = the 2015 reference's [A, A]: the
class's mean over the lower half of the score grid plus its mean over the upper
half; "single" = one whole-grid mean; plus w_o * mean(logits) and the multi-scale
patch prior), backward to the input pixels, the pixel optimiser and clipping to
[0, 255]. Optimiser "seed" (dream's default) is the 2015 reference's update
(m = b1 g + (1-b1) m, v = b2 g^2 + (1-b2) v, x -= lr (m / (1-(1-b1)^t)) /
(sqrt(v / (1-(1-b2)^t)) + eps)); "adam" is textbook Adam in dream's form (eps on
sqrt(v), as Lasagne). --layout / --optimizer override; a dream export's params
may name them. Weights are either random VGG-16 (He-normal,
seeded) or the ones a dream bench exported (--weights DIR, see gpu-check.sh),
so dream and PyTorch run the very same network and objective.

  --device cuda: cuDNN, channels_last, cudnn.benchmark; --prec fp32 | tf32 |
                 bf16 (autocast bf16; tf32 allows TF32 in cuDNN/cuBLAS)
  --device cpu:  --dtype float32 | float64, --threads N

--size and --prec take comma lists (weights are loaded once); one JSON line per
configuration: {"impl":"torch", "device":..., "prec":..., "size":[W,H],
"ms_per_step":..., "flops_per_step":..., "tflops":..., "peak_bytes":...,
"loss":..., "loss_net":..., "loss_prior":...} (losses at the initial image).
With --compare DIR (a dream export holding grad_WxH.bin and loss_WxH.json) it
also reports the relative L2 error of dream's gradient against this one.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as Fn

VGG16 = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def parse_size(s):
    try:
        w, h = s.lower().split("x")
        w, h = int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError("size must be WxH, e.g. 224x224 (got %r)" % s)
    if not (32 <= w <= 16384 and 32 <= h <= 16384):
        raise argparse.ArgumentTypeError("size %s out of range 32..16384" % s)
    return w, h


def default_params():
    return {"cls": [0], "mean_weight": 1.0, "prior_strength": 10.0, "prior_kind": 0,
            "prior_nu": 0.665248, "pools": [1, 4, 8, 16, 32],
            "lr": 5.0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "layout": "seed", "optimizer": "seed"}


def random_model(seed):
    """Random VGG-16 in engine layout: conv w (k, k, cin, cout), He-normal, zero bias."""
    g = torch.Generator().manual_seed(seed)
    layers, cin = [], 3
    specs = [(3, c, 1) if c else None for c in VGG16] + [(7, 4096, 0), (1, 4096, 0), (1, 1000, 0)]
    for i, sp in enumerate(specs):
        if sp is None:
            layers.append({"kind": "pool"})
            continue
        k, cout, pad = sp
        sd = math.sqrt(2.0 / (k * k * cin))
        w = torch.randn(k, k, cin, cout, generator=g) * sd
        layers.append({"kind": "conv", "k": k, "pad": pad, "cin": cin, "cout": cout,
                       "relu": 1 if i < len(specs) - 1 else 0, "w": w, "b": torch.zeros(cout)})
        cin = cout
    prior = {"kind": 0, "k": 8, "nfilt": 192,
             "w": torch.randn(8, 8, 3, 192, generator=g) * 0.01, "mean": torch.zeros(192)}
    norm = {"scale": [1.0 / (255.0 * s) for s in IMAGENET_STD],
            "shift": [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)], "perm": [0, 1, 2]}
    return layers, prior, norm, default_params()


def load_export(d):
    """Reads DIR/model.json + DIR/model.bin written by the dream bench (engine layout)."""
    with open(os.path.join(d, "model.json")) as f:
        meta = json.load(f)
    blob = np.fromfile(os.path.join(d, meta.get("bin", "model.bin")), dtype=np.float32)

    def take(off, shape):
        n = int(np.prod(shape))
        if off < 0 or off + n > blob.size:
            raise ValueError("export: tensor at %d (%d floats) outside model.bin" % (off, n))
        return torch.from_numpy(blob[off:off + n].reshape(shape).copy())

    layers = []
    for L in meta["layers"]:
        if L["kind"] == "pool":
            layers.append({"kind": "pool"})
            continue
        k, cin, cout = L["k"], L["cin"], L["cout"]
        layers.append({"kind": "conv", "k": k, "pad": L["pad"], "cin": cin, "cout": cout,
                       "relu": L["relu"], "w": take(L["w"], (k, k, cin, cout)), "b": take(L["b"], (cout,))})
    prior = None
    if meta.get("prior"):
        P = meta["prior"]
        prior = {"kind": P["kind"], "k": P["k"], "nfilt": P["nfilt"],
                 "w": take(P["w"], (P["k"], P["k"], 3, P["nfilt"])), "mean": take(P["mean"], (P["nfilt"],))}
    norm = {"scale": meta["in_scale"], "shift": meta["in_shift"], "perm": meta["in_perm"]}
    params = default_params()
    params.update(meta.get("params", {}))
    return layers, prior, norm, params


class DreamStep:
    def __init__(self, layers, prior, norm, params, device, dtype, channels_last):
        self.dev, self.dtype, self.cl = device, dtype, channels_last
        mf = torch.channels_last if channels_last else torch.contiguous_format
        self.layers = []
        for L in layers:
            if L["kind"] == "pool":
                self.layers.append(None)
                continue
            w = L["w"].permute(3, 2, 0, 1).to(device=device, dtype=dtype).contiguous(memory_format=mf)
            self.layers.append((w, L["b"].to(device=device, dtype=dtype), L["pad"], L["relu"]))
        self.prior = None
        if prior is not None and params["prior_strength"] != 0:
            pw = prior["w"].permute(3, 2, 0, 1).to(device=device, dtype=dtype).contiguous(memory_format=mf)
            self.prior = (prior["kind"], prior["k"], pw, prior["mean"].to(device=device, dtype=dtype))
        self.scale = torch.tensor(norm["scale"], device=device, dtype=dtype)
        self.shift = torch.tensor(norm["shift"], device=device, dtype=dtype)
        self.perm = list(norm["perm"])
        self.p = params

    def losses(self, x):
        """x: (1, H, W, 3) pixels. Returns (total, net, prior) tensors."""
        p = self.p
        h = (x[..., self.perm] * self.scale + self.shift).permute(0, 3, 1, 2)
        if self.cl:
            h = h.contiguous(memory_format=torch.channels_last)
        for L in self.layers:
            if L is None:
                h = Fn.max_pool2d(h, 2, 2)
            else:
                w, b, pad, relu = L
                h = Fn.conv2d(h, w, b, padding=pad)
                if relu:
                    h = Fn.relu(h)
        logits = h.float() if h.dtype == torch.bfloat16 else h
        net = p["mean_weight"] * logits.mean()
        for c in p["cls"][:1]:                        # one subject
            gh = logits.shape[2]
            if p.get("layout", "seed") == "seed" and gh // 2 > 0:
                # [A, A]: lower half [gh/2, gh) + upper half [0, gh/2), each its own mean
                net = net - logits[0, c, gh // 2:].mean() - logits[0, c, :gh // 2].mean()
            elif p.get("layout", "seed") == "seed":
                net = net - 2 * logits[0, c].mean()    # a 1-row grid: both halves are the whole grid
            else:
                net = net - logits[0, c].mean()
        prior = torch.zeros((), device=x.device, dtype=logits.dtype)
        if self.prior is not None:
            kind, k, pw, mean = self.prior
            pools = p["pools"]
            scale = p["prior_strength"] / len(pools)
            H, W = x.shape[1], x.shape[2]
            xc = x.permute(0, 3, 1, 2)
            for ps in pools:
                if H // ps < k or W // ps < k:
                    continue                          # no complete patch: contributes 0
                d = Fn.avg_pool2d(xc, ps) if ps > 1 else xc
                z = Fn.conv2d(d - 128.0, pw).float() - mean.float()[None, :, None, None]
                if kind == 0:
                    term = torch.log1p(z * z / p["prior_nu"]).mean()
                else:
                    term = (z[:, :-1] ** 2).mean()
                prior = prior + scale * term
        return net + prior, net, prior


def step_flops(layers, prior, params, H, W):
    """Multiply-adds x 2 of forward + input-gradient convs (+ prior fwd/bwd), as dream counts."""
    fl, h, w = 0.0, H, W
    for L in layers:
        if L["kind"] == "pool":
            h, w = h // 2, w // 2
            continue
        k, pad = L["k"], L["pad"]
        oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
        fl += 2.0 * 2 * oh * ow * k * k * L["cin"] * L["cout"]
        h, w = oh, ow
    if prior is not None and params["prior_strength"] != 0:
        k, F = prior["k"], prior["nfilt"]
        for ps in params["pools"]:
            hp, wp = H // ps, W // ps
            if hp >= k and wp >= k:
                fl += 2.0 * 2 * (hp - k + 1) * (wp - k + 1) * k * k * 3 * F
    return fl


def run_one(a, model, layers, prior, params, dev, dtype, prec, W, H):
    """Losses/gradient at the initial image, then timed steps. Returns the JSON dict."""
    if a.device == "cuda":
        tf32 = prec == "tf32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    image = a.image
    if not image and a.weights and os.path.exists(os.path.join(a.weights, "image_%dx%d.bin" % (W, H))):
        image = os.path.join(a.weights, "image_%dx%d.bin" % (W, H))
    if image:
        img = np.fromfile(image, dtype=np.float32)
        if img.size != H * W * 3:
            raise ValueError("%s holds %d floats, expected %d" % (image, img.size, H * W * 3))
        img = torch.from_numpy(img.reshape(1, H, W, 3))
    else:
        img = torch.rand(1, H, W, 3, generator=torch.Generator().manual_seed(a.seed + 1)) * 255.0
    x = img.to(device=dev, dtype=dtype).clone().requires_grad_(True)
    use_autocast = a.device == "cuda" and prec == "bf16"

    def loss_of(xx):
        with torch.autocast(device_type=a.device, dtype=torch.bfloat16, enabled=use_autocast):
            return model.losses(xx)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    total, net, pri = loss_of(x)
    total.backward()
    g0 = x.grad.detach().to(torch.float64).cpu().numpy().reshape(-1)
    out = {"impl": "torch", "device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu",
           "backend": "torch-" + a.device,
           "prec": "fp64" if dtype == torch.float64 else (prec if a.device == "cuda" else "fp32"),
           "dtype": a.dtype, "size": [W, H], "threads": torch.get_num_threads() if a.device == "cpu" else 0,
           "loss": float(total), "loss_net": float(net), "loss_prior": float(pri),
           "layout": params.get("layout", "seed"), "optimizer": params.get("optimizer", "seed")}
    if a.compare:
        gp = os.path.join(a.compare, "grad_%dx%d.bin" % (W, H))
        lp = os.path.join(a.compare, "loss_%dx%d.json" % (W, H))
        gd = np.fromfile(gp, dtype=np.float32).astype(np.float64)
        if gd.size != g0.size:
            raise ValueError("%s has %d floats, expected %d" % (gp, gd.size, g0.size))
        out["grad_rel_l2"] = float(np.linalg.norm(gd - g0) / max(np.linalg.norm(g0), 1e-30))
        with open(lp) as f:
            dl = json.load(f)
        out["dream_loss"] = dl["total"]
        out["loss_rel_diff"] = abs(dl["total"] - float(total)) / max(abs(float(total)), 1e-12)

    lr, b1, b2, eps = params["lr"], params["beta1"], params["beta2"], params["eps"]
    seed_opt = params.get("optimizer", "seed") == "seed"
    st = {"t": 0, "m": torch.zeros_like(x), "v": torch.zeros_like(x)}

    def step():
        x.grad = None
        tot, _, _ = loss_of(x)
        tot.backward()
        st["t"] += 1
        t, g, m, v = st["t"], x.grad, st["m"], st["v"]
        with torch.no_grad():
            if seed_opt:      # the 2015 reference: betas weight the new gradient
                m.mul_(1 - b1).add_(g, alpha=b1)
                v.mul_(1 - b2).addcmul_(g, g, value=b2)
                x.sub_(lr * (m / (1 - (1 - b1) ** t)) / (torch.sqrt(v / (1 - (1 - b2) ** t)) + eps))
            else:             # textbook Adam, eps on sqrt(v) as dream's adam op
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                x.sub_(lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (torch.sqrt(v) + eps))
            x.clamp_(0.0, 255.0)

    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    ms = (time.perf_counter() - t0) * 1000.0 / a.steps
    fl = step_flops(layers, prior, params, H, W)
    out.update({"ms_per_step": round(ms, 3), "flops_per_step": fl, "tflops": round(fl / (ms * 1e-3) / 1e12, 3),
                "peak_bytes": int(torch.cuda.max_memory_allocated()) if a.device == "cuda" else 0,
                "steps": a.steps})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="224x224", help="WxH[,WxH...] (default 224x224)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--prec", default="fp32", help="fp32 | tf32 | bf16 [,...] (cuda only)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--weights", help="dream export dir (model.json, model.bin; image_WxH.bin used if present)")
    ap.add_argument("--image", help="raw float32 (H, W, 3) pixels (one size); default: seeded random")
    ap.add_argument("--no-prior", action="store_true")
    ap.add_argument("--layout", choices=["seed", "single"], help="one subject's layout (default: the export's, else seed)")
    ap.add_argument("--optimizer", choices=["seed", "adam"], help="pixel optimiser (default: the export's, else seed)")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--compare", help="dream export dir with grad_WxH.bin / loss_WxH.json")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0:
        ap.error("--steps >= 1, --warmup >= 0")
    try:
        sizes = [parse_size(s) for s in a.size.split(",")]
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    precs = a.prec.split(",")
    if any(p not in ("fp32", "tf32", "bf16") for p in precs):
        ap.error("--prec must be fp32, tf32 or bf16 (comma list)")
    if a.device == "cpu":
        precs = precs[:1]
    if a.image and len(sizes) > 1:
        ap.error("--image takes one --size")
    if a.device == "cuda" and not torch.cuda.is_available():
        print("torch_step: CUDA not available to PyTorch", file=sys.stderr)
        return 2
    dev = torch.device(a.device)
    dtype = torch.float64 if a.dtype == "float64" else torch.float32
    if a.device == "cpu" and a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True

    layers, prior, norm, params = load_export(a.weights) if a.weights else random_model(a.seed)
    if a.no_prior:
        prior = None
    if a.layout:
        params["layout"] = a.layout
    if a.optimizer:
        params["optimizer"] = a.optimizer
    cl = a.device == "cuda" and not a.no_channels_last
    model = DreamStep(layers, prior, norm, params, dev, dtype, cl)
    rc = 0
    for prec in precs:
        for W, H in sizes:
            try:
                out = run_one(a, model, layers, prior, params, dev, dtype, prec, W, H)
            except (ValueError, OSError, RuntimeError) as e:
                print("torch_step: %dx%d %s: %s" % (W, H, prec, e), file=sys.stderr)
                rc = 1
                continue
            print(json.dumps(out), flush=True)
            if a.device == "cuda":
                torch.cuda.empty_cache()
    return rc


if __name__ == "__main__":
    sys.exit(main())
