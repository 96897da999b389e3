/* The training loop of SimGAN's Algorithm 1 over HDF5 datasets, with checkpoints, exact
 * resume, metrics, sample sheets and the warnings other implementations lacked (trainer.h).
 * Exactness: every random choice comes from the two RNGs in train_state (saved in
 * checkpoints), in an order fixed by the step counters, so n steps + resume + n steps
 * reproduces 2n steps bit for bit (single-threaded BLAS).
 * Under MPI every rank runs this loop in step: each draws the same rows from the shared RNGs and
 * computes on its share (train_step.h), the steps sum gradients and statistics, so every rank
 * holds the same state and takes the same decisions; rank 0 alone writes, and a failure on one
 * rank is agreed (rp_dist_agree) before the next collective so no rank waits for a lost one. */
#include "refiner/trainer.h"
#include "refiner/checkpoint.h"
#include "base/dist.h"
#include "base/atomic.h"
#include "base/status.h"
#include "base/progress.h"
#include "refiner/train_data.h"
#include "refiner/train_log.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Warnings: D near-perfect on both halves, or R's output within half a gray level of its input,
 * for this many consecutive adversarial iterations. */
#define WARN_RUN 100
#define SATURATED_ACC 0.99
#define SATURATED_HOLD 0.95
/* Mean |R(x) - x| beyond which refined images have likely left their labels behind: an eighth of
 * the [-1, 1] range on average. The digits default refines at 0.05, stroke thickening measured
 * 0.15; a refiner that broke gaze labels on real eye crops (angular error x3.5) ran at 0.33-0.39,
 * under the 0.5 this once was. The label guard measures labels directly; this warning needs none. */
#define DRIFT_L1 0.25
#define COPY_L1 (1.0 / 255.0) /* half a gray level in [-1, 1] units */

struct trainer {
    rp_config cfg;
    char *config_ini;
    /* run_dir shorter than PATH_MAX leaves room for the names joined to it */
    char run_dir[PATH_MAX - 128], ckpt_dir[PATH_MAX - 64], samples_dir[PATH_MAX - 64], log_path[PATH_MAX];
    char synthetic[1024], real[1024];
    char last_ckpt[PATH_MAX];
    long last_ckpt_step, last_sample_step;
    int quiet;
    int io;                         /* writes files (rank 0 under MPI; always without) */
    train_source syn, rea;
    train_state s;
    train_counters k;
    float *x_syn, *x_real;          /* (share, C, H, W): this rank's part of the batches */
    int nsample;                    /* fixed images shown on every sample sheet */
    float *sample_syn, *sample_real, *sample_ref;
    train_metrics metrics;
    rp_progress prog;
    long prog_base;
    volatile sig_atomic_t *stop;
    trainer_label_check check;
    void *check_ctx;
    int has_check;                  /* some rank has a check (under MPI rank 0 alone: label_check) */
    int label_fails;                /* consecutive checks above train.label_guard */
};

/* ------------------------------------------------------------------------------------ */
/* opening */

