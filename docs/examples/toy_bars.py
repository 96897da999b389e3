#!/usr/bin/python3
"""Writes labeled training images the way most tools do (plain h5py, no refine-pipeline
attributes): a synthetic set of sharp bars and a 'real' pool and test set of blurred, noisy bars on
a gray background. Class 0 = horizontal bar, 1 = vertical; 'angle' is a float label (the bar's
position in [0, 1]) to show regression labels. Needs Debian's python3-h5py.

    python3 docs/examples/toy_bars.py OUT_DIR
"""
import os
import sys

import h5py
import numpy as np

S = 28


def bars(n, real, rng):
    cls = rng.integers(0, 2, n)
    pos = rng.integers(3, S - 5, n)
    y, x = np.mgrid[0:S, 0:S]
    images = np.zeros((n, S, S), np.uint8)
    for i in range(n):
        d = (x if cls[i] else y) - pos[i]  # distance across the bar
        if real:
            v = 200.0 / (1 + 0.5 * d * d) + 40 + rng.uniform(0, 30, (S, S))
        else:
            v = np.where((d >= 0) & (d < 3), 230.0, 0.0)
        images[i] = np.clip(v, 0, 255)
    return images, cls.astype(np.int64), (pos / (S - 1)).astype(np.float32)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    for name, n, real in (("my-synthetic", 4000, False), ("my-real", 2000, True), ("my-test", 1000, True)):
        images, cls, angle = bars(n, real, rng)
        with h5py.File(os.path.join(out, name + ".h5"), "w") as f:
            f["images"] = images
            f["labels"] = cls
            f["angle"] = angle
        print(f"wrote {name}.h5: images {images.shape}, labels {cls.shape}, angle {angle.shape}")


if __name__ == "__main__":
    main()
