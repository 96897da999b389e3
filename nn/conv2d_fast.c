/* conv2d_fast: kernel-level selection, Winograd weight transforms, and the drivers that split
 * each call over the worker pool (see conv2d_fast.h). The SIMD kernels are in conv2d_fast_kern.h.
 *
 * Threads take units of work from a shared counter. Units are fixed by the shapes alone (TB tiles,
 * or groups of images), and every unit's result, and every sum over units, is formed in the same
 * order whoever computes it, so results do not depend on the thread count:
 *   forward / backward-data: a unit is TB consecutive tiles (input transform, 36 GEMMs, output
 *     transform with the epilogue, all in the thread's scratch);
 *   backward-weights: per super-block of tiles, (1) units transform their tiles of in and dout
 *     into shared buffers, (2) each of the 36 GEMMs dU_xi += V_xi^T dM_xi is one unit, summing over
 *     tiles in tile order; dW = G^T dU G at the end;
 *   expand / project gradients: per-group partial sums (NSLOT groups of consecutive images, as in
 *     conv2d.c) added in group order. */
#include "nn/conv2d_fast.h"
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "nn/conv2d_fast_impl.h"
#include "nn/gemm.h"
#include "nn/parallel.h"

/* ------------------------------------------------------------------------------------------ */
/* Kernel level */

static conv2d_kernels best_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return CONV2D_KERNELS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CONV2D_KERNELS_AVX2;
    return CONV2D_KERNELS_REFERENCE;
}

static atomic_int level = -1;
static conv2d_kernels best = CONV2D_KERNELS_REFERENCE;

static void detect(void) {
    best = best_level();
    conv2d_kernels k = best;
    const char *env = getenv("RP_CONV_KERNELS");
    if (env && !strcmp(env, "reference")) k = CONV2D_KERNELS_REFERENCE;
    else if (env && !strcmp(env, "avx2") && k > CONV2D_KERNELS_AVX2) k = CONV2D_KERNELS_AVX2;
    atomic_store(&level, (int)k);
}

conv2d_kernels conv2d_kernels_active(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, detect);
    return (conv2d_kernels)atomic_load(&level);
}

conv2d_kernels conv2d_kernels_supported(void) {
    conv2d_kernels_active();
    return best;
}

conv2d_kernels conv2d_kernels_select(conv2d_kernels k) {
    conv2d_kernels_active();
    if (k > best) k = best;
    if (k < CONV2D_KERNELS_REFERENCE) k = CONV2D_KERNELS_REFERENCE;
    atomic_store(&level, (int)k);
    return k;
}

const char *conv2d_kernels_name(conv2d_kernels k) {
    return k == CONV2D_KERNELS_AVX512 ? "avx512" : k == CONV2D_KERNELS_AVX2 ? "avx2" : "reference";
}

const cf_kernels *conv2d_fast_kernels(void) {
    switch (conv2d_kernels_active()) {
    case CONV2D_KERNELS_AVX512: return conv2d_fast_avx512();
    case CONV2D_KERNELS_AVX2: return conv2d_fast_avx2();
    default: return NULL;
    }
}

static const cf_kernels *kern(void) { return conv2d_fast_kernels(); }

/* ------------------------------------------------------------------------------------------ */
/* Work split */

/* Backward gradient partials of expand/project: at most NSLOT groups of consecutive images. */
enum { NSLOT = 16 };
static int group_size(int N) { return (N + NSLOT - 1) / NSLOT; }
static int group_count(int N) { return (N + group_size(N) - 1) / group_size(N); }

/* Threads for work of `flops` split in `units` pieces: none beyond one for work too small to
 * amortise a pool run (~0.3 us while the workers spin, as they do between the back-to-back calls
 * of a training step; 0.05-1 ms to wake one that slept): 5e6 flops is ~20 us of this work. */
int conv2d_fast_threads(double flops, int units) {
    int t = nn_get_threads();
    if (t > nn_max_threads()) t = nn_max_threads();
    if (t > units) t = units;
    if (flops < 5e6) t = 1;
    return t < 1 ? 1 : t;
}

/* Runs fn on T threads with BLAS single-threaded meanwhile (none of these call BLAS, but a caller's
 * later GEMM must find OpenBLAS's thread count as it was). */
