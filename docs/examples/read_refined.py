#!/usr/bin/python3
"""Reads a refined set back with h5py and checks its labels against the synthetic set it came from.

    python3 docs/examples/read_refined.py synthetic.h5 runs/bars/refined.h5
"""
import sys

import h5py
import numpy as np

syn, ref = (h5py.File(p, "r") for p in sys.argv[1:3])
print("refined:", ref["images"].shape, ref["images"].dtype, "from", ref.attrs["source_file"],
      "with", ref.attrs["refiner_checkpoint"], "step", ref.attrs["refiner_step"])
for name in ref["labels"]:
    same = np.array_equal(ref["labels"][name][()], syn["labels"][name][()])
    units = ref["labels"][name].attrs.get("units", "")
    print(f"  labels/{name}: {ref['labels'][name].shape} {ref['labels'][name].dtype} {units}  same as synthetic: {same}")
index = ref["index"][()]
print("  index: rows", index[:3], "...", index[-1], " 1:1 with the source:", np.array_equal(index, np.arange(len(index))))
diff = np.abs(ref["images"][()].astype(int) - syn["images"][()].astype(int)).mean()
print(f"  mean |refined - synthetic|: {diff:.1f} gray levels")
