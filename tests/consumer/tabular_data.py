"""tabular_data.py DIR: a small data set for the spec's tabular model (x, kind, price, fraud as
NPY files in DIR), for the consumer tests to train the trainers they build."""
import os
import sys

import numpy as np

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(7)
x = rng.standard_normal((96, 64)).astype(np.float32)
np.save(f"{d}/x.npy", x)
np.save(f"{d}/kind.npy", x[:, :10].argmax(1).astype(np.int32))
np.save(f"{d}/price.npy", x[:, 10:11] - 0.5 * x[:, 11:12])
np.save(f"{d}/fraud.npy", (x[:, 12:13] > 0).astype(np.float32))
