/* The evaluation step (see eval.h): the task network trained on T and scored on the real test
 * set, then the realism metrics against the real pool. The recipe is fixed: He init and batch
 * order from the seed, Adam (beta 0.9/0.999, eps 1e-8, PyTorch semantics), inputs in [0, 1],
 * no augmentation; regression targets are standardised with T's mean/std during training. */
#include "eval/eval.h"
#include "base/status.h"
#include "losses/xent.h"
#include "nn/gemm.h"
#include "nn/optim.h"
#include "eval/eval_data.h"
#include "eval/eval_metrics.h"
#include "eval/evalnet.h"
#include "base/progress.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RNG streams and init seeds, so each random choice is independent and fixed by the seed */
enum { ST_TASK = 1, ST_DOM_REAL, ST_DOM_T, ST_DOM_SAMPLE_REAL, ST_DOM_SAMPLE_T, ST_FID_REAL, ST_FID_T };
#define INIT_TASK 101
#define INIT_DOMAIN 202

void eval_options_from_config(eval_options *o, const rp_config *c) {
    memset(o, 0, sizeof *o);
    o->label = c->run.label;
    o->steps = c->eval.steps;
    o->batch = c->eval.batch;
    o->lr = c->eval.lr;
    o->lr_cosine = !strcmp(c->eval.lr_schedule, "cosine");
    o->seed = (uint64_t)c->eval.seed;
    o->repeats = c->eval.repeats;
    o->domain_steps = c->eval.domain_steps;
    o->domain_rows = c->eval.domain_rows;
    o->frechet_rows = c->eval.frechet_rows;
    o->cache_mb = c->eval.cache_mb;
}

/* ---------------------------------------------------------------- labels */
typedef struct {
    eval_task task;
    int D;           /* values per row (1 for classes) */
    int K;           /* network outputs */
    int *cls;        /* T classes (N) */
    float *y;        /* T targets standardised (N, D) */
    double *mean, *std;
    int *test_cls;   /* test set (N_test) */
    float *test_y;   /* test set, label units (N_test, D) */
} labels;

static void labels_free(labels *L) {
    free(L->cls), free(L->y), free(L->mean), free(L->std), free(L->test_cls), free(L->test_y);
    memset(L, 0, sizeof *L);
}

static int is_int(h5ds_dtype t) { return t != H5DS_FLOAT32; }

