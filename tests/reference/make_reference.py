#!/usr/bin/python3
"""Writes tests/reference/simgan_ref.h5, the PyTorch reference that tests/test_nets.c checks the
C networks against: the refiner R(F, B) and discriminator D of SimGAN with fixed weights, one
refiner step (local adversarial loss + lambda * L1), one discriminator step, and three Adam and
three SGD-momentum steps of the refiner.

Run with Debian's python (python3-torch, python3-h5py):  /usr/bin/python3 tests/reference/make_reference.py

Two groups:
  /D       D's parameters, shared by both groups.
  /eyes    R(64,4) and D on a batch of 2 images of 1x35x55 (D map 9x14): the refiner step and
           the discriminator step with every D gradient. R(64,4)'s 296k parameter gradients do
           not fit a small fixture, so /eyes/refine/gradR holds every bias gradient and the full
           gradients of in.w, block0.conv1.w (the deepest 64->64 conv: its gradient depends on
           every layer above it) and out.w; dL/dx checks the whole backward chain.
  /digits  R(4,2) and D on 2 images of 1x28x28 (D map 7x7): the refiner step with every R
           gradient, the discriminator step (losses, logits, dL/dinput), and 3 Adam + 3
           SGD-momentum steps of the refiner from the same start.

Everything is computed in float64 from float32-representable inputs and weights, then stored as
float32 (losses as float64 scalars). Weights are He-normal draws rounded to a power-of-two grid,
stored exactly as float16 (they compress); biases are small, nonzero, float32. Gradient tensors
of 8192 or more elements are rounded to 12 mantissa bits (relative error <= 2^-13, attribute
mantissa_bits) so the file stays well under 1 MB; the C test widens its tolerance by that much.

Float32 C code and this float64 reference must take the same branch at every ReLU, max-pool
window and L1 sign, or the gradients differ by O(1%) at a few elements. So:
  - every ReLU pre-activation is kept at least MARGIN * rms(layer) away from 0, by shifting the
    bias of any channel that has a value inside that band (layer by layer, R before D; D's
    biases for the eyes batches, since /D is shared by both groups);
  - a seed is rejected if some max-pool window's top two values are closer than MARGIN_POOL *
    rms, or |R(x) - x|, a digits D pre-activation or (digits) a pre-activation after an
    optimizer step falls inside the CHECK band (no bias can be shifted there), or an optimizer
    step meets a gradient element whose float32 rounding noise (estimated by PyTorch in float32)
    exceeds GRAD_NOISE of its value (its sign, and so Adam's first update lr * sign(g), would be
    noise).
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as Fn

torch.set_default_dtype(torch.float64)
torch.set_num_threads(2)

ADV_REFINED, ADV_REAL = 0, 1  # losses/losses.h
LAMBDA = 1e-3                 # self-regularization weight on the SUM of |R(x) - x|
MARGIN = 1e-4                 # ReLU band that bias shifts clear (relative to the layer's rms)
CHECK = 2e-6                  # band checked after optimizer steps (no shifting possible there)
MARGIN_POOL = 1e-5
GRAD_NOISE = 0.05
ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
SGD = dict(lr=1e-2, momentum=0.9)
ROUND_BITS, ROUND_MIN = 12, 8192  # stored precision of the large gradient tensors
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "simgan_ref.h5")

D_LAYERS = [  # name, F, K, stride, pad (pool between conv2 and conv3: 3x3, stride 1, pad 1)
    ("conv1", 96, 3, 2, 1), ("conv2", 64, 3, 2, 1), ("conv3", 32, 3, 1, 1),
    ("conv4", 32, 1, 1, 0), ("conv5", 2, 1, 1, 0)]


def f32(t):
    """Rounds to the nearest float32 value, kept in float64."""
    return t.to(torch.float32).to(torch.float64)


# ------------------------------------------------------------------------------------------
# parameters

def r_shapes(C, F, B):
    s = [("in.w", (F, C, 3, 3)), ("in.b", (F,))]
    for i in range(B):
        s += [(f"block{i}.conv1.w", (F, F, 3, 3)), (f"block{i}.conv1.b", (F,)),
              (f"block{i}.conv2.w", (F, F, 3, 3)), (f"block{i}.conv2.b", (F,))]
    return s + [("out.w", (C, F, 1, 1)), ("out.b", (C,))]


def d_shapes(C):
    s, c = [], C
    for name, F, K, _, _ in D_LAYERS:
        s += [(name + ".w", (F, c, K, K)), (name + ".b", (F,))]
        c = F
    return s


def init_params(shapes, gen):
    p = {}
    for name, shape in shapes:
        if name.endswith(".b"):
            p[name] = f32(0.1 * (2 * torch.rand(shape, generator=gen) - 1))
        else:
            std = (2.0 / np.prod(shape[1:])) ** 0.5
            step = 2.0 ** np.floor(np.log2(std))
            p[name] = torch.round(std * torch.randn(shape, generator=gen) / step) * step
    return p


# ------------------------------------------------------------------------------------------
# networks, written out so the pre-activations are visible

def r_forward(p, x, B, pre=None):
    """R(x); appends every ReLU input to `pre` (a list) if given."""
    def relu(z):
        if pre is not None:
            pre.append(z)
        return torch.relu(z)
    h = relu(Fn.conv2d(x, p["in.w"], p["in.b"], padding=1))
    for i in range(B):
        t = relu(Fn.conv2d(h, p[f"block{i}.conv1.w"], p[f"block{i}.conv1.b"], padding=1))
        h = relu(Fn.conv2d(t, p[f"block{i}.conv2.w"], p[f"block{i}.conv2.b"], padding=1) + h)
    return torch.tanh(Fn.conv2d(h, p["out.w"], p["out.b"]))


def d_forward(p, x, pre=None, pool_in=None):
    h = x
    for name, _, _, s, pad in D_LAYERS:
        z = Fn.conv2d(h, p[name + ".w"], p[name + ".b"], stride=s, padding=pad)
        if name == "conv5":
            return z  # logits: no ReLU
        if pre is not None:
            pre.append(z)
        h = torch.relu(z)
        if name == "conv2":
            if pool_in is not None:
                pool_in.append(h)
            h = Fn.max_pool2d(h, 3, stride=1, padding=1)


def adv_loss(logits, target):
    """Mean 2-class cross-entropy over every location of the map."""
    t = torch.full((logits.shape[0], logits.shape[2], logits.shape[3]), target, dtype=torch.long)
    return Fn.cross_entropy(logits, t)


# ------------------------------------------------------------------------------------------
# keeping float32 and float64 on the same side of every kink

R_BIAS = lambda B: ["in.b"] + [f"block{i}.conv{j}.b" for i in range(B) for j in (1, 2)]
D_BIAS = ["conv1.b", "conv2.b", "conv3.b", "conv4.b"]


def shift_biases(p, biases, preacts_of):
    """Layer by layer, shifts the bias of every channel with a pre-activation inside the band."""
    shifted = 0
    for k, bname in enumerate(biases):
        with torch.no_grad():
            zs = [z for z in preacts_of(p)[k]]  # one tensor per input batch
        z = torch.cat([t.transpose(0, 1).reshape(t.shape[1], -1) for t in zs], dim=1)  # (F, ...)
        band = MARGIN * z.pow(2).mean().sqrt().item()
        b = p[bname].clone()
        for f in range(z.shape[0]):
            v = z[f]
            if v.abs().min().item() >= band:
                continue
            for j in range(1, 1000):
                d = (j // 2 + 1) * 2.5 * band * (1 if j % 2 else -1)
                nb = f32(b[f] + d)
                if (v + (nb - b[f])).abs().min().item() >= band:
                    b[f] = nb
                    shifted += 1
                    break
            else:
                raise RuntimeError(f"cannot clear {bname}[{f}]")
        p[bname] = b
    return shifted


def min_margin(zs):
    """Smallest |z| / rms over a layer's pre-activations (several batches)."""
    z = torch.cat([t.reshape(-1) for t in zs])
    return (z.abs().min() / z.pow(2).mean().sqrt()).item()


