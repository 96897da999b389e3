/* The SIMD kernels of conv2d_fast, written once over a vector abstraction and included by
 * conv2d_fast_avx512.c (16 floats per vector) and conv2d_fast_avx2.c (8), each compiled with its
 * own -m flags. The includer defines: KSUF (name suffix), V (vector type), VL, NBMAX (vectors per
 * micro-kernel row), ACCMAX (accumulator registers), VLOAD VSTORE VSET1 VZERO VADD VSUB VMUL VFMA
 * (a*b+c) VFNMA (c-a*b) VMAX0 VMASKPOS(v, m) (v where m > 0, else 0) VKEEP(b, v) (v if b is 1, 0 if 0) VLOADM(b, p) (load if b is 1, else 0 without touching p) VHSUM.
 *
 * Winograd F(4x4, 3x3) (Lavin & Gray 2016, points 0, +-1, +-2, inf): for a 6x6 input window d
 * and a 3x3 kernel g, the 4x4 output is Y = A^T [(G g G^T) . (B^T d B)] A. Summed over input
 * channels, each of the 36 products becomes a GEMM: M_xi (tiles, F) = V_xi (tiles, C) U_xi (C, F).
 * The transforms work on whole vectors of channels, so NHWC maps need no shuffles. */
#include <stddef.h>
#include <string.h>

#define KCAT2(a, b) a##_##b
#define KCAT(a, b) KCAT2(a, b)
#define KN(name) KCAT(name, KSUF)
#define INL static inline __attribute__((always_inline))

/* ------------------------------------------------------------------------------------------ */
/* GEMM micro-kernel: an R x NB block of vectors held in registers over the whole K loop. A's
 * elements are broadcast (any strides), B's rows are NB vectors. */

INL void KN(mk)(const int R, const int NB, int K, const float *A, long ars, long aks, const float *B, long ldb,
                float *Cm, long ldc, int acc) {
    V c[12][NBMAX];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) c[r][j] = acc ? VLOAD(Cm + r * ldc + j * VL) : VZERO();
    for (int k = 0; k < K; k++, A += aks, B += ldb) {
        V b[NBMAX];
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) b[j] = VLOAD(B + j * VL);
#pragma GCC unroll 12
        for (int r = 0; r < R; r++) {
            const V a = VSET1(A[r * ars]);
#pragma GCC unroll 4
            for (int j = 0; j < NB; j++) c[r][j] = VFMA(a, b[j], c[r][j]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NB; j++) VSTORE(Cm + r * ldc + j * VL, c[r][j]);
}

/* Rows per micro-kernel call for NB vectors per row: as many as the accumulators allow, <= 12. */
static int KN(rows_for)(int nb) {
    int r = ACCMAX / nb;
    return r > 12 ? 12 : r;
}

#define MK_CASE(r, nb) \
    case r: KN(mk)(r, nb, K, A, ars, aks, B, ldb, Cm, ldc, acc); return;
#define MK_ROWS(nb)                                                                                       \
    switch (R) {                                                                                          \
        MK_CASE(1, nb) MK_CASE(2, nb) MK_CASE(3, nb) MK_CASE(4, nb) MK_CASE(5, nb) MK_CASE(6, nb)        \
        MK_CASE(7, nb) MK_CASE(8, nb) MK_CASE(9, nb) MK_CASE(10, nb) MK_CASE(11, nb) MK_CASE(12, nb)     \
    }

static void KN(mk_any)(int R, int NB, int K, const float *A, long ars, long aks, const float *B, long ldb, float *Cm,
                       long ldc, int acc) {
    switch (NB) {
    case 1: MK_ROWS(1) break;
    case 2: MK_ROWS(2) break;
#if NBMAX >= 4
    case 3: MK_ROWS(3) break;
    case 4: MK_ROWS(4) break;
#endif
    }
}

/* K is split into blocks so that a panel of B (kb rows) stays in L1 while every row block of A
 * passes over it. */
enum { GEMM_KB = 48 };