static int load_labels(labels *L, evsrc *T, evsrc *test, const char *label) {
    memset(L, 0, sizeof *L);
    int ct, cs, rc;
    if ((rc = evsrc_label(T, label, &ct)) || (rc = evsrc_label(test, label, &cs))) return rc;
    const h5ds_colinfo *a = &T->info->cols[ct], *b = &test->info->cols[cs];
    if (is_int(a->dtype) && a->cols != 1)
        return rp_err(RP_EFORMAT, "%s: /labels/%s: expected class indices of shape (N), found (N, %d) %s", T->spec,
                      label, a->cols, h5ds_dtype_name(a->dtype));
    if (is_int(a->dtype) != is_int(b->dtype) || a->cols != b->cols)
        return rp_err(RP_EFORMAT, "%s: /labels/%s: expected %s with %d column%s as in the training set %s, found %s "
                      "with %d", test->spec, label, is_int(a->dtype) ? "integer classes" : "float32 values", a->cols,
                      a->cols == 1 ? "" : "s", T->spec, h5ds_dtype_name(b->dtype), b->cols);
    long N = T->info->N, M = test->info->N;
    L->task = is_int(a->dtype) ? EVAL_CLASSIFY : EVAL_REGRESS;
    L->D = a->cols;
    if (L->task == EVAL_CLASSIFY) {
        L->cls = malloc(N * sizeof *L->cls), L->test_cls = malloc(M * sizeof *L->test_cls);
        if (!L->cls || !L->test_cls) return rp_err(RP_ENOMEM, "evaluation: out of memory for labels");
        if ((rc = h5ds_read_column(T->r, a->path, 0, N, L->cls, H5DS_INT32)) ||
            (rc = h5ds_read_column(test->r, b->path, 0, M, L->test_cls, H5DS_INT32)))
            return rc;
        int mx = -1;
        for (int pass = 0; pass < 2; pass++) {
            const int *v = pass ? L->test_cls : L->cls;
            long n = pass ? M : N;
            for (long i = 0; i < n; i++) {
                if (v[i] < 0 || v[i] >= EVAL_MAX_CLASSES)
                    return rp_err(RP_EFORMAT, "%s: /labels/%s: row %ld: class %d outside [0, %d)",
                                  pass ? test->spec : T->spec, label, i, v[i], EVAL_MAX_CLASSES);
                mx = v[i] > mx ? v[i] : mx;
            }
        }
        L->K = mx + 1 < 2 ? 2 : mx + 1;
        return 0;
    }
    int D = L->D;
    L->y = malloc((size_t)N * D * sizeof *L->y), L->test_y = malloc((size_t)M * D * sizeof *L->test_y);
    L->mean = calloc(D, sizeof *L->mean), L->std = calloc(D, sizeof *L->std);
    if (!L->y || !L->test_y || !L->mean || !L->std) return rp_err(RP_ENOMEM, "evaluation: out of memory for labels");
    if ((rc = h5ds_read_column(T->r, a->path, 0, N, L->y, H5DS_FLOAT32)) ||
        (rc = h5ds_read_column(test->r, b->path, 0, M, L->test_y, H5DS_FLOAT32)))
        return rc;
    for (long i = 0; i < (long)N * D; i++)
        if (!isfinite(L->y[i]))
            return rp_err(RP_EFORMAT, "%s: /labels/%s: row %ld is not finite", T->spec, label, i / D);
    for (int d = 0; d < D; d++) {
        double s = 0, q = 0;
        for (long i = 0; i < N; i++) s += L->y[i * D + d];
        L->mean[d] = s / N;
        for (long i = 0; i < N; i++) q += (L->y[i * D + d] - L->mean[d]) * (L->y[i * D + d] - L->mean[d]);
        L->std[d] = N > 1 && q > 0 ? sqrt(q / (N - 1)) : 1.0;
    }
    for (long i = 0; i < N; i++)
        for (int d = 0; d < D; d++) L->y[i * D + d] = (float)((L->y[i * D + d] - L->mean[d]) / L->std[d]);
    L->K = D;
    return 0;
}

/* ---------------------------------------------------------------- training loop */
typedef int (*batch_fn)(void *ctx, int B, float *x, int *cls, float *y);

typedef struct {
    evsrc *src;
    evsampler smp;
    long *rows;
    const labels *L;
} task_ctx;

static int task_batch(void *vctx, int B, float *x, int *cls, float *y) {
    task_ctx *c = vctx;
    for (int i = 0; i < B; i++) c->rows[i] = evsampler_next(&c->smp);
    for (int i = 0; i < B; i++) {
        if (c->L->task == EVAL_CLASSIFY) cls[i] = c->L->cls[c->rows[i]];
        else memcpy(y + (size_t)i * c->L->D, c->L->y + (size_t)c->rows[i] * c->L->D, c->L->D * sizeof *y);
    }
    return evsrc_rows(c->src, c->rows, B, x);
}

typedef struct {
    evsrc *real, *fake;
    evsampler sr, sf;
    long *rows;
} domain_ctx;

/* Every batch is balanced: the first half real (class 1), the rest from T (class 0). */
static int domain_batch(void *vctx, int B, float *x, int *cls, float *y) {
    domain_ctx *c = vctx;
    int h = B / 2, rc;
    for (int i = 0; i < B; i++) {
        c->rows[i] = i < h ? evsampler_next(&c->sr) : evsampler_next(&c->sf);
        cls[i] = i < h;
    }
    if ((rc = evsrc_rows(c->real, c->rows, h, x))) return rc;
    return evsrc_rows(c->fake, c->rows + h, B - h, x + (size_t)h * c->fake->img);
}

double eval_lr_at(const eval_options *o, long step, long steps) {
    return o->lr_cosine ? o->lr * 0.5 * (1 + cos(M_PI * (double)step / (double)steps)) : o->lr;
}

const char *eval_lr_schedule_name(int lr_cosine) { return lr_cosine ? "cosine" : "constant"; }

