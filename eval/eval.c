/* The evaluation step (see eval.h): opens the sets, runs the task network (eval_task.c), saves or
 * loads the feature network, runs the realism metrics (eval_realism.c), prints the table. The
 * recipe is fixed: He init and batch order from the seed, Adam, inputs in [0, 1], no augmentation. */
#include "eval/eval.h"
#include "base/dist.h"
#include "base/progress.h"
#include "base/status.h"
#include "eval/consistency.h"
#include "eval/eval_jobs.h"
#include "nn/gemm.h"
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    o->consistency_steps = c->eval.consistency_steps;
    o->consistency_rows = c->eval.consistency_rows;
    o->cache_mb = c->eval.cache_mb;
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
    if (!o->train || !o->label || !o->label[0]) return rp_err(RP_EARG, "eval: --train and --label are required");
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
    evalnet net = {0}, loaded = {0};
    /* Under MPI (eval_jobs.h) every rank opens the sets and trains its seeds; rank 0 (io) does the
     * rest but the label-consistency probe (the last rank); each rank-local failure is agreed before
     * the next collective step. */
    const int io = rp_dist_rank() == 0;
    int rc = evsrc_open(&T, o->train, o->cache_mb);
    if (!rc && o->test && !(rc = evsrc_open(&test, o->test, o->cache_mb))) rc = same_geometry(&T, &test);
    res->has_test = o->test != NULL;
    if (!rc && o->real && !(rc = evsrc_open(&real, o->real, o->cache_mb))) rc = same_geometry(&T, &real);
    if ((rc = rp_dist_agree(rc))) goto done;
    res->C = T.info->C, res->H = T.info->H, res->W = T.info->W;
    res->n_train = T.info->N, res->n_test = o->test ? test.info->N : 0;

    /* the task network on T, scored on the real test set: the first seed's net also serves as
     * the feature network and writes the predictions */
    rc = eval_task_run(o, repeats, &T, o->test ? &test : NULL, &net, res);
    if (!rc && io && o->save_features) {
        char note[1200];
        snprintf(note, sizeof note, "trained on %s, label %s, %ld steps, batch %d, lr %g (%s), seed %llu", o->train,
                 o->label, o->steps, o->batch, o->lr, eval_lr_schedule_name(o->lr_cosine),
                 (unsigned long long)o->seed);
        rc = evalnet_save(&net, o->save_features, note);
    }
    if ((rc = rp_dist_agree(rc))) goto done;

    /* realism against the real pool */
    if (o->real) {
        evalnet *feat = &net;
        if (o->features && io) {
            if (!(rc = evalnet_load(&loaded, o->features, o->batch)) &&
                (loaded.C != T.info->C || loaded.H != T.info->H || loaded.W != T.info->W))
                rc = rp_err(RP_EFORMAT, "%s: feature network built for %dx%d images with %d channel(s), but %s has "
                            "%dx%d with %d", o->features, loaded.H, loaded.W, loaded.C, o->train, T.info->H,
                            T.info->W, T.info->C);
            feat = &loaded;
            COPY(res->feature_source, o->features);
        } else if (!o->features) {
            if (o->save_features)
                snprintf(res->feature_source, sizeof res->feature_source, "trained on this training set, saved to %s",
                         o->save_features);
            else
                snprintf(res->feature_source, sizeof res->feature_source,
                         "trained on this training set (not shared: compare only with the same features)");
        }
        if (!(rc = rp_dist_agree(rc))) rc = eval_realism_run(o, repeats, feat, &real, &T, res);
    }

    /* label consistency: a refined set against the synthetic set it was refined from */
    const char *source = o->source;
    if (!source && T.info->kind && !strcmp(T.info->kind, "refined") && T.info->source_file &&
        access(T.info->source_file, R_OK) == 0)
        source = T.info->source_file;
    /* under MPI the last rank, which has the fewest seeds, trains the probe and sends its numbers */
    const int last = rp_dist_rank() == rp_dist_size() - 1;
    eval_consistency c;
    if (source && last && !rc) rc = eval_consistency_run(o, source, o->train, &c);
    if (source && rp_dist_size() > 1 && !(rc = rp_dist_agree(rc))) rc = rp_dist_bcast(&c, sizeof c, rp_dist_size() - 1);
    if (source && !rc) {
        res->has_consistency = 1;
        COPY(res->consistency_source, source);
        COPY(res->consistency_metric, c.metric);
        res->consistency_rows = c.rows;
        res->consistency_synthetic = c.synthetic, res->consistency_refined = c.refined;
        res->consistency_ratio = c.ratio, res->consistency_changed = c.changed;
    }
    /* rank 0 holds the whole result: every rank gets it */
    if (!(rc = rp_dist_agree(rc))) rc = rp_dist_bcast(res, sizeof *res, 0);
    if (rc) goto done;
    res->seconds = rp_now_seconds() - t0;
