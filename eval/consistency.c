/* Label consistency (see consistency.h): the probe network, trained on the synthetic labels but
 * for the probe rows, and its score on the probe rows as simulated and as refined. */
#include "eval/consistency.h"
#include "base/status.h"
#include "eval/eval_jobs.h"
#include "losses/xent.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RNG streams of the probe (apart from the evaluation's own, eval_jobs.h) */
enum { ST_PROBE_ROWS = 21, ST_PROBE_SAMPLE = 22, ST_PROBE_AUGMENT = 23 };
#define INIT_PROBE 303

struct eval_probe {
    eval_options o;
    evsrc src;
    eval_labels L;
    evalnet net;
    long n, *rows;    /* probe rows, sorted */
    float *images;    /* (n, C, H, W) in [0, 1] */
    float *targets;   /* (n, D) label values (classes: the class) */
    int *predicted;   /* classes: the probe's predictions on the simulated rows */
    double synthetic; /* its error on them */
};

/* ---------------------------------------------------------------- training */
typedef struct {
    eval_probe *p;
    evsampler smp;
    long *rows;
    rng_t aug;
    float *tmp; /* one image, for the blur */
} probe_ctx;

/* Appearance augmentation, so the probe reads a label from shape and geometry rather than from
 * the simulator's look, which refinement is meant to change: per image a random contrast (x0.5
 * to x1.5 about the image's mean), brightness (+-0.25), a 3x3 box blur half the time and Gaussian
 * noise (sigma up to 0.08), then clipped to [0, 1]. None of these moves anything in the image. */