static int train_net(evalnet *net, const eval_options *o, long steps, eval_task task, batch_fn fn, void *ctx,
                     const char *what, double *tail_loss) {
    int B = o->batch, K = net->outputs, rc = 0;
    size_t img = (size_t)net->C * net->H * net->W;
    float *x = malloc(B * img * sizeof *x), *y = malloc((size_t)B * K * sizeof *y);
    float *probs = malloc((size_t)B * K * sizeof *probs), *dout = malloc((size_t)B * K * sizeof *dout);
    int *cls = malloc(B * sizeof *cls);
    if (!x || !y || !probs || !dout || !cls) rc = rp_err(RP_ENOMEM, "%s: out of memory for a batch of %d", what, B);
    optim opt;
    optim_init_adam(&opt, (float)o->lr, 0.9f, 0.999f, 1e-8f);
    rp_progress p;
    rp_progress_start(&p, what, "steps", steps, o->quiet);
    long tail_from = steps - (steps / 10 > 0 ? steps / 10 : 1);
    double tail = 0, ema = 0;
    for (long s = 0; !rc && s < steps; s++) {
        if ((rc = fn(ctx, B, x, cls, y))) break;
        const float *out = evalnet_forward(net, x, B);
        double loss = task == EVAL_CLASSIFY ? xent_forward(probs, out, cls, B, K, NULL) : mse_forward(out, y, B, K);
        if (!isfinite(loss)) {
            rc = rp_err(RP_ENUM, "%s: training loss became %g at step %ld (lr %g)", what, loss, s, o->lr);
            break;
        }
        memset(dout, 0, (size_t)B * K * sizeof *dout);
        if (task == EVAL_CLASSIFY) xent_backward(dout, probs, cls, B, K, 1.0f);
        else mse_backward(dout, out, y, B, K, 1.0f);
        param_block_zero_grad(&net->p);
        evalnet_backward(net, dout);
        opt.lr = (float)eval_lr_at(o, s, steps);
        optim_step(&opt, &net->p);
        if (s >= tail_from) tail += loss;
        ema = s ? 0.98 * ema + 0.02 * loss : loss;
        char extra[48];
        snprintf(extra, sizeof extra, "loss %.4f", ema);
        rp_progress_update(&p, s + 1, extra);
    }
    if (!rc) rp_progress_finish(&p);
    *tail_loss = tail / (steps - tail_from);
    free(x), free(y), free(probs), free(dout), free(cls);
    return rc;
}

