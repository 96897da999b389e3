#!/usr/bin/python3
"""Compares simulated eye crops with real ones on the statistics the eye calibration tunes
(docs/experiments/2026-12-05-eyes-calibration.md): intensity histograms, mean image and its row
and column profiles, sharpness (gradients, Laplacian), and the darkest region (iris, pupil,
lashes: where it is and how big).

  /usr/bin/python3 scripts/measure_sim_eyes.py REAL.h5 SYN.h5 [--n 1000] [--png means.png]

Second-last line: how far apart the fine texture is: the power spectra of the high-pass images
(each minus its 5x5 box mean), mean |log ratio| over the frequencies, and its 6x6 coarse grid
(rows: vertical frequency, columns: horizontal, low to high; + means more power in SYN). The two
halves of the real pool are 0.100 apart.

Last line: a linear classifier (logistic regression) on the 5x5-block means, trained on half of
each set and scored on the other half: the quick check of the coarse layout (seconds; `eval`'s
domain classifier takes minutes). With 1000 rows per set 50% is chance, 100% fully separable.

--png writes the mean and standard-deviation images of both sets side by side (real on the
left), 4x upscaled: aggregates over the sets, never single images. Needs h5py and numpy
(Debian: python3-h5py).
"""
import argparse
import struct
import zlib

import h5py
import numpy as np


def load(path, n):
    with h5py.File(path, "r") as f:
        return f["images"][:n].astype(np.float64)


def stats(x):
    n, H, W = x.shape
    s = {}
    s["per-image min / max (median)"] = (np.median(x.min((1, 2))), np.median(x.max((1, 2))))
    s["distinct values per image (median)"] = np.median([len(np.unique(i)) for i in x])
    s["hist16"] = np.histogram(x, bins=16, range=(0, 256))[0] / x.size * 16
    m = x.mean(0)
    s["row profile"] = m.mean(1)
    s["col profile"] = m.mean(0)
    s["mean image (5x5 blocks)"] = m[: H // 5 * 5, : W // 5 * 5].reshape(H // 5, 5, W // 5, 5).mean((1, 3))
    s["|dx|, |dy|, |laplacian|"] = (np.abs(np.diff(x, axis=2)).mean(), np.abs(np.diff(x, axis=1)).mean(),
                                   np.abs(4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2]
                                          - x[:, 1:-1, 2:]).mean())
    ys, xs = np.mgrid[0:H, 0:W]
    d = x < 40
    cnt = d.sum((1, 2))
    cx = (d * xs).sum((1, 2)) / np.maximum(cnt, 1)
    cy = (d * ys).sum((1, 2)) / np.maximum(cnt, 1)
    sx = np.sqrt((d * (xs - cx[:, None, None]) ** 2).sum((1, 2)) / np.maximum(cnt, 1))
    sy = np.sqrt((d * (ys - cy[:, None, None]) ** 2).sum((1, 2)) / np.maximum(cnt, 1))
    s["pixels < 40: share 5/50/95%"] = np.percentile(cnt / (H * W), [5, 50, 95])
    s["  centroid x 5/50/95%"] = np.percentile(cx, [5, 50, 95])
    s["  centroid y 5/50/95%"] = np.percentile(cy, [5, 50, 95])
    s["  spread x, y (median sd)"] = (np.median(sx), np.median(sy))
    # local noise: residual after a 3x3 mean, in flat-ish areas
    k = (x[:, :-2, :-2] + x[:, :-2, 1:-1] + x[:, :-2, 2:] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:] + x[:, 2:, :-2]
         + x[:, 2:, 1:-1] + x[:, 2:, 2:]) / 8
    s["|pixel - 8-neighbour mean| median"] = np.median(np.abs(x[:, 1:-1, 1:-1] - k))
    return s


def fmt(v):
    if isinstance(v, tuple):
        return "  ".join(f"{a:.2f}" for a in v)
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):.2f}"
    if a.ndim == 1:
        return " ".join(f"{t:.0f}" if abs(t) >= 10 else f"{t:.2f}" for t in a)
    return "\n" + "\n".join(" ".join(f"{t:4.0f}" for t in row) for row in a)


