"""Checks make_multifashion's output with numpy (run by the examples.multifashion test).

usage: check_multifashion.py OUT SOURCE THRESHOLD [PREFIX_OUT]

Besides types, shapes and ranges, it finds each sample's two items in the source split
from the pixels only one of them covers (the top and left bands belong to the left item,
the bottom and right bands to the right one), recomposes the image and the mask from them
and compares, and checks that the labels are those items' classes. With PREFIX_OUT (a
smaller run with the same seed) it checks that PREFIX_OUT is a prefix of OUT.
"""
import gzip
import sys

import numpy as np

SIDE, SRC, SHIFT = 36, 28, 8


def read_idx(path, ndims):
    with gzip.open(path, "rb") as f:
        data = f.read()
    assert data[:4] == bytes([0, 0, 8, ndims]), path
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndims).reshape(dims)


def compose(l, r, threshold):
    a = np.zeros((SIDE, SIDE), np.int32)
    b = np.zeros((SIDE, SIDE), np.int32)
    a[:SRC, :SRC] = l
    b[SHIFT:, SHIFT:] = r
    image = np.maximum(a, b)
    mask = np.where(image > threshold, np.where(a >= b, 1, 2), 0)
    return image.astype(np.uint8), mask.astype(np.uint8)


def candidates(items, band_pixels):
    """Items whose pixels at the given (rows, cols) of their own frame equal band_pixels."""
    return np.flatnonzero((items == band_pixels).all(axis=1))


def check_split(out, split, images, labels, threshold):
    d = f"{out}/{split}"
    image = np.load(f"{d}/image.npy")
    left = np.load(f"{d}/left_label.npy")
    right = np.load(f"{d}/right_label.npy")
    mask = np.load(f"{d}/mask.npy")
    n = image.shape[0]
    for name, a, shape in (("image", image, (n, 1, SIDE, SIDE)), ("left_label", left, (n,)),
                           ("right_label", right, (n,)), ("mask", mask, (n, SIDE, SIDE))):
        assert a.dtype == np.uint8, f"{d}/{name}.npy: dtype {a.dtype}"
        assert a.shape == shape, f"{d}/{name}.npy: shape {a.shape}, expected {shape}"
    assert left.max() < 10 and right.max() < 10, f"{d}: a label is outside 0..9"
    assert set(np.unique(mask)) == {0, 1, 2}, f"{d}: mask classes {np.unique(mask)}"
    assert ((mask != 0) == (image[:, 0] > threshold)).all(), f"{d}: mask and image disagree"
    assert len(np.unique(left)) >= 5 and len(np.unique(right)) >= 5, f"{d}: few classes"

    # Pixels only the left item covers: rows 0..7 and columns 0..7 of its 28x28 frame;
    # only the right item: rows 20..27 and columns 20..27 of its frame.
    band = np.zeros((SRC, SRC), bool)
    band[:SHIFT, :] = True
    band[:, :SHIFT] = True
    lband = band.reshape(-1)
    rband = band[::-1, ::-1].reshape(-1)
    flat = images.reshape(len(images), -1)
    lbank, rbank = flat[:, lband], flat[:, rband]
    verified = 0
    for s in range(n):
        im = image[s, 0]
        lc = candidates(lbank, im[:SRC, :SRC].reshape(-1)[lband])
        rc = candidates(rbank, im[SHIFT:, SHIFT:].reshape(-1)[rband])
        assert len(lc) and len(rc), f"{d}: sample {s}: no source item fits its bands"
        if len(lc) * len(rc) > 64:
            continue  # blank bands: too many items fit
        fits = [(i, j) for i in lc for j in rc
                if all((x == y).all() for x, y in
                       zip(compose(images[i], images[j], threshold), (im, mask[s])))]
        assert fits, f"{d}: sample {s}: no pair of source items recomposes it"
        assert any(labels[i] == left[s] and labels[j] == right[s] and i != j for i, j in fits), \
            f"{d}: sample {s}: labels {left[s]}, {right[s]} are not its items' classes"
        verified += 1
    assert verified >= n // 2, f"{d}: only {verified} of {n} samples could be traced"
    print(f"{d}: {n} samples, {verified} traced to their source items and recomposed")
    return image, left, right, mask


def main():
    out, source, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for split, name in (("train", "train"), ("test", "t10k")):
        images = read_idx(f"{source}/{name}-images-idx3-ubyte.gz", 3)
        labels = read_idx(f"{source}/{name}-labels-idx1-ubyte.gz", 1)
        full = check_split(out, split, images, labels, threshold)
        if len(sys.argv) > 4:
            d = f"{sys.argv[4]}/{split}"
            for a, fname in zip(full, ("image", "left_label", "right_label", "mask")):
                b = np.load(f"{d}/{fname}.npy")
                assert (a[:len(b)] == b).all(), f"{d}/{fname}.npy is not a prefix of {out}"
            print(f"{d}: a prefix of {out}/{split}")


if __name__ == "__main__":
    main()