def pool_gap(a):
    """Smallest (top1 - top2) / rms over the 3x3 pad-1 windows whose maximum is positive."""
    N, C, H, W = a.shape
    pad = Fn.pad(a, (1, 1, 1, 1), value=-float("inf"))
    win = torch.stack([pad[:, :, i:i + H, j:j + W] for i in range(3) for j in range(3)], dim=-1)
    top = win.topk(2, dim=-1).values
    gap = (top[..., 0] - top[..., 1])[top[..., 0] > 0]
    return (gap.min() / a.pow(2).mean().sqrt()).item() if gap.numel() else float("inf")


def branch_margins(pR, pD, x, real, B):
    """Smallest relative distances to the branch points of the refiner and discriminator steps:
    R's ReLUs, D's ReLUs, D's max-pool windows, the signs of R(x) - x."""
    with torch.no_grad():
        pre = []
        y = r_forward(pR, x, B, pre)
        mr = min(min_margin([z]) for z in pre)
        dpre_y, dpre_r, pool = [], [], []
        d_forward(pD, y, dpre_y, pool)
        d_forward(pD, real, dpre_r, pool)
        md = min(min_margin([a, b]) for a, b in zip(dpre_y, dpre_r))
        diff = y - x
        l1m = (diff.abs().min() / diff.pow(2).mean().sqrt()).item()
        return mr, md, min(pool_gap(a) for a in pool), l1m


