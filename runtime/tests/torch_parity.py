#!/usr/bin/python3
"""torch_parity.py: PyTorch parity of libmtlrt's float kernels.

Usage: /usr/bin/python3 torch_parity.py PATH/TO/mtlrt_parity_driver

For each case it draws random float32 inputs, writes them as raw files into a temporary
directory, runs the C driver (which runs our _f32 forward and backward kernels), and
compares every output with torch.nn.functional / torch.optim evaluated in float64 on the
same float32 inputs (gradients by autograd of sum(y * dy)). The error of an output is
max|ours - torch| / max|torch|; every one must stay below 1e-5. Prints one line per
output and the worst error; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

TOL = 1e-5
driver = sys.argv[1]
gen = torch.Generator().manual_seed(1234)
failures = 0
worst = 0.0


def rand(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).float().double()


def run(case, args, inputs, outputs):
    """Writes inputs, runs the driver, returns {name: float64 tensor} of outputs."""
    with tempfile.TemporaryDirectory() as d:
        for name, t in inputs.items():
            arr = t.detach().numpy().astype(np.int32 if t.dtype in (torch.int32, torch.int64) else np.float32)
            arr.tofile(os.path.join(d, name + ".bin"))
        cmd = [driver, d, case] + [repr(a) if isinstance(a, float) else str(int(a)) for a in args]
        subprocess.run(cmd, check=True)
        return {n: torch.from_numpy(np.fromfile(os.path.join(d, n + ".bin"), dtype=np.float32)
                                    .astype(np.float64)) for n in outputs}


def compare(label, ours, ref):
    global failures, worst
    ref = ref.detach().reshape(-1).double()
    ours = ours.reshape(-1)
    scale = ref.abs().max().item() if ref.numel() else 0.0
    err = (ours - ref).abs().max().item() / (scale if scale > 0 else 1.0)
    bad = not (err <= TOL)
    failures += bad
    worst = max(worst, err) if err == err else float("inf")
    print(f"{label:46s} rel err {err:.2e}{'  FAIL' if bad else ''}")


def grads(y, dy, *leaves):
    return torch.autograd.grad((y * dy).sum(), leaves)


def leaf(t):
    return t.clone().requires_grad_(True)


def check_dense():
    x, w, b = leaf(rand(6, 17)), leaf(rand(9, 17)), leaf(rand(9))
    dy = rand(6, 9)
    out = run("dense", [6, 17, 9], {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
    y = F.linear(x, w, b)
    for name, r in zip(["y", "dx", "dw", "db"], (y,) + grads(y, dy, x, w, b)):
        compare(f"dense {name}", out[name], r)


def check_activations():
    fns = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "sigmoid": torch.sigmoid,
           "tanh": torch.tanh, "gelu": F.gelu}
    for kind, fn in fns.items():
        x = leaf(rand(300, lo=-5, hi=5))
        dy = rand(300)
        out = run(kind, [300, 0.2], {"x": x, "dy": dy}, ["y", "dx"])
        y = fn(x)
        compare(f"{kind} y", out["y"], y)
        compare(f"{kind} dx", out["dx"], grads(y, dy, x)[0])


def check_nonfinite_activations():
    """NaN and the infinities go through relu and leaky_relu, and back, as in PyTorch."""
    global failures
    special = [float("nan"), float("inf"), -float("inf"), 1.5, -1.5, 0.0]
    for kind, fn in (("relu", F.relu), ("leaky_relu", lambda t: F.leaky_relu(t, 0.2))):
        x = leaf(torch.tensor(special))  # float32, as the driver computes
        dy = torch.arange(1.0, 7.0)
        out = run(kind, [6, 0.2], {"x": x, "dy": dy}, ["y", "dx"])
        y = fn(x)
        for name, ours, ref in (("y", out["y"], y), ("dx", out["dx"], grads(y, dy, x)[0])):
            ours, ref = ours.reshape(-1).float(), ref.detach()
            same = torch.equal(ours.isnan(), ref.isnan()) and torch.equal(ours.nan_to_num(), ref.nan_to_num())
            failures += not same
            print(f"{kind + ' ' + name + ' (NaN, inf)':46s} {'same' if same else 'FAIL: ' + str(ours.tolist())}")


def check_softmax():
    x = leaf(rand(4, 7, 5, lo=-4, hi=4))
    dy = rand(4, 7, 5)
    out = run("softmax", [4, 7, 5], {"x": x, "dy": dy}, ["y", "dx"])
    y = F.softmax(x, dim=1)
    compare("softmax(dim=1) y", out["y"], y)
    compare("softmax(dim=1) dx", out["dx"], grads(y, dy, x)[0])


def masked(fn, x, t):
    keep = ~torch.isnan(t)
    return fn(x[keep], t[keep])


def check_losses():
    for label, shape, ignore, smooth in [("cross_entropy per sample", (8, 5), -100, 0.0),
                                         ("cross_entropy smoothing 0.1", (8, 5), -100, 0.1),
                                         ("cross_entropy pixels ignore=255 ls=0.2", (3, 4, 5, 6), 255, 0.2),
                                         ("cross_entropy logits +-300", (8, 6), -100, 0.05)]:
        big = 300 if "300" in label else 3
        x = leaf(rand(*shape, lo=-big, hi=big))
        t = torch.randint(0, shape[1], (shape[0],) + shape[2:], generator=gen, dtype=torch.int64)
        if ignore >= 0:
            t[torch.rand(t.shape, generator=gen) < 0.3] = ignore
        inner = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        out = run("cross_entropy", [shape[0], shape[1], inner, ignore, smooth],
                  {"x": x, "t": t.int()}, ["loss", "grad", "count"])
        loss = F.cross_entropy(x, t, ignore_index=ignore, label_smoothing=smooth)
        compare(f"{label} loss", out["loss"], loss)
        compare(f"{label} grad", out["grad"], torch.autograd.grad(loss, x)[0])
        compare(f"{label} count", out["count"], (t != ignore).sum().double())

    n = 200
    for kind, fn, args in [("bce", F.binary_cross_entropy_with_logits, []),
                           ("mse", F.mse_loss, []), ("l1", F.l1_loss, []),
                           ("huber", lambda a, b: F.huber_loss(a, b, delta=0.7), [0.7])]:
        x = leaf(rand(n, lo=-100 if kind == "bce" else -3, hi=100 if kind == "bce" else 3))
        t = (rand(n) > 0).double() if kind == "bce" else rand(n, lo=-3, hi=3)
        t[torch.rand(n, generator=gen) < 0.2] = float("nan")
        out = run(kind, [n] + args, {"x": x, "t": t}, ["loss", "grad"])
        loss = masked(fn, x, t)
        compare(f"{kind} (NaN = missing) loss", out["loss"], loss)
        compare(f"{kind} (NaN = missing) grad", out["grad"], torch.autograd.grad(loss, x)[0])


def check_optimizers():
    n, steps = 50, 5
    cases = [("sgd", lambda p: torch.optim.SGD(p, lr=0.1), [0.1, 0.0, 0.0, 0, 0.0]),
             ("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
              [0.1, 0.9, 0.0, 0, 0.01]),
             ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1),
              [0.05, 0.8, 0.0, 1, 0.1]),
             ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
              [0.05, 0.8, 0.3, 0, 0.0]),
             ("adam", lambda p: torch.optim.Adam(p, lr=1e-2), [1e-2, 0.9, 0.999, 1e-8, 0.0]),
             ("adam", lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
              [1e-2, 0.8, 0.99, 1e-6, 0.1]),
             ("adamw", lambda p: torch.optim.AdamW(p, lr=1e-2), [1e-2, 0.9, 0.999, 1e-8, 0.01]),
             ("adamw", lambda p: torch.optim.AdamW(p, lr=3e-2, weight_decay=0.5), [3e-2, 0.9, 0.999, 1e-8, 0.5])]
    for kind, make, args in cases:
        p0, g = rand(n), rand(steps, n)
        out = run(kind, [n, steps] + args, {"p": p0, "g": g}, ["p"])
        p = p0.clone().requires_grad_(True)
        opt = make([p])
        for k in range(steps):
            p.grad = g[k].clone()
            opt.step()
        compare(f"{kind}{args} x{steps}", out["p"], p)

    for max_norm in (0.5, 100.0):
        g = rand(100)
        out = run("clip", [100, max_norm], {"g": g}, ["g", "norm"])
        p = torch.zeros(100, dtype=torch.float64, requires_grad=True)
        p.grad = g.clone()
        norm = torch.nn.utils.clip_grad_norm_([p], max_norm)
        compare(f"clip_grad_norm_({max_norm}) norm", out["norm"], norm)
        compare(f"clip_grad_norm_({max_norm}) grads", out["g"], p.grad)


def check_conv2d():
    # n ci h w co kh kw sh sw pt pl pb pr dh dw groups same
    cases = [(2, 3, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0),
             (2, 4, 11, 10, 6, 3, 2, 2, 3, 0, 0, 0, 0, 1, 1, 2, 1),
             (1, 6, 12, 11, 6, 3, 3, 2, 1, 2, 0, 1, 3, 2, 1, 3, 0),
             (3, 2, 5, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0),
             # Winograd F(2x2, 3x3): >= 16 channels; a partial last block; odd sizes and
             # uneven padding; no padding
             (5, 16, 9, 8, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0),
             (4, 17, 6, 7, 16, 3, 3, 1, 1, 2, 0, 1, 2, 1, 1, 1, 0),
             (2, 16, 4, 5, 24, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0)]
    for c in cases:
        n, ci, h, w_, co, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, same = c
        if same:
            def split(size, k, s, d):
                out = -(-size // s)
                tot = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
                return tot // 2, tot - tot // 2
            pt, pb = split(h, kh, sh, dh)
            pl, pr = split(w_, kw, sw, dw)
        x, w, b = leaf(rand(n, ci, h, w_)), leaf(rand(co, ci // groups, kh, kw)), leaf(rand(co))
        y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride=(sh, sw), dilation=(dh, dw), groups=groups)
        dy = rand(*y.shape)
        out = run("conv2d", list(c), {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
        label = f"conv2d k{kh}x{kw} s{sh},{sw} d{dh},{dw} g{groups}{' same' if same else ''}"
        for name, r in zip(["y", "dx", "dw", "db"], (y,) + grads(y, dy, x, w, b)):
            compare(f"{label} {name}", out[name], r)


def check_conv_transpose2d():
    # n ci h w co kh kw stride pad out_pad dilation groups
    for c in [(2, 3, 4, 5, 2, 3, 3, 2, 1, 1, 1, 1), (1, 4, 5, 4, 6, 2, 3, 1, 0, 0, 2, 2),
              (2, 2, 3, 3, 3, 4, 4, 2, 1, 0, 1, 1), (1, 2, 3, 4, 2, 3, 3, 3, 1, 2, 1, 1),
              (3, 16, 5, 6, 18, 3, 3, 1, 1, 0, 1, 1)]:  # Winograd
        n, ci, h, w_, co, kh, kw, st, pad, op, dil, groups = c
        x, w, b = leaf(rand(n, ci, h, w_)), leaf(rand(ci, co // groups, kh, kw)), leaf(rand(co))
        y = F.conv_transpose2d(x, w, b, stride=st, padding=pad, output_padding=op, groups=groups, dilation=dil)
        dy = rand(*y.shape)
        out = run("conv_transpose2d", list(c), {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
        label = f"conv_transpose2d k{kh}x{kw} s{st} p{pad} op{op} d{dil} g{groups}"
        for name, r in zip(["y", "dx", "dw", "db"], (y,) + grads(y, dy, x, w, b)):
            compare(f"{label} {name}", out[name], r)


def check_pools():
    # n c h w kh kw sh sw ph pw
    for kind in ("maxpool2d", "avgpool2d"):
        for c in [(2, 3, 8, 8, 2, 2, 2, 2, 0, 0), (2, 2, 9, 7, 3, 3, 2, 2, 1, 1), (1, 2, 7, 9, 3, 2, 1, 2, 1, 1)]:
            n, ch, h, w_, kh, kw, sh, sw, ph, pw = c
            x = leaf(rand(n, ch, h, w_, lo=-10, hi=-1))  # all negative: padding must not win
            if kind == "maxpool2d":
                y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
            else:
                y = F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), count_include_pad=True)
            dy = rand(*y.shape)
            out = run(kind, list(c), {"x": x, "dy": dy}, ["y", "dx"])
            compare(f"{kind} {c[4:]} y", out["y"], y)
            compare(f"{kind} {c[4:]} dx", out["dx"], grads(y, dy, x)[0])
    # ties: small integers, so that argmax (dx) follows the scan order, in the 2x2 fast path
    # (stride 2, no padding) and in the general loop
    for c in [(2, 3, 8, 8, 2, 2, 2, 2, 0, 0), (2, 3, 8, 7, 2, 2, 1, 2, 0, 0)]:
        n, ch, h, w_, kh, kw, sh, sw, ph, pw = c
        x = leaf(torch.randint(-2, 3, (n, ch, h, w_), generator=gen).double())
        y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
        dy = rand(*y.shape)
        out = run("maxpool2d", list(c), {"x": x, "dy": dy}, ["y", "dx"])
        compare(f"maxpool2d ties {c[4:]} y", out["y"], y)
        compare(f"maxpool2d ties {c[4:]} dx", out["dx"], grads(y, dy, x)[0])
    x = leaf(rand(2, 3, 5, 6))
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    dy = rand(2, 3)
    out = run("global_avgpool", [6, 30], {"x": x, "dy": dy}, ["y", "dx"])
    compare("global_avgpool y", out["y"], y)
    compare("global_avgpool dx", out["dx"], grads(y, dy, x)[0])


def check_upsample():
    for mode in ("nearest", "bilinear"):
        for sh, sw in ((2, 2), (3, 2), (1, 4)):
            x = leaf(rand(2, 3, 5, 4))
            kw = {} if mode == "nearest" else {"align_corners": False}
            y = F.interpolate(x, scale_factor=(sh, sw), mode=mode, **kw)
            dy = rand(*y.shape)
            out = run(mode, [6, 5, 4, sh, sw], {"x": x, "dy": dy}, ["y", "dx"])
            compare(f"upsample {mode} ({sh},{sw}) y", out["y"], y)
            compare(f"upsample {mode} ({sh},{sw}) dx", out["dx"], grads(y, dy, x)[0])


def check_norms():
    for shape in ((4, 3, 5, 6), (16, 7)):
        n, c = shape[:2]
        hw = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        for training in (1, 0):
            x, w, b = leaf(rand(*shape, lo=-2, hi=3)), leaf(rand(c, lo=0.5, hi=1.5)), leaf(rand(c))
            rm, rv = rand(c), rand(c, lo=0.5, hi=2)
            dy = rand(*shape)
            out = run("batchnorm", [n, c, hw, training, 0.1, 1e-5],
                      {"x": x, "w": w, "b": b, "rm": rm, "rv": rv, "dy": dy},
                      ["y", "rm", "rv"] + (["dx", "dw", "db"] if training else []))
            rm2, rv2 = rm.clone(), rv.clone()
            y = F.batch_norm(x, rm2, rv2, w, b, training=bool(training), momentum=0.1, eps=1e-5)
            label = f"batchnorm{2 if len(shape) > 2 else 1}d {'train' if training else 'eval'}"
            compare(f"{label} y", out["y"], y)
            compare(f"{label} running_mean", out["rm"], rm2)
            compare(f"{label} running_var", out["rv"], rv2)
            if training:
                for name, r in zip(["dx", "dw", "db"], grads(y, dy, x, w, b)):
                    compare(f"{label} {name}", out[name], r)
    x, w, b = leaf(rand(6, 13, lo=-2, hi=3)), leaf(rand(13, lo=0.5, hi=1.5)), leaf(rand(13))
    dy = rand(6, 13)
    out = run("layernorm", [6, 13, 1e-5], {"x": x, "w": w, "b": b, "dy": dy}, ["y", "dx", "dw", "db"])
    y = F.layer_norm(x, (13,), w, b, eps=1e-5)
    for name, r in zip(["y", "dx", "dw", "db"], (y,) + grads(y, dy, x, w, b)):
        compare(f"layernorm {name}", out[name], r)


for check in (check_dense, check_activations, check_nonfinite_activations, check_softmax, check_losses, check_optimizers,
              check_conv2d, check_pools, check_norms, check_upsample, check_conv_transpose2d):
    check()
print(f"torch {torch.__version__}: worst relative error {worst:.2e}; {failures} failure(s)")
sys.exit(1 if failures else 0)