static void KN(gemm)(int M, int N, int K, const float *A, long ars, long aks, const float *B, long ldb, float *Cm,
                     long ldc, int acc) {
    const int nkb = (K + GEMM_KB - 1) / GEMM_KB, KB = nkb ? (K + nkb - 1) / nkb : 0; /* balanced blocks */
    for (int k0 = 0; k0 < K; k0 += KB) {
        const int kb = K - k0 < KB ? K - k0 : KB, a = acc || k0 > 0;
        for (int j0 = 0; j0 < N; j0 += NBMAX * VL) {
            int nb = (N - j0) / VL;
            if (nb > NBMAX) nb = NBMAX;
            const int rm = KN(rows_for)(nb);
            for (int i0 = 0; i0 < M; i0 += rm) {
                const int r = M - i0 < rm ? M - i0 : rm;
                KN(mk_any)(r, nb, kb, A + i0 * ars + k0 * aks, ars, aks, B + (long)k0 * ldb + j0, ldb,
                           Cm + (long)i0 * ldc + j0, ldc, a);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* 1-D transforms on six (or four) vectors */

/* o = B^T d. */
INL void KN(bt6)(const V d[6], V o[6]) {
    const V two = VSET1(2.0f), four = VSET1(4.0f), five = VSET1(5.0f);
    const V t0 = VFNMA(four, d[2], d[4]); /* d4 - 4 d2 */
    const V t1 = VFNMA(four, d[1], d[3]); /* d3 - 4 d1 */
    const V t2 = VSUB(d[4], d[2]);
    const V t3 = VMUL(two, VSUB(d[3], d[1]));
    o[0] = VFMA(four, d[0], VFNMA(five, d[2], d[4]));
    o[1] = VADD(t0, t1);
    o[2] = VSUB(t0, t1);
    o[3] = VADD(t2, t3);
    o[4] = VSUB(t2, t3);
    o[5] = VFMA(four, d[1], VFNMA(five, d[3], d[5]));
}

/* o (4) = A^T m (6). */
INL void KN(at6)(const V m[6], V o[4]) {
    const V two = VSET1(2.0f), four = VSET1(4.0f), eight = VSET1(8.0f);
    const V a = VADD(m[1], m[2]), b = VSUB(m[1], m[2]), c = VADD(m[3], m[4]), d = VSUB(m[3], m[4]);
    o[0] = VADD(VADD(m[0], a), c);
    o[1] = VFMA(two, d, b);
    o[2] = VFMA(four, c, a);
    o[3] = VADD(VFMA(eight, d, b), m[5]);
}

/* o (6) = A y (4): the adjoint of at6. */
INL void KN(a4)(const V y[4], V o[6]) {
    const V two = VSET1(2.0f), four = VSET1(4.0f), eight = VSET1(8.0f);
    const V e = VADD(y[0], y[2]), od = VADD(y[1], y[3]);
    const V e2 = VFMA(four, y[2], y[0]), o2 = VFMA(eight, y[3], VMUL(two, y[1]));
    o[0] = y[0];
    o[1] = VADD(e, od);
    o[2] = VSUB(e, od);
    o[3] = VADD(e2, o2);
    o[4] = VSUB(e2, o2);
    o[5] = y[3];
}

/* ------------------------------------------------------------------------------------------ */
/* Tile transforms */

typedef struct {
    long img;   /* offset of the tile's image */
    int y0, x0; /* top-left output pixel */
} KN(tile_pos);

INL KN(tile_pos) KN(tile_at)(const cf_geom *g, int t, int ch) {
    const int n = t / g->T, r = t % g->T;
    KN(tile_pos) p = {(long)n * g->H * g->W * ch, (r / g->TW) * 4, (r % g->TW) * 4};
    return p;
}

/* Window addressing: element (i, j) of a window is p[ro[i] + co[j]], kept where rv[i] & cv[j]
 * (windows crossing the image border point their outside rows and columns at the nearest inside
 * ones and zero them with VKEEP: no branches, no reads outside the map). */
typedef struct {
    long ro[6], co[6];
    int rv[6], cv[6];
} KN(window);

/* The n-row window starting at row y0 of an image with H rows of pitch rs (same for columns). */
INL void KN(window_rows)(KN(window) *w, int n, int y0, int H, long rs) {
    for (int i = 0; i < n; i++) {
        const int y = y0 + i;
        w->rv[i] = y >= 0 && y < H;
        w->ro[i] = (long)(y < 0 ? 0 : y >= H ? H - 1 : y) * rs;
    }
}

INL void KN(window_cols)(KN(window) *w, int n, int x0, int W, long cs) {
    for (int j = 0; j < n; j++) {
        const int x = x0 + j;
        w->cv[j] = x >= 0 && x < W;
        w->co[j] = (long)(x < 0 ? 0 : x >= W ? W - 1 : x) * cs;
    }
}

/* Vt[xi * xs] = (B^T d B)_xi for one vector of channels of the 6x6 window at p: rows rs floats
 * apart, columns cs (a constant once inlined), so every address is a row pointer plus an immediate. Element (i, j) is loaded only where bit 6i + j of m is set,
 * zero elsewhere: masked loads never fault, so windows across the border need no clamping. */
INL void KN(in_window_inner)(const float *p, long rs, const int cs, float *Vt, const int xs, const int masked,
                             unsigned long long m) {
    V tmp[6][6];
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) {
        V col[6], o[6];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++)
            col[i] = masked ? VLOADM((m >> (i * 6 + j)) & 1, p + i * rs + j * cs) : VLOAD(p + i * rs + j * cs);
        KN(bt6)(col, o);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) tmp[i][j] = o[i];
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        V o[6];
        KN(bt6)(tmp[i], o);
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) VSTORE(Vt + (i * 6 + j) * xs, o[j]);
    }
}