def margins_ok(m, d_shifted):
    """R's biases are always shifted (band MARGIN); D's only in the case that owns D."""
    mr, md, gap, l1m = m
    return mr >= 0.99 * MARGIN and md >= (0.99 * MARGIN if d_shifted else CHECK) and gap >= MARGIN_POOL \
        and l1m >= CHECK


# ------------------------------------------------------------------------------------------
# the steps

def refiner_step(pR, pD, x, B):
    """Refiner loss adv(D(R(x)), real) + LAMBDA * sum|R(x) - x| and its gradients."""
    pr = {k: v.clone().requires_grad_(True) for k, v in pR.items()}
    xx = x.clone().requires_grad_(True)
    y = r_forward(pr, xx, B)
    y.retain_grad()
    logits = d_forward(pD, y)
    adv = adv_loss(logits, ADV_REAL)
    l1 = (y - xx).abs().sum()
    loss = adv + LAMBDA * l1
    loss.backward()
    return dict(Rx=y.detach(), logits=logits.detach(), adv=adv.item(), l1=l1.item(), loss=loss.item(),
                dRx=y.grad.detach(), dx=xx.grad.detach(), gradR={k: v.grad.detach() for k, v in pr.items()})


def disc_step(pD, real, refined):
    """D loss = mean CE(D(real), real) + mean CE(D(refined), refined); both halves in one batch."""
    pd = {k: v.clone().requires_grad_(True) for k, v in pD.items()}
    batch = torch.cat([real, refined]).requires_grad_(True)
    logits = d_forward(pd, batch)
    n = real.shape[0]
    lr_, lf_ = adv_loss(logits[:n], ADV_REAL), adv_loss(logits[n:], ADV_REFINED)
    loss = lr_ + lf_
    loss.backward()
    pred = logits.argmax(dim=1)  # ties go to class 0, as in the C loss
    correct = (pred[:n] == ADV_REAL).sum().item() + (pred[n:] == ADV_REFINED).sum().item()
    return dict(logits=logits.detach(), loss_real=lr_.item(), loss_fake=lf_.item(), loss=loss.item(),
                din=batch.grad.detach(), correct=correct, gradD={k: v.grad.detach() for k, v in pd.items()})


def grad_noise(pR, pD, x, B, g64):
    """Largest |g32 - g64| / |g64| over the nonzero refiner gradient elements, g32 computed by
    PyTorch in float32: an estimate of how far float32 rounding can move each element. Adam's
    first step is lr * sign(g), so an element whose noise reaches its size could flip."""
    g32 = refiner_step({k: v.float() for k, v in pR.items()}, {k: v.float() for k, v in pD.items()},
                       x.float(), B)["gradR"]
    worst = 0.0
    for k, t in g64.items():
        nz = t != 0
        if nz.any():
            worst = max(worst, ((g32[k].double() - t)[nz].abs() / t[nz].abs()).max().item())
    return worst


