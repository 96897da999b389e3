/* run_pipeline(): the whole job in one run directory (see run.h). Each stage's output is
 * written atomically by its stage, so "the file exists" means "the stage completed".
 * Under mpirun every stage runs on all ranks (simulate, train, refine and eval spread their work);
 * rank 0 alone writes the run directory's own files and decides from what it finds there, and
 * tells the others (io_decides), so every rank takes the same path. */
#include "pipelines/run.h"
#include "pipelines/guard.h"
#include "refiner/checkpoint.h"
#include "io/h5ds.h"
#include "io/sheet.h"
#include "base/dist.h"
#include "base/status.h"
#include "base/version.h"
#include "nn/gemm.h"
#include "base/rng.h"
#include "eval/eval.h"
#include "base/progress.h"
#include "pipelines/refine.h"
#include "pipelines/report_html.h"
#include "pipelines/simulate.h"
#include "refiner/trainer.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 4096

typedef struct {
    const rp_config *cfg;
    const run_options *o;
    char dir[2048], synthetic[PATH_LEN], refined[PATH_LEN], ckdir[PATH_LEN], checkpoint[PATH_LEN];
    char features[PATH_LEN], json[PATH_LEN], html[PATH_LEN], overview[PATH_LEN], last_sheet[PATH_LEN];
    long refiner_step;
    eval_result ev[2]; /* synthetic, refined */
} run_ctx;

static int exists(const char *p) { return access(p, F_OK) == 0; }

/* Rank 0's value of v on every rank (a decision from the files: the ranks must agree). */
static int io_decides(int v) {
    return rp_dist_bcast(&v, sizeof v, 0) ? -1 : v;
}

/* dir + "/" + name into buf; long paths are an error, never silently cut. */
static int join(char *buf, size_t n, const char *dir, const char *name) {
    int len = snprintf(buf, n, "%s/%s", dir, name);
    return len >= 0 && (size_t)len < n ? 0 : rp_err(RP_EARG, "path too long: %s/%s", dir, name);
}