done:
    if (net.p.data) evalnet_free(&net);
    if (loaded.p.data) evalnet_free(&loaded);
    evsrc_close(&T), evsrc_close(&test), evsrc_close(&real);
    return rc;
}

/* ---------------------------------------------------------------- table */
void eval_consistency_text(char *buf, size_t n, const eval_result *r) {
    int classes = !strcmp(r->consistency_metric, "error");
    double k = classes ? 100 : 1;
    const char *u = classes ? "%" : !strcmp(r->consistency_metric, "angular_error_deg") ? " deg" : "";
    int m = snprintf(buf, n, "%.2f%s as simulated, %.2f%s refined: ratio %.2f", k * r->consistency_synthetic, u,
                     k * r->consistency_refined, u, r->consistency_ratio);
    if (classes && m > 0 && (size_t)m < n)
        snprintf(buf + m, n - m, "; class changed on %.2f%% of rows", 100 * r->consistency_changed);
}

void eval_print(FILE *f, const eval_result *r) {
    fprintf(f, "evaluation%s%s%s: train %s (%ld rows, %dx%dx%d)", r->name[0] ? " \"" : "", r->name,
            r->name[0] ? "\"" : "", r->train, r->n_train, r->C, r->H, r->W);
    if (r->has_test) fprintf(f, " -> real test %s (%ld rows)\n", r->test, r->n_test);
    else fprintf(f, ", no labeled real test set: accuracy not measured\n");
    fprintf(f, "  %-28s %s, %ld steps, batch %d, Adam lr %g (%s), seed %llu\n", "recipe", EVALNET_ARCH, r->steps,
            r->batch, r->lr, eval_lr_schedule_name(r->lr_cosine), (unsigned long long)r->seed);
    fprintf(f, "  %-28s %.4f (mean of the last 10%% of steps)\n", "final training loss", r->train_loss);
    int acc = r->task == EVAL_CLASSIFY;
    if (r->has_test && r->repeats > 1) {
        fprintf(f, "  %-28s mean of %d seeds (%llu-%llu), each:", "task network", r->repeats,
                (unsigned long long)r->seed, (unsigned long long)r->seed + r->repeats - 1);
        for (int i = 0; i < r->repeats; i++) fprintf(f, acc ? " %.2f%%" : " %.4g", acc ? 100 * r->values[i] : r->values[i]);
        fprintf(f, "\n");
    }
    if (!r->has_test) {
        fprintf(f, "  %-28s label %s (trained for the feature network; no test set to score on)\n", "task network",
                r->label);
    } else if (acc) {
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
    if (r->has_consistency) {
        char text[256];
        eval_consistency_text(text, sizeof text, r);
        fprintf(f, "  label consistency against %s (%ld held-out rows):\n", r->consistency_source, r->consistency_rows);
        fprintf(f, "  %-28s %s (ratio 1 = labels kept)\n", "probe error", text);
    }
    fprintf(f, "  %-28s %.1f s\n", "time", r->seconds);
}