def optimizer_run(kind, pR, pD, x, real, B):
    """Three steps of torch.optim on the refiner loss; returns params after each step, or None
    if a step's forward pass comes too close to a kink."""
    params = {k: v.clone().requires_grad_(True) for k, v in pR.items()}
    names = list(params)
    if kind == "adam":
        opt = torch.optim.Adam([params[k] for k in names], lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                               eps=ADAM["eps"])
    else:
        opt = torch.optim.SGD([params[k] for k in names], lr=SGD["lr"], momentum=SGD["momentum"])
    steps = []
    for step in range(3):
        cur = {k: v.detach() for k, v in params.items()}
        mr, md, gap, l1m = branch_margins(cur, pD, x, real, B)
        if min(mr, md, l1m) < CHECK or gap < MARGIN_POOL:
            print(f"  {kind} step {step}: margins R {mr:.2e} D {md:.2e} pool gap {gap:.2e} l1 {l1m:.2e}: "
                  "too close")
            return None
        opt.zero_grad()
        g = refiner_step(cur, pD, x, B)["gradR"]
        noise = grad_noise(cur, pD, x, B, g)
        if noise > GRAD_NOISE:
            print(f"  {kind} step {step}: a gradient element is within float32 noise ({noise:.2e})")
            return None
        for k in names:
            params[k].grad = g[k].clone()
        opt.step()
        steps.append({k: v.detach().clone() for k, v in params.items()})
    return steps


# ------------------------------------------------------------------------------------------

def make_case(name, C, F, B, H, W, N, seed, pD_fixed=None, grad_subset=None, dstep_grads=True,
              optimizers=False):
    """One group. With pD_fixed, D is given (its biases already shifted for another case) and
    only checked here."""
    for attempt in range(50):
        s = seed + attempt
        gen = torch.Generator().manual_seed(s)
        pR = init_params(r_shapes(C, F, B), gen)
        pD = init_params(d_shapes(C), gen) if pD_fixed is None else dict(pD_fixed)
        x = f32(2 * torch.rand((N, C, H, W), generator=gen) - 1)
        real = f32(2 * torch.rand((N, C, H, W), generator=gen) - 1)

        def r_pre(p):
            pre = []
            r_forward(p, x, B, pre)
            return [[z] for z in pre]
        nr = shift_biases(pR, R_BIAS(B), r_pre)
        with torch.no_grad():
            y = r_forward(pR, x, B)

        def d_pre(p):
            a, b = [], []
            d_forward(p, y, a)
            d_forward(p, real, b)
            return [[u, v] for u, v in zip(a, b)]
        nd = shift_biases(pD, D_BIAS, d_pre) if pD_fixed is None else 0
        m = branch_margins(pR, pD, x, real, B)
        print(f"{name} seed {s}: shifted {nr} R and {nd} D biases; margins R {m[0]:.2e} D {m[1]:.2e} "
              f"pool {m[2]:.2e} l1 {m[3]:.2e}")
        if not margins_ok(m, pD_fixed is None):
            continue
        ref = refiner_step(pR, pD, x, B)
        dst = disc_step(pD, real, ref["Rx"])
        case = dict(C=C, F=F, B=B, H=H, W=W, N=N, seed=s, pR=pR, pD=pD, x=x, real=real, refine=ref, dstep=dst,
                    grad_subset=grad_subset, dstep_grads=dstep_grads)
        if optimizers:
            adam = optimizer_run("adam", pR, pD, x, real, B)
            sgd = optimizer_run("sgd", pR, pD, x, real, B) if adam else None
            if not sgd:
                continue
            case.update(adam=adam, sgd=sgd)
        return case
    raise RuntimeError(f"{name}: no seed passed the margin checks")