/* Vt[xi * C + c] for tile t, all C channels (C a constant once inlined). */
INL void KN(in_tile_c)(const cf_geom *g, float *Vt, const float *in, int t, const int C) {
    const int H = g->H, W = g->W;
    const KN(tile_pos) p = KN(tile_at)(g, t, C);
    const int y0 = p.y0 - 1, x0 = p.x0 - 1;
    const float *base = in + p.img;
    const float *q = base + ((long)y0 * W + x0) * C; /* may lie outside the map: only masked loads use it */
    if (y0 >= 0 && y0 + 6 <= H && x0 >= 0 && x0 + 6 <= W) {
        for (int c = 0; c < C; c += VL) KN(in_window_inner)(q + c, (long)W * C, C, Vt + c, C, 0, 0);
        return;
    }
    unsigned long long m = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if (y0 + i >= 0 && y0 + i < H && x0 + j >= 0 && x0 + j < W) m |= 1ULL << (i * 6 + j);
    for (int c = 0; c < C; c += VL) KN(in_window_inner)(q + c, (long)W * C, C, Vt + c, C, 1, m);
}

static void KN(in_tile)(const cf_geom *g, float *Vt, const float *in, int t) {
    switch (g->C) {
    case 16: KN(in_tile_c)(g, Vt, in, t, 16); break;
    case 32: KN(in_tile_c)(g, Vt, in, t, 32); break;
    case 64: KN(in_tile_c)(g, Vt, in, t, 64); break;
    default: KN(in_tile_c)(g, Vt, in, t, g->C); break;
    }
}

/* The epilogue's pointers, copied out of conv2d_epilogue so stores to out cannot make the compiler
 * reload them. */
typedef struct {
    const float *bias, *res, *mask;
    int relu;
} KN(epi);

/* out (4x4 at q, rows rs apart, columns cs) = epilogue(A^T m A) for one vector of channels,
 * m[xi] at Mt[xi * xs]; only the first ny x nx outputs are written. */
INL void KN(out_window)(const float *Mt, const int xs, float *out, long q, long rs, const int cs, int ny, int nx,
                        V bias, const KN(epi) *e) {
    V tmp[4][6], o[4][4];
#pragma GCC unroll 6
    for (int j = 0; j < 6; j++) {
        V col[6], r[4];
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) col[i] = VLOAD(Mt + (i * 6 + j) * xs);
        KN(at6)(col, r);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) tmp[i][j] = r[i];
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) KN(at6)(tmp[i], o[i]);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            if (i >= ny || j >= nx) continue;
            const long a = q + i * rs + j * cs;
            V v = VADD(o[i][j], bias);
            if (e->res) v = VADD(v, VLOAD(e->res + a));
            if (e->mask) v = VMASKPOS(v, VLOAD(e->mask + a));
            if (e->relu) v = VMAX0(v);
            VSTORE(out + a, v);
        }
}

