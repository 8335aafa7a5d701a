#!/usr/bin/python3
"""multifashion_torch.py: the PyTorch equivalent of spec/examples/multifashion.mtl, trained
the way the generated trainer trains it, for comparing test accuracies (issue: the trainer).

Usage: /usr/bin/python3 bench/multifashion_torch.py DATA_DIR [--epochs 10] [--seed 0]

Same architecture and parameter names, PyTorch's default initialisation (the distribution
mtlc's init uses, not its stream), batch 256, SGD(lr 1e-3, momentum 0.9), StepLR(15, 0.5)
stepped per epoch, inputs |u1 / 255, and the same order of samples in every epoch: the keyed
Feistel permutation of runtime/train/trainer.c, reimplemented here. Prints the test accuracy
of both tasks after every epoch.
"""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix(z):
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_order(n, seed, epoch):
    """trainer.c's epoch_order()/order_at() for every position at once."""
    bits = 2
    while bits < 62 and (1 << bits) < n:
        bits += 2
    half = np.uint64(bits // 2)
    mask = np.uint64((1 << (bits // 2)) - 1)
    with np.errstate(over="ignore"):
        keys = [mix(np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + mix(np.uint64(epoch * 4 + r + 1)))
                for r in range(4)]
    x = np.arange(n, dtype=np.uint64)
    pending = np.ones(n, dtype=bool)
    while pending.any():
        v = x[pending]
        l, r = v >> half, v & mask
        for k in keys:
            l, r = r, l ^ (mix(r ^ k) & mask)
        v = (l << half) | r
        x[pending] = v
        pending[pending] = v >= np.uint64(n)
    return x.astype(np.int64)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(1, 10, 9), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(10, 20, 5),
                                 nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(500, 50), nn.ReLU())
        self.left = nn.ModuleDict({"out": nn.Sequential(nn.Linear(50, 10))})
        self.right = nn.ModuleDict({"out": nn.Sequential(nn.Linear(50, 10))})

    def forward(self, x):
        h = self.enc(x)
        return self.left["out"](h), self.right["out"](h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    load = lambda split, name: np.load(f"{a.data}/{split}/{name}.npy")  # noqa: E731
    x = torch.from_numpy(load("train", "image").astype(np.float32) / 255)
    yl = torch.from_numpy(load("train", "left_label").astype(np.int64))
    yr = torch.from_numpy(load("train", "right_label").astype(np.int64))
    tx = torch.from_numpy(load("test", "image").astype(np.float32) / 255)
    tl = torch.from_numpy(load("test", "left_label").astype(np.int64))
    tr = torch.from_numpy(load("test", "right_label").astype(np.int64))
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=15, gamma=0.5)
    n = len(x)
    for epoch in range(a.epochs):
        start = time.time()
        order = torch.from_numpy(epoch_order(n, a.seed, epoch))
        model.train()
        for b in range(0, n, 256):
            idx = order[b:b + 256]
            ol, orr = model(x[idx])
            loss = F.cross_entropy(ol, yl[idx]) + F.cross_entropy(orr, yr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            ol, orr = model(tx)
        acc_l = (ol.argmax(1) == tl).float().mean().item()
        acc_r = (orr.argmax(1) == tr).float().mean().item()
        print(f"epoch {epoch + 1}: test left accuracy {acc_l:.4f}, right accuracy {acc_r:.4f} "
              f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