static void augment(probe_ctx *c, float *x, int C, int H, int W) {
    size_t n = (size_t)C * H * W;
    rng_t *r = &c->aug;
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= n;
    float gain = (float)rng_range(r, 0.5, 1.5), shift = (float)rng_range(r, -0.25, 0.25);
    float sigma = (float)rng_range(r, 0.0, 0.08);
    int blur = rng_below(r, 2);
    if (blur) {
        memcpy(c->tmp, x, n * sizeof *x);
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    float s = 0;
                    int k = 0;
                    for (int di = -1; di <= 1; di++)
                        for (int dj = -1; dj <= 1; dj++)
                            if (i + di >= 0 && i + di < H && j + dj >= 0 && j + dj < W)
                                s += c->tmp[((size_t)ch * H + i + di) * W + j + dj], k++;
                    x[((size_t)ch * H + i) * W + j] = s / k;
                }
    }
    for (size_t i = 0; i < n; i++) {
        float v = (float)((x[i] - mean) * gain + mean) + shift + sigma * (float)rng_normal(r);
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

static int probe_batch(void *vctx, int B, float *x, int *cls, float *y) {
    probe_ctx *c = vctx;
    const eval_labels *L = &c->p->L;
    for (int i = 0; i < B; i++) {
        long r = c->rows[i] = evsampler_next(&c->smp);
        if (L->task == EVAL_CLASSIFY) cls[i] = L->cls[r];
        else memcpy(y + (size_t)i * L->D, L->y + (size_t)r * L->D, L->D * sizeof *y);
    }
    int rc = evsrc_rows(&c->p->src, c->rows, B, x);
    const h5ds_info *in = c->p->src.info;
    for (int i = 0; !rc && i < B; i++) augment(c, x + (size_t)i * c->p->src.img, in->C, in->H, in->W);
    return rc;
}

/* The training rows: every row that is not a probe row (both lists sorted). */
static long *training_rows(long N, const long *probe, long n) {
    long *t = malloc((N - n > 0 ? N - n : 1) * sizeof *t), k = 0, j = 0;
    if (!t) return NULL;
    for (long r = 0; r < N; r++) {
        if (j < n && probe[j] == r) j++;
        else t[k++] = r;
    }
    return t;
}

/* Runs the probe on images (n rows, [0, 1]): the error per the task, and (classes) the predictions. */
static int score(eval_probe *p, const float *images, int *pred, double *err) {
    size_t img = p->src.img;
    int B = p->o.batch;
    double sum = 0;
    for (long s = 0; s < p->n; s += B) {
        int m = p->n - s < B ? (int)(p->n - s) : B;
        const float *out = evalnet_forward(&p->net, images + s * img, m);
        for (int i = 0; i < m; i++) {
            const float *o_i = out + (size_t)i * p->L.K;
            sum += eval_labels_error(&p->L, o_i, p->targets + (s + i) * p->L.D);
            if (pred) pred[s + i] = xent_argmax(o_i, p->L.K);
        }
    }
    *err = p->n ? sum / p->n : NAN;
    return 0;
}

int eval_probe_open(eval_probe **pp, const eval_options *o, const char *synthetic, long rows) {
    eval_probe *p = *pp = calloc(1, sizeof *p);
    if (!p) return rp_err(RP_ENOMEM, "label consistency: out of memory");
    p->o = *o;
    probe_ctx c = {p, {0}, NULL, {0, 1}, NULL};
    rng_seed(&c.aug, o->seed, ST_PROBE_AUGMENT);
    long *train = NULL;
    int rc = evsrc_open(&p->src, synthetic, o->cache_mb);
    if (!rc) rc = eval_labels_load(&p->L, &p->src, NULL, o->label);
    long N = p->src.info ? p->src.info->N : 0;
    p->n = rows < N / 4 ? rows : N / 4; /* the probe trains on at least three quarters of the set */
    if (!rc && (p->n < 2 || o->consistency_steps < 1))
        rc = rp_err(RP_EARG, "%s: label consistency needs at least 8 rows and eval.consistency_steps >= 1 (%ld rows)",
                    synthetic, N);
    if (!rc) {
        p->rows = eval_pick_rows(N, p->n, o->seed, ST_PROBE_ROWS);
        p->images = p->rows ? malloc(p->n * p->src.img * sizeof(float)) : NULL;
        p->targets = malloc(p->n * p->L.D * sizeof(float));
        p->predicted = malloc(p->n * sizeof(int));
        c.rows = malloc(o->batch * sizeof(long));
        c.tmp = malloc(p->src.img * sizeof(float));
        if (p->rows) eval_sort_rows(p->rows, p->n);
        if (p->rows) train = training_rows(N, p->rows, p->n);
        if (!p->images || !p->targets || !p->predicted || !c.rows || !c.tmp || !train)
            rc = rp_err(RP_ENOMEM, "label consistency: out of memory for %ld probe rows", p->n);
    }
    for (long s = 0; !rc && s < p->n; s += 1024) {
        int m = p->n - s < 1024 ? (int)(p->n - s) : 1024;
        rc = evsrc_rows(&p->src, p->rows + s, m, p->images + s * p->src.img);
    }
    for (long i = 0; !rc && i < p->n; i++) eval_labels_target(&p->L, p->rows[i], 0, p->targets + i * p->L.D);
    const h5ds_info *in = p->src.info;
    if (!rc) rc = evalnet_init(&p->net, in->C, in->H, in->W, p->L.K, o->batch, rng_mix64(o->seed + INIT_PROBE));
    if (!rc) rc = evsampler_init(&c.smp, train, N - p->n, o->seed, ST_PROBE_SAMPLE);
    double loss;
    if (!rc) rc = eval_train_net(&p->net, o, o->consistency_steps, p->L.task, probe_batch, &c, "label probe", &loss);
    if (!rc) rc = score(p, p->images, p->predicted, &p->synthetic);
    evsampler_free(&c.smp);
    free(c.rows), free(c.tmp), free(train);
    if (rc) {
        eval_probe_close(p);
        *pp = NULL;
    }
    return rc;
}

void eval_probe_close(eval_probe *p) {
    if (!p) return;
    if (p->net.p.data) evalnet_free(&p->net);
    eval_labels_free(&p->L);
    evsrc_close(&p->src);
    free(p->rows), free(p->images), free(p->targets), free(p->predicted);
    free(p);
}

long eval_probe_count(const eval_probe *p) { return p->n; }
const long *eval_probe_rows(const eval_probe *p) { return p->rows; }
const float *eval_probe_images(const eval_probe *p) { return p->images; }

int eval_probe_score(eval_probe *p, const float *images, eval_consistency *out) {
    memset(out, 0, sizeof *out);
    int classes = p->L.task == EVAL_CLASSIFY;
    int *pred = classes ? malloc(p->n * sizeof *pred) : NULL;
    if (classes && !pred) return rp_err(RP_ENOMEM, "label consistency: out of memory");
    double err;
    int rc = score(p, images, pred, &err);
    if (!rc) {
        snprintf(out->metric, sizeof out->metric, "%s", classes ? "error" : eval_labels_metric(&p->L));
        out->rows = p->n;
        out->synthetic = p->synthetic;
        out->refined = err;
        double floor = classes ? EVAL_CONSISTENCY_FLOOR : 1e-12;
        out->ratio = (err > floor ? err : floor) / (p->synthetic > floor ? p->synthetic : floor);
        out->changed = NAN;
        if (classes) {
            long changed = 0;
            for (long i = 0; i < p->n; i++) changed += pred[i] != p->predicted[i];
            out->changed = (double)changed / p->n;
        }
    }
    free(pred);
    return rc;
}

/* ---------------------------------------------------------------- a refined file */
int eval_consistency_run(const eval_options *o, const char *synthetic, const char *refined, eval_consistency *out) {
    eval_probe *p = NULL;
    evsrc R = {0};
    float *images = NULL;
    int64_t *index = NULL;
    int rc = evsrc_open(&R, refined, 0); /* only the probe rows are read */
    if (!rc) rc = eval_probe_open(&p, o, synthetic, o->consistency_rows);
    if (rc) goto done;
    const h5ds_info *a = p->src.info, *b = R.info;
    if (a->N != b->N || a->C != b->C || a->H != b->H || a->W != b->W) {
        rc = rp_err(RP_EFORMAT, "%s: %ld images of %dx%dx%d, but its source %s has %ld of %dx%dx%d: label consistency "
                    "compares each refined row with its synthetic row", refined, b->N, b->H, b->W, b->C, synthetic,
                    a->N, a->H, a->W, a->C);
        goto done;
    }
    long n = p->n;
    images = malloc(n * R.img * sizeof *images);
    index = malloc(n * sizeof *index);
    if (!images || !index) {
        rc = rp_err(RP_ENOMEM, "label consistency: out of memory for %ld rows", n);
        goto done;
    }
    /* refined row r must be synthetic row r refined: /index says which source row it came from */
    if (b->has_index && a->has_index) {
        int64_t *src_index = malloc(n * sizeof *src_index);
        if (!src_index) rc = rp_err(RP_ENOMEM, "label consistency: out of memory");
        for (long s = 0; !rc && s < n; s += 1024) {
            int m = n - s < 1024 ? (int)(n - s) : 1024;
            if (!(rc = h5ds_read_column_rows(R.r, "index", p->rows + s, m, index + s, H5DS_INT64)))
                rc = h5ds_read_column_rows(p->src.r, "index", p->rows + s, m, src_index + s, H5DS_INT64);
        }
        for (long i = 0; !rc && i < n; i++)
            if (index[i] != src_index[i])
                rc = rp_err(RP_EFORMAT, "%s: row %ld has /index %lld, but row %ld of %s has /index %lld: the files' "
                            "rows do not correspond", refined, p->rows[i], (long long)index[i], p->rows[i], synthetic,
                            (long long)src_index[i]);
        free(src_index);
        if (rc) goto done;
    }
    for (long s = 0; !rc && s < n; s += 1024) {
        int m = n - s < 1024 ? (int)(n - s) : 1024;
        rc = evsrc_rows(&R, p->rows + s, m, images + s * R.img);
    }
    if (!rc) rc = eval_probe_score(p, images, out);
done:
    free(images), free(index);
    eval_probe_close(p);
    evsrc_close(&R);
    return rc ? rp_err_prefix(rc, "label consistency: ") : 0;
}