/* The output tile t from Mt[xi * F + f], through the epilogue (F a constant once inlined). */
INL void KN(out_tile_c)(const cf_geom *g, float *out, const float *Mt, const KN(epi) *e, int t, const int F) {
    const int H = g->H, W = g->W;
    const KN(tile_pos) p = KN(tile_at)(g, t, F);
    const int ny = H - p.y0 < 4 ? H - p.y0 : 4, nx = W - p.x0 < 4 ? W - p.x0 : 4;
    const long q = p.img + ((long)p.y0 * W + p.x0) * F;
    for (int f = 0; f < F; f += VL) {
        const V bias = e->bias ? VLOAD(e->bias + f) : VZERO();
        if (ny == 4 && nx == 4) KN(out_window)(Mt + f, F, out, q + f, (long)W * F, F, 4, 4, bias, e);
        else KN(out_window)(Mt + f, F, out, q + f, (long)W * F, F, ny, nx, bias, e);
    }
}

static void KN(out_tile)(const cf_geom *g, float *out, const float *Mt, const conv2d_epilogue *ep, int t) {
    const KN(epi) e = {ep->bias, ep->res, ep->mask, ep->relu};
    switch (g->F) {
    case 16: KN(out_tile_c)(g, out, Mt, &e, t, 16); break;
    case 32: KN(out_tile_c)(g, out, Mt, &e, t, 32); break;
    case 64: KN(out_tile_c)(g, out, Mt, &e, t, 64); break;
    default: KN(out_tile_c)(g, out, Mt, &e, t, g->F); break;
    }
}

/* dMt[xi * xs] = (A y A^T)_xi for one vector of channels of the 4x4 block w (clip: apply rv, cv);
 * returns the block's sum. */
INL V KN(dy_window)(const float *p, const KN(window) *w, int clip, float *dMt, long xs) {
    V tmp[6][4], s = VZERO();
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        V col[4], o[6];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            col[i] = VLOAD(p + w->ro[i] + w->co[j]);
            if (clip) col[i] = VKEEP(w->rv[i] & w->cv[j], col[i]);
            s = VADD(s, col[i]);
        }
        KN(a4)(col, o);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) tmp[i][j] = o[i];
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++) {
        V o[6];
        KN(a4)(tmp[i], o);
#pragma GCC unroll 6
        for (int j = 0; j < 6; j++) {
            VSTORE(dMt, o[j]);
            dMt += xs;
        }
    }
    return s;
}

/* dMt[xi * xs + f] = (A dY A^T)_xi for output tile t of dout (zero outside the image); db += its sum. */
static void KN(dy_tile)(const cf_geom *g, float *dMt, long xs, float *db, const float *dout, int t) {
    const int F = g->F, H = g->H, W = g->W;
    const KN(tile_pos) p = KN(tile_at)(g, t, F);
    KN(window) w;
    KN(window_rows)(&w, 4, p.y0, H, (long)W * F);
    KN(window_cols)(&w, 4, p.x0, W, F);
    const float *base = dout + p.img;
    const int full = p.y0 + 4 <= H && p.x0 + 4 <= W;
    for (int f = 0; f < F; f += VL) {
        const V s = full ? KN(dy_window)(base + f, &w, 0, dMt + f, xs) : KN(dy_window)(base + f, &w, 1, dMt + f, xs);
        if (db) VSTORE(db + f, VADD(VLOAD(db + f), s));
    }
}

static void KN(wino_forward)(const cf_geom *g, float *out, const float *in, const float *U, const conv2d_epilogue *e,
                             int t0, int nt, float *Vb, float *Mb) {
    const int C = g->C, F = g->F;
    for (int t = 0; t < nt; t++) KN(in_tile)(g, Vb + (long)t * WINO_XI * C, in, t0 + t);
    for (int xi = 0; xi < WINO_XI; xi++)
        KN(gemm)(nt, F, C, Vb + (long)xi * C, WINO_XI * C, 1, U + (long)xi * C * F, F, Mb + (long)xi * F,
                 WINO_XI * F, 0);
    for (int t = 0; t < nt; t++) KN(out_tile)(g, out, Mb + (long)t * WINO_XI * F, e, t0 + t);
}