static int make_dir(const char *path) {
    if (mkdir(path, 0777) && errno != EEXIST) return rp_err(RP_EIO, "%s: cannot create directory: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) return rp_err(RP_EIO, "%s: exists and is not a directory", path);
    return 0;
}

static int open_sources(trainer *t, const char *synthetic, const char *real) {
    size_t cache = (size_t)t->cfg.train.cache_mb << 20;
    int b = t->cfg.train.batch, rc;
    if ((rc = train_source_open(&t->syn, synthetic, b, cache))) return rp_err_prefix(rc, "--synthetic: ");
    if ((rc = train_source_open(&t->rea, real, b, cache))) return rp_err_prefix(rc, "--real: ");
    const train_source *a = &t->syn, *r = &t->rea;
    if (a->C != r->C || a->H != r->H || a->W != r->W)
        return rp_err(RP_EARG,
                      "%s has %dx%d images with %d channel(s) but %s has %dx%d with %d: the discriminator compares "
                      "real and refined images in one batch, so both sets need the same size and channels "
                      "(re-import or re-simulate one of them at the other's size)",
                      synthetic, a->H, a->W, a->C, real, r->H, r->W, r->C);
    return 0;
}

/* Fixed sample rows, from their own RNG stream so sheets never perturb training. */
static int load_samples(trainer *t) {
    const train_source *a = &t->syn;
    t->nsample = t->cfg.train.sample_images < t->cfg.train.batch ? t->cfg.train.sample_images : t->cfg.train.batch;
    size_t img = (size_t)a->C * a->H * a->W, bytes = sizeof(float) * t->nsample * img;
    t->sample_syn = malloc(bytes);
    t->sample_real = malloc(bytes);
    t->sample_ref = malloc(bytes);
    if (!t->sample_syn || !t->sample_real || !t->sample_ref) return rp_err(RP_ENOMEM, "sample sheet buffers");
    rng_t rng;
    rng_seed(&rng, (uint64_t)t->cfg.train.seed, 3);
    int rc = train_source_sample(&t->syn, &rng, t->nsample, t->sample_syn);
    return rc ? rc : train_source_sample(&t->rea, &rng, t->nsample, t->sample_real);
}

int trainer_resume_config(const char *run_dir, rp_config *cfg) {
    char dir[PATH_MAX], path[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/checkpoints", run_dir);
    int rc = checkpoint_find_latest(dir, path, sizeof path);
    if (rc == 1) return rp_err(RP_EARG, "%s: no checkpoint to resume from", dir);
    return rc ? rc : checkpoint_read_config(path, cfg);
}

/* Every rank reads the run directory; only the io rank writes (directories first, then the others
 * may look). */
static int open_run(trainer *t, int resume) {
    int rc = 0;
    snprintf(t->ckpt_dir, sizeof t->ckpt_dir, "%s/checkpoints", t->run_dir);
    snprintf(t->samples_dir, sizeof t->samples_dir, "%s/samples", t->run_dir);
    snprintf(t->log_path, sizeof t->log_path, "%s/train.log", t->run_dir);
    if (t->io && !(rc = make_dir(t->run_dir)) && !(rc = make_dir(t->ckpt_dir))) rc = make_dir(t->samples_dir);
    if ((rc = rp_dist_agree(rc))) return rc; /* the directories exist before the others look */
    char path[PATH_MAX], metrics[PATH_MAX];
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", t->run_dir);
    rc = checkpoint_find_latest(t->ckpt_dir, path, sizeof path);
    if (rc < 0) return rc;
    if (!resume) {
        if (rc == 0)
            return rp_err(RP_EARG, "%s already holds a training run (%s): continue it with --resume or choose another "
                                   "--run-dir", t->run_dir, path);
        if ((rc = train_metrics_open(&t->metrics, metrics, -1))) return rc;
        train_log(t->log_path, 1, 0, "start: %s vs %s, %ld steps", t->synthetic, t->real, trainer_total_steps(t));
    } else {
        if (rc == 1) return rp_err(RP_EARG, "%s: no checkpoint to resume from", t->ckpt_dir);
        if ((rc = checkpoint_load(path, &t->s, &t->k))) return rp_err_prefix(rc, "--resume: ");
        snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", path);
        t->last_ckpt_step = t->last_sample_step = t->k.step;
        if ((rc = train_metrics_open(&t->metrics, metrics, t->k.step))) return rc;
        train_log(t->log_path, 1, t->k.step, "resume from %s (%s), %ld steps in total", path,
                  train_phase_name(t->k.phase), trainer_total_steps(t));
    }
    snprintf(path, sizeof path, "%s/config.ini", t->run_dir);
    return t->io ? rp_atomic_write(path, t->config_ini, strlen(t->config_ini)) : 0;
}

int trainer_open(trainer **out, const rp_config *cfg, const char *synthetic, const char *real, const char *run_dir,
                 int resume, int quiet) {
    *out = NULL;
    trainer *t = calloc(1, sizeof *t);
    if (!t) return rp_err(RP_ENOMEM, "trainer: out of memory");
    t->cfg = *cfg;
    t->quiet = quiet;
    t->io = rp_dist_rank() == 0;
    t->last_ckpt_step = t->last_sample_step = -1;
    if (strlen(run_dir) >= sizeof t->run_dir) {
        free(t);
        return rp_err(RP_EARG, "--run-dir: path longer than %zu characters", sizeof t->run_dir - 1);
    }
    snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir);
    snprintf(t->synthetic, sizeof t->synthetic, "%s", synthetic);
    snprintf(t->real, sizeof t->real, "%s", real);
    int rc = 0;
    train_setup setup;
    if (!(t->config_ini = config_to_ini(cfg))) rc = rp_err(RP_ENOMEM, "%s: out of memory", run_dir);
    if (!rc) rc = open_sources(t, synthetic, real);
    if (!rc) rc = train_setup_from_config(&setup, cfg, t->syn.C, t->syn.H, t->syn.W);
    if (!rc) rc = train_state_init(&t->s, &setup);
    if (!rc) {
        size_t bytes = sizeof(float) * t->s.share * t->s.img;
        t->x_syn = malloc(bytes);
        t->x_real = malloc(bytes);
        if (!t->x_syn || !t->x_real) rc = rp_err(RP_ENOMEM, "trainer: batch buffers");
    }
    if (!rc) rc = load_samples(t);
    rc = rp_dist_agree(rc); /* e.g. a file one rank cannot read */
    if (!rc) rc = open_run(t, resume);
    rc = rp_dist_agree(rc);
    rp_progress_start(&t->prog, "train", "steps", trainer_total_steps(t) - t->k.step, quiet || !t->io);
    t->prog_base = t->k.step;
    if (rc) {
        trainer_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void trainer_close(trainer *t) {
    if (!t) return;
    train_metrics_close(&t->metrics);
    train_state_free(&t->s);
    train_source_close(&t->syn);
    train_source_close(&t->rea);
    free(t->x_syn);
    free(t->x_real);
    free(t->sample_syn);
    free(t->sample_real);
    free(t->sample_ref);
    free(t->config_ini);
    free(t);
}

/* ------------------------------------------------------------------------------------ */
/* accessors */

long trainer_step(const trainer *t) { return t->k.step; }
const train_counters *trainer_counters(const trainer *t) { return &t->k; }
train_state *trainer_state(trainer *t) { return &t->s; }
const char *trainer_last_checkpoint(const trainer *t) { return t->last_ckpt; }
void trainer_set_stop_flag(trainer *t, volatile sig_atomic_t *flag) { t->stop = flag; }
void trainer_set_label_check(trainer *t, trainer_label_check fn, void *ctx) { t->check = fn, t->check_ctx = ctx; }

long trainer_total_steps(const trainer *t) {
    const train_counters *k = &t->k;
    long nr = t->cfg.train.pretrain_refiner_steps, nd = t->cfg.train.pretrain_disc_steps, T = t->cfg.train.iterations;
    /* a phase already left counts what it did; the current and later ones what the config asks */
    long pr = k->phase > TRAIN_PHASE_PRETRAIN_REFINER ? k->pretrain_refiner_done
                                                      : (nr > k->pretrain_refiner_done ? nr : k->pretrain_refiner_done);
    long pd = k->phase > TRAIN_PHASE_PRETRAIN_DISC ? k->pretrain_disc_done
                                                   : (nd > k->pretrain_disc_done ? nd : k->pretrain_disc_done);
    return pr + pd + (T > k->iterations_done ? T : k->iterations_done);
}

/* Moves to the phase the counters and config call for; phases never go back. */
static int advance_phase(trainer *t) {
    train_counters *k = &t->k;
    if (k->phase == TRAIN_PHASE_PRETRAIN_REFINER && k->pretrain_refiner_done >= t->cfg.train.pretrain_refiner_steps)
        k->phase = TRAIN_PHASE_PRETRAIN_DISC;
    if (k->phase == TRAIN_PHASE_PRETRAIN_DISC && k->pretrain_disc_done >= t->cfg.train.pretrain_disc_steps)
        k->phase = TRAIN_PHASE_ADVERSARIAL;
    if (k->phase >= TRAIN_PHASE_ADVERSARIAL)
        k->phase = k->iterations_done >= t->cfg.train.iterations ? TRAIN_PHASE_DONE : TRAIN_PHASE_ADVERSARIAL;
    return k->phase;
}

/* ------------------------------------------------------------------------------------ */
/* checkpoints and sheets */

int trainer_checkpoint(trainer *t) {
    if (t->last_ckpt_step == t->k.step) return 0;
    char path[PATH_MAX], agreed[96] = "";
    checkpoint_path(path, sizeof path, t->ckpt_dir, t->k.step);
    /* every rank holds the same state (checked: rank 0 writes it for all); all learn whether that worked */
    if (rp_dist_size() > 1) {
        uint64_t h = train_state_checksum(&t->s);
        if (!rp_dist_same_u64(h))
            return rp_err(RP_ENUM, "step %ld: the MPI ranks hold different training states (rank %d: checksum "
                          "%016llx), so no checkpoint is written; the last one is %s", t->k.step, rp_dist_rank(),
                          (unsigned long long)h, t->last_ckpt[0] ? t->last_ckpt : "(none)");
        snprintf(agreed, sizeof agreed, " (state checksum %016llx, the same on all %d ranks)", (unsigned long long)h,
                 rp_dist_size());
    }
    int rc = t->io ? checkpoint_save(path, &t->s, &t->k, t->config_ini, t->synthetic, t->real) : 0;
    if (!rc && t->io) rc = checkpoint_publish(t->ckpt_dir, t->k.step, t->cfg.train.keep_checkpoints);
    if ((rc = rp_dist_agree(rc))) return rc; /* rank 0 says why */
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", path);
    t->last_ckpt_step = t->k.step;
    train_log(t->log_path, 1, t->k.step, "checkpoint %s%s", path, agreed);
    return 0;
}

/* The label guard's ratio. Under MPI rank 0 alone holds the guard (its probe network need not be
 * trained P times): it measures and sends the ratio, so every rank takes the same decision. */
static int label_check(trainer *t, double *ratio) {
    int rc = t->check ? t->check(t->check_ctx, &t->s.R, t->s.setup.batch, ratio) : 0;
    if (rp_dist_size() == 1) return rc;
    if (!(rc = rp_dist_agree(rc))) rc = rp_dist_bcast(ratio, sizeof *ratio, 0); /* rank 0 says why it failed */
    return rc;
}

/* A checkpoint if the label guard lets it through (see trainer_set_label_check). final: the end
 * of the schedule, where there is no later check to wait for. The guard judges R once adversarial
 * training has begun: during pretraining R is still learning to copy its input. */
static int guarded_checkpoint(trainer *t, int final) {
    double limit = t->cfg.train.label_guard, ratio = NAN;
    if (!t->has_check || limit <= 0 || t->last_ckpt_step == t->k.step || t->k.iterations_done == 0)
        return trainer_checkpoint(t);
    int rc = label_check(t, &ratio);
    if (rc) return rp_err_prefix(rc, "label guard: ");
    train_log(t->log_path, 1, t->k.step, "label guard: consistency ratio %.3f (limit train.label_guard = %g)", ratio,
              limit);
    if (!(ratio > limit)) {
        t->label_fails = 0;
        return trainer_checkpoint(t);
    }
    const char *advice = "keep R closer to its input: a larger train.lambda, a smaller train.lr_refiner or fewer "
                         "train.iterations (or train.psi = identity)";
    if (++t->label_fails >= 2 || final)
        return rp_err(RP_ELABEL, "labels not kept: a network trained on the synthetic labels does %.2f times worse on "
                      "refined images than on simulated ones (train.label_guard = %g)%s; the last checkpoint whose "
                      "labels held is %s; %s", ratio, limit, final ? " at the end" : " for two checks in a row",
                      t->last_ckpt[0] ? t->last_ckpt : "(none)", advice);
    train_log(t->log_path, t->quiet, t->k.step,
              "warning: label guard: a network trained on the synthetic labels does %.2f times worse on refined images "
              "than on simulated ones (limit train.label_guard = %g): the refiner is changing what the labels "
              "describe. This checkpoint is not written; training stops if the next check agrees. To avoid it, %s",
              ratio, limit, advice);
    return 0;
}

static int write_sheet(trainer *t) {
    if (t->last_sample_step == t->k.step || !t->io) return 0;
    const train_setup *u = &t->s.setup;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/step_%06ld.png", t->samples_dir, t->k.step);
    /* R is prepared for a full batch; nsample <= batch */
    refiner_forward(&t->s.R, t->sample_ref, t->sample_syn, t->nsample);
    int rc = train_sample_sheet(path, t->sample_syn, t->sample_ref, t->sample_real, t->nsample, u->C, u->H, u->W);
    if (!rc) t->last_sample_step = t->k.step;
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* one step of Algorithm 1 */

static void add_r(train_stats *acc, const train_stats *st, int i) {
    double w = 1.0 / (i + 1); /* running mean over the K_g steps */
    if (i == 0) acc->r_adv = acc->r_reg = acc->r_l1 = acc->r_grad_norm = 0;
    acc->r_adv += (st->r_adv - acc->r_adv) * w;
    acc->r_reg += (st->r_reg - acc->r_reg) * w;
    acc->r_l1 += (st->r_l1 - acc->r_l1) * w;
    acc->r_grad_norm += (st->r_grad_norm - acc->r_grad_norm) * w;
}

static void add_d(train_stats *acc, const train_stats *st, int i) {
    double w = 1.0 / (i + 1);
    if (i == 0) acc->d_real = acc->d_fake = acc->acc_real = acc->acc_fake = acc->d_grad_norm = 0;
    acc->d_real += (st->d_real - acc->d_real) * w;
    acc->d_fake += (st->d_fake - acc->d_fake) * w;
    acc->acc_real += (st->acc_real - acc->acc_real) * w;
    acc->acc_fake += (st->acc_fake - acc->acc_fake) * w;
    acc->d_grad_norm += (st->d_grad_norm - acc->d_grad_norm) * w;
}

/* Rows of a batch of b from src: all drawn, this rank's share read (groups: train_data.h). */
static int sample(trainer *t, train_source *src, int groups, float *out) {
    const train_setup *u = &t->s.setup;
    return train_source_sample_share(src, &t->s.rng_data, u->batch, groups, u->rank, u->ranks, out);
}

static int refiner_step(trainer *t, int adversarial, train_stats *st) {
    int rc = rp_dist_agree(sample(t, &t->syn, 1, t->x_syn));
    return rc ? rc : train_refiner_step(&t->s, t->x_syn, adversarial, st);
}

static int disc_step(trainer *t, train_stats *st) {
    int rc = sample(t, &t->rea, 1, t->x_real);
    if (!rc) rc = sample(t, &t->syn, 2, t->x_syn); /* D refines slices of the first half, see train_step.h */
    return (rc = rp_dist_agree(rc)) ? rc : train_disc_step(&t->s, t->x_real, t->x_syn, st);
}

static int one_step(trainer *t, int phase, train_stats *out) {
    train_stats st;
    train_stats_clear(out);
    train_stats_clear(&st);
    int rc = 0;
    if (phase == TRAIN_PHASE_PRETRAIN_REFINER) {
        if (!(rc = refiner_step(t, 0, out))) t->k.pretrain_refiner_done++;
    } else if (phase == TRAIN_PHASE_PRETRAIN_DISC) {
        if (!(rc = disc_step(t, out))) t->k.pretrain_disc_done++;
    } else {
        for (int i = 0; !rc && i < t->cfg.train.k_g; i++)
            if (!(rc = refiner_step(t, 1, &st))) add_r(out, &st, i);
        for (int i = 0; !rc && i < t->cfg.train.k_d; i++)
            if (!(rc = disc_step(t, &st))) add_d(out, &st, i);
        if (!rc) t->k.iterations_done++;
    }
    return rc;
}

long train_saturated_run(long run, double acc_real, double acc_fake) {
    double worst = acc_real < acc_fake ? acc_real : acc_fake;
    return worst >= SATURATED_ACC ? run + 1 : worst >= SATURATED_HOLD ? run : 0;
}

/* The failures users of other implementations hit, said while there is time to act. */
static void watch(trainer *t, const train_stats *st) {
    train_counters *k = &t->k;
    if (!isnan(st->acc_real) && !isnan(st->acc_fake)) {
        k->d_saturated_run = train_saturated_run(k->d_saturated_run, st->acc_real, st->acc_fake);
        if (k->d_saturated_run && k->d_saturated_run % (10 * WARN_RUN) == WARN_RUN)
            train_log(t->log_path, t->quiet, k->step,
                      "warning: the discriminator has classified >= %.0f%% of real and refined patches correctly for "
                      "%ld iterations (never under %.0f%% in between), so the refiner learns little from it; try a "
                      "smaller train.lambda, a larger train.k_g or train.lr_refiner, or a smaller train.lr_disc",
                      SATURATED_ACC * 100, k->d_saturated_run, SATURATED_HOLD * 100);
    }
    if (!isnan(st->r_l1)) {
        k->copy_run = st->r_l1 < COPY_L1 ? k->copy_run + 1 : 0;
        if (k->copy_run && k->copy_run % (10 * WARN_RUN) == WARN_RUN)
            train_log(t->log_path, t->quiet, k->step,
                      "warning: refined images equal their inputs (mean |R(x) - x| = %.2g, under half a gray level) "
                      "for %ld iterations: self-regularization dominates; try a smaller train.lambda",
                      st->r_l1, k->copy_run);
        k->drift_run = st->r_l1 > DRIFT_L1 ? k->drift_run + 1 : 0;
        if (k->drift_run && k->drift_run % (10 * WARN_RUN) == WARN_RUN)
            train_log(t->log_path, t->quiet, k->step,
                      "warning: refined images are far from their inputs (mean |R(x) - x| = %.2g in [-1, 1] units) "
                      "for %ld iterations: its images may no longer match their labels (the label guard and eval's "
                      "label consistency measure it); try a larger train.lambda or a smaller train.lr_refiner",
                      st->r_l1, k->drift_run);
    }
}

int trainer_run_steps(trainer *t, long max_steps) {
    int rc = 0;
    char extra[160];
    t->has_check = rp_dist_max_int(t->check != NULL);
    for (long n = 0; n < max_steps; n++) {
        int phase = advance_phase(t);
        if (phase == TRAIN_PHASE_DONE) break;
        if (rp_dist_max_int(t->stop && *t->stop)) { /* every rank stops at the same step */
            if ((rc = guarded_checkpoint(t, 0))) return rc;
            return rp_err(RP_EINTR, "interrupted at step %ld; checkpoint %s; continue with --resume", t->k.step,
                          t->last_ckpt);
        }
        double t0 = rp_now_seconds();
        train_stats st;
        if ((rc = one_step(t, phase, &st)))
            return rp_err_prefix(rc, "step %ld (%s): ", t->k.step + 1, train_phase_name(phase));
        t->k.step++;
        if (phase == TRAIN_PHASE_ADVERSARIAL) watch(t, &st);
        /* rank 0 writes; the others learn whether that worked */
        if ((rc = rp_dist_agree(train_metrics_row(&t->metrics, t->k.step, phase, &st, rp_now_seconds() - t0))))
            return rc;
        if (t->cfg.train.sample_every && t->k.step % t->cfg.train.sample_every == 0 &&
            (rc = rp_dist_agree(write_sheet(t))))
            return rc;
        if (t->k.step % t->cfg.train.checkpoint_every == 0 && (rc = guarded_checkpoint(t, 0))) return rc;
        if (phase == TRAIN_PHASE_PRETRAIN_REFINER)
            snprintf(extra, sizeof extra, "%s |R(x)-x| %.4f", train_phase_name(phase), st.r_l1);
        else if (phase == TRAIN_PHASE_PRETRAIN_DISC)
            snprintf(extra, sizeof extra, "%s D acc real %.2f refined %.2f", train_phase_name(phase), st.acc_real,
                     st.acc_fake);
        else
            snprintf(extra, sizeof extra, "R adv %.3f |R(x)-x| %.4f D acc real %.2f refined %.2f", st.r_adv, st.r_l1,
                     st.acc_real, st.acc_fake);
        rp_progress_update(&t->prog, t->k.step - t->prog_base, extra);
    }
    if (advance_phase(t) == TRAIN_PHASE_DONE) {
        if ((rc = guarded_checkpoint(t, 1))) return rc;
        if (t->cfg.train.sample_every && (rc = rp_dist_agree(write_sheet(t)))) return rc;
    }
    return 0;
}

int trainer_run(trainer *t) {
    t->prog_base = t->k.step;
    rp_progress_start(&t->prog, "train", "steps", trainer_total_steps(t) - t->k.step, t->quiet);
    int rc = trainer_run_steps(t, LONG_MAX);
    if (rc) {
        train_log(t->log_path, 1, t->k.step, "stopped: %s", rp_errmsg());
        if (!t->quiet && t->prog.tty) fputc('\n', stderr);
        return rc;
    }
    rp_progress_finish(&t->prog);
    train_log(t->log_path, t->quiet, t->k.step, "done; latest checkpoint %s", t->last_ckpt);
    return 0;
}