static void run(int T, nn_task_fn fn, void *ctx) {
    if (T <= 1) {
        fn(ctx, 0);
        return;
    }
    nn_parallel_run(T, fn, ctx);
}

/* fn(ctx, a0, a1) over [0, n) in RANGES pieces taken from a counter (each piece's results are
 * its own: the split cannot change them), on up to `threads` threads. */
enum { RANGES = 16 };
typedef void (*range_fn)(void *ctx, int a0, int a1);

typedef struct {
    range_fn fn;
    void *ctx;
    int n;
    atomic_int next;
} range_job;

static void range_task(void *p, int t) {
    (void)t;
    range_job *j = p;
    for (int r; (r = atomic_fetch_add(&j->next, 1)) < RANGES;) {
        const int a0 = (int)((long)j->n * r / RANGES), a1 = (int)((long)j->n * (r + 1) / RANGES);
        if (a1 > a0) j->fn(j->ctx, a0, a1);
    }
}

static void parallel_ranges(int n, int threads, range_fn fn, void *ctx) {
    range_job j = {.fn = fn, .ctx = ctx, .n = n};
    atomic_init(&j.next, 0);
    run(threads < n ? threads : n, range_task, &j);
}

/* ------------------------------------------------------------------------------------------ */
/* Winograd: geometry, workspace, weight transforms */

/* Tiles per unit of work (forward, backward-data, backward-weights). */
enum { TB = 24 };
/* Fixed groups of the backward-weights sum (see there). */
enum { WG = 4 };

static int is_3x3_same(const conv2d_desc *d) { return d->K == 3 && d->stride == 1 && d->pad == 1; }

int conv2d_wino_eligible(const conv2d_desc *d) {
    return kern() && is_3x3_same(d) && d->C % 16 == 0 && d->F % 16 == 0;
}

size_t conv2d_wino_weights_size(const conv2d_desc *d) { return (size_t)WINO_XI * d->C * d->F; }

static cf_geom geom_of(const conv2d_desc *d, int C, int F) {
    cf_geom g = {d->N, d->H, d->W, C, F, (d->W + 3) / 4, 0};
    g.T = ((d->H + 3) / 4) * g.TW;
    return g;
}

/* Tiles per unit for a call on `tiles` tiles: TB, or fewer so that small calls (D's conv3 on a
 * 16-image sub-batch has 64 tiles) still split into 8 units. It depends on the tile count only,
 * never on the thread count, so the backward-weights sums keep their grouping. */
static int unit_tiles(int tiles) {
    int u = (tiles + 7) / 8;
    return u < 4 ? 4 : u > TB ? TB : u;
}

static size_t max_cf(const conv2d_desc *d) { return (size_t)(d->C > d->F ? d->C : d->F); }
static size_t wino_block(const conv2d_desc *d) { return ((size_t)WINO_XI * TB * 2 * max_cf(d) + 15) & ~(size_t)15; }

static size_t ww_partial(const conv2d_desc *d);

/* Layout: per-thread blocks (V, M of TB tiles) | WG backward-weights partials (dU, db). */
size_t conv2d_wino_workspace(const conv2d_desc *d) {
    return (size_t)nn_max_threads() * wino_block(d) + WG * ww_partial(d);
}

