/* The task network of the evaluation (see eval_jobs.h): one network per seed trained on T,
 * scored on the labeled real test set (accuracy and per-class accuracy, the gaze angular error, or
 * the mean absolute error), optionally with every test row's prediction in a CSV. Regression
 * targets are standardised with T's mean/std during training. */
#include "eval/eval_jobs.h"
#include "base/dist.h"
#include "base/progress.h"
#include "base/atomic.h"
#include "base/status.h"
#include "losses/xent.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- batches */
typedef struct {
    evsrc *src;
    evsampler smp;
    long *rows;
    const eval_labels *L;
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

/* ---------------------------------------------------------------- scoring on the test set */
/* predictions: CSV path or NULL. Fills res's value, correct and per-class fields; reads res->metric. */
static int score_test(evalnet *net, const eval_options *o, evsrc *test, const eval_labels *L, const char *predictions,
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
        if ((rc = rp_atomic_tmpname(ptmp, sizeof ptmp, predictions))) ptmp[0] = 0;
        else if (!(pf = fopen(ptmp, "w"))) rc = rp_err(RP_EIO, "%s: cannot create: %s", ptmp, strerror(errno));
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
            err += eval_labels_error(L, o_i, t);
            if (pf) {
                float p[EVAL_MAX_LABEL_VALUES];
                eval_labels_predicted(L, o_i, p);
                fprintf(pf, "%ld", start + i);
                for (int d = 0; d < D; d++) fprintf(pf, ",%.9g", t[d]);
                for (int d = 0; d < D; d++) fprintf(pf, ",%.9g", p[d]);
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
        if (!rc && bad) rc = rp_err(RP_EIO, "%s: cannot write predictions: %s", predictions, strerror(errno));
        rc = rp_atomic_publish(ptmp, predictions, rc);
    }
    free(x), free(rows), free(hits), free(count);
    return rc;
}

/* One seed of the task network: He init and batch order from `seed`, trained on T, scored on the
 * test set (none: value NaN). net must be zeroed (the caller frees it). */
static int task_run(const eval_options *o, uint64_t seed, evsrc *T, evsrc *test, const eval_labels *L, task_ctx *tc,
                    evalnet *net, const char *predictions, const char *what, eval_result *res) {
    int rc;
    if ((rc = evalnet_init(net, T->info->C, T->info->H, T->info->W, L->K, o->batch,
                           rng_mix64(seed + EVAL_INIT_TASK))))
        return rc;
    evsampler_free(&tc->smp);
    if ((rc = evsampler_init(&tc->smp, NULL, T->info->N, seed, EVAL_ST_TASK)) ||
        (rc = eval_train_net(net, o, o->steps, L->task, task_batch, tc, what, &res->train_loss)))
        return rc;
    if (!test) {
        res->value = NAN;
        for (int k = 0; k < L->K && L->task == EVAL_CLASSIFY; k++) res->class_accuracy[k] = NAN;
        return 0;
    }
    return score_test(net, o, test, L, predictions, res);
}

/* Seeds 2.. of eval.repeats: each seed's value into res->values; train loss and per-class
 * accuracies become means over all seeds (res holds the first seed's on entry). Under MPI each
 * rank trains its seeds (eval_job_mine) and the rows are shared before the sums, in seed order;
 * rc: the first seed's status (a failure still takes part in the sharing, which stops all). */
static int task_repeats(const eval_options *o, int repeats, evsrc *T, evsrc *test, const eval_labels *L, task_ctx *tc,
                        eval_result *res, int rc) {
    const int K = L->task == EVAL_CLASSIFY ? L->K : 0, width = 2 + K; /* value, train loss, per class */
    eval_result *one = malloc(sizeof *one);
    double *rows = calloc((size_t)repeats * width, sizeof *rows);
    if (!rc && (!one || !rows)) rc = rp_err(RP_ENOMEM, "eval: out of memory");
    for (int i = 1; !rc && i < repeats; i++) {
        if (!eval_job_mine(i)) continue;
        evalnet net = {0};
        memset(one, 0, sizeof *one);
        memcpy(one->metric, res->metric, sizeof one->metric);
        char what[64];
        snprintf(what, sizeof what, "eval train (seed %llu)", (unsigned long long)(o->seed + i));
        if (!(rc = task_run(o, o->seed + i, T, test, L, tc, &net, NULL, what, one))) {
            double *r = rows + (size_t)i * width;
            r[0] = one->value, r[1] = one->train_loss;
            for (int k = 0; k < K; k++) r[2 + k] = one->class_accuracy[k];
        }
        if (net.p.data) evalnet_free(&net);
    }
    rc = eval_jobs_share(rows ? rows + width : NULL, 1, repeats - 1, width, rc); /* rows: NULL only on failure */
    double loss = res->train_loss, sum = res->value;
    for (int i = 1; !rc && i < repeats; i++) {
        const double *r = rows + (size_t)i * width;
        res->values[i] = r[0];
        sum += r[0], loss += r[1];
        for (int k = 0; k < K; k++) res->class_accuracy[k] += r[2 + k];
    }
    free(one), free(rows);
    res->value = sum / repeats;
    res->train_loss = loss / repeats;
    for (int k = 0; k < K; k++) res->class_accuracy[k] /= repeats;
    return rc;
}


/* ---------------------------------------------------------------- the job */
int eval_task_run(const eval_options *o, int repeats, evsrc *T, evsrc *test, evalnet *net, eval_result *res) {
    eval_labels L = {0};
    task_ctx tc = {0};
    int rc = eval_labels_load(&L, T, test, o->label);
    if (!rc) {
        res->task = L.task, res->outputs = L.K;
        snprintf(res->metric, sizeof res->metric, "%s", eval_labels_metric(&L));
        tc.src = T, tc.L = &L, tc.rows = malloc(o->batch * sizeof(long));
        if (!tc.rows) rc = rp_err(RP_ENOMEM, "eval: out of memory");
    }
    char what[64] = "eval train";
    if (repeats > 1) snprintf(what, sizeof what, "eval train (seed %llu)", (unsigned long long)o->seed);
    res->repeats = repeats;
    /* the first seed on rank 0 (job 0). Under MPI a failure so far still goes through the sharing
     * of task_repeats (or eval_run's next agreement), so every rank stops at the same point. */
    if (!rc && eval_job_mine(0)) rc = task_run(o, o->seed, T, test, &L, &tc, net, o->predictions, what, res);
    for (int i = 0; !rc && i < repeats; i++) res->values[i] = res->value; /* NaN without a test set */
    if (repeats > 1 && test && (!rc || rp_dist_size() > 1)) rc = task_repeats(o, repeats, T, test, &L, &tc, res, rc);
    evsampler_free(&tc.smp);
    free(tc.rows);
    eval_labels_free(&L);
    return rc;
}