def linear_blocks(r, s, steps=3000, lr=0.5, l2=1e-3):
    """Held-out accuracy of logistic regression on standardised 5x5-block means, real vs syn."""
    def blocks(x):
        n, H, W = x.shape
        return x[:, : H // 5 * 5, : W // 5 * 5].reshape(n, H // 5, 5, W // 5, 5).mean((2, 4)).reshape(n, -1) / 255
    rng = np.random.default_rng(0)
    m = min(len(r), len(s))
    a, b = blocks(r[rng.permutation(len(r))][:m]), blocks(s[rng.permutation(len(s))][:m])
    h = m // 2
    xtr, xte = np.vstack([a[:h], b[:h]]), np.vstack([a[h:], b[h:]])
    ytr, yte = np.r_[np.ones(h), np.zeros(h)], np.r_[np.ones(m - h), np.zeros(m - h)]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    w, c = np.zeros(xtr.shape[1]), 0.0
    for _ in range(steps):
        g = 1 / (1 + np.exp(-(xtr @ w + c))) - ytr
        w -= lr * (xtr.T @ g / len(ytr) + l2 * w)
        c -= lr * g.mean()
    return (((xte @ w + c) > 0) == yte).mean()


def highpass_spectrum(x):
    n, H, W = x.shape
    p = np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="edge")
    h = x - sum(p[:, i:i + H, j:j + W] for i in range(5) for j in range(5)) / 25
    h = h[:, 2:-2, 2:-2]
    h = h - h.mean((1, 2), keepdims=True)
    P = (np.abs(np.fft.rfft2(h)) ** 2).mean(0)
    k = P.shape[0] // 2 + 1  # vertical frequencies 0..Nyquist: fold the negative ones onto them
    return (P[:k] + np.roll(P[::-1], 1, axis=0)[:k]) / 2


def spectrum_gap(r, s):
    lr = np.log(highpass_spectrum(s) / highpass_spectrum(r))
    fh, fw = lr.shape
    grid = [[lr[i * fh // 6:(i + 1) * fh // 6, j * fw // 6:(j + 1) * fw // 6].mean() for j in range(6)] for i in range(6)]
    return np.abs(lr).mean(), grid


def write_png(path, img):
    img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape
    raw = b"".join(b"\0" + img[i].tobytes() for i in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("real")
    ap.add_argument("syn")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--png")
    a = ap.parse_args()
    r, s = load(a.real, a.n), load(a.syn, a.n)
    sr, ss = stats(r), stats(s)
    hr = np.histogram(r, bins=256, range=(0, 256))[0] / r.size
    hs = np.histogram(s, bins=256, range=(0, 256))[0] / s.size
    print(f"real {a.real} ({len(r)})  vs  synthetic {a.syn} ({len(s)})")
    print(f"histogram L1 (256 bins): {np.abs(hr - hs).sum():.3f}")
    print(f"mean image: mean |real - syn| {np.abs(r.mean(0) - s.mean(0)).mean():.1f}; "
          f"std image: mean |real - syn| {np.abs(r.std(0) - s.std(0)).mean():.1f}")
    for k in sr:
        print(f"{k}\n  real: {fmt(sr[k])}\n  syn:  {fmt(ss[k])}")
    if a.png:
        rows = [np.hstack([r.mean(0), np.full((r.shape[1], 2), 128.0), s.mean(0)]),
                np.full((2, 2 * r.shape[2] + 2), 128.0),
                np.hstack([r.std(0) * 2.5, np.full((r.shape[1], 2), 128.0), s.std(0) * 2.5])]
        big = np.kron(np.vstack(rows), np.ones((4, 4)))
        write_png(a.png, big)
        print(f"wrote {a.png}: mean (top) and 2.5 x standard deviation (bottom), real left")
    gap, grid = spectrum_gap(r, s)
    print(f"high-pass power spectrum, mean |log ratio| {gap:.3f}; coarse grid: "
          + " | ".join(" ".join(f"{v:+.1f}" for v in row) for row in grid))
    print(f"linear classifier on 5x5-block means, held-out accuracy: {100 * linear_blocks(r, s):.1f}%")


if __name__ == "__main__":
    main()
