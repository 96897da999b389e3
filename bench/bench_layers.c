/* Benchmark of the nn core: sgemm GFLOP/s on the GEMM shapes the convolutions issue (the ceiling)
 * and per-layer forward/backward GFLOP/s for R(64,4)'s convolutions at 35x55 and 28x28, with 1
 * and 2 threads. Results are checked against the naive reference before anything is timed.
 * Usage: bench_layers [batch (64)] [runs (7)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cblas.h>
#include "nn/conv2d.h"
#include "nn/gemm.h"
#include "base/rng.h"
#include "bench/bench_util.h"

static float *randn(rng_t *r, size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_layers: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rng_normal(r));
    return x;
}

static void print_machine(int argc, char **argv, const char *core_before) {
    char model[256];
    bench_cpu_model(model, sizeof model);
    printf("machine: %s, %ld online cores\n", model, sysconf(_SC_NPROCESSORS_ONLN));
    printf("openblas: %s\n", openblas_get_config());
    printf("openblas kernels: detected %s, using %s; nn_max_threads() = %d\n", core_before, nn_blas_init(),
           nn_max_threads());
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    double l[3];
    if (getloadavg(l, 3) == 3) printf("load average at start: %.2f %.2f %.2f\n", l[0], l[1], l[2]);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    const char *name;
    conv2d_desc d;
    float *in, *w, *b, *out, *dout, *din, *dw, *db, *ws;
} layer;

static void layer_init(layer *L, rng_t *r, const char *name, int N, int C, int H, int W, int F, int K, int pad) {
    L->name = name;
    conv2d_desc_init(&L->d, N, C, H, W, F, K, 1, pad);
    size_t ni = (size_t)N * C * H * W, no = (size_t)N * F * L->d.OH * L->d.OW, nw = (size_t)F * C * K * K;
    L->in = randn(r, ni, 1);
    L->w = randn(r, nw, 1.0f / sqrtf((float)(C * K * K)));
    L->b = randn(r, (size_t)F, 0.1f);
    L->out = randn(r, no, 1);
    L->dout = randn(r, no, 1);
    L->din = calloc(ni, sizeof(float));
    L->dw = calloc(nw, sizeof(float));
    L->db = calloc((size_t)F, sizeof(float));
    size_t nws = conv2d_workspace(&L->d);
    L->ws = nws ? randn(r, nws, 1) : NULL;
}

static void layer_free(layer *L) {
    free(L->in), free(L->w), free(L->b), free(L->out), free(L->dout), free(L->din), free(L->dw), free(L->db);
    free(L->ws);
}

static double max_rel(const float *a, const float *ref, size_t n) {
    double m = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(ref[i]));
        e = fmax(e, fabs((double)a[i] - ref[i]));
    }
    return e / fmax(m, 1e-30);
}

/* Image 0 of the batch through both algorithms, forward and backward; aborts on mismatch. */
static void layer_check(const layer *L) {
    conv2d_desc d1 = L->d;
    d1.N = 1;
    size_t ni = (size_t)d1.C * d1.H * d1.W, no = (size_t)d1.F * d1.OH * d1.OW, nw = (size_t)d1.F * d1.C * d1.K * d1.K;
    float *o1 = malloc(no * sizeof(float)), *o2 = malloc(no * sizeof(float));
    float *g1 = calloc(ni, sizeof(float)), *g2 = calloc(ni, sizeof(float));
    float *w1 = calloc(nw, sizeof(float)), *w2 = calloc(nw, sizeof(float));
    float *b1 = calloc(d1.F, sizeof(float)), *b2 = calloc(d1.F, sizeof(float));
    conv2d_forward(&d1, o1, L->in, L->w, L->b, L->ws);
    conv2d_forward_naive(&d1, o2, L->in, L->w, L->b);
    conv2d_backward(&d1, g1, w1, b1, L->dout, L->in, L->w, L->ws);
    conv2d_backward_naive(&d1, g2, w2, b2, L->dout, L->in, L->w);
    double e[4] = {max_rel(o1, o2, no), max_rel(g1, g2, ni), max_rel(w1, w2, nw), max_rel(b1, b2, d1.F)};
    int bad = 0;
    for (int i = 0; i < 4; i++) bad |= !(e[i] < 1e-4);
    if (bad) {
        fprintf(stderr, "bench_layers: %s disagrees with the naive conv: out %.2e din %.2e dw %.2e db %.2e\n",
                L->name, e[0], e[1], e[2], e[3]);
        exit(1);
    }
    free(o1), free(o2), free(g1), free(g2), free(w1), free(w2), free(b1), free(b2);
}

