#!/usr/bin/python3
"""parity.py: PyTorch parity of the code mtlc generates.

Usage: /usr/bin/python3 parity.py DRIVER MODEL.mtl [--steps 5] [--seed S] [--threads N] [--keep DIR]

DRIVER is tests/parity/driver.c linked with MODEL.mtl's generated code. This script reads
MODEL.mtl with its own small reader of the language (spec §3) and builds the PyTorch
equivalent that spec §4-§8 describe, independently of mtlc: an nn.Sequential per chain
under the §5 names, the losses (NaN and ignore values as missing labels), the objective,
the optimizer (one group over every parameter), the schedule (a LambdaLR stepped after each
step, each step counting as an epoch) and clip_norm. Dropout masks come from libmtlrt's
counter-based generator, reimplemented here.

Both sides start from the same state: PyTorch's initialisation, with every norm parameter,
running statistic, counter and log-variance moved off libmtlrt's constants, saved as
init.safetensors and loaded strictly by the generated code. They train STEPS steps on the
same random batches, of the model's batch (at most 8) and of fewer samples in alternate
steps unless the model says otherwise in `// parity:` comments (see directives()). After
every step:
  - every parameter, running statistic and counter, the objective and each task's loss
    agree: |ours - torch| <= 1e-5 * max(1, |torch|), elementwise;
  - the gradients of the C step agree with the exact ones (torch in float64 from the same
    weights) as closely as torch's float32 gradients do (see check_gradients()), and the
    torch step then uses them, so that the step itself is compared from equal gradients;
  - the checkpoint written by the generated code loads with load_state_dict(strict=True).
At the end the evaluation-mode outputs on the last batch agree within the same bound, and
so do eval_batch's loss sums over the labelled elements (whose counts must be equal).
Prints one line per step with the worst error; exits 1 on any failure.
"""
import argparse
import copy
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runtime", "tests"))
import st  # noqa: E402

TOL = 1e-5

# ---- reading .mtl (spec §2-§3) ----

TOKEN = re.compile(r"\s+|//[^\n]*|/\*.*?\*/|(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)"
                   r"|(?P<id>[A-Za-z_]\w*)|(?P<p>->|[{}()\[\],;:=*+.\-])", re.S)