/* ---------------------------------------------------------------- scoring on the test set */
/* predictions: CSV path or NULL. Fills res's value, correct and per-class fields; reads res->metric. */
static int score_test(evalnet *net, const eval_options *o, evsrc *test, const labels *L, const char *predictions,
                      eval_result *res) {
    long M = test->info->N;
    int B = o->batch, D = L->D, rc = 0;
    float *x = malloc((size_t)B * test->img * sizeof *x);
    long *rows = malloc(B * sizeof *rows);
    long *hits = calloc(L->K, sizeof *hits), *count = calloc(L->K, sizeof *count);
    if (!x || !rows || !hits || !count) rc = rp_err(RP_ENOMEM, "evaluation: out of memory scoring the test set");
    /* --predictions: one CSV row per test image, written to a temp name and renamed at the end */
    FILE *pf = NULL;
    char ptmp[1100] = "";
    if (!rc && predictions) {
        snprintf(ptmp, sizeof ptmp, "%s.tmp", predictions);
        if (!(pf = fopen(ptmp, "w"))) rc = rp_err(RP_EIO, "%s: cannot create: %s", ptmp, strerror(errno));
        else if (L->task == EVAL_CLASSIFY) fprintf(pf, "row,target,predicted\n");
        else {
            fprintf(pf, "row");
            for (int d = 0; d < D; d++) fprintf(pf, ",target_%d", d);
            for (int d = 0; d < D; d++) fprintf(pf, ",predicted_%d", d);
            fprintf(pf, "\n");
        }
    }
    rp_progress p;
    rp_progress_start(&p, "eval test", "images", M, o->quiet);
    double err = 0;
    int gaze = !strcmp(res->metric, "angular_error_deg");
    for (long start = 0; !rc && start < M; start += B) {
        int n = M - start < B ? (int)(M - start) : B;
        for (int i = 0; i < n; i++) rows[i] = start + i;
        if ((rc = evsrc_rows(test, rows, n, x))) break;
        const float *out = evalnet_forward(net, x, n);
        for (int i = 0; i < n; i++) {
            const float *o_i = out + (size_t)i * L->K;
            if (L->task == EVAL_CLASSIFY) {
                int t = L->test_cls[start + i], k = xent_argmax(o_i, L->K);
                count[t]++;
                hits[t] += k == t;
                if (pf) fprintf(pf, "%ld,%d,%d\n", start + i, t, k);
                continue;
            }
            const float *t = L->test_y + (size_t)(start + i) * D;
            if (gaze) { /* (pitch, yaw) in radians */
                double pitch = o_i[0] * L->std[0] + L->mean[0], yaw = o_i[1] * L->std[1] + L->mean[1];
                err += metric_gaze_angle_deg(pitch, yaw, t[0], t[1]);
            } else {
                for (int d = 0; d < D; d++) err += fabs(o_i[d] * L->std[d] + L->mean[d] - t[d]) / D;
            }
            if (pf) {
                fprintf(pf, "%ld", start + i);
                for (int d = 0; d < D; d++) fprintf(pf, ",%.9g", t[d]);
                for (int d = 0; d < D; d++) fprintf(pf, ",%.9g", o_i[d] * L->std[d] + L->mean[d]);
                fprintf(pf, "\n");
            }
        }
        rp_progress_update(&p, start + n, NULL);
    }
    if (!rc) {
        rp_progress_finish(&p);
        if (L->task == EVAL_CLASSIFY) {
            res->correct = 0;
            for (int k = 0; k < L->K; k++) {
                res->correct += hits[k];
                res->class_count[k] = count[k];
                res->class_accuracy[k] = count[k] ? (double)hits[k] / count[k] : NAN;
            }
            res->value = (double)res->correct / M;
        } else {
            res->value = err / M;
        }
    }
    if (pf) {
        int bad = ferror(pf) | fclose(pf);
        if (!rc && (bad || rename(ptmp, predictions)))
            rc = rp_err(RP_EIO, "%s: cannot write predictions: %s", predictions, strerror(errno));
        if (rc) remove(ptmp);
    }
    free(x), free(rows), free(hits), free(count);
    return rc;
}

/* One seed of the task network: He init and batch order from `seed`, trained on T, scored on the
 * test set. net must be zeroed (the caller frees it). */
static int task_run(const eval_options *o, uint64_t seed, evsrc *T, evsrc *test, const labels *L, task_ctx *tc,
                    evalnet *net, const char *predictions, const char *what, eval_result *res) {
    int rc;
    if ((rc = evalnet_init(net, T->info->C, T->info->H, T->info->W, L->K, o->batch, rng_mix64(seed + INIT_TASK))))
        return rc;
    evsampler_free(&tc->smp);
    if ((rc = evsampler_init(&tc->smp, NULL, T->info->N, seed, ST_TASK)) ||
        (rc = train_net(net, o, o->steps, L->task, task_batch, tc, what, &res->train_loss)))
        return rc;
    return score_test(net, o, test, L, predictions, res);
}

/* Seeds 2.. of eval.repeats: each seed's value into res->values; train loss and per-class
 * accuracies become means over all seeds (res holds the first seed's on entry). */