def round_mantissa(a, bits):
    """Rounds float32 values to `bits` explicit mantissa bits (nearest, ties away from zero):
    relative error at most 2^-(bits+1). The zeroed low bits compress away."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    drop = 23 - bits
    u = ((u + (1 << (drop - 1))) >> drop) << drop
    return u.astype(np.uint32).view(np.float32)


def put(g, name, t, kind=None):
    """kind "w": weights on their power-of-two grid, stored exactly as float16.
    kind "g": gradients; tensors of at least ROUND_MIN elements are rounded to ROUND_BITS
    mantissa bits (attribute mantissa_bits) to keep the fixture small."""
    a = np.asarray(t.detach().to(torch.float32).numpy() if torch.is_tensor(t) else t) + np.float32(0)
    attrs = {}
    if kind == "w":
        h = a.astype(np.float16)
        assert np.array_equal(h.astype(np.float32), a), name + ": weight not exact in float16"
        a = h
    elif kind == "g" and a.size >= ROUND_MIN:
        a = round_mantissa(a, ROUND_BITS)
        attrs["mantissa_bits"] = ROUND_BITS
    if a.nbytes <= 4096:  # tiny: compression would not pay for its chunk index
        d = g.create_dataset(name, data=a)
    else:
        d = g.create_dataset(name, data=a, compression="gzip", compression_opts=9, shuffle=True)
    for k, v in attrs.items():
        d.attrs[k] = v


def write_case(f, name, c):
    g = f.create_group(name)
    for k in ("C", "F", "B", "H", "W", "N", "seed"):
        g.attrs[k] = c[k]
    g.attrs["lambda"] = LAMBDA
    put(g, "x", c["x"])
    put(g, "real", c["real"])
    for k, v in c["pR"].items():
        put(g, "R/" + k, v, "w" if k.endswith(".w") else None)
    r, d = c["refine"], c["dstep"]
    gr = g.create_group("refine")
    for k in ("Rx", "logits", "dRx", "dx"):
        put(gr, k, r[k])
    for k in ("adv", "l1", "loss"):
        gr.create_dataset(k, data=np.float64(r[k]))
    for k, v in r["gradR"].items():
        if c["grad_subset"] is None or k in c["grad_subset"] or k.endswith(".b"):
            put(gr, "gradR/" + k, v, "g")
    gd = g.create_group("dstep")
    put(gd, "logits", d["logits"])
    if not c["dstep_grads"]:  # with D's gradients, dL/dinput adds little and costs 28 kB
        put(gd, "din", d["din"])
    for k in ("loss_real", "loss_fake", "loss"):
        gd.create_dataset(k, data=np.float64(d[k]))
    gd.create_dataset("correct", data=np.int64(d["correct"]))
    if c["dstep_grads"]:
        for k, v in d["gradD"].items():
            put(gd, "gradD/" + k, v, "g")
    for kind, hp in (("adam", ADAM), ("sgd", SGD)):
        if kind not in c:
            continue
        go = g.create_group(kind)
        for k, v in hp.items():
            go.attrs[k] = v
        for i, params in enumerate(c[kind]):
            for k, v in params.items():
                put(go, f"step{i + 1}/{k}", v)


def main():
    eyes = make_case("eyes", 1, 64, 4, 35, 55, 2, seed=1003,
                     grad_subset={"in.w", "block0.conv1.w", "out.w"})
    digits = make_case("digits", 1, 4, 2, 28, 28, 2, seed=2012, pD_fixed=eyes["pD"], dstep_grads=False,
                       optimizers=True)
    with h5py.File(OUT + ".tmp", "w", libver="latest") as f:
        f.attrs["created_by"] = "tests/reference/make_reference.py (torch %s)" % torch.__version__
        f.attrs["adv_real"] = ADV_REAL
        f.attrs["margin"] = MARGIN
        for k, v in eyes["pD"].items():
            put(f, "D/" + k, v, "w" if k.endswith(".w") else None)
        write_case(f, "eyes", eyes)
        write_case(f, "digits", digits)
    os.replace(OUT + ".tmp", OUT)
    for c, n in ((eyes, "eyes"), (digits, "digits")):
        r = c["refine"]
        print(f"{n}: adv {r['adv']:.6f} l1 {r['l1']:.4f} (lambda*l1 {LAMBDA * r['l1']:.6f}) "
              f"D loss {c['dstep']['loss']:.6f}")
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