/* One forward (bwd = 0) or backward (all three gradients) pass of the layer. */
static void layer_run(layer *L, int bwd) {
    if (bwd)
        conv2d_backward(&L->d, L->din, L->dw, L->db, L->dout, L->in, L->w, L->ws);
    else
        conv2d_forward(&L->d, L->out, L->in, L->w, L->b, L->ws);
}

/* The GEMMs an im2col convolution issues, alone: forward W.col (F x P x CKK) per image; backward
 * dout.col^T (F x CKK x P) and W^T.dout (CKK x P x F) per image, with BLAS's own threads. */
typedef struct {
    float *col, *dcol;
    int pw;
} gemm_bufs;

static void gemm_bufs_init(gemm_bufs *g, const layer *L) {
    const conv2d_desc *d = &L->d;
    size_t n = (size_t)d->C * d->K * d->K * d->OH * d->OW, ni = (size_t)d->C * d->H * d->W;
    g->pw = d->K == 1 && d->stride == 1 && d->pad == 0;
    g->col = g->dcol = NULL;
    if (g->pw) return;
    g->col = malloc(n * sizeof(float));
    g->dcol = malloc(n * sizeof(float));
    if (!g->col || !g->dcol) exit(1);
    for (size_t i = 0; i < n; i++) g->col[i] = L->in[i % ni]; /* input values as stand-in columns */
}

/* cblas_sgemm itself, not nn_gemm(): gemm computes products under 1e6 multiply-adds on its own. */
static void sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C, ldc);
}

static void gemm_run(layer *L, const gemm_bufs *gb, int bwd) {
    const conv2d_desc *d = &L->d;
    int F = d->F, CKK = d->C * d->K * d->K, P = d->OH * d->OW;
    for (int n = 0; n < d->N; n++) {
        const float *g = L->dout + (size_t)n * F * P;
        /* A pointwise conv's column matrix is the input plane: it moves with the image. */
        float *col = gb->pw ? L->in + (size_t)n * CKK * P : gb->col;
        float *dcol = gb->pw ? L->din + (size_t)n * CKK * P : gb->dcol;
        if (!bwd)
            sgemm(0, 0, F, P, CKK, 1.0f, L->w, CKK, col, P, 0.0f, L->out + (size_t)n * F * P, P);
        else {
            sgemm(0, 1, F, CKK, P, 1.0f, g, P, col, P, 1.0f, L->dw, CKK);
            sgemm(1, 0, CKK, P, F, 1.0f, L->w, CKK, g, P, 0.0f, dcol, P);
        }
    }
}

/* Median and best seconds of the layer and of its bare GEMMs, runs interleaved so that load from
 * other processes hits both alike; one warm-up each. */
typedef struct {
    double layer_med, layer_best, gemm_med, gemm_best;
} timing;

static timing time_pair(layer *L, int bwd, int runs) {
    gemm_bufs gb;
    gemm_bufs_init(&gb, L);
    double a[64], b[64];
    for (int r = -1; r < runs; r++) {
        double t0 = bench_now();
        layer_run(L, bwd);
        double t1 = bench_now();
        gemm_run(L, &gb, bwd);
        double t2 = bench_now();
        if (r >= 0) a[r] = t1 - t0, b[r] = t2 - t1;
    }
    free(gb.col), free(gb.dcol);
    timing t;
    t.layer_med = bench_median(a, runs), t.gemm_med = bench_median(b, runs);
    t.layer_best = a[0], t.gemm_best = b[0]; /* bench_median() sorted them */
    return t;
}

