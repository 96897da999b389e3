/* Realism of a training set against the real pool (see eval_jobs.h): a domain classifier's held-out
 * accuracy (one per seed), the Fréchet distance in a feature network's penultimate features, and
 * 256-bin intensity-histogram distances. */
#include "eval/eval_jobs.h"
#include "base/dist.h"
#include "base/status.h"
#include "eval/eval_metrics.h"
#include "losses/xent.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- domain classifier */
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
    long *pr = eval_pick_rows(real->info->N, 2 * h, seed, EVAL_ST_DOM_REAL);
    long *pt = eval_pick_rows(T->info->N, 2 * h, seed, EVAL_ST_DOM_T);
    domain_ctx c = {real, T, {0}, {0}, malloc(o->batch * sizeof(long))};
    evalnet net = {0};
    int rc = !pr || !pt || !c.rows ? rp_err(RP_ENOMEM, "domain classifier: out of memory") : 0;
    if (!rc) {
        eval_sort_rows(pr + h, h);
        eval_sort_rows(pt + h, h);
        rc = evalnet_init(&net, T->info->C, T->info->H, T->info->W, 2, o->batch,
                          rng_mix64(seed + EVAL_INIT_DOMAIN));
    }
    if (!rc) rc = evsampler_init(&c.sr, pr, h, seed, EVAL_ST_DOM_SAMPLE_REAL);
    if (!rc) rc = evsampler_init(&c.sf, pt, h, seed, EVAL_ST_DOM_SAMPLE_T);
    double loss, acc_real = 0, acc_t = 0;
    char what[64] = "eval domain";
    if (name_seed) snprintf(what, sizeof what, "eval domain (seed %llu)", (unsigned long long)seed);
    if (!rc) rc = eval_train_net(&net, o, o->domain_steps, EVAL_CLASSIFY, domain_batch, &c, what, &loss);
    if (!rc) rc = domain_score(&net, real, pr + h, h, 1, o->batch, &acc_real);
    if (!rc) rc = domain_score(&net, T, pt + h, h, 0, o->batch, &acc_t);
    *acc = 0.5 * (acc_real + acc_t);
    *heldout = h;
    evalnet_free(&net);
    evsampler_free(&c.sr), evsampler_free(&c.sf);
    free(pr), free(pt), free(c.rows);
    return rc;
}

/* The domain classifier once per seed of eval.repeats; res gets each accuracy and their mean.
 * Under MPI seed i is job repeats + i (eval_job_mine); the rows are shared before the mean. */
static int run_domains(const eval_options *o, int repeats, evsrc *real, evsrc *T, eval_result *res) {
    double rows[2 * EVAL_MAX_REPEATS] = {0}; /* accuracy, held-out rows */
    int rc = 0;
    for (int i = 0; !rc && i < repeats; i++) {
        if (!eval_job_mine(repeats + i)) continue;
        long heldout = 0;
        rc = run_domain(o, o->seed + i, repeats > 1, real, T, &rows[2 * i], &heldout);
        rows[2 * i + 1] = (double)heldout;
    }
    if ((rc = eval_jobs_share(rows, repeats, repeats, 2, rc))) return rc;
    double sum = 0;
    for (int i = 0; i < repeats; i++) {
        res->domain_values[i] = rows[2 * i];
        res->domain_heldout = (long)rows[2 * i + 1];
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
    if (!rc) rc = feature_stats(feat_net, real, o->frechet_rows, o->seed, EVAL_ST_FID_REAL, o->batch, m1, s1,
                                &res->frechet_n_real);
    if (!rc) rc = feature_stats(feat_net, T, o->frechet_rows, o->seed, EVAL_ST_FID_T, o->batch, m2, s2,
                                &res->frechet_n_train);
    if (!rc) rc = metric_frechet(&res->frechet, m1, s1, m2, s2, d);
    free(m1), free(m2), free(s1), free(s2);
    return rc;
}


/* ---------------------------------------------------------------- the job */
int eval_realism_run(const eval_options *o, int repeats, evalnet *feat, evsrc *real, evsrc *T, eval_result *res) {
    res->has_real = 1;
    /* the feature network is rank 0's (eval_jobs.h); its failure stops every rank before the domains */
    int rc = rp_dist_agree(rp_dist_rank() == 0 ? run_frechet(o, feat, real, T, res) : 0);
    if (rc || (rc = run_domains(o, repeats, real, T, res))) return rc;
    if (rp_dist_rank() != 0) return 0;
    double h1[256] = {0}, h2[256] = {0};
    if ((rc = evsrc_hist(real, h1)) || (rc = evsrc_hist(T, h2))) return rc;
    res->hist_l1 = metric_hist_l1(h1, h2, 256);
    res->hist_w1 = metric_hist_w1(h1, h2, 256);
    return 0;
}