static void say(const run_ctx *r, const char *fmt, const char *arg) {
    if (r->o->quiet) return;
    fprintf(stderr, "run: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------------------------ */
/* run directory: --fresh removes only what a run writes there */

static int remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : rp_err(RP_EIO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
        struct dirent *e;
        int rc = 0;
        while (!rc && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[PATH_LEN];
            rc = join(sub, sizeof sub, path, e->d_name);
            if (!rc) rc = remove_tree(sub);
        }
        closedir(d);
        if (rc) return rc;
        return rmdir(path) == 0 ? 0 : rp_err(RP_EIO, "%s: cannot remove: %s", path, strerror(errno));
    }
    return unlink(path) == 0 ? 0 : rp_err(RP_EIO, "%s: cannot remove: %s", path, strerror(errno));
}

static int clear_run_dir(const char *dir) {
    static const char *owned[] = {"config.ini", "synthetic.h5", "checkpoints", "metrics.csv", "samples",
                                  "train.log", "refined.h5", "refined.h5.parts", "features.h5", "report.json",
                                  "report.html"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        char p[PATH_LEN];
        int rc = join(p, sizeof p, dir, owned[i]);
        if (!rc) rc = remove_tree(p);
        if (rc) return rc;
    }
    return 0;
}

static int mkdir_p(const char *path) {
    char tmp[PATH_LEN];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return rp_err(RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return rp_err(RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    return 0;
}

/* A run directory holds one job: re-running it with another configuration would silently mix
 * results, so the stored config.ini must match (train.iterations may grow: training continues;
 * [eval] may change: every run evaluates again and report.json records each recipe). */
static int check_config(run_ctx *r) {
    char path[PATH_LEN];
    if (join(path, sizeof path, r->dir, "config.ini") || !exists(path)) return 0;
    rp_config stored, want = *r->cfg;
    config_defaults(&stored);
    int rc = config_load_file(&stored, path);
    if (rc) return rp_err_prefix(rc, "run directory %s: ", r->dir);
    if (stored.train.iterations < want.train.iterations) stored.train.iterations = want.train.iterations;
    stored.eval = want.eval;
    char *a = config_to_ini(&stored), *b = config_to_ini(&want);
    int same = a && b && !strcmp(a, b);
    const char *line = "";
    char diff[256] = "";
    if (a && b && !same) {
        /* name the first differing line */
        const char *p = a, *q = b;
        while (*p && *q) {
            const char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
            size_t pl = pe ? (size_t)(pe - p) : strlen(p), ql = qe ? (size_t)(qe - q) : strlen(q);
            if (pl != ql || strncmp(p, q, pl)) {
                snprintf(diff, sizeof diff, "stored \"%.*s\", now \"%.*s\"", (int)pl, p, (int)ql, q);
                break;
            }
            p += pl + (pe != NULL), q += ql + (qe != NULL);
        }
        line = diff;
    }
    free(a);
    free(b);
    if (same) return 0;
    return rp_err(RP_EARG,
                  "run directory %s was made with a different configuration (%s); use --fresh to start over "
                  "there, or another --run-dir",
                  r->dir, line);
}

/* ------------------------------------------------------------------------------------ */
/* stages */

static int stage_simulate(run_ctx *r) {
    if (r->cfg->run.synthetic[0]) {
        say(r, "simulate: skipped, refining your set %s (run.synthetic)", r->synthetic);
        return 0;
    }
    if (io_decides(exists(r->synthetic))) {
        say(r, "simulate: %s exists, reusing it", r->synthetic);
        return 0;
    }
    say(r, "simulate: writing %s", r->synthetic);
    return simulate_run(r->cfg, r->synthetic, r->o->threads, r->o->quiet);
}

static int stage_train(run_ctx *r) {
    char latest[PATH_LEN];
    int found = io_decides(checkpoint_find_latest(r->ckdir, latest, sizeof latest));
    if (found < 0) return rp_dist_agree(found);
    say(r, found == 0 ? "train: resuming from %s" : "train: starting in %s", found == 0 ? latest : r->dir);
    trainer *t = NULL;
    guard *g = NULL;
    int rc = trainer_open(&t, r->cfg, r->synthetic, r->cfg->run.real, r->dir, found == 0, r->o->quiet);
    /* under mpirun rank 0 alone measures the label guard (trainer.h) */
    if (!rc && trainer_total_steps(t) > trainer_step(t) && rp_dist_rank() == 0)
        rc = guard_open(&g, r->cfg, r->synthetic, r->o->quiet);
    if (t) rc = rp_dist_agree(rc); /* trainer_open agreed already */
    if (!rc) guard_attach(g, t);
    if (!rc) trainer_set_stop_flag(t, r->o->stop);
    if (!rc) rc = trainer_run(t);
    trainer_close(t);
    guard_close(g);
    if (rc) return rc;
    found = checkpoint_find_latest(r->ckdir, r->checkpoint, sizeof r->checkpoint);
    if (found != 0) return found < 0 ? found : rp_err(RP_EINTERNAL, "%s: training left no checkpoint", r->ckdir);
    return 0;
}

static int stage_refine(run_ctx *r) {
    rp_config ck;
    int rc = checkpoint_read_config(r->checkpoint, &ck);
    if (rc) return rc;
    refiner R;
    if ((rc = checkpoint_load_refiner(r->checkpoint, &R, NULL, &r->refiner_step))) return rc;
    refiner_free(&R);
    h5ds_reader *h;
    int current = 0;
    if (exists(r->refined) && h5ds_open(&h, r->refined) == 0) {
        const h5ds_info *i = h5ds_get_info(h);
        current = i->refiner_step == r->refiner_step && i->refiner_checkpoint &&
                  !strcmp(i->refiner_checkpoint, r->checkpoint);
        h5ds_close(h);
    }
    if (io_decides(current)) {
        say(r, "refine: %s is up to date, reusing it", r->refined);
        return 0;
    }
    say(r, "refine: writing %s", r->refined);
    refine_options o = {.checkpoint = r->checkpoint, .input = r->synthetic, .output = r->refined,
                        .resume = REFINE_RESUME_OR_FRESH, .quiet = r->o->quiet, .cfg = r->cfg, .stop = r->o->stop};
    refine_result res;
    return refine_run(&o, &res);
}

static int stage_eval(run_ctx *r) {
    const char *names[2] = {"synthetic", "refined"};
    const char *files[2] = {r->synthetic, r->refined};
    const int io = rp_dist_rank() == 0;
    if (io) unlink(r->json); /* rebuilt from this run's evaluations */
    for (int k = 0; k < 2; k++) {
        eval_options o;
        eval_options_from_config(&o, r->cfg);
        o.train = files[k];
        o.test = r->cfg->run.test[0] ? r->cfg->run.test : NULL;
        o.label = r->cfg->run.label;
        o.real = r->cfg->run.real;
        /* one feature network for both: trained on the synthetic set, reused for the refined */
        o.save_features = k == 0 ? r->features : NULL;
        o.features = k == 1 ? r->features : NULL;
        o.source = k == 1 ? r->synthetic : NULL; /* label consistency of the refined set */
        o.name = names[k];
        o.threads = r->o->threads;
        o.quiet = r->o->quiet;
        o.stop = r->o->stop;
        say(r, "eval: training the evaluation network on the %s set", names[k]);
        int rc = eval_run(&o, &r->ev[k]); /* every rank holds the result */
        if (!rc && io) rc = report_json_update(r->json, names[k], &r->ev[k]);
        if ((rc = rp_dist_agree(rc))) return rc;
        if (!r->o->quiet) eval_print(stderr, &r->ev[k]);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* report */

/* synthetic | refined (same rows) | real, 8 of each, as one sheet */
static int write_overview(run_ctx *r) {
    enum { K = 8 };
    h5ds_reader *s = NULL, *f = NULL, *q = NULL;
    int rc = h5ds_open(&s, r->synthetic);
    if (!rc) rc = h5ds_open(&f, r->refined);
    if (!rc) rc = h5ds_open(&q, r->cfg->run.real);
    uint8_t *img = NULL;
    if (!rc) {
        const h5ds_info *si = h5ds_get_info(s), *qi = h5ds_get_info(q);
        size_t sz = (size_t)si->H * si->W * si->C;
        if (qi->H != si->H || qi->W != si->W || qi->C != si->C)
            rc = rp_err(RP_EFORMAT, "%s: real images are %dx%dx%d, synthetic %dx%dx%d", qi->file, qi->H, qi->W, qi->C,
                        si->H, si->W, si->C);
        else if (!(img = malloc(3 * K * sz)))
            rc = rp_err(RP_ENOMEM, "out of memory");
        long rows[K], qrows[K];
        rng_t g;
        rng_seed(&g, (uint64_t)r->cfg->train.seed, 77);
        for (int i = 0; i < K; i++) {
            rows[i] = (long)rng_below(&g, (uint32_t)si->N);
            qrows[i] = (long)rng_below(&g, (uint32_t)qi->N);
        }
        if (!rc) rc = h5ds_read_rows_u8(s, rows, K, img);
        if (!rc) rc = h5ds_read_rows_u8(f, rows, K, img + K * sz);
        if (!rc) rc = h5ds_read_rows_u8(q, qrows, K, img + 2 * K * sz);
        sheet_layout L = {K, 3, 2, 64};
        if (!rc) rc = sheet_write_png(r->overview, img, 3 * K, si->H, si->W, si->C, NULL, &L);
    }
    free(img);
    h5ds_close(s);
    h5ds_close(f);
    h5ds_close(q);
    return rc;
}

/* newest DIR/samples/step_*.png (names sort by step) */
static void find_last_sheet(run_ctx *r) {
    char sdir[PATH_LEN], best[256] = "";
    r->last_sheet[0] = 0;
    DIR *d = join(sdir, sizeof sdir, r->dir, "samples") ? NULL : opendir(sdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "step_", 5) && strstr(e->d_name, ".png") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (best[0] && join(r->last_sheet, sizeof r->last_sheet, sdir, best)) r->last_sheet[0] = 0;
}

/* "93.74%", or over eval.repeats seeds "93.83% (93.54%-94.06%, 3 seeds)": the mean, then the range. */
static int fmt_mean(char *buf, size_t n, double scale, int decimals, const char *unit, double mean, const double *v,
                    int repeats) {
    int k = snprintf(buf, n, "%.*f%s", decimals, scale * mean, unit);
    if (repeats > 1 && k > 0 && (size_t)k < n) {
        double lo = v[0], hi = v[0];
        for (int i = 1; i < repeats; i++) lo = fmin(lo, v[i]), hi = fmax(hi, v[i]);
        k += snprintf(buf + k, n - k, " (%.*f%s-%.*f%s, %d seeds)", decimals, scale * lo, unit, decimals, scale * hi,
                      unit, repeats);
    }
    return k;
}

/* Accuracy in %, or a regression error with its metric name: "2.345 (mae)". */
static void fmt_metric(char *buf, size_t n, const eval_result *e) {
    int acc = !strcmp(e->metric, "accuracy");
    int k = fmt_mean(buf, n, acc ? 100 : 1, acc ? 2 : 3, acc ? "%" : "", e->value, e->values, e->repeats);
    if (!acc && k > 0 && (size_t)k < n) snprintf(buf + k, n - k, " (%s)", e->metric);
}

static int write_report(run_ctx *r) {
    int rc = write_overview(r);
    if (rc) return rc;
    find_last_sheet(r);
    report_html_input in = {0};
    char cells[2][6][96], summary[1536], kv_step[32];
    in.title = "refine-pipeline run report";
    const eval_result *s = &r->ev[0], *f = &r->ev[1];
    int acc = !strcmp(s->metric, "accuracy");
    if (!s->has_test)
        snprintf(summary, sizeof summary,
                 "No labeled real test set (run.test is empty), so accuracy on real data is not measured. A domain "
                 "classifier tells real from refined at %.1f%% and real from synthetic at %.1f%% (50%% = "
                 "indistinguishable).", 100 * f->domain_accuracy, 100 * s->domain_accuracy);
    else snprintf(summary, sizeof summary,
             "A classifier trained on the refined set scores %s on the real test set, against %s when trained on "
             "the synthetic set (%+.2f %s). A domain classifier tells real from refined at %.1f%% and real from "
             "synthetic at %.1f%% (50%% = indistinguishable).",
             (fmt_metric(cells[1][1], 96, f), cells[1][1]), (fmt_metric(cells[0][1], 96, s), cells[0][1]),
             acc ? 100 * (f->value - s->value) : f->value - s->value, acc ? "points" : s->metric,
             100 * f->domain_accuracy, 100 * s->domain_accuracy);
    if (s->has_test && s->repeats > 1 && s->repeats == f->repeats) { /* the same seeds: the difference per seed */
        size_t k = strlen(summary);
        k += snprintf(summary + k, sizeof summary - k, " All accuracies are means over evaluation seeds %llu-%llu; "
                      "real-test accuracy, refined minus synthetic, per seed:", (unsigned long long)s->seed,
                      (unsigned long long)s->seed + s->repeats - 1);
        for (int i = 0; i < s->repeats && k < sizeof summary; i++)
            k += snprintf(summary + k, sizeof summary - k, "%s %+.2f", i ? "," : "",
                          acc ? 100 * (f->values[i] - s->values[i]) : f->values[i] - s->values[i]);
        if (k < sizeof summary) snprintf(summary + k, sizeof summary - k, " %s.", acc ? "points" : s->metric);
    } else if (s->has_test && s->repeats == 1) {
        size_t k = strlen(summary);
        snprintf(summary + k, sizeof summary - k, " One evaluation seed: run again with --set eval.repeats=3 to "
                 "see how far the scores move between seeds (the rest of the run is reused).");
    }
    if (f->has_consistency) {
        char text[256];
        eval_consistency_text(text, sizeof text, f);
        size_t k = strlen(summary);
        snprintf(summary + k, sizeof summary - k, " Label consistency: a network trained on the synthetic labels errs "
                 "on %ld held-out rows %s (1 = the refined images keep their labels).", f->consistency_rows, text);
    }
    in.summary = summary;
    in.ncols = 6;
    in.header[0] = "training set";
    in.header[1] = acc ? "real-test accuracy" : "real-test error";
    in.header[2] = "domain-classifier accuracy (50% = indistinguishable)";
    in.header[3] = "Frechet distance to real";
    in.header[4] = "intensity histogram L1 to real";
    in.header[5] = "label consistency (probe error refined / simulated; 1 = kept)";
    in.nrows = 2;
    for (int k = 0; k < 2; k++) {
        const eval_result *e = &r->ev[k];
        snprintf(cells[k][0], 96, "%s", e->name);
        if (e->has_test) fmt_metric(cells[k][1], 96, e);
        else snprintf(cells[k][1], 96, "not measured (no labeled real test set)");
        fmt_mean(cells[k][2], 96, 100, 1, "%", e->domain_accuracy, e->domain_values, e->repeats);
        snprintf(cells[k][3], 96, "%.2f", e->frechet);
        snprintf(cells[k][4], 96, "%.4f", e->hist_l1);
        if (e->has_consistency) eval_consistency_text(cells[k][5], 96, e);
        else snprintf(cells[k][5], 96, "%s", k ? "not measured" : "(the reference)");
        for (int c = 0; c < 6; c++) in.cells[k][c] = cells[k][c];
    }
    char metrics[PATH_LEN];
    in.metrics_csv = join(metrics, sizeof metrics, r->dir, "metrics.csv") ? NULL : metrics;
    in.image_caption[in.nimages] = "rows: synthetic | refined (same images) | real";
    in.image_path[in.nimages++] = r->overview;
    if (r->last_sheet[0]) {
        in.image_caption[in.nimages] = "last training sheet: synthetic | refined | |refined - synthetic| | real";
        in.image_path[in.nimages++] = r->last_sheet;
    }
    snprintf(kv_step, sizeof kv_step, "%ld", r->refiner_step);
    const char *kv[][2] = {{"program", RP_PROGRAM " " RP_VERSION}, {"run directory", r->dir},
                           {"synthetic set", r->synthetic},        {"real pool", r->cfg->run.real},
                           {"real test set", r->cfg->run.test[0] ? r->cfg->run.test : "(none)"},
                           {"refiner checkpoint", r->checkpoint},
                           {"refiner step", kv_step},              {"refined set", r->refined},
                           {"feature network", r->features}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        in.kv_key[in.nkv] = kv[i][0];
        in.kv_value[in.nkv++] = kv[i][1];
    }
    char *ini = config_to_ini(r->cfg);
    in.config_ini = ini;
    rc = report_html_write(r->html, &in);
    free(ini);
    if (!rc && !r->o->quiet) fprintf(stderr, "run: %s\nrun: wrote %s and %s\n", summary, r->json, r->html);
    return rc;
}

/* Rank 0 writes the report; every rank learns whether that worked. */
static int stage_report(run_ctx *r) { return rp_dist_agree(rp_dist_rank() == 0 ? write_report(r) : 0); }

/* The refined set must keep its labels: a label-consistency ratio above train.label_guard ends
 * the run with an error (after the report, which shows it). */
static int check_labels(run_ctx *r) {
    const eval_result *f = &r->ev[1];
    double limit = r->cfg->train.label_guard;
    if (!f->has_consistency || limit <= 0 || !(f->consistency_ratio > limit)) return 0;
    char text[256];
    eval_consistency_text(text, sizeof text, f);
    return rp_err(RP_ELABEL, "labels not kept: a network trained on the synthetic labels errs %s (limit "
                  "train.label_guard = %g); %s is not fit to train on. See %s; keep R closer to its input (a larger "
                  "train.lambda, a smaller train.lr_refiner, fewer train.iterations)", text, limit, r->refined, r->html);
}

/* run.synthetic: the user's set must carry the label the evaluation learns, or the run would
 * train for minutes and then fail; said before anything starts. */
static int check_synthetic(run_ctx *r) {
    snprintf(r->synthetic, PATH_LEN, "%s", r->cfg->run.synthetic);
    h5ds_reader *h;
    int rc = h5ds_open(&h, r->synthetic);
    if (rc) return rp_err_prefix(rc, "run.synthetic: ");
    char col[96];
    snprintf(col, sizeof col, "labels/%s", r->cfg->run.label);
    if (h5ds_find_column(h, col) < 0) {
        const h5ds_info *in = h5ds_get_info(h);
        char have[512] = "";
        for (int j = 0, len = 0; j < in->ncols && len < (int)sizeof have; j++)
            if (!strncmp(in->cols[j].path, "labels/", 7))
                len += snprintf(have + len, sizeof have - len, "%s%s", len ? ", " : "", in->cols[j].path + 7);
        rc = rp_err(RP_EFORMAT, "run.synthetic %s has no /labels/%s (run.label)%s%s; bring labels along with "
                    "'refine-pipeline import ... --labels %s=SOURCE', or set run.label", r->synthetic,
                    r->cfg->run.label, have[0] ? "; its labels: " : "; it has no labels", have, r->cfg->run.label);
    }
    h5ds_close(h);
    return rc;
}

/* ------------------------------------------------------------------------------------ */

int run_pipeline(const rp_config *cfg, const run_options *o) {
    run_ctx *r = calloc(1, sizeof *r);
    if (!r) return rp_err(RP_ENOMEM, "out of memory");
    r->cfg = cfg;
    r->o = o;
    int rc = strlen(o->run_dir) < 2048 ? 0 : rp_err(RP_EARG, "run directory path too long");
    if (!rc) snprintf(r->dir, sizeof r->dir, "%s", o->run_dir);
    struct { char *buf; const char *name; } paths[] = {
        {r->synthetic, "synthetic.h5"}, {r->refined, "refined.h5"},   {r->ckdir, "checkpoints"},
        {r->features, "features.h5"},   {r->json, "report.json"},     {r->html, "report.html"},
        {r->overview, "samples/overview.png"}};
    for (size_t i = 0; !rc && i < sizeof paths / sizeof paths[0]; i++) rc = join(paths[i].buf, PATH_LEN, r->dir, paths[i].name);
    nn_set_threads(o->threads);
    if (!rc && cfg->run.synthetic[0]) rc = check_synthetic(r);
    int have_real = exists(cfg->run.real), have_test = !cfg->run.test[0] || exists(cfg->run.test);
    if (!rc && (!have_real || !have_test))
        rc = rp_err(RP_EARG, "the real data is missing (%s%s%s): run 'make data' first, or set run.real / run.test",
                    have_real ? "" : cfg->run.real, !have_real && !have_test ? ", " : "", have_test ? "" : cfg->run.test);
    const int io = rp_dist_rank() == 0; /* under mpirun rank 0 writes the directory, then all look */
    if (!rc && io && o->fresh) rc = clear_run_dir(r->dir);
    if (!rc && io) rc = mkdir_p(r->dir);
    if (!(rc = rp_dist_agree(rc))) rc = check_config(r);
    if (!rc && io) {
        char samples[PATH_LEN];
        rc = join(samples, sizeof samples, r->dir, "samples");
        if (!rc) rc = mkdir_p(samples);
    }
    rc = rp_dist_agree(rc);
    double t0 = rp_now_seconds();
    static int (*const stages[])(run_ctx *) = {stage_simulate, stage_train, stage_refine,
                                                stage_eval,     stage_report, check_labels};
    for (size_t i = 0; !rc && i < sizeof stages / sizeof stages[0]; i++) {
        if (rp_dist_max_int(o->stop && *o->stop)) rc = rp_err(RP_EINTR, "interrupted");
        else rc = stages[i](r);
    }
    if (rc == RP_EINTR)
        rc = rp_err_prefix(rc, "%s: run again with the same --run-dir to continue from what is complete: ", r->dir);
    if (!rc && !o->quiet) fprintf(stderr, "run: done in %.0f s\n", rp_now_seconds() - t0);
    free(r);
    return rc;
}