int main(int argc, char **argv) {
    const char *core_before = openblas_get_corename();
    char before[64];
    snprintf(before, sizeof before, "%s", core_before);
    int batch = argc > 1 ? atoi(argv[1]) : 64, runs = argc > 2 ? atoi(argv[2]) : 7;
    if (batch < 1 || runs < 1 || runs > 63) {
        fprintf(stderr, "usage: %s [batch >= 1] [runs 1..63]\n", argv[0]);
        return 2;
    }
    print_machine(argc, argv, before);
    printf("batch %d, median of %d runs after 1 warm-up (layer and bare-GEMM runs interleaved);\n"
           "backward computes din, dw and db\n", batch, runs);

    rng_t r;
    rng_seed(&r, 1, 0);
    int sizes[2][2] = {{35, 55}, {28, 28}};
    layer L[2][3];
    for (int s = 0; s < 2; s++) {
        int H = sizes[s][0], W = sizes[s][1];
        layer_init(&L[s][0], &r, "conv 1->64 3x3", batch, 1, H, W, 64, 3, 1);
        layer_init(&L[s][1], &r, "conv 64->64 3x3", batch, 64, H, W, 64, 3, 1);
        layer_init(&L[s][2], &r, "conv 64->1 1x1", batch, 64, H, W, 1, 1, 0);
        for (int i = 0; i < 3; i++) layer_check(&L[s][i]);
    }
    printf("checked: each layer's forward and backward on image 0 match the naive conv (rel < 1e-4)\n");

    char summary[4][160];
    for (int th = 1; th <= 2; th++) {
        nn_set_threads(th);
        printf("\n== %d thread%s (nn_get_threads() = %d)\n", th, th > 1 ? "s" : "", nn_get_threads());
        printf("%-6s %-16s %-18s %8s %8s %8s %6s | %8s %8s %8s %6s\n", "size", "layer", "algorithm", "fwd GF/s",
               "(best)", "sgemm", "ratio", "bwd GF/s", "(best)", "sgemm", "ratio");
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < 3; i++) {
                layer *l = &L[s][i];
                double fl = conv2d_flops(&l->d) * 1e-9;
                timing f = time_pair(l, 0, runs), b = time_pair(l, 1, runs);
                char sz[16];
                snprintf(sz, sizeof sz, "%dx%d", sizes[s][0], sizes[s][1]);
                printf("%-6s %-16s %-18s %8.1f %8.1f %8.1f %5.0f%% | %8.1f %8.1f %8.1f %5.0f%%\n", sz, l->name,
                       conv2d_algorithm(&l->d),
                       fl / f.layer_med, fl / f.layer_best, fl / f.gemm_med, 100 * f.gemm_med / f.layer_med,
                       2 * fl / b.layer_med, 2 * fl / b.layer_best, 2 * fl / b.gemm_med, 100 * b.gemm_med / b.layer_med);
                if (i == 1)
                    snprintf(summary[(th - 1) * 2 + s], sizeof summary[0],
                             "64->64 3x3 at %-5s %d thread%s: fwd %6.1f GF/s = %3.0f%% of sgemm %6.1f | "
                             "bwd %6.1f GF/s = %3.0f%% of sgemm %6.1f",
                             sz, th, th > 1 ? "s" : " ", fl / f.layer_med, 100 * f.gemm_med / f.layer_med,
                             fl / f.gemm_med, 2 * fl / b.layer_med, 100 * b.gemm_med / b.layer_med, 2 * fl / b.gemm_med);
            }
    }
    printf("\nsgemm: the im2col GEMMs of each layer alone (forward W.col, M=F K=C*K*K N=OH*OW per image;\n"
           "backward dout.col^T and W^T.dout), run by OpenBLAS with that many threads: the ceiling. The conv\n"
           "itself splits images across threads with single-threaded BLAS; \"shifted\" layers replace im2col\n"
           "by K*K GEMMs on shifted views (GF/s count useful flops only). GF/s and ratios are medians of the\n"
           "runs; (best) is the fastest run.\n");
    for (int i = 0; i < 4; i++) printf("%s\n", summary[i]);
    double l[3];
    if (getloadavg(l, 3) == 3) printf("load average at end: %.2f %.2f %.2f\n", l[0], l[1], l[2]);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 3; i++) layer_free(&L[s][i]);
    return 0;
}
