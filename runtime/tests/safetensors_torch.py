#!/usr/bin/python3
"""safetensors_torch.py: libmtlrt's safetensors files against PyTorch.

Usage: /usr/bin/python3 safetensors_torch.py PATH/TO/mtlrt_test_safetensors

A small torch module (conv, batch norm with its I64 scalar num_batches_tracked, linear)
is saved by st.py as PyTorch's safetensors saves it: keys sorted, F32 and I64, metadata
{"format": "pt"}. The C program loads it strictly (some tensors into double memory) and
saves it again, as F32 and as F64; each copy must load in Python with identical values
and metadata, and back into the module with load_state_dict(strict=True). A file with an
extra or a misshapen tensor must be refused with a message naming it. Exits 1 on failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

tool = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += not cond


torch.manual_seed(7)
net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                          torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
net.train()
for _ in range(3):
    net(torch.randn(5, 1, 8, 8))  # running stats and num_batches_tracked = 3
state = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
meta = {"format": "pt", "model": "tiny \"net\" \u00e9"}

memory = {"0.weight": "f64", "4.bias": "f64"}  # the rest as stored: f32, or i64


def spec(shapes, overrides=None):
    out = []
    for name, shape in shapes.items():
        kind = (overrides or {}).get(name) or memory.get(name) or (
            "i64" if state[name].dtype == np.int64 else "f32")
        out.append(f"{name}={kind}:{','.join(str(d) for d in shape)}")
    return out


shapes = {k: v.shape for k, v in state.items()}
with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "torch.safetensors")
    st.save(src, state, meta)
    for flag, dtype in (([], np.float32), (["--f64"], np.float64)):
        out = os.path.join(d, "c.safetensors")
        run = subprocess.run([tool, "copy", src, out] + flag + spec(shapes), capture_output=True, text=True)
        check(run.returncode == 0, f"C loads the torch file and saves it {flag} {run.stderr.strip()}")
        if run.returncode:
            continue
        got, got_meta = st.load(out)
        check(list(got) == list(shapes), f"same tensors, in the requested order ({len(got)})")
        check(got_meta == meta, f"metadata {got_meta}")
        for name, want in state.items():
            kind = np.int64 if want.dtype == np.int64 else dtype
            ok = got[name].dtype == kind and got[name].shape == want.shape and np.array_equal(got[name], want)
            check(ok, f"{name} {got[name].dtype} {list(got[name].shape)} identical")
        net2 = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                   torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
        loaded = {k: torch.from_numpy(v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in got.items()}
        net2.load_state_dict(loaded, strict=True)
        x = torch.randn(2, 1, 8, 8)
        net.eval(), net2.eval()
        check(torch.equal(net(x), net2(x)), "load_state_dict(strict=True) gives the same outputs")
        check(int(net2[1].num_batches_tracked) == 3, "num_batches_tracked")

    # Strictness against a torch-made file.
    extra = dict(state, **{"head.extra": np.zeros(2, np.float32)})
    st.save(src, extra, meta)
    run = subprocess.run([tool, "copy", src, os.path.join(d, "x")] + spec(shapes), capture_output=True, text=True)
    check(run.returncode == 1 and f"{src}: unexpected tensor 'head.extra'" in run.stderr, run.stderr.strip())
    st.save(src, state, meta)
    bad = dict(shapes, **{"4.weight": (3, 145)})
    run = subprocess.run([tool, "copy", src, os.path.join(d, "x")] + spec(bad), capture_output=True, text=True)
    want = f"{src}: tensor '4.weight' has shape [3, 144], expected [3, 145]"
    check(run.returncode == 1 and want in run.stderr, run.stderr.strip())
    check(sorted(os.listdir(d)) == ["c.safetensors", "torch.safetensors"], f"no stray files {os.listdir(d)}")

print(f"{failures} failures")
sys.exit(1 if failures else 0)
