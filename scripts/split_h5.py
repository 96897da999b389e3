#!/usr/bin/python3
"""Writes rows [start, stop) of a refine-dataset's /images as a refine-dataset of their own.

  /usr/bin/python3 scripts/split_h5.py POOL.h5 OUT.h5 START STOP [--kind real] [--scene eyes]

Used to split the real eye pool into a tuning half and a held-out half (rows 0..999 and
1000..1999, docs/experiments/2026-12-05-eyes-calibration.md). Writes /images uint8 (N, H, W),
/index int64 (0..N-1) and the root attributes refine_format, refine_format_version, kind and
scene. Needs h5py and numpy (Debian: python3-h5py). Keep the outputs out of the repository:
real crops carry their own licence.
"""
import argparse

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pool")
    ap.add_argument("out")
    ap.add_argument("start", type=int)
    ap.add_argument("stop", type=int)
    ap.add_argument("--kind", default="real")
    ap.add_argument("--scene", default="eyes")
    a = ap.parse_args()
    with h5py.File(a.pool, "r") as f:
        n = f["images"].shape[0]
        if not 0 <= a.start < a.stop <= n:
            ap.error(f"rows {a.start}..{a.stop} outside 0..{n}")
        images = np.asarray(f["images"][a.start:a.stop], dtype=np.uint8)
    with h5py.File(a.out, "w") as g:
        g.create_dataset("images", data=images, chunks=(min(256, len(images)),) + images.shape[1:],
                         compression="gzip", compression_opts=4)
        g.create_dataset("index", data=np.arange(len(images), dtype=np.int64))
        g.attrs["refine_format"] = "refine-dataset"
        g.attrs["refine_format_version"] = np.int32(1)
        g.attrs["kind"] = a.kind
        g.attrs["scene"] = a.scene
        g.attrs["created_by"] = f"scripts/split_h5.py rows {a.start}..{a.stop - 1} of {a.pool}"
    print(f"wrote {a.out}: rows {a.start}..{a.stop - 1} ({len(images)} images {images.shape[1:]})")


if __name__ == "__main__":
    main()
