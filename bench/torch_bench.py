#!/usr/bin/python3
"""torch_bench.py: the PyTorch side of bench/run, the same model trained or run the same way.

Usage: /usr/bin/python3 bench/torch_bench.py MODEL.mtl --data DIR --threads T --mode train|infer
                                             [--channels-last] [--warmup N] [--seconds S]
       /usr/bin/python3 bench/torch_bench.py MODEL.mtl --make-data DIR --samples N [--seed S]

MODEL.mtl is read and built by tests/parity/parity.py (Reader, Model, task_loss, objective,
optimizer_and_schedule): the same layers, the model's batch, optimizer and clip_norm, in
float32, on torch.set_num_threads(T). The objective must be a fixed weighted sum, so that
both sides do the same work per step.

  train  a step is zero_grad, forward, the task losses, the objective, backward, clip_norm
         (when the model has one) and the optimizer step, on a batch gathered from DIR in
         the order of a fresh permutation every epoch (the schedule steps once per epoch).
  infer  model.eval() and torch.no_grad(): the forward pass over DIR's batches in order,
         cycling, each gathered in its step (no losses or metrics).

After N warm-up steps (default 5), steps are timed with time.perf_counter() until S seconds
(default 2) have passed, at least 3 steps. Prints one line of key=value pairs:

  torch_bench model=seed_cifar mode=train threads=1 layout=nchw batch=64 steps=40
      seconds=2.013 samples_per_s=1271.8 peak_rss_kib=412345

(on one line), peak_rss_kib being getrusage()'s ru_maxrss: libtorch, the model and the data
set held in memory. --channels-last puts the model and every 4-d input in
torch.channels_last (the default layout is NCHW).

--make-data writes N random samples of the model's shapes to DIR/<name>.npy for every input
and target (what the generated trainer reads): inputs uniform in [0, 1) as float32, class
targets uniform over the classes (int64; uint8 for per-pixel targets of at most 256 classes),
f32 targets standard normal, binary targets 0/1 as float32.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
from parity import Model, Reader, objective, optimizer_and_schedule, task_loss  # noqa: E402


def target_names(m):
    return [name for task in m["tasks"] for name in task["targets"]]


def make_data(m, d, n, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(d, exist_ok=True)
    for name, shape in m["inputs"]:
        np.save(f"{d}/{name}.npy", rng.random((n, *shape), dtype=np.float32))
    for task in m["tasks"]:
        for name, t in task["targets"].items():
            shape = (n, *t["shape"])
            if t["kind"] == "class":
                dtype = np.uint8 if t["shape"] and t["classes"] <= 256 else np.int64
                v = rng.integers(0, t["classes"], shape).astype(dtype)
            elif t["kind"] == "binary":
                v = (rng.random(shape) < 0.5).astype(np.float32)
            else:
                v = rng.standard_normal(shape, dtype=np.float32)
            np.save(f"{d}/{name}.npy", v)


def load_data(m, d, channels_last):
    """DIR's arrays as tensors: inputs float32 (4-d ones channels_last if asked), class
    targets int64, the others float32."""
    kinds = {name: t["kind"] for task in m["tasks"] for name, t in task["targets"].items()}
    data = {}
    for name in [name for name, _ in m["inputs"]] + target_names(m):
        v = torch.from_numpy(np.load(f"{d}/{name}.npy"))
        v = v.long() if kinds.get(name) == "class" else v.float()
        if channels_last and v.dim() == 4:
            v = v.contiguous(memory_format=torch.channels_last)
        data[name] = v
    return data


def gather(data, rows, channels_last):
    out = {}
    for name, v in data.items():
        x = v.index_select(0, rows)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out[name] = x
    return out


def main():
    ap = argparse.ArgumentParser(description="the PyTorch side of bench/run")
    ap.add_argument("mtl")
    ap.add_argument("--data", help="the NPY directory to train or infer on")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--make-data", metavar="DIR")
    ap.add_argument("--samples", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    m = Reader(open(a.mtl).read()).model()
    if a.make_data:
        if a.samples < 1:
            ap.error("--make-data needs --samples N (N >= 1)")
        make_data(m, a.make_data, a.samples, a.seed)
        return
    if not a.data:
        ap.error("--data DIR is required (or --make-data DIR)")
    if m["objective"] is not None and m["objective"][0] != "sum":
        sys.exit(f"{a.mtl}: objective {m['objective'][0]}(...) is a strategy; the benchmark needs a fixed "
                 "weighted sum (both sides must do the same work)")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = Model(m)
    if a.channels_last:
        if not any(len(shape) == 3 for _, shape in m["inputs"]):
            sys.exit(f"{a.mtl}: --channels-last needs an image input ([C, H, W])")
        model = model.to(memory_format=torch.channels_last)
    data = load_data(m, a.data, a.channels_last)
    n, batch = len(next(iter(data.values()))), m["batch"]
    if n < batch:
        sys.exit(f"{a.data}: {n} samples, fewer than the batch of {batch}")
    inputs = [name for name, _ in m["inputs"]]
    per_epoch = n // batch
    gen = torch.Generator().manual_seed(a.seed)

    if a.mode == "train":
        model.train()
        opt, sched = optimizer_and_schedule(model, m, 1)
        clip = float(m["clip_norm"])
        state = {"step": 0, "order": None}

        def step():
            k = state["step"] % per_epoch
            if k == 0:
                if state["step"]:
                    sched.step()
                state["order"] = torch.randperm(n, generator=gen)
            b = gather(data, state["order"][k * batch:(k + 1) * batch], a.channels_last)
            opt.zero_grad(set_to_none=True)
            outs = model({name: b[name] for name in inputs})
            losses = [task_loss(t, o, b[t["loss"][1][1]]) for t, o in zip(m["tasks"], outs)]
            objective(model, m, losses, None).backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            state["step"] += 1
    else:
        model.eval()
        state = {"step": 0}

        def step():
            k = state["step"] % per_epoch
            b = gather({name: data[name] for name in inputs}, torch.arange(k * batch, (k + 1) * batch),
                       a.channels_last)
            with torch.no_grad():
                model(b)
            state["step"] += 1

    for _ in range(a.warmup):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        secs = time.perf_counter() - start
        if secs >= a.seconds and steps >= 3:
            break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"torch_bench model={m['name']} mode={a.mode} threads={a.threads} "
          f"layout={'channels_last' if a.channels_last else 'nchw'} batch={batch} steps={steps} "
          f"seconds={secs:.4f} samples_per_s={steps * batch / secs:.1f} peak_rss_kib={rss}")


if __name__ == "__main__":
    main()