static int task_repeats(const eval_options *o, int repeats, evsrc *T, evsrc *test, const labels *L, task_ctx *tc,
                        eval_result *res) {
    eval_result *one = malloc(sizeof *one);
    if (!one) return rp_err(RP_ENOMEM, "eval: out of memory");
    int rc = 0;
    double loss = res->train_loss, sum = res->value;
    for (int i = 1; !rc && i < repeats; i++) {
        evalnet net = {0};
        memset(one, 0, sizeof *one);
        memcpy(one->metric, res->metric, sizeof one->metric);
        char what[64];
        snprintf(what, sizeof what, "eval train (seed %llu)", (unsigned long long)(o->seed + i));
        if (!(rc = task_run(o, o->seed + i, T, test, L, tc, &net, NULL, what, one))) {
            res->values[i] = one->value;
            sum += one->value, loss += one->train_loss;
            for (int k = 0; L->task == EVAL_CLASSIFY && k < L->K; k++) res->class_accuracy[k] += one->class_accuracy[k];
        }
        if (net.p.data) evalnet_free(&net);
    }
    free(one);
    res->value = sum / repeats;
    res->train_loss = loss / repeats;
    for (int k = 0; L->task == EVAL_CLASSIFY && k < L->K; k++) res->class_accuracy[k] /= repeats;
    return rc;
}

/* ---------------------------------------------------------------- realism */
/* Fraction of rows the net assigns to class `target`. */
static int domain_score(evalnet *net, evsrc *s, const long *rows, long n, int target, int B, double *acc) {
    float *x = malloc((size_t)B * s->img * sizeof *x);
    if (!x) return rp_err(RP_ENOMEM, "domain classifier: out of memory");
    long hits = 0;
    int rc = 0;
    for (long start = 0; !rc && start < n; start += B) {
        int m = n - start < B ? (int)(n - start) : B;
        if ((rc = evsrc_rows(s, rows + start, m, x))) break;
        const float *out = evalnet_forward(net, x, m);
        for (int i = 0; i < m; i++) hits += xent_argmax(out + 2 * i, 2) == target;
    }
    free(x);
    *acc = n ? (double)hits / n : NAN;
    return rc;
}

/* One domain classifier: held-out split, init and batch order from `seed` (named in the progress
 * line when several seeds run). */
static int run_domain(const eval_options *o, uint64_t seed, int name_seed, evsrc *real, evsrc *T, double *acc,
                      long *heldout) {
    long side = real->info->N < T->info->N ? real->info->N : T->info->N;
    if (side > o->domain_rows) side = o->domain_rows;
    long h = side / 2;
    if (h < 1)
        return rp_err(RP_EARG, "domain classifier: needs at least 2 rows from each of %s and %s", real->spec, T->spec);
    long *pr = eval_pick_rows(real->info->N, 2 * h, seed, ST_DOM_REAL);
    long *pt = eval_pick_rows(T->info->N, 2 * h, seed, ST_DOM_T);
    domain_ctx c = {real, T, {0}, {0}, malloc(o->batch * sizeof(long))};
    evalnet net = {0};
    int rc = !pr || !pt || !c.rows ? rp_err(RP_ENOMEM, "domain classifier: out of memory") : 0;
    if (!rc) {
        eval_sort_rows(pr + h, h);
        eval_sort_rows(pt + h, h);
        rc = evalnet_init(&net, T->info->C, T->info->H, T->info->W, 2, o->batch, rng_mix64(seed + INIT_DOMAIN));
    }
    if (!rc) rc = evsampler_init(&c.sr, pr, h, seed, ST_DOM_SAMPLE_REAL);
    if (!rc) rc = evsampler_init(&c.sf, pt, h, seed, ST_DOM_SAMPLE_T);
    double loss, acc_real = 0, acc_t = 0;
    char what[64] = "eval domain";
    if (name_seed) snprintf(what, sizeof what, "eval domain (seed %llu)", (unsigned long long)seed);
    if (!rc) rc = train_net(&net, o, o->domain_steps, EVAL_CLASSIFY, domain_batch, &c, what, &loss);
    if (!rc) rc = domain_score(&net, real, pr + h, h, 1, o->batch, &acc_real);
    if (!rc) rc = domain_score(&net, T, pt + h, h, 0, o->batch, &acc_t);
    *acc = 0.5 * (acc_real + acc_t);
    *heldout = h;
    evalnet_free(&net);
    evsampler_free(&c.sr), evsampler_free(&c.sf);
    free(pr), free(pt), free(c.rows);
    return rc;
}

