#!/usr/bin/python3
"""npy_numpy.py: libmtlrt's NPY files against numpy.

Usage: /usr/bin/python3 npy_numpy.py PATH/TO/mtlrt_test_npy

numpy.save writes arrays of every supported dtype and ranks 0 to 4 (some empty), and
numpy.lib.format.write_array writes versions 2.0 and 3.0; `mtlrt_test_npy dump` must read
each with its exact type, shape and elements, and gather its rows into float32 as numpy's
astype() converts them (|u1 times float32(1/255)). A Fortran-ordered array, big-endian and
other dtypes must be refused with a message naming the file. Arrays written by
`mtlrt_test_npy write` must load in numpy.load with identical dtype, shape and values, and
be byte-identical to what numpy.save writes. Exits 1 on failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

tool = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += not cond


rng = np.random.default_rng(5)
shapes = [(), (7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0,), (4, 0, 2)]


def sample(descr, shape):
    if descr == "|u1":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if descr == "<i4":
        return rng.integers(-2**31, 2**31, shape, dtype=np.int32)
    if descr == "<i8":
        return rng.integers(-2**63, 2**63, shape, dtype=np.int64, endpoint=False)
    a = (rng.standard_normal(shape) * 10.0 ** rng.integers(-5, 6, shape)).astype(descr)
    if a.size > 2:
        a.flat[1] = np.inf  # special values survive too
        a.flat[2] = -0.0
    return a


def dump(path):
    run = subprocess.run([tool, "dump", path], capture_output=True, text=True)
    return run.returncode, run.stdout.splitlines()


def expect_read(path, want, what):
    rc, lines = dump(path)
    if rc != 0:
        check(False, f"{what}: {lines}")
        return
    descr, dims = lines[0], lines[1]
    n = want.size
    values, gathered = lines[2:2 + n], lines[3 + n:]
    ok = descr == want.dtype.str and dims == ",".join(str(d) for d in want.shape)
    flat = want.reshape(-1)
    if want.dtype.kind == "f":
        got = np.array([float.fromhex(v) for v in values], dtype=want.dtype)
        ok = ok and np.array_equal(got.view(f"u{want.itemsize}"), flat.view(f"u{want.itemsize}"))
    else:
        ok = ok and [int(v) for v in values] == [int(v) for v in flat]
    # gather_f32 of the rows in reverse order, as numpy converts them.
    rows = want.reshape(1, -1) if want.ndim == 0 else want.reshape(want.shape[0], int(np.prod(want.shape[1:])))
    conv = rows[::-1].astype(np.float32)
    if want.dtype == np.uint8:
        conv = conv * np.float32(1.0 / 255)
    g = np.array([float.fromhex(v) for v in gathered], dtype=np.float32)
    ok = ok and lines[2 + n] == "gather_f32 (rows reversed)" and np.array_equal(
        g.view(np.uint32), conv.reshape(-1).view(np.uint32))
    check(ok, f"{what}: {descr} [{dims}]")


def expect_refused(path, msg, what):
    rc, lines = dump(path)
    check(rc == 1 and lines and lines[0] == f"error {path}: {msg}", f"{what}: {lines[:1]}")


with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "a.npy")
    for descr in ("|u1", "<i4", "<i8", "<f4", "<f8"):
        for shape in shapes:
            a = sample(descr, shape)
            np.save(path, a)
            expect_read(path, a, f"numpy.save {descr} {shape}")
    for version in ((1, 0), (2, 0), (3, 0)):
        a = sample("<f8", (3, 2))
        with open(path, "wb") as f:
            np.lib.format.write_array(f, a, version=version)
        expect_read(path, a, f"write_array version {version}")
    # A non-contiguous view is saved in C order.
    a = sample("<f4", (4, 6))[:, ::2]
    np.save(path, a)
    expect_read(path, np.ascontiguousarray(a), "a strided view")

    np.save(path, np.asfortranarray(sample("<f4", (3, 4))))
    expect_refused(path, "Fortran order is not supported (save it with numpy.ascontiguousarray)", "Fortran order")
    np.save(path, sample("<f4", (3,)).astype(">f4"))
    expect_refused(path, "dtype '>f4' is big-endian, which is not supported (convert the array with "
                   ".astype('<f4'))", "big-endian")
    np.save(path, np.zeros(3, np.float16))
    expect_refused(path, "dtype '<f2' is not one of |u1, <i4, <i8, <f4, <f8", "float16")
    np.save(path, np.zeros(3, bool))
    expect_refused(path, "dtype '|b1' is not one of |u1, <i4, <i8, <f4, <f8", "bool")
    np.save(path, np.zeros(3, np.int8))
    expect_refused(path, "dtype '|i1' is not one of |u1, <i4, <i8, <f4, <f8", "int8")
    np.save(path, np.zeros(3, [("x", "<f4"), ("y", "<i4")]))
    expect_refused(path, "the dtype is a structured dtype (a list of fields), expected one of "
                   "|u1, <i4, <i8, <f4, <f8", "structured")
    np.save(path, np.zeros((1,) * 9, np.float32))
    expect_refused(path, "the shape has more than 8 dimensions", "rank 9")
    np.save(path, np.zeros((2, 3), np.float32))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1)
    expect_refused(path, "the data is truncated: 6 elements of 4 bytes need 24 bytes after the header, "
                   "the file has 23", "truncated")

    # Our writer against numpy.load and numpy.save.
    raw, ours, theirs = (os.path.join(d, n) for n in ("raw", "ours.npy", "theirs.npy"))
    for descr in ("|u1", "<i4", "<i8", "<f4", "<f8"):
        for shape in shapes + [(1,) * 8, (123456789012, 0)]:
            a = sample(descr, shape)
            a.tofile(raw)
            run = subprocess.run([tool, "write", ours, descr, ",".join(str(s) for s in shape), raw],
                                 capture_output=True, text=True)
            if run.returncode:
                check(False, f"write {descr} {shape}: {run.stderr.strip()}")
                continue
            b = np.load(ours)
            np.save(theirs, a)
            same = open(ours, "rb").read() == open(theirs, "rb").read()
            check(b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes()
                  and same, f"mtlrt writes {descr} {shape}: numpy.load equal, bytes as numpy.save's")
    check(sorted(os.listdir(d)) == ["a.npy", "ours.npy", "raw", "theirs.npy"], f"no stray files {os.listdir(d)}")

print(f"{failures} failures")
sys.exit(1 if failures else 0)