static void KN(wino_grad_transform)(const cf_geom *g, float *Vb, float *dMb, float *db, const float *in,
                                    const float *dout, int t0, int nt) {
    for (int t = 0; t < nt; t++) {
        KN(in_tile)(g, Vb + (long)t * WINO_XI * g->C, in, t0 + t);
        KN(dy_tile)(g, dMb + (long)t * WINO_XI * g->F, g->F, db, dout, t0 + t);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Expand: few-channel NCHW images -> NHWC maps, 3x3 same-padded (d->F a multiple of VL). */

static void KN(expand_forward)(const conv2d_desc *d, float *out, const float *in, const float *wt,
                               const conv2d_epilogue *e, int n0, int n1) {
    const int C = d->C, H = d->H, W = d->W, F = d->F;
    const float *res = e->res, *mask = e->mask, *bias = e->bias;
    const int relu = e->relu;
    for (int n = n0; n < n1; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const long q = (((long)n * H + y) * W + x) * F;
                const int inner = y > 0 && y < H - 1 && x > 0 && x < W - 1;
                /* one vector of output channels at a time: its accumulator stays in a register */
                for (int f = 0; f < F; f += VL) {
                    V acc = bias ? VLOAD(bias + f) : VZERO();
                    for (int c = 0; c < C; c++) {
                        const float *p = in + (((long)n * C + c) * H + y - 1) * W + x - 1;
                        const float *wc = wt + (long)c * 9 * F + f;
                        if (inner) {
#pragma GCC unroll 3
                            for (int ki = 0; ki < 3; ki++)
#pragma GCC unroll 3
                                for (int kj = 0; kj < 3; kj++)
                                    acc = VFMA(VSET1(p[ki * W + kj]), VLOAD(wc + (ki * 3 + kj) * F), acc);
                        } else {
                            for (int ki = 0; ki < 3; ki++) {
                                if (y + ki - 1 < 0 || y + ki - 1 >= H) continue;
                                for (int kj = 0; kj < 3; kj++) {
                                    if (x + kj - 1 < 0 || x + kj - 1 >= W) continue;
                                    acc = VFMA(VSET1(p[ki * W + kj]), VLOAD(wc + (ki * 3 + kj) * F), acc);
                                }
                            }
                        }
                    }
                    if (res) acc = VADD(acc, VLOAD(res + q + f));
                    if (mask) acc = VMASKPOS(acc, VLOAD(mask + q + f));
                    if (relu) acc = VMAX0(acc);
                    VSTORE(out + q + f, acc);
                }
            }
}

static void KN(expand_backward)(const conv2d_desc *d, float *din, float *dwt, float *db, const float *dout,
                                const float *in, const float *w, int n) {
    const int C = d->C, H = d->H, W = d->W, F = d->F;
    const float *go = dout + (long)n * H * W * F;
    const float *x = in + (long)n * C * H * W;
    if (db)
        for (int f = 0; f < F; f += VL) {
            V s = VZERO();
            for (long p = 0; p < (long)H * W; p++) s = VADD(s, VLOAD(go + p * F + f));
            VSTORE(db + f, s);
        }
    if (dwt)
        for (int c = 0; c < C; c++)
            for (int ki = 0; ki < 3; ki++)
                for (int kj = 0; kj < 3; kj++) {
                    float *dst = dwt + (long)((c * 3 + ki) * 3 + kj) * F;
                    /* output rows and columns whose input (y + ki - 1, x + kj - 1) is inside */
                    const int ya = ki == 0 ? 1 : 0, yb = ki == 2 ? H - 1 : H;
                    const int xa = kj == 0 ? 1 : 0, xb = kj == 2 ? W - 1 : W;
                    for (int f = 0; f < F; f += VL) {
                        V s0 = VZERO(), s1 = VZERO(), s2 = VZERO(), s3 = VZERO(); /* four FMA chains */
                        for (int y = ya; y < yb; y++) {
                            const float *xr = x + ((long)c * H + y + ki - 1) * W + kj - 1;
                            const float *gr = go + (long)y * W * F + f;
                            int xx = xa;
                            for (; xx + 3 < xb; xx += 4) {
                                s0 = VFMA(VSET1(xr[xx]), VLOAD(gr + (long)xx * F), s0);
                                s1 = VFMA(VSET1(xr[xx + 1]), VLOAD(gr + (long)(xx + 1) * F), s1);
                                s2 = VFMA(VSET1(xr[xx + 2]), VLOAD(gr + (long)(xx + 2) * F), s2);
                                s3 = VFMA(VSET1(xr[xx + 3]), VLOAD(gr + (long)(xx + 3) * F), s3);
                            }
                            for (; xx < xb; xx++) s0 = VFMA(VSET1(xr[xx]), VLOAD(gr + (long)xx * F), s0);
                        }
                        VSTORE(dst + f, VADD(VADD(s0, s1), VADD(s2, s3)));
                    }
                }
    if (din) {
        float *dx = din + (long)n * C * H * W;
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    /* din(c, y, x) = sum over taps and f of dout(y - ki + 1, x - kj + 1, f) w(f, c, ki, kj) */
                    float s = 0;
                    for (int ki = 0; ki < 3; ki++) {
                        const int oy = y - ki + 1;
                        if (oy < 0 || oy >= H) continue;
                        for (int kj = 0; kj < 3; kj++) {
                            const int ox = xx - kj + 1;
                            if (ox < 0 || ox >= W) continue;
                            const float *gr = go + ((long)oy * W + ox) * F;
                            for (int f = 0; f < F; f++) s += gr[f] * w[((long)f * C + c) * 9 + ki * 3 + kj];
                        }
                    }
                    dx[((long)c * H + y) * W + xx] += s;
                }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Project: NHWC maps (d->C channels, a multiple of VL) -> few-channel NCHW images, 1x1. */

static void KN(project_forward)(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                                int n0, int n1) {
    const int C = d->C, F = d->F;
    const long P = (long)d->H * d->W;
    for (int n = n0; n < n1; n++)
        for (long p = 0; p < P; p++) {
            const float *x = in + ((long)n * P + p) * C;
            for (int f = 0; f < F; f++) {
                V s = VZERO();
                for (int c = 0; c < C; c += VL) s = VFMA(VLOAD(x + c), VLOAD(w + (long)f * C + c), s);
                out[((long)n * F + f) * P + p] = VHSUM(s) + (b ? b[f] : 0.0f);
            }
        }
}

static void KN(project_backward)(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                                 const float *in, const float *w, const conv2d_epilogue *e, int n) {
    const int C = d->C, F = d->F;
    const long P = (long)d->H * d->W;
    const float *go = dout + (long)n * F * P;
    if (db)
        for (int f = 0; f < F; f++) {
            float s = 0;
            for (long p = 0; p < P; p++) s += go[f * P + p];
            db[f] = s;
        }
    for (int f = 0; dw && f < F; f++)
        for (int c = 0; c < C; c += VL) {
            V s = VZERO();
            for (long p = 0; p < P; p++) s = VFMA(VSET1(go[f * P + p]), VLOAD(in + ((long)n * P + p) * C + c), s);
            VSTORE(dw + (long)f * C + c, s);
        }
    if (din)
        for (long p = 0; p < P; p++) {
            const long q = ((long)n * P + p) * C;
            for (int c = 0; c < C; c += VL) {
                V s = VZERO();
                for (int f = 0; f < F; f++) s = VFMA(VSET1(go[f * P + p]), VLOAD(w + (long)f * C + c), s);
                if (e && e->mask) s = VMASKPOS(s, VLOAD(e->mask + q + c));
                VSTORE(din + q + c, s);
            }
        }
}

/* ------------------------------------------------------------------------------------------ */

static const cf_kernels KN(kernels) = {
    .name = KSTR,
    .vl = VL,
    .wino_forward = KN(wino_forward),
    .wino_grad_transform = KN(wino_grad_transform),
    .gemm = KN(gemm),
    .expand_forward = KN(expand_forward),
    .expand_backward = KN(expand_backward),
    .project_forward = KN(project_forward),
    .project_backward = KN(project_backward),
};

const cf_kernels *KN(conv2d_fast)(void) { return &KN(kernels); }