/* The domain classifier once per seed of eval.repeats; res gets each accuracy and their mean. */
static int run_domains(const eval_options *o, int repeats, evsrc *real, evsrc *T, eval_result *res) {
    double sum = 0;
    for (int i = 0; i < repeats; i++) {
        int rc = run_domain(o, o->seed + i, repeats > 1, real, T, &res->domain_values[i], &res->domain_heldout);
        if (rc) return rc;
        sum += res->domain_values[i];
    }
    res->domain_accuracy = sum / repeats;
    return 0;
}

/* Gaussian statistics of the penultimate features of up to `max` rows of s (seeded subset). */
static int feature_stats(evalnet *net, evsrc *s, long max, uint64_t seed, uint64_t stream, int B, double *mean,
                         double *cov, long *used) {
    long n = s->info->N < max ? s->info->N : max;
    *used = n;
    if (n < 2) return rp_err(RP_EARG, "%s: the Fréchet distance needs at least 2 images", s->spec);
    long *rows = eval_pick_rows(s->info->N, n, seed, stream);
    float *x = malloc((size_t)B * s->img * sizeof *x), *f = malloc((size_t)n * EVALNET_HIDDEN * sizeof *f);
    int rc = !rows || !x || !f ? rp_err(RP_ENOMEM, "%s: out of memory for %ld feature rows", s->spec, n) : 0;
    if (!rc) eval_sort_rows(rows, n);
    for (long start = 0; !rc && start < n; start += B) {
        int m = n - start < B ? (int)(n - start) : B;
        if ((rc = evsrc_rows(s, rows + start, m, x))) break;
        evalnet_forward(net, x, m);
        memcpy(f + start * EVALNET_HIDDEN, net->feat, (size_t)m * EVALNET_HIDDEN * sizeof *f);
    }
    if (!rc) rc = metric_mean_cov(mean, cov, f, n, EVALNET_HIDDEN);
    free(rows), free(x), free(f);
    return rc;
}

static int run_frechet(const eval_options *o, evalnet *feat_net, evsrc *real, evsrc *T, eval_result *res) {
    const int d = EVALNET_HIDDEN;
    double *m1 = malloc(d * sizeof(double)), *m2 = malloc(d * sizeof(double));
    double *s1 = malloc((size_t)d * d * sizeof(double)), *s2 = malloc((size_t)d * d * sizeof(double));
    int rc = !m1 || !m2 || !s1 || !s2 ? rp_err(RP_ENOMEM, "Fréchet distance: out of memory") : 0;
    if (!rc) rc = feature_stats(feat_net, real, o->frechet_rows, o->seed, ST_FID_REAL, o->batch, m1, s1,
                                &res->frechet_n_real);
    if (!rc) rc = feature_stats(feat_net, T, o->frechet_rows, o->seed, ST_FID_T, o->batch, m2, s2,
                                &res->frechet_n_train);
    if (!rc) rc = metric_frechet(&res->frechet, m1, s1, m2, s2, d);
    free(m1), free(m2), free(s1), free(s2);
    return rc;
}

/* ---------------------------------------------------------------- the whole evaluation */
static int same_geometry(const evsrc *a, const evsrc *b) {
    const h5ds_info *x = a->info, *y = b->info;
    if (x->C == y->C && x->H == y->H && x->W == y->W) return 0;
    return rp_err(RP_EFORMAT, "%s: /images: expected %dx%d images with %d channel%s like %s (the evaluation "
                  "network's input), found %dx%d with %d", b->spec, x->H, x->W, x->C, x->C == 1 ? "" : "s", a->spec,
                  y->H, y->W, y->C);
}

#define COPY(dst, src) snprintf(dst, sizeof dst, "%s", (src) ? (src) : "")