/* G of F(4x4, 3x3), 6x3. */
static const float G[6][3] = {{0.25f, 0, 0},
                              {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                              {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                              {1.0f / 24, 1.0f / 12, 1.0f / 6},
                              {1.0f / 24, -1.0f / 12, 1.0f / 6},
                              {0, 0, 1}};

/* u[xi][l] = (G g_l G^T)_xi for 16 kernels g[l] (3x3 each, row-major): the lanes vectorize. */
static void transform16(float u[WINO_XI][16], const float g[9][16]) {
    float t[6][3][16];
    for (int i = 0; i < 6; i++)
        for (int b = 0; b < 3; b++)
            for (int l = 0; l < 16; l++) t[i][b][l] = G[i][0] * g[b][l] + G[i][1] * g[3 + b][l] + G[i][2] * g[6 + b][l];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            for (int l = 0; l < 16; l++)
                u[i * 6 + j][l] = t[i][0][l] * G[j][0] + t[i][1][l] * G[j][1] + t[i][2][l] * G[j][2];
}

/* U[xi][a][b] for a in [0, A), b in [0, Bn) (b fastest) from kernel(a, b); flip rotates kernels. */
static void weights_transform(float *U, int A, int Bn, const float *w, int C, int f_is_a, int flip, int a0, int a1) {
    float g[9][16], u[WINO_XI][16];
    for (int a = a0; a < a1; a++)
        for (int b0 = 0; b0 < Bn; b0 += 16) {
            const int nb = Bn - b0 < 16 ? Bn - b0 : 16;
            for (int l = 0; l < 16; l++) {
                const int b = b0 + (l < nb ? l : 0);
                const int f = f_is_a ? a : b, c = f_is_a ? b : a;
                for (int k = 0; k < 9; k++) g[k][l] = w[((size_t)f * C + c) * 9 + (flip ? 8 - k : k)];
            }
            transform16(u, g);
            for (int xi = 0; xi < WINO_XI; xi++)
                memcpy(U + ((size_t)xi * A + a) * Bn + b0, u[xi], nb * sizeof(float));
        }
}

/* Rows of n layers' transforms: row r is layer r / A, row r % A. */
typedef struct {
    const conv2d_desc *d;
    float *const *U;
    const float *const *w;
    int transposed, A;
} wt_job;

static void wt_rows(void *p, int r0, int r1) {
    const wt_job *j = p;
    const conv2d_desc *d = j->d;
    for (int r = r0; r < r1;) {
        const int l = r / j->A, a0 = r % j->A, a1 = r1 - l * j->A < j->A ? r1 - l * j->A : j->A;
        if (j->transposed) weights_transform(j->U[l], d->F, d->C, j->w[l], d->C, 1, 1, a0, a1); /* Ut[xi][f][c], rotated */
        else weights_transform(j->U[l], d->C, d->F, j->w[l], d->C, 0, 0, a0, a1); /* U[xi][c][f] */
        r = l * j->A + a1;
    }
}

void conv2d_wino_weights_many(const conv2d_desc *d, int n, float *const *U, const float *const *w, int transposed) {
    wt_job j = {d, U, w, transposed, transposed ? d->F : d->C};
    /* 162 flops per (c, f) pair and layer, plain C: threads pay from a few layers of 64 x 64 on */
    parallel_ranges(n * j.A, conv2d_fast_threads(1000.0 * n * d->C * d->F, RANGES), wt_rows, &j);
}

void conv2d_wino_weights(const conv2d_desc *d, float *U, const float *w) { conv2d_wino_weights_many(d, 1, &U, &w, 0); }

void conv2d_wino_weights_t(const conv2d_desc *d, float *Ut, const float *w) {
    conv2d_wino_weights_many(d, 1, &Ut, &w, 1);
}

/* dw (F, C, 3, 3) += G^T dU_(c,f) G for dU (36, C, F). */
static void weights_gradient(const conv2d_desc *d, float *dw, const float *dU, int c0, int c1) {
    const int C = d->C, F = d->F;
    for (int c = c0; c < c1; c++)
        for (int f0 = 0; f0 < F; f0 += 16) {
            float u[WINO_XI][16], t[6][3][16], g[9][16];
            for (int xi = 0; xi < WINO_XI; xi++) memcpy(u[xi], dU + ((size_t)xi * C + c) * F + f0, sizeof u[xi]);
            for (int i = 0; i < 6; i++)
                for (int b = 0; b < 3; b++)
                    for (int l = 0; l < 16; l++) {
                        float s = 0;
                        for (int j = 0; j < 6; j++) s += u[i * 6 + j][l] * G[j][b];
                        t[i][b][l] = s;
                    }
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    for (int l = 0; l < 16; l++) {
                        float s = 0;
                        for (int i = 0; i < 6; i++) s += G[i][a] * t[i][b][l];
                        g[a * 3 + b][l] = s;
                    }
            for (int l = 0; l < 16; l++)
                for (int k = 0; k < 9; k++) dw[((size_t)(f0 + l) * C + c) * 9 + k] += g[k][l];
        }
}

/* ------------------------------------------------------------------------------------------ */
/* Winograd: forward and backward-data */

typedef struct {
    const cf_kernels *k;
    cf_geom g;
    float *out;
    const float *in, *U;
    const conv2d_epilogue *e;
    float *ws;
    size_t block;
    int units, tiles, ut; /* ut: tiles per unit */
    atomic_int next;
} wf_job;

static void wf_task(void *p, int t) {
    wf_job *j = p;
    float *V = j->ws + t * j->block, *M = V + (size_t)WINO_XI * TB * (j->g.C > j->g.F ? j->g.C : j->g.F);
    for (int u; (u = atomic_fetch_add(&j->next, 1)) < j->units;) {
        const int t0 = u * j->ut, nt = j->tiles - t0 < j->ut ? j->tiles - t0 : j->ut;
        j->k->wino_forward(&j->g, j->out, j->in, j->U, j->e, t0, nt, V, M);
    }
}

static void wino_run(const conv2d_desc *d, int C, int F, float *out, const float *in, const float *U,
                     const conv2d_epilogue *e, float *ws) {
    static const conv2d_epilogue none = {0};
    wf_job j = {.k = kern(), .g = geom_of(d, C, F), .out = out, .in = in, .U = U, .e = e ? e : &none, .ws = ws,
                .block = wino_block(d)};
    assert(j.k);
    j.tiles = d->N * j.g.T;
    j.ut = unit_tiles(j.tiles);
    j.units = (j.tiles + j.ut - 1) / j.ut;
    atomic_init(&j.next, 0);
    run(conv2d_fast_threads(conv2d_flops(d), j.units), wf_task, &j);
}

void conv2d_wino_forward(const conv2d_desc *d, float *out, const float *in, const float *U,
                         const conv2d_epilogue *e, float *ws) {
    assert(conv2d_wino_eligible(d));
    wino_run(d, d->C, d->F, out, in, U, e, ws);
}

void conv2d_wino_backward_data(const conv2d_desc *d, float *din, const float *dout, const float *Ut,
                               const conv2d_epilogue *e, float *ws) {
    assert(conv2d_wino_eligible(d));
    wino_run(d, d->F, d->C, din, dout, Ut, e, ws);
}

/* ------------------------------------------------------------------------------------------ */
/* Winograd: backward-weights */

/* The tiles are split into WG groups of consecutive units (fixed: not the thread count). A group's
 * dU partial is summed by whichever thread takes it, unit after unit: the unit's tiles are
 * transformed into the thread's scratch (V, dM: as the forward's V, M) and the 36 GEMMs
 * dU_xi += V_xi^T dM_xi add them at once, while V and dM are still in L2. The partials are then
 * added in group order. (A first version transformed a super-block of up to 768 tiles into
 * shared buffers, then ran the 36 GEMMs in parallel: 25% slower, V and dM came from L3.) */
static size_t ww_partial(const conv2d_desc *d) { return conv2d_wino_weights_size(d) + d->F; }

typedef struct {
    const cf_kernels *k;
    cf_geom g;
    const float *in, *dout;
    float *ws, *parts; /* per-thread scratch; WG partials (36 C F dU, then F db) */
    size_t block, part;
    int units, tiles, ut, want_dw;
    atomic_int next;
} ww_job;

static void ww_task(void *p, int t) {
    ww_job *j = p;
    const int C = j->g.C, F = j->g.F;
    float *V = j->ws + t * j->block, *dM = V + (size_t)WINO_XI * TB * (C > F ? C : F);
    for (int grp; (grp = atomic_fetch_add(&j->next, 1)) < WG;) {
        float *dU = j->parts + grp * j->part, *db = dU + (size_t)WINO_XI * C * F;
        memset(dU, 0, j->part * sizeof(float));
        /* units split as evenly as the groups allow */
        const int u0 = (int)((long)j->units * grp / WG), u1 = (int)((long)j->units * (grp + 1) / WG);
        for (int u = u0; u < u1; u++) {
            const int t0 = u * j->ut, nt = j->tiles - t0 < j->ut ? j->tiles - t0 : j->ut;
            j->k->wino_grad_transform(&j->g, V, dM, db, j->in, j->dout, t0, nt);
            for (int xi = 0; j->want_dw && xi < WINO_XI; xi++)
                j->k->gemm(C, F, nt, V + (size_t)xi * C, 1, WINO_XI * C, dM + (size_t)xi * F, WINO_XI * F,
                           dU + (size_t)xi * C * F, F, 1);
        }
    }
}

/* Rows c of dU: the partials added in group order (groups past the last unit hold zeros), then
 * dw += G^T dU G for them. */
typedef struct {
    const conv2d_desc *d;
    ww_job *j;
    float *dw;
} ww_finish;

static void ww_reduce(void *p, int c0, int c1) {
    const ww_finish *f = p;
    const conv2d_desc *d = f->d;
    if (!f->dw) return;
    const size_t F = d->F, C = d->C;
    for (int xi = 0; xi < WINO_XI; xi++) {
        float *acc = f->j->parts + ((size_t)xi * C + c0) * F;
        for (int grp = 1; grp < WG; grp++) {
            const float *src = f->j->parts + grp * f->j->part + ((size_t)xi * C + c0) * F;
            for (size_t i = 0; i < (size_t)(c1 - c0) * F; i++) acc[i] += src[i];
        }
    }
    weights_gradient(d, f->dw, f->j->parts, c0, c1);
}

void conv2d_wino_backward_weights(const conv2d_desc *d, float *dw, float *db, const float *dout, const float *in,
                                  float *ws) {
    assert(conv2d_wino_eligible(d));
    if (!dw && !db) return;
    const int F = d->F;
    ww_job j = {.k = kern(), .g = geom_of(d, d->C, F), .in = in, .dout = dout, .ws = ws, .block = wino_block(d),
                .part = ww_partial(d), .want_dw = dw != NULL};
    j.parts = ws + (size_t)nn_max_threads() * j.block;
    j.tiles = d->N * j.g.T;
    j.ut = unit_tiles(j.tiles);
    j.units = (j.tiles + j.ut - 1) / j.ut;
    atomic_init(&j.next, 0);
    const int T = conv2d_fast_threads(conv2d_flops(d), WG);
    run(T, ww_task, &j);
    ww_finish f = {d, &j, dw};
    parallel_ranges(d->C, T, ww_reduce, &f);
    if (db)
        for (int grp = 0; grp < WG; grp++)
            for (int c = 0; c < F; c++) db[c] += j.parts[grp * j.part + conv2d_wino_weights_size(d) + c];
}

/* ------------------------------------------------------------------------------------------ */
/* Expand (few-channel NCHW -> NHWC, 3x3) and project (NHWC -> few-channel NCHW, 1x1) */

int conv2d_expand_eligible(const conv2d_desc *d) { return kern() && is_3x3_same(d) && d->F % 16 == 0; }

int conv2d_project_eligible(const conv2d_desc *d) {
    return kern() && d->K == 1 && d->stride == 1 && d->pad == 0 && d->C % 16 == 0;
}

/* Expand scratch: wt (C*9, F) | per-thread partial (C*9*F + F) | NSLOT group slots (C*9*F + F). */
static size_t expand_slot(const conv2d_desc *d) { return (size_t)d->C * 9 * d->F + d->F; }

size_t conv2d_expand_workspace(const conv2d_desc *d) {
    return (size_t)d->C * 9 * d->F + ((size_t)nn_max_threads() + NSLOT) * expand_slot(d);
}

/* Project scratch: per-thread partial (F*C + F) | NSLOT group slots. */
static size_t project_slot(const conv2d_desc *d) { return (size_t)d->F * d->C + d->F; }

size_t conv2d_project_workspace(const conv2d_desc *d) {
    return ((size_t)nn_max_threads() + NSLOT) * project_slot(d);
}

typedef struct {
    const cf_kernels *k;
    const conv2d_desc *d;
    float *out, *din, *dw, *db, *ws, *slots;
    const float *in, *w, *b, *dout, *mask;
    const conv2d_epilogue *e;
    int project; /* 0: expand, 1: project */
    atomic_int next;
} ep_job;

static void ep_forward(void *p, int t) {
    (void)t;
    ep_job *j = p;
    for (int n; (n = atomic_fetch_add(&j->next, 1)) < j->d->N;) {
        if (j->project) j->k->project_forward(j->d, j->out, j->in, j->w, j->b, n, n + 1);
        else j->k->expand_forward(j->d, j->out, j->in, j->w, j->e, n, n + 1);
    }
}

void conv2d_expand_forward(const conv2d_desc *d, float *out, const float *in, const float *w,
                           const conv2d_epilogue *e, float *ws) {
    assert(conv2d_expand_eligible(d));
    static const conv2d_epilogue none = {0};
    const int C = d->C, F = d->F;
    for (int f = 0; f < F; f++)
        for (int k = 0; k < C * 9; k++) ws[(size_t)k * F + f] = w[(size_t)f * C * 9 + k];
    ep_job j = {.k = kern(), .d = d, .out = out, .in = in, .w = ws, .e = e ? e : &none};
    atomic_init(&j.next, 0);
    run(conv2d_fast_threads(conv2d_flops(d), d->N), ep_forward, &j);
}

void conv2d_project_forward(const conv2d_desc *d, float *out, const float *in, const float *w, const float *b,
                            float *ws) {
    assert(conv2d_project_eligible(d));
    (void)ws;
    ep_job j = {.k = kern(), .d = d, .out = out, .in = in, .w = w, .b = b, .project = 1};
    atomic_init(&j.next, 0);
    run(conv2d_fast_threads(conv2d_flops(d), d->N), ep_forward, &j);
}

/* Each group of images sums its images' partials (in image order) into its slot. */
static void ep_backward(void *p, int t) {
    ep_job *j = p;
    const conv2d_desc *d = j->d;
    const size_t slot = j->project ? project_slot(d) : expand_slot(d), nw = slot - d->F;
    float *tmp = j->ws + (size_t)t * slot;
    const int G = group_size(d->N), S = group_count(d->N);
    for (int s; (s = atomic_fetch_add(&j->next, 1)) < S;) {
        float *acc = j->slots + (size_t)s * slot;
        memset(acc, 0, slot * sizeof(float));
        for (int n = s * G; n < (s + 1) * G && n < d->N; n++) {
            float *dw = j->dw ? tmp : NULL, *db = j->db ? tmp + nw : NULL;
            if (j->project) {
                conv2d_epilogue e = {.mask = j->mask};
                j->k->project_backward(d, j->din, dw, db, j->dout, j->in, j->w, &e, n);
            } else {
                j->k->expand_backward(d, j->din, dw, db, j->dout, j->in, j->w, n);
            }
            if (j->dw)
                for (size_t i = 0; i < nw; i++) acc[i] += tmp[i];
            if (j->db)
                for (size_t i = nw; i < slot; i++) acc[i] += tmp[i];
        }
    }
}

/* dw, db += the group slots in group order; expand's slots hold dw as (C*9, F). */
static void ep_reduce(const conv2d_desc *d, const float *slots, size_t slot, float *dw, float *db, int transposed) {
    const int S = group_count(d->N), F = d->F;
    const size_t nw = slot - F;
    for (size_t i = 0; dw && i < nw; i++) {
        float acc = slots[i];
        for (int s = 1; s < S; s++) acc += slots[s * slot + i];
        /* expand: i = k * F + f, dw index f * (C*9) + k */
        const size_t o = transposed ? (i % F) * (nw / F) + i / F : i;
        dw[o] += acc;
    }
    for (int f = 0; db && f < F; f++) {
        float acc = slots[nw + f];
        for (int s = 1; s < S; s++) acc += slots[s * slot + nw + f];
        db[f] += acc;
    }
}

void conv2d_expand_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, float *ws) {
    assert(conv2d_expand_eligible(d));
    float *tmp = ws + (size_t)d->C * 9 * d->F;
    ep_job j = {.k = kern(), .d = d, .din = din, .dw = dw, .db = db, .dout = dout, .in = in, .w = w, .ws = tmp,
                .slots = tmp + (size_t)nn_max_threads() * expand_slot(d)};
    atomic_init(&j.next, 0);
    run(conv2d_fast_threads(2 * conv2d_flops(d), group_count(d->N)), ep_backward, &j);
    if (dw || db) ep_reduce(d, j.slots, expand_slot(d), dw, db, 1);
}

void conv2d_project_backward(const conv2d_desc *d, float *din, float *dw, float *db, const float *dout,
                             const float *in, const float *w, const float *mask, float *ws) {
    assert(conv2d_project_eligible(d));
    ep_job j = {.k = kern(), .d = d, .din = din, .dw = dw, .db = db, .dout = dout, .in = in, .w = w, .mask = mask,
                .ws = ws, .slots = ws + (size_t)nn_max_threads() * project_slot(d), .project = 1};
    atomic_init(&j.next, 0);
    run(conv2d_fast_threads(2 * conv2d_flops(d), group_count(d->N)), ep_backward, &j);
    if (dw || db) ep_reduce(d, j.slots, project_slot(d), dw, db, 0);
}
