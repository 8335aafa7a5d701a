#!/bin/bash
# threads.sh TRAINER...: the trainers of the spec's multifashion, seed_cifar and tabular
# examples train on random data with --threads 1, 2 and 3 (two epochs, a partial last
# batch) and must write the same weights bit for bit, and `eval --json` must print the same
# losses and metrics: libmtlrt splits its kernels so that no result depends on the thread
# count (runtime/kernels/parallel.c). Needs /usr/bin/python3 with numpy.
set -u
. "$(dirname "$0")/../testlib.sh"

for trainer in "$@"; do
  model=$("$trainer" info --json | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["model"])')
  data=$tmp/$model
  /usr/bin/python3 - "$model" "$data" <<'PY'
import os, sys, numpy as np
model, d = sys.argv[1:]
os.makedirs(d)
rng = np.random.default_rng(11)
def save(name, a): np.save(f"{d}/{name}.npy", a)
if model == "multifashion":
    n = 2 * 256 + 37
    save("image", rng.random((n, 1, 36, 36), dtype=np.float32))
    save("left_label", rng.integers(0, 10, n))
    save("right_label", rng.integers(0, 10, n))
elif model == "seed_cifar":
    n = 2 * 64 + 9
    image = rng.random((n, 3, 32, 32), dtype=np.float32)
    save("image", image)
    save("label", rng.integers(0, 10, n))
    save("mask", (image[:, 0] > 0.5).astype(np.uint8))
elif model == "tabular":
    n = 6 * 32 + 5
    x = rng.standard_normal((n, 64), dtype=np.float32)
    save("x", x)
    save("kind", x[:, :10].argmax(1).astype(np.int64))
    save("price", x[:, 10:11] * 2)
    save("fraud", (x[:, 11:12] > 1).astype(np.float32))
else:
    sys.exit(f"threads.sh: no data recipe for model {model}")
PY
  for t in 1 2 3; do
    "$trainer" train --train "$data" --epochs 2 --seed 4 --threads $t --quiet --save "$tmp/$model.$t.safetensors" \
      2>"$tmp/err.txt" || { cat "$tmp/err.txt"; fail "$model: training on $t threads"; }
    "$trainer" eval --data "$data" --load "$tmp/$model.1.safetensors" --json --threads $t >"$tmp/$model.$t.json" \
      2>"$tmp/err.txt" || { cat "$tmp/err.txt"; fail "$model: eval on $t threads"; }
  done
  for t in 2 3; do
    if cmp -s "$tmp/$model.1.safetensors" "$tmp/$model.$t.safetensors"; then
      ok "$model: the weights after training on $t threads = on 1 thread, bit for bit"
    else
      fail "$model: the weights after training on $t threads differ from 1 thread"
    fi
    if cmp -s "$tmp/$model.1.json" "$tmp/$model.$t.json"; then
      ok "$model: eval --json on $t threads = on 1 thread"
    else
      fail "$model: eval --json on $t threads differs from 1 thread"
    fi
  done
done
finish