int eval_run(const eval_options *o, eval_result *res) {
    memset(res, 0, sizeof *res);
    if (!o->train || !o->test || !o->label || !o->label[0])
        return rp_err(RP_EARG, "eval: --train, --test and --label are required");
    int repeats = o->repeats > 0 ? o->repeats : 1;
    if (o->steps < 1 || o->batch < 1 || !(o->lr > 0) || repeats > EVAL_MAX_REPEATS ||
        (o->real && (o->domain_steps < 1 || o->domain_rows < 4 || o->frechet_rows < 2)))
        return rp_err(RP_EARG, "eval: steps, batch, lr, domain_steps must be positive, repeats 1..%d, domain_rows >= 4 "
                      "and frechet_rows >= 2", EVAL_MAX_REPEATS);
    double t0 = rp_now_seconds();
    if (o->threads > 0) nn_set_threads(o->threads);
    else nn_blas_init(); /* the fast kernel family even when the caller did not set threads */
    COPY(res->train, o->train), COPY(res->test, o->test), COPY(res->real, o->real), COPY(res->label, o->label);
    COPY(res->name, o->name);
    res->steps = o->steps, res->batch = o->batch, res->lr = o->lr, res->seed = o->seed;
    res->lr_cosine = o->lr_cosine;
    res->domain_steps = o->domain_steps, res->domain_rows = o->domain_rows, res->frechet_rows = o->frechet_rows;
    res->domain_accuracy = res->frechet = res->hist_l1 = res->hist_w1 = NAN;

    evsrc T = {0}, test = {0}, real = {0};
    labels L = {0};
    evalnet net = {0}, loaded = {0};
    task_ctx tc = {0};
    int rc;
    if ((rc = evsrc_open(&T, o->train, o->cache_mb)) || (rc = evsrc_open(&test, o->test, o->cache_mb)) ||
        (rc = same_geometry(&T, &test)))
        goto done;
    if (o->real && ((rc = evsrc_open(&real, o->real, o->cache_mb)) || (rc = same_geometry(&T, &real)))) goto done;
    if ((rc = load_labels(&L, &T, &test, o->label))) goto done;
    res->task = L.task, res->outputs = L.K;
    res->C = T.info->C, res->H = T.info->H, res->W = T.info->W;
    res->n_train = T.info->N, res->n_test = test.info->N;
    snprintf(res->metric, sizeof res->metric, "%s",
             L.task == EVAL_CLASSIFY ? "accuracy" : !strcmp(o->label, "gaze") && L.D == 2 ? "angular_error_deg" : "mae");

    /* the task network on T, scored on the real test set: the first seed's net also serves as
     * the feature network and writes the predictions */
    tc.src = &T, tc.L = &L, tc.rows = malloc(o->batch * sizeof(long));
    if (!tc.rows) {
        rc = rp_err(RP_ENOMEM, "eval: out of memory");
        goto done;
    }
    char what[64] = "eval train";
    if (repeats > 1) snprintf(what, sizeof what, "eval train (seed %llu)", (unsigned long long)o->seed);
    res->repeats = repeats;
    if ((rc = task_run(o, o->seed, &T, &test, &L, &tc, &net, o->predictions, what, res))) goto done;
    res->values[0] = res->value;
    if (repeats > 1 && (rc = task_repeats(o, repeats, &T, &test, &L, &tc, res))) goto done;
    if (o->save_features) {
        char note[1200];
        snprintf(note, sizeof note, "trained on %s, label %s, %ld steps, batch %d, lr %g (%s), seed %llu", o->train,
                 o->label, o->steps, o->batch, o->lr, eval_lr_schedule_name(o->lr_cosine),
                 (unsigned long long)o->seed);
        if ((rc = evalnet_save(&net, o->save_features, note))) goto done;
    }

    /* realism against the real pool */
    if (o->real) {
        res->has_real = 1;
        evalnet *feat = &net;
        if (o->features) {
            if ((rc = evalnet_load(&loaded, o->features, o->batch))) goto done;
            if (loaded.C != T.info->C || loaded.H != T.info->H || loaded.W != T.info->W) {
                rc = rp_err(RP_EFORMAT, "%s: feature network built for %dx%d images with %d channel(s), but %s has "
                            "%dx%d with %d", o->features, loaded.H, loaded.W, loaded.C, o->train, T.info->H,
                            T.info->W, T.info->C);
                goto done;
            }
            feat = &loaded;
            COPY(res->feature_source, o->features);
        } else {
            if (o->save_features)
                snprintf(res->feature_source, sizeof res->feature_source, "trained on this training set, saved to %s",
                         o->save_features);
            else
                snprintf(res->feature_source, sizeof res->feature_source,
                         "trained on this training set (not shared: compare only with the same features)");
        }
        if ((rc = run_frechet(o, feat, &real, &T, res)) || (rc = run_domains(o, repeats, &real, &T, res))) goto done;
        double h1[256] = {0}, h2[256] = {0};
        if ((rc = evsrc_hist(&real, h1)) || (rc = evsrc_hist(&T, h2))) goto done;
        res->hist_l1 = metric_hist_l1(h1, h2, 256);
        res->hist_w1 = metric_hist_w1(h1, h2, 256);
    }
    res->seconds = rp_now_seconds() - t0;
done:
    evsampler_free(&tc.smp);
    free(tc.rows);
    if (net.p.data) evalnet_free(&net);
    if (loaded.p.data) evalnet_free(&loaded);
    labels_free(&L);
    evsrc_close(&T), evsrc_close(&test), evsrc_close(&real);
    return rc;
}