def tokens(text):
    out, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise SyntaxError(f"cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("num"):
            s = m.group("num")
            out.append(("num", float(s) if re.search(r"[.eE]", s) else int(s)))
        elif m.group("id"):
            out.append(("id", m.group("id")))
        elif m.group("p"):
            out.append(("p", m.group("p")))
    return out


class Reader:
    def __init__(self, text):
        self.t, self.i = tokens(text), 0

    def peek(self, k=0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def take(self, value=None):
        tok = self.t[self.i]
        if value is not None and tok[1] != value:
            raise SyntaxError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok[1]

    def value(self):
        if self.peek()[1] == "-":
            self.take()
            return -self.take()
        if self.peek()[1] == "[":
            self.take()
            items = [self.value()]
            while self.peek()[1] == ",":
                self.take()
                items.append(self.value())
            self.take("]")
            return items
        return self.take()

    def call(self):
        """name or name(args): (name, [positional], {named})."""
        name, pos, named = self.take(), [], {}
        if self.peek()[1] == "(":
            self.take()
            while self.peek()[1] != ")":
                if self.peek()[0] == "id" and self.peek(1)[1] == "=":
                    key = self.take()
                    self.take("=")
                    named[key] = self.value()
                else:
                    pos.append(self.value())
                if self.peek()[1] == ",":
                    self.take()
            self.take(")")
        return name, pos, named

    def chain(self):
        src = self.call()
        layers = []
        while self.peek()[1] == "->":
            self.take()
            layers.append(self.call())
        return src, layers

    def shape(self):
        dims = []
        if self.peek()[1] == "[":
            dims = self.value()
        return dims

    def model(self):
        m = {"inputs": [], "chains": [], "tasks": [], "objective": None, "optimizer": ("sgd", [], {"lr": 0.01}),
             "schedule": ("constant", [], {}), "batch": 32, "seed": 0, "clip_norm": 0}
        self.take("model")
        m["name"] = self.take()
        self.take("{")
        while self.peek()[1] != "}":
            kw = self.take()
            if kw == "input":
                name = self.take()
                self.take(":")
                self.take("f32")
                m["inputs"].append((name, self.shape()))
            elif kw == "shared":
                name = self.take()
                self.take("=")
                m["chains"].append((name, None, self.chain()))
            elif kw == "task":
                task = {"name": self.take(), "targets": {}}
                self.take("{")
                while self.peek()[1] != "}":
                    k = self.take()
                    if k == "target":
                        tname = self.take()
                        self.take(":")
                        kind = self.take()
                        t = {"kind": kind, "ignore": -100}
                        if kind == "class":
                            self.take("(")
                            t["classes"] = self.take()
                            self.take(")")
                        t["shape"] = self.shape()
                        if kind == "class" and self.peek()[1] == "(":
                            self.take("(")
                            self.take("ignore")
                            self.take("=")
                            t["ignore"] = self.value()
                            self.take(")")
                        task["targets"][tname] = t
                    elif k == "loss":
                        self.take("=")
                        task["loss"] = self.call()
                    elif k == "metrics":
                        while self.peek()[1] != ";":
                            self.take()
                    else:
                        self.take("=")
                        m["chains"].append((k, task["name"], self.chain()))
                    self.take(";")
                self.take("}")
                m["tasks"].append(task)
                continue
            elif kw == "objective":
                self.take("=")
                if self.peek(1)[1] == "(":
                    m["objective"] = self.call()
                else:
                    terms = []
                    while True:
                        w = 1.0
                        if self.peek()[0] == "num":
                            w = float(self.take())
                            self.take("*")
                        terms.append((self.take(), w))
                        if self.peek()[1] != "+":
                            break
                        self.take()
                    m["objective"] = ("sum", terms, {})
            elif kw in ("optimizer", "schedule"):
                self.take("=")
                m[kw] = self.call()
            elif kw in ("batch", "seed", "clip_norm"):
                self.take("=")
                m[kw] = self.value()
            self.take(";")
        return m


# ---- the layers of spec §4 ----

def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def args(spec, pos, named, defaults):
    """Binds positional then named arguments against the names in `spec`."""
    out = dict(defaults)
    out.update(zip(spec, pos))
    out.update(named)
    return out


def mtlrt_uniform(seed, counters):
    """libmtlrt's counter-based generator (runtime/kernels/shape.c), in numpy uint64."""
    golden = np.uint64(0x9E3779B97F4A7C15)

    def mix(z):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    with np.errstate(over="ignore"):
        base = mix(np.uint64(seed) + golden)
        h = mix(base + (counters.astype(np.uint64) + np.uint64(1)) * golden)
    return (h >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


class Dropout(nn.Module):
    """Inverted dropout whose mask is libmtlrt's: element i of this node in step s is kept
    when mtlrt_uniform(seed + 1, s * stride + base + i) >= p."""
    clock = {"seed": 0, "step": 0, "stride": 1}

    def __init__(self, p, base):
        super().__init__()
        self.p, self.base = p, base

    def forward(self, x):
        if not self.training:
            return x
        c = Dropout.clock
        idx = np.arange(x.numel(), dtype=np.uint64) + np.uint64(c["step"] * c["stride"] + self.base)
        keep = torch.from_numpy(mtlrt_uniform(c["seed"] + 1, idx) >= np.float32(self.p)).reshape(x.shape)
        return x * keep / (1 - self.p)


class SameConv2d(nn.Conv2d):
    """conv2d(pad = same): TensorFlow's padding (the smaller half top/left), then no padding."""

    def forward(self, x):
        pads = []
        for size, k, s, d in zip(x.shape[2:], self.kernel_size, self.stride, self.dilation):
            out = -(-size // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        return super().forward(F.pad(x, (pads[1][0], pads[1][1], pads[0][0], pads[0][1])))


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def make_layer(call, x, state):
    """The module of one layer call, given an example input x [2, ...]."""
    name, pos, named = call
    a = lambda spec, **defaults: args(spec, pos, named, defaults)  # noqa: E731
    if name == "dense":
        o = a(["units", "bias"], bias="true")
        return nn.Linear(x.shape[-1], o["units"], bias=o["bias"] == "true")
    if name == "conv2d":
        o = a(["channels", "kernel", "stride", "pad", "dilation", "groups", "bias"], kernel=3, stride=1, pad=0,
              dilation=1, groups=1, bias="true")
        kw = dict(kernel_size=pair(o["kernel"]), stride=pair(o["stride"]), dilation=pair(o["dilation"]),
                  groups=o["groups"], bias=o["bias"] == "true")
        if o["pad"] == "same":
            return SameConv2d(x.shape[1], o["channels"], padding=0, **kw)
        return nn.Conv2d(x.shape[1], o["channels"], padding=pair(o["pad"]), **kw)
    if name == "conv_transpose2d":
        o = a(["channels", "kernel", "stride", "pad", "output_pad", "bias"], stride=1, pad=0, output_pad=0,
              bias="true")
        return nn.ConvTranspose2d(x.shape[1], o["channels"], pair(o["kernel"]), stride=pair(o["stride"]),
                                  padding=pair(o["pad"]), output_padding=pair(o["output_pad"]),
                                  bias=o["bias"] == "true")
    if name in ("maxpool2d", "avgpool2d"):
        o = a(["kernel", "stride", "pad"], pad=0)
        k = pair(o["kernel"])
        stride = pair(o.get("stride", o["kernel"]))
        if name == "maxpool2d":
            return nn.MaxPool2d(k, stride=stride, padding=pair(o["pad"]))
        return nn.AvgPool2d(k, stride=stride, padding=pair(o["pad"]), count_include_pad=True)
    if name == "global_avgpool":
        return Lambda(lambda t: t.mean(dim=(2, 3)))
    if name == "upsample":
        o = a(["scale", "mode"], mode="nearest")
        sh, sw = pair(o["scale"])
        if o["mode"] == "bilinear":
            return nn.Upsample(scale_factor=(float(sh), float(sw)), mode="bilinear", align_corners=False)
        return nn.Upsample(scale_factor=(float(sh), float(sw)), mode="nearest")
    if name == "flatten":
        return nn.Flatten()
    if name == "reshape":
        dims = list(pos)
        return Lambda(lambda t: t.reshape(t.shape[0], *dims))
    if name in ("relu", "sigmoid", "tanh"):
        return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[name]()
    if name == "gelu":
        return nn.GELU()
    if name == "leaky_relu":
        return nn.LeakyReLU(a(["slope"], slope=0.01)["slope"])
    if name == "softmax":
        axis = a(["axis"], axis=0)["axis"]
        return nn.Softmax(dim=axis + 1 if axis >= 0 else axis)
    if name == "dropout":
        p = a(["p"])["p"]
        layer = Dropout(p, state["dropout"])
        state["dropout"] += state["batch"] * x[0].numel()
        return layer
    if name == "batchnorm":
        o = a(["eps", "momentum"], eps=1e-5, momentum=0.1)
        cls = nn.BatchNorm2d if x.dim() == 4 else nn.BatchNorm1d
        return cls(x.shape[1], eps=o["eps"], momentum=o["momentum"])
    if name == "layernorm":
        return nn.LayerNorm(x.shape[-1], eps=a(["eps"], eps=1e-5)["eps"])
    raise ValueError(f"no PyTorch equivalent for layer {name!r} in this harness")


class Model(nn.Module):
    """The model of a .mtl file: an nn.Sequential per shared block and per task-local chain,
    under the names of spec §5, evaluated in file order."""

    def __init__(self, m):
        super().__init__()
        self.spec = m
        state = {"dropout": 0, "batch": m["batch"]}
        example = {name: torch.zeros(2, *shape) for name, shape in m["inputs"]}
        self.plan = []
        for name, task, (src, layers) in m["chains"]:
            merge, ins, axis = self.source(src)
            x = self.merge(merge, [example[self.scoped(example, task, i)] for i in ins], axis)
            modules = []
            for call in layers:
                layer = make_layer(call, x, state)
                modules.append(layer)
                layer.eval()
                with torch.no_grad():
                    x = layer(x)
            seq = nn.Sequential(*modules)
            # Straight into _modules: add_module() refuses names of Module attributes, and a
            # block or task may well be called `half`, `train` or `keys`.
            if task is None:
                self._modules[name] = seq
            else:
                self._modules.setdefault(task, nn.ModuleDict())._modules[name] = seq
            key = name if task is None else f"{task}.{name}"
            example[key] = x
            self.plan.append((key, task, merge, ins, axis, seq))
        Dropout.clock["stride"] = max(state["dropout"], 1)
        obj = m["objective"]
        if obj and obj[0] == "uncertainty":
            self.objective = nn.Module()
            self.objective.log_var = nn.Parameter(torch.zeros(len(m["tasks"])))
        if obj and obj[0] == "gradnorm":
            self.objective = nn.Module()
            self.objective.weight = nn.Parameter(torch.ones(len(m["tasks"])))

    @staticmethod
    def scoped(values, task, name):
        """A task's own node of that name, else the model-level one (spec §3 scopes)."""
        return f"{task}.{name}" if task and f"{task}.{name}" in values else name

    @staticmethod
    def source(src):
        name, pos, named = src
        if name in ("concat", "add") and pos:
            return name, pos, named.get("axis", 0)
        return None, [name], 0

    @staticmethod
    def merge(kind, xs, axis):
        if kind == "concat":
            return torch.cat(xs, dim=axis + 1 if axis >= 0 else axis)
        if kind == "add":
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return out
        return xs[0]

    def forward(self, inputs, cut=None):
        """The task outputs. With a dict `cut`, the heads read every shared block through a
        leaf of its own (cut[name] = (value, leaf)), so that a task's gradient of the leaves is
        its head's alone and the trunk can be run backward from a chosen gradient."""
        values = dict(inputs)

        def read(task, name):
            key = self.scoped(values, task, name)
            if cut is None or key in inputs or "." in key:
                return values[key]
            if key not in cut:
                cut[key] = (values[key], values[key].detach().requires_grad_())
            return cut[key][1]

        for key, task, kind, ins, axis, seq in self.plan:
            xs = [values[self.scoped(values, task, i)] if task is None else read(task, i) for i in ins]
            values[key] = seq(self.merge(kind, xs, axis))
        return [read(task["name"], task["loss"][1][0]) for task in self.spec["tasks"]]


# ---- losses, objective, optimizer (spec §6-§8) ----

def task_loss(task, out, target):
    """The task's loss over its labelled elements, or None when the batch has none (the
    task's whole term is then left out of the objective, spec §6)."""
    name, pos, named = task["loss"]
    t = task["targets"][pos[1]]
    if name == "cross_entropy":
        if not (target != t["ignore"]).any():
            return None
        ls = float(args(["output", "target", "label_smoothing"], pos, named, {"label_smoothing": 0})["label_smoothing"])
        return F.cross_entropy(out, target.long(), ignore_index=t["ignore"], label_smoothing=ls)
    labelled = ~torch.isnan(target)  # NaN marks a missing f32 or binary label
    if not labelled.any():
        return None
    out, target = out[labelled], target[labelled]
    if name == "bce":
        return F.binary_cross_entropy_with_logits(out, target)
    if name == "mse":
        return F.mse_loss(out, target)
    if name == "l1":
        return F.l1_loss(out, target)
    if name == "huber":
        delta = float(args(["output", "target", "delta"], pos, named, {"delta": 1})["delta"])
        return F.huber_loss(out, target, delta=delta)
    raise ValueError(name)


def softmax(z, scale=1.0):
    e = np.exp(z - z.max())
    return scale * e / e.sum()


class Weighting:
    """The task weights of the loss-weighting strategies (spec §7) step by step, written from
    the papers with LibMTL's choices: dwa (Liu et al. 2019) from the last two epochs' mean
    losses, every step of this test being an epoch as the driver says; rlw (Lin et al. 2022)
    from fresh normal draws, libmtlrt's (mtlrt_normal with the seed + 2) so that both sides
    draw the same numbers."""

    GRADIENT = {"pcgrad": "params", "imtl": "params", "cagrad": "params", "nash_mtl": "params",
                "mgda": "rep", "gradnorm": "layer"}  # what the strategy combines

    def __init__(self, m, seed):
        self.obj, self.tasks, self.seed = m["objective"], len(m["tasks"]), seed
        self.name = self.obj[0] if self.obj else "sum"
        self.gradient = self.GRADIENT.get(self.name)
        self.step, self.ended = 0, 0
        self.last = self.before = np.zeros(self.tasks)
        self.prev = np.zeros(self.tasks)  # nash_mtl's last solution, as the model keeps it (float32)
        self.init = np.zeros(self.tasks)  # gradnorm's first loss of each task

    def weights(self):
        """This step's weights, or None for an objective with no weights of its own."""
        if self.name == "dwa":
            temperature = float(self.obj[2].get("temperature", 2))
            if self.ended < 2:
                return np.ones(self.tasks)
            return softmax(self.last / self.before / temperature, self.tasks)
        if self.gradient:
            return np.zeros(self.tasks)  # filled in by strategy_backward()
        if self.name == "rlw":
            c = np.arange(self.step * self.tasks, (self.step + 1) * self.tasks, dtype=np.uint64)
            u1 = mtlrt_uniform(self.seed + 2, 2 * c).astype(np.float64)
            u2 = mtlrt_uniform(self.seed + 2, 2 * c + np.uint64(1)).astype(np.float64)
            return softmax(np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2))
        return None

    def alpha(self, gram, labelled, keep):
        """A gradient strategy's coefficients from the float64 Gram matrix of the per-task
        gradients, over the labelled tasks (0 for the others), as runtime/kernels/solvers.c;
        `keep`: this step's state is the one to carry on (the float32 run's, not the exact)."""
        idx = [t for t in range(self.tasks)
               if labelled[t] and (self.name not in ("imtl", "nash_mtl") or gram[t, t] > 0)]
        g = gram[np.ix_(idx, idx)]
        k = len(idx)
        if self.name == "pcgrad":  # Yu et al.: project each task's gradient off the originals it conflicts with
            a = np.zeros(k)
            for i in range(k):
                c = np.zeros(k)
                c[i] = 1
                order = list(range(k))
                for j in range(k - 1, 0, -1):
                    u = mtlrt_uniform(self.seed + 2, np.array([(self.step * self.tasks + i) * self.tasks + j]))[0]
                    r = min(int(u * np.float32(j + 1)), j)
                    order[j], order[r] = order[r], order[j]
                for j in order:
                    dot = c @ g[:, j]
                    if dot < 0:
                        c[j] -= dot / (g[j, j] + 1e-8)
                        after = c @ g[:, j]  # the invariant: no conflict left with g_j
                        assert after >= -1e-6 * max(1.0, g[j, j]), f"pcgrad: {after} after projecting on task {j}"
                a += c
        elif self.name == "mgda":  # Sener & Koltun: min-norm point, Frank-Wolfe with exact line search
            def segment(aa, ab, bb):
                den = aa - 2 * ab + bb
                return 0.0 if den <= 0 else min(max((aa - ab) / den, 0.0), 1.0)
            if k == 2:
                gamma = segment(g[0, 0], g[0, 1], g[1, 1])
                a = np.array([1 - gamma, gamma])
            else:
                a = np.full(k, 1.0 / k)
                for _ in range(250 if k > 2 else 0):
                    ga = g @ a
                    best = int(np.argmin(ga))
                    gamma = segment(a @ ga, ga[best], g[best, best])
                    nxt = (1 - gamma) * a
                    nxt[best] += gamma
                    moved = np.abs(nxt - a).sum()
                    a = nxt
                    if moved < 1e-5:
                        break
        elif self.name == "imtl":  # Liu et al., IMTL-G: equal projections on the unit gradients
            n = np.sqrt(np.diag(g))
            if k > 1:
                du = np.array([[g[0, 0] / n[0] - g[0, j] / n[j] - g[i, 0] / n[0] + g[i, j] / n[j]
                                for j in range(1, k)] for i in range(1, k)])
                v = np.array([g[0, 0] / n[0] - g[0, j] / n[j] for j in range(1, k)])
                rest = np.linalg.solve(du.T, v)
                a = np.concatenate([[1 - rest.sum()], rest])
            else:
                a = np.ones(k)
        elif self.name == "cagrad":  # Liu et al., LibMTL's rescale = 1; projected gradient for the inner problem
            calpha = float(self.obj[2].get("c", 0.5))
            c = calpha * np.sqrt(g.mean() + 1e-8) + 1e-8

            def f(w):
                return w @ g @ np.full(k, 1.0 / k) + c * np.sqrt(w @ g @ w + 1e-8)

            def project(v):  # onto the simplex (Duchi et al. 2008)
                s = np.sort(v)[::-1]
                cs = np.cumsum(s)
                theta = 0.0
                for i in range(k):
                    if s[i] - (cs[i] - 1) / (i + 1) > 0:
                        theta = (cs[i] - 1) / (i + 1)
                return np.maximum(v - theta, 0)

            w, step = np.full(k, 1.0 / k), 1.0
            for _ in range(500):
                grad = g @ np.full(k, 1.0 / k) + c * (g @ w) / np.sqrt(w @ g @ w + 1e-8)
                f0 = f(w)
                while True:
                    nxt = project(w - step * grad)
                    if f(nxt) <= f0 + grad @ (nxt - w) + (nxt - w) @ (nxt - w) / (2 * step) or step < 1e-20:
                        break
                    step /= 2
                moved = np.abs(nxt - w).sum()
                w, step = nxt, step * 2
                if moved < 1e-12:
                    break
            lam = c / (np.sqrt(w @ g @ w) + 1e-8)
            a = (1.0 / k + lam * w) / (1 + calpha ** 2)
        elif self.name == "nash_mtl":  # Navon et al.: M a = 1/a by damped Newton on 1/2 a.M.a - sum log a
            m = g / np.linalg.norm(g)
            a = np.where(self.prev[idx] > 0, self.prev[idx], 1.0)

            def f(x):
                return 0.5 * x @ m @ x - np.log(x).sum()

            for _ in range(20):
                grad = m @ a - 1 / a
                if grad @ grad < 1e-24:
                    break
                d = np.linalg.solve(m + np.diag(1 / a ** 2), -grad)
                step = 1.0
                for _ in range(60):
                    nxt = a + step * d
                    if (nxt > 0).all() and f(nxt) <= f(a):
                        a = nxt
                        break
                    step /= 2
            if keep:
                self.prev[idx] = a.astype(np.float32)
        out = np.zeros(self.tasks)
        out[idx] = a
        return out

    def after_step(self, losses):
        """Closes the step (an epoch for dwa): its float32 losses, None where unlabelled."""
        self.step += 1
        self.ended += 1
        self.before = self.last
        self.last = np.array([float(np.float32(x.item())) if x is not None else self.last[i]
                              for i, x in enumerate(losses)])


def invariant_problem(weighting, w, labelled):
    """What is wrong with the generated code's task weights of a step, by the strategy's own
    invariant: on the simplex (rlw; mgda over the labelled tasks), summing to T (dwa;
    gradnorm, renormalised after every step)."""
    w = np.array(w)
    on = w[np.array(labelled)]
    if weighting.name == "rlw" and not (abs(w.sum() - 1) < 1e-6 and (w >= 0).all()):
        return f"rlw's weights {w} are not on the simplex"
    if weighting.name == "mgda" and not (abs(on.sum() - 1) < 1e-6 and (on >= 0).all()):
        return f"mgda's coefficients {w} are not on the simplex"
    if weighting.name in ("dwa", "gradnorm") and abs(w.sum() - len(w)) > 1e-5 * len(w) and weighting.step > 1:
        return f"{weighting.name}'s weights {w} do not sum to {len(w)}"
    return None


def objective(model, m, losses, weights):
    """The objective over the tasks that have labels in this batch (None: left out)."""
    obj = m["objective"]
    names = [t["name"] for t in m["tasks"]]
    terms = []
    for i, (name, loss) in enumerate(zip(names, losses)):
        if loss is None:
            continue
        if weights is not None:
            terms.append(torch.tensor(weights[i], dtype=loss.dtype) * loss)
        elif obj is None:
            terms.append(loss)
        elif obj[0] == "sum":
            terms.append(dict(obj[1])[name] * loss)
        else:
            s = model.objective.log_var[i]
            terms.append(0.5 * torch.exp(-s) * loss + 0.5 * s)
    return sum(terms) if terms else None


def optimizer_and_schedule(model, m, steps):
    name, pos, named = m["optimizer"]
    params = list(model.parameters())
    if name == "sgd":
        o = args(["lr", "momentum", "nesterov", "weight_decay"], pos, named,
                 {"momentum": 0, "nesterov": "false", "weight_decay": 0})
        opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"], nesterov=o["nesterov"] == "true",
                              weight_decay=o["weight_decay"])
    else:
        o = args(["lr", "beta1", "beta2", "eps", "weight_decay"], pos, named,
                 {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                  "weight_decay": 0.01 if name == "adamw" else 0})
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        opt = cls(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weight_decay"])
    sname, spos, snamed = m["schedule"]
    if sname == "step":
        s = args(["every", "gamma"], spos, snamed, {"gamma": 0.1})
        factor = lambda e: s["gamma"] ** (e // s["every"])  # noqa: E731
    elif sname == "cosine":
        w = args(["warmup"], spos, snamed, {"warmup": 0})["warmup"]
        factor = lambda e: (e + 1) / (w + 1) if e < w else 0.5 * (1 + math.cos(math.pi * (e - w) / (steps - w)))  # noqa: E731
    else:
        factor = lambda e: 1.0  # noqa: E731
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ---- the test ----

def directives(text):
    """`// parity: key = value` comments of a test model: n = 8 8 3 (the samples of each step,
    the last one repeating), missing = 0.2 (the share of missing labels), unlabelled =
    TASK@STEP (no label at all for TASK in that step), scale = 30 (inputs uniform in
    [-scale, scale], 1 by default)."""
    d = {}
    for line in re.findall(r"//\s*parity:(.*)", text):
        for key, value in re.findall(r"(\w+)\s*=\s*([^,;]+)", line):
            d[key] = value.split()
    return d


def perturb(model):
    """Moves every parameter and statistic that libmtlrt initialises to a constant off that
    constant, so that a load that missed it could not pass."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.5, 0.5)
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(3)
        if hasattr(model, "objective"):
            for p in model.objective.parameters():
                p.uniform_(-0.5, 0.5) if p is getattr(model.objective, "log_var", None) else p.uniform_(0.5, 1.5)


def draw_batch(m, n, gen, missing, unlabelled, scale=1.0):
    """Random inputs and targets. A share `missing` of the labels is missing (the ignore
    value of a class target that has one, NaN in f32 and binary targets; class targets with
    an ignore value get 20% by default); targets of the tasks in `unlabelled` have none."""
    batch = {}
    for name, shape in m["inputs"]:
        batch[name] = (torch.rand(n, *shape, generator=gen) * 2 - 1) * scale
    for task in m["tasks"]:
        for name, t in task["targets"].items():
            shape = (n, *t["shape"])
            if t["kind"] == "class":
                v = torch.randint(0, t["classes"], shape, generator=gen, dtype=torch.int32)
                gone = t["ignore"] if t["ignore"] != -100 else None
                share = missing if missing is not None else 0.2
            else:
                v = (torch.rand(shape, generator=gen) < 0.5).float() if t["kind"] == "binary" \
                    else torch.randn(shape, generator=gen)
                gone, share = float("nan"), missing or 0.0
            if task["name"] in unlabelled and gone is None:
                raise ValueError(f"task {task['name']}: a class target without an ignore value is always labelled")
            if gone is not None:
                v[torch.rand(shape, generator=gen) < share] = gone
                if task["name"] in unlabelled:
                    v[...] = gone
            batch[name] = v
    return batch


def worst(ours, ref):
    """max |ours - ref| / max(1, |ref|)."""
    ref = ref.detach().double()
    ours = torch.as_tensor(ours).double().reshape(ref.shape)
    return ((ours - ref).abs() / ref.abs().clamp(min=1)).max().item() if ref.numel() else 0.0


def strategy_backward(model, m, inputs, batch, weighting, keep):
    """A gradient strategy (spec §7): each task's gradient of the shared parameters, or of the
    shared blocks its head reads; their combination with the strategy's coefficients for the
    shared part; each task's own gradient for its head. Returns (plain sum, losses, alpha)."""
    cut = {} if weighting.gradient == "rep" else None
    outs = model(inputs, cut)
    losses = [task_loss(t, o, batch[t["loss"][1][1]].to(o.dtype) if batch[t["loss"][1][1]].is_floating_point()
                        else batch[t["loss"][1][1]]) for t, o in zip(m["tasks"], outs)]
    names = [t["name"] for t in m["tasks"]]
    params = dict(model.named_parameters())
    shared = [p for key, p in params.items() if key.split(".")[0] not in names]
    wrt = shared if cut is None else [leaf for _, leaf in cut.values()]
    rows = []
    for t, loss in enumerate(losses):
        head = [p for key, p in params.items() if key.split(".")[0] == names[t]]
        if loss is None:
            rows.append(None)
            continue
        gs = torch.autograd.grad(loss, wrt + head, retain_graph=True, allow_unused=True)
        for p, g in zip(head, gs[len(wrt):]):
            p.grad = torch.zeros_like(p) if g is None else g
        rows.append([torch.zeros_like(x) if g is None else g for x, g in zip(wrt, gs[:len(wrt)])])
    labelled = [r is not None for r in rows]
    flat = [torch.cat([g.reshape(-1) for g in r]).double() if r is not None else None for r in rows]
    gram = np.zeros((len(rows), len(rows)))
    for i, a in enumerate(flat):
        for j, b in enumerate(flat):
            if a is not None and b is not None:
                gram[i, j] = (a @ b).item()
    alpha = weighting.alpha(gram, labelled, keep)
    combined = []
    for k, x in enumerate(wrt):
        acc = torch.zeros_like(x)
        for t, r in enumerate(rows):
            if r is not None:
                acc = acc + torch.tensor(alpha[t], dtype=x.dtype) * r[k]
        combined.append(acc)
    if cut is None:
        for p, g in zip(shared, combined):
            p.grad = g
    else:
        torch.autograd.backward([value for value, _ in cut.values()], combined)
    present = [x for x in losses if x is not None]
    return (sum(present) if present else None), losses, alpha


def gradnorm_backward(model, m, inputs, batch, weighting, keep):
    """GradNorm (Chen et al. 2018): the weights' gradient from the per-task gradient norms at
    the last shared layer's weight matrix, the target held constant; the model's gradient
    from the losses weighted by the current weights. Returns (plain sum, losses, weights)."""
    outs = model(inputs)
    losses = [task_loss(t, o, batch[t["loss"][1][1]].to(o.dtype) if batch[t["loss"][1][1]].is_floating_point()
                        else batch[t["loss"][1][1]]) for t, o in zip(m["tasks"], outs)]
    names = [t["name"] for t in m["tasks"]]
    candidates = [p for key, p in model.named_parameters()
                  if key.split(".")[0] not in names + ["objective"] and key.endswith(".weight") and p.dim() >= 2]
    used = [torch.autograd.grad(o.sum(), candidates, retain_graph=True, allow_unused=True) for o in outs]
    layer = [p for k, p in enumerate(candidates) if all(u[k] is not None for u in used)][-1]  # common to all tasks
    w = model.objective.weight
    alpha = float(weighting.obj[2].get("alpha", 1.5))
    norms = {t: torch.autograd.grad(loss, layer, retain_graph=True)[0].double().norm().item()
             for t, loss in enumerate(losses) if loss is not None}
    init = weighting.init.copy()
    for t in norms:
        if init[t] == 0:
            init[t] = np.float32(losses[t].item())
    if keep:
        weighting.init = init
    dw = torch.zeros_like(w)
    if norms:
        ws = w.detach().double().numpy()
        mean_g = np.mean([ws[t] * n for t, n in norms.items()])
        ratio = {t: losses[t].item() / init[t] for t in norms}
        mean_r = np.mean(list(ratio.values()))
        for t, n in norms.items():
            dw[t] = float(np.sign(ws[t] * n - mean_g * (ratio[t] / mean_r) ** alpha) * n)
    present = [(t, x) for t, x in enumerate(losses) if x is not None]
    if present:
        sum(w.detach()[t] * x for t, x in present).backward()
    w.grad = dw
    return sum(x for _, x in present) if present else None, losses, w.detach().double().numpy().copy()


def backward(model, m, batch, clip, weights, weighting=None, keep=True):
    """Forward in training mode, the objective (with the strategy's weights of this step, if
    any), its gradients (zeros for parameters it does not reach: one group over every
    parameter) and clipping. Returns (objective, losses)."""
    dtype = next(model.parameters()).dtype
    cast = lambda v: v.to(dtype) if v.is_floating_point() else v  # noqa: E731
    inputs = {name: cast(batch[name]) for name, _ in m["inputs"]}
    model.zero_grad()
    if weighting is not None and weighting.gradient:
        step = gradnorm_backward if weighting.gradient == "layer" else strategy_backward
        total, losses, alpha = step(model, m, inputs, batch, weighting, keep)
        weights[:] = alpha
    else:
        outs = model(inputs)
        losses = [task_loss(t, o, cast(batch[t["loss"][1][1]])) for t, o in zip(m["tasks"], outs)]
        total = objective(model, m, losses, weights)
        if total is not None:
            total.backward()
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if clip:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    return total, losses


def check_gradients(model, exact, grads_c):
    """Compares the gradients of the C step (after clipping) with the exact ones, torch's in
    float64 from the same weights: |g_C - g_exact| <= GTOL * max|g_exact| + GNOISE *
    max|g_torch - g_exact| over each tensor, the second term being PyTorch's own float32
    error (large where the exact gradient is a cancellation, as a bias before batchnorm
    or layernorm whose gradient is 0). Then torch's float32 step uses C's gradients: Adam
    divides each gradient by its own size, so two valid float32 gradients of an element
    near 0 would send the two runs lr apart; the step itself is then compared exactly.
    Returns (worst error / tolerance, keys of the tensors over it)."""
    exact = dict(exact.named_parameters())
    ratio, bad = 0.0, []
    for key, p in model.named_parameters():
        g64 = exact[key].grad
        gc = torch.from_numpy(grads_c[key].copy()).reshape(p.shape)
        if p.numel():
            tol = GTOL * g64.abs().max().item() + GNOISE * (p.grad.double() - g64).abs().max().item() + 1e-30
            r = (gc.double() - g64).abs().max().item() / tol
            ratio = max(ratio, r)
            if not r <= 1:
                bad.append(key)
        p.grad.copy_(gc)
    return ratio, bad


GTOL, GNOISE = 1e-5, 10


def checkpoint_problems(m, model, tensors, meta):
    """What keeps a checkpoint written by the generated code from being the PyTorch
    module's state_dict (spec §5, §10): keys, dtypes (F32; I64 counters), metadata, and
    load_state_dict(strict=True) into a fresh module."""
    problems = []
    state = model.state_dict()
    for key in sorted(set(state) | set(tensors)):
        if key not in tensors or key not in state:
            problems.append(f"{key!r} only in {'torch' if key in state else 'ours'}")
        elif tensors[key].dtype != state[key].numpy().dtype:
            problems.append(f"{key!r} is {tensors[key].dtype}, torch has {state[key].numpy().dtype}")
    if meta.get("format") != "pt" or meta.get("model") != m["name"]:
        problems.append(f"__metadata__ is {meta}, expected format pt and model {m['name']}")
    try:
        Model(m).load_state_dict({key: torch.from_numpy(v.copy()) for key, v in tensors.items()}, strict=True)
    except (RuntimeError, KeyError) as e:
        problems.append(f"load_state_dict(strict=True): {e}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("mtl")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="the threads of the generated code")
    ap.add_argument("--keep", help="keep the exchanged files in this directory")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    text = open(a.mtl).read()
    m = Reader(text).model()
    opts = directives(text)
    full = min(m["batch"], 8)
    ns = [int(x) for x in opts.get("n", [])] or [full if k % 2 == 0 else max(1, full - 3) for k in range(a.steps)]
    ns = (ns + [ns[-1]] * a.steps)[:a.steps]
    missing = float(opts["missing"][0]) if "missing" in opts else None
    unlabelled = [tuple(x.split("@")) for x in opts.get("unlabelled", [])]
    scale = float(opts.get("scale", [1])[0])
    model = Model(m)
    perturb(model)
    opt, sched = optimizer_and_schedule(model, m, a.steps)
    weighting = Weighting(m, a.seed)
    clip = float(m["clip_norm"])
    Dropout.clock["seed"] = a.seed
    gen = torch.Generator().manual_seed(a.seed)
    failures, report = 0, []
    d = a.keep or tempfile.mkdtemp(prefix="parity-")
    os.makedirs(d, exist_ok=True)
    st.save(f"{d}/init.safetensors", {k: v.detach().numpy() for k, v in model.state_dict().items()},
            {"format": "pt", "model": m["name"]})
    batches = []
    for k in range(a.steps):
        batch = draw_batch(m, ns[k], gen, missing, {t for t, s in unlabelled if int(s) == k}, scale)
        batches.append(batch)
        os.makedirs(f"{d}/{k}", exist_ok=True)
        for name, v in batch.items():
            v.numpy().astype(np.int32 if v.dtype == torch.int32 else np.float32).tofile(f"{d}/{k}/{name}.bin")
    run = subprocess.run([a.driver, d, str(a.steps), str(a.seed), str(a.threads)])
    if run.returncode != 0:
        print(f"{m['name']}: the driver failed with status {run.returncode}; files in {d}")
        sys.exit(1)
    exact = copy.deepcopy(model).double()  # the reference of the gradients
    model.train()
    for k, batch in enumerate(batches):
        Dropout.clock["step"] = k
        exact.load_state_dict(model.state_dict())
        weights = weighting.weights()
        backward(exact, m, batch, clip, None if weights is None else weights.copy(), weighting, keep=False)
        total, losses = backward(model, m, batch, clip, weights, weighting)
        weighting.after_step(losses)
        grads_c, _ = st.load(f"{d}/grad_{k}.safetensors")
        gratio, gbad = check_gradients(model, exact, grads_c)
        opt.step()
        sched.step()
        if weighting.name == "gradnorm":  # the weights renormalised to sum T
            with torch.no_grad():
                w = model.objective.weight
                w.copy_((len(m["tasks"]) * w.double() / w.double().sum()).to(w.dtype))
        ours, meta = st.load(f"{d}/after_{k}.safetensors")
        problems = checkpoint_problems(m, model, ours, meta)
        if problems:
            print(f"{m['name']}: step {k + 1}: the checkpoint of the generated code: {'; '.join(problems)}; files in {d}")
            sys.exit(1)
        errs = {key: worst(ours[key], v) for key, v in model.state_dict().items()}
        c_out = [float(x) for x in open(f"{d}/losses_{k}.txt").read().split()]
        c_losses, c_weights = c_out[:len(losses) + 1], c_out[len(losses) + 1:]
        ref = [0.0 if total is None else total.item()] + [0.0 if x is None else x.item() for x in losses]
        errs["(losses)"] = worst(c_losses, torch.tensor(ref))
        if weights is not None:
            errs["(task weights)"] = worst(c_weights, torch.tensor(weights))
            bad_invariant = invariant_problem(weighting, c_weights, [x is not None for x in losses])
            if bad_invariant:
                print(f"{m['name']}: step {k + 1}: {bad_invariant}")
                failures += 1
        key = max(errs, key=errs.get)
        bad = [x for x, e in errs.items() if not e <= TOL] + [f"grad {x}" for x in gbad]
        failures += bool(bad)
        report.append(f"step {k + 1} (n = {ns[k]}): worst {errs[key]:.2e} ({key}); gradients at {gratio:.2f} of "
                      f"their tolerance{'  FAIL: ' + ', '.join(bad) if bad else ''}")
    model.eval()
    with torch.no_grad():
        outs = model({name: batches[-1][name] for name, _ in m["inputs"]})
        losses = [task_loss(t, o, batches[-1][t["loss"][1][1]]) for t, o in zip(m["tasks"], outs)]
    sums = [line.split() for line in open(f"{d}/eval.txt")]
    for t, o, loss, (c_sum, c_count) in zip(m["tasks"], outs, losses, sums):
        ours = np.fromfile(f"{d}/out_{t['name']}.bin", dtype=np.float32)
        e = worst(torch.from_numpy(ours), o)
        target = batches[-1][t["loss"][1][1]]
        tinfo = t["targets"][t["loss"][1][1]]
        count = int((target != tinfo["ignore"]).sum() if tinfo["kind"] == "class" else (~torch.isnan(target)).sum())
        e_sum = worst([float(c_sum)], torch.tensor([0.0 if loss is None else loss.item() * count]))
        bad = not (e <= TOL and e_sum <= TOL and int(c_count) == count)
        failures += bad
        report.append(f"eval output {t['name']}: {e:.2e}; eval_batch loss sum {e_sum:.2e}, count {c_count} "
                      f"(torch {count}){'  FAIL' if bad else ''}")
    print(f"{m['name']} ({os.path.basename(a.mtl)}): {a.steps} steps; parameters, statistics, counters, losses and "
          f"outputs within {TOL:g} * max(1, |torch|); gradients within {GTOL:g} * max|exact| + {GNOISE:g} * max|torch - exact| "
          f"per tensor")
    for line in report:
        print("  " + line)
    if failures:
        print(f"  FAILED; the exchanged files are in {d}")
    elif not a.keep:
        shutil.rmtree(d)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