/* ---------------------------------------------------------------- table */
void eval_print(FILE *f, const eval_result *r) {
    fprintf(f, "evaluation%s%s%s: train %s (%ld rows, %dx%dx%d) -> real test %s (%ld rows)\n", r->name[0] ? " \"" : "",
            r->name, r->name[0] ? "\"" : "", r->train, r->n_train, r->C, r->H, r->W, r->test, r->n_test);
    fprintf(f, "  %-28s %s, %ld steps, batch %d, Adam lr %g (%s), seed %llu\n", "recipe", EVALNET_ARCH, r->steps,
            r->batch, r->lr, eval_lr_schedule_name(r->lr_cosine), (unsigned long long)r->seed);
    fprintf(f, "  %-28s %.4f (mean of the last 10%% of steps)\n", "final training loss", r->train_loss);
    int acc = r->task == EVAL_CLASSIFY;
    if (r->repeats > 1) {
        fprintf(f, "  %-28s mean of %d seeds (%llu-%llu), each:", "task network", r->repeats,
                (unsigned long long)r->seed, (unsigned long long)r->seed + r->repeats - 1);
        for (int i = 0; i < r->repeats; i++) fprintf(f, acc ? " %.2f%%" : " %.4g", acc ? 100 * r->values[i] : r->values[i]);
        fprintf(f, "\n");
    }
    if (acc) {
        fprintf(f, "  %-28s %.2f%%", "real-test accuracy", 100 * r->value);
        if (r->repeats <= 1) fprintf(f, " (%ld/%ld)", r->correct, r->n_test); /* one seed's count */
        fprintf(f, ", label %s, %d classes\n", r->label, r->outputs);
        fprintf(f, "  %-28s", "per class");
        for (int k = 0; k < r->outputs; k++)
            if (r->class_count[k]) fprintf(f, " %d:%.1f%%", k, 100 * r->class_accuracy[k]);
        fprintf(f, "\n");
    } else if (!strcmp(r->metric, "angular_error_deg")) {
        fprintf(f, "  %-28s %.3f degrees (label %s)\n", "real-test angular error", r->value, r->label);
    } else {
        fprintf(f, "  %-28s %.5g (label %s, %d values per row)\n", "real-test mean abs. error", r->value, r->label,
                r->outputs);
    }
    if (r->has_real) {
        fprintf(f, "  realism against the real pool %s:\n", r->real);
        fprintf(f, "  %-28s %.2f%% (%ld + %ld held out, %ld steps; 50%% = indistinguishable)", "domain-classifier accuracy",
                100 * r->domain_accuracy, r->domain_heldout, r->domain_heldout, r->domain_steps);
        if (r->repeats > 1) {
            fprintf(f, "; mean of seeds:");
            for (int i = 0; i < r->repeats; i++) fprintf(f, " %.2f%%", 100 * r->domain_values[i]);
        }
        fprintf(f, "\n");
        fprintf(f, "  %-28s %.4f (features: %s; %ld real, %ld train rows)\n", "Frechet distance", r->frechet,
                r->feature_source, r->frechet_n_real, r->frechet_n_train);
        fprintf(f, "  %-28s L1 %.4f, Wasserstein-1 %.5f\n", "intensity histogram", r->hist_l1, r->hist_w1);
    }
    fprintf(f, "  %-28s %.1f s\n", "time", r->seconds);
}
