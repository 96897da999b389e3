/* SimGAN refiner and discriminator steps on in-memory batches (see train_step.h).
 * Every buffer is sized once in train_state_init, so the steps never allocate. */
#include "refiner/train_step.h"
#include "base/dist.h"
#include "base/hash.h"
#include "base/status.h"
#include "losses/losses.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void train_stats_clear(train_stats *st) {
    st->r_adv = st->r_reg = st->r_l1 = st->r_grad_norm = NAN;
    st->d_real = st->d_fake = st->acc_real = st->acc_fake = st->d_grad_norm = NAN;
}

static const char *phase_names[] = {"pretrain_refiner", "pretrain_disc", "adversarial", "done"};

const char *train_phase_name(int phase) { return phase >= 0 && phase <= TRAIN_PHASE_DONE ? phase_names[phase] : "?"; }

int train_phase_parse(const char *name) {
    for (int i = 0; i <= TRAIN_PHASE_DONE; i++)
        if (!strcmp(name, phase_names[i])) return i;
    return -1;
}

static optim_kind parse_optim(const char *name) { return !strcmp(name, "sgd") ? OPTIM_SGD : OPTIM_ADAM; }

int train_setup_from_config(train_setup *s, const rp_config *cfg, int C, int H, int W) {
    memset(s, 0, sizeof *s);
    if (cfg->train.batch % 2)
        return rp_err(RP_EARG, "train.batch: %d is odd; D's refined half-batch is half fresh, half history",
                      cfg->train.batch);
    s->rank = rp_dist_rank();
    s->ranks = rp_dist_size();
    /* each rank's share keeps the structure of the batch: half fresh, half history */
    if (cfg->train.batch % (2 * s->ranks))
        return rp_err(RP_EARG, "train.batch: %d does not split over %d MPI ranks: each rank takes an even share (half "
                      "refined fresh, half from the history), so the batch must be a multiple of %d (2 x ranks)",
                      cfg->train.batch, s->ranks, 2 * s->ranks);
    s->C = C;
    s->H = H;
    s->W = W;
    s->batch = cfg->train.batch;
    s->rcfg = (refiner_config){.C = C, .F = cfg->refiner.filters, .B = cfg->refiner.blocks,
                               .out = (refiner_output)refiner_output_parse(cfg->refiner.output)};
    s->d_stride = cfg->discriminator.stride;
    s->lambda = cfg->train.lambda;
    s->psi_cell = strcmp(cfg->train.psi, "cellmean") ? 0 : cfg->train.psi_cell;
    s->opt_r = parse_optim(cfg->train.optimizer);
    s->opt_d = strcmp(cfg->discriminator.optimizer, "same") ? parse_optim(cfg->discriminator.optimizer) : s->opt_r;
    s->lr_r = cfg->train.lr_refiner;
    s->lr_d = cfg->train.lr_disc;
    s->momentum = cfg->train.momentum;
    s->beta1 = cfg->train.beta1;
    s->beta2 = cfg->train.beta2;
    s->clip = cfg->train.clip_grad_norm;
    s->history_size = cfg->train.history_size ? cfg->train.history_size : 100L * cfg->train.batch;
    if (s->history_size < s->batch / 2)
        return rp_err(RP_EARG, "train.history_size: %ld is smaller than half a batch (%d)", s->history_size,
                      s->batch / 2);
    s->seed = (uint64_t)cfg->train.seed;
    return 0;
}

static void init_optim(optim *o, optim_kind kind, double lr, const train_setup *s) {
    if (kind == OPTIM_SGD) optim_init_sgd(o, (float)lr, (float)s->momentum);
    else optim_init_adam(o, (float)lr, (float)s->beta1, (float)s->beta2, 1e-8f);
}

int train_state_init(train_state *s, const train_setup *setup) {
    memset(s, 0, sizeof *s);
    s->setup = *setup;
    const train_setup *u = &s->setup;
    const int ranks = u->ranks > 1 ? u->ranks : 1;
    int b = u->batch, n = b / ranks, rc;
    if (b % (2 * ranks) || u->rank < 0 || u->rank >= ranks)
        return rp_err(RP_EARG, "batch %d for rank %d of %d: needs an even share per rank", b, u->rank, ranks);
    s->share = n;
    s->img = (size_t)u->C * u->H * u->W;
    if ((rc = refiner_init(&s->R, &u->rcfg, rng_mix64(u->seed * 4 + 1)))) return rc;
    if ((rc = disc_init(&s->D, &(disc_config){.C = u->C, .stride = u->d_stride}, rng_mix64(u->seed * 4 + 2)))) goto fail;
    /* R for a whole batch (the label guard and the sample sheets refine up to b at once) */
    if ((rc = refiner_prepare(&s->R, b, u->H, u->W)) || (rc = disc_prepare(&s->D, 2 * n, u->H, u->W))) goto fail;
    s->OH = s->D.OH;
    s->OW = s->D.OW;
    if (s->OH < 1 || s->OW < 1) {
        rc = rp_err(RP_EARG, "images of %dx%d are too small for the discriminator (its output map would be %dx%d)",
                    u->H, u->W, s->OH, s->OW);
        goto fail;
    }
    if ((rc = history_init(&s->hist, u->history_size, s->img, b / 2))) goto fail;
    init_optim(&s->opt_r, u->opt_r, u->lr_r, u);
    init_optim(&s->opt_d, u->opt_d, u->lr_d, u);
    rng_seed(&s->rng_data, u->seed, 1);
    rng_seed(&s->rng_hist, u->seed, 2);
    size_t map = (size_t)2 * n * 2 * s->OH * s->OW;
    s->refined = malloc(sizeof(float) * n * s->img);
    s->drefined = malloc(sizeof(float) * n * s->img);
    s->dbatch = malloc(sizeof(float) * 2 * n * s->img);
    s->logits = malloc(sizeof(float) * map);
    s->probs = malloc(sizeof(float) * map);
    s->dlogits = malloc(sizeof(float) * map);
    s->target = malloc(sizeof(int) * 2 * n);
    int ok = s->refined && s->drefined && s->dbatch && s->logits && s->probs && s->dlogits && s->target;
    if (ranks > 1) ok = ok && (s->fresh = malloc(sizeof(float) * (b / 2) * s->img));
    if (u->psi_cell) {
        int k = u->psi_cell;
        size_t cells = (size_t)n * u->C * ((u->H + k - 1) / k) * ((u->W + k - 1) / k);
        s->psi_a = malloc(sizeof(float) * cells);
        s->psi_b = malloc(sizeof(float) * cells);
        s->dpsi = malloc(sizeof(float) * cells);
        ok = ok && s->psi_a && s->psi_b && s->dpsi;
    }
    if (!ok) {
        rc = rp_err(RP_ENOMEM, "training workspaces for batch %d of %dx%dx%d: out of memory", b, u->C, u->H, u->W);
        goto fail;
    }
    for (int i = 0; i < 2 * n; i++) s->target[i] = i < n ? ADV_REAL : ADV_REFINED;
    return 0;
fail:
    train_state_free(s);
    return rc;
}

void train_state_free(train_state *s) {
    refiner_free(&s->R);
    disc_free(&s->D);
    history_free(&s->hist);
    free(s->refined);
    free(s->drefined);
    free(s->dbatch);
    free(s->logits);
    free(s->probs);
    free(s->dlogits);
    free(s->psi_a);
    free(s->psi_b);
    free(s->dpsi);
    free(s->target);
    free(s->fresh);
    memset(s, 0, sizeof *s);
}

/* First non-finite parameter (or moment, if moments) of p, as RP_ENUM naming its tensor. */
static int block_finite(const param_block *p, const char *net, int moments) {
    const float *bufs[3] = {p->data, moments ? p->m : NULL, moments ? p->v : NULL};
    const char *names[3] = {"parameter", "optimizer moment m", "optimizer moment v"};
    for (int j = 0; j < 3; j++) {
        if (!bufs[j]) continue;
        for (size_t i = 0; i < p->count; i++)
            if (!isfinite(bufs[j][i])) {
                const char *tname = "?";
                size_t at = i;
                for (int t = 0; t < p->ntensors; t++)
                    if (i >= p->tensors[t].offset && i < p->tensors[t].offset + p->tensors[t].count) {
                        tname = p->tensors[t].name;
                        at = i - p->tensors[t].offset;
                    }
                return rp_err(RP_ENUM, "%s %s %s[%zu] is %g", net, names[j], tname, at, bufs[j][i]);
            }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Refiner step */

/* Images [i0, i0 + n) of the batch: drefined += weight * d(mean |psi(refined) - psi(synth)|),
 * the mean taken over the whole batch; returns those images' share of that mean. */
static double self_reg(train_state *s, const float *synth, int i0, int n, double weight) {
    const train_setup *u = &s->setup;
    const int b = u->batch, k = u->psi_cell;
    const float *y = s->refined + (size_t)i0 * s->img, *x = synth + (size_t)i0 * s->img;
    float *dy = s->drefined + (size_t)i0 * s->img;
    if (!k) {
        const size_t m = (size_t)n * s->img, all = (size_t)b * s->img;
        const double reg = l1_forward(y, x, m) / all;
        if (weight) l1_backward(dy, y, x, m, (float)(weight / all));
        return reg;
    }
    const size_t cells = (size_t)u->C * ((u->H + k - 1) / k) * ((u->W + k - 1) / k), m = n * cells, all = b * cells;
    cellmean_forward(s->psi_a, y, n, u->C, u->H, u->W, k);
    cellmean_forward(s->psi_b, x, n, u->C, u->H, u->W, k);
    const double reg = l1_forward(s->psi_a, s->psi_b, m) / all;
    if (weight) {
        memset(s->dpsi, 0, sizeof(float) * m);
        l1_backward(s->dpsi, s->psi_a, s->psi_b, m, (float)(weight / all));
        cellmean_backward(dy, s->dpsi, n, u->C, u->H, u->W, k);
    }
    return reg;
}

/* The refiner step runs in sub-batches of R's chunk size, each through R, D, the losses and back
 * before the next: a sub-batch's saved activations (R(64,4): 9 maps of 200 KB per 28x28 image)
 * stay in cache for its backward pass, where a whole batch's (115 MB at b = 64) went out to
 * memory and back. Each image's share of the gradient depends on that image alone (D is fixed
 * during the step; both loss terms are means over the batch with known weights). */
void train_refiner_grad(train_state *s, const float *synth, int adversarial, train_stats *st) {
    const int b = s->setup.batch, nb = s->share, sub = s->R.chunk;
    const size_t n = (size_t)nb * s->img, all = (size_t)b * s->img;
    param_block_zero_grad(&s->R.p);
    memset(s->drefined, 0, sizeof(float) * n);
    double adv = 0, reg = 0;
    for (int i0 = 0; i0 < nb; i0 += sub) { /* weights m / b: the global batch (see train_step.h) */
        const int m = nb - i0 < sub ? nb - i0 : sub;
        const float *x = synth + (size_t)i0 * s->img;
        float *y = s->refined + (size_t)i0 * s->img, *dy = s->drefined + (size_t)i0 * s->img;
        refiner_forward(&s->R, y, x, m);
        if (adversarial) {
            /* gradients flow through D into R; D's own gradients are left alone */
            const size_t map = (size_t)m * 2 * s->OH * s->OW;
            disc_forward(&s->D, s->logits, y, m);
            adv += adv_loss_forward(s->probs, s->logits, s->target, m, s->OH, s->OW, NULL) * m / b;
            memset(s->dlogits, 0, sizeof(float) * map);
            adv_loss_backward(s->dlogits, s->probs, s->target, m, s->OH, s->OW, (float)m / b);
            disc_backward(&s->D, dy, s->dlogits, m, 0);
        }
        reg += self_reg(s, synth, i0, m, adversarial ? s->setup.lambda : 1.0);
        refiner_backward(&s->R, NULL, dy, m);
    }
    st->r_adv = adversarial ? adv : NAN;
    st->r_reg = reg;
    st->r_l1 = s->setup.psi_cell ? l1_forward(s->refined, synth, n) / all : st->r_reg;
}

/* Gradient norm (clipped if asked), with the NaN/Inf verdict of loss and gradient. */
static int check_and_clip(param_block *p, double clip, const char *net, double loss, const char *loss_name,
                          double *norm_out) {
    if (!isfinite(loss)) return rp_err(RP_ENUM, "%s loss %s is %g", net, loss_name, loss);
    double norm = clip > 0 ? optim_clip_grad_norm(p, clip) : param_block_grad_norm(p);
    *norm_out = norm;
    if (!isfinite(norm)) return rp_err(RP_ENUM, "%s gradient norm is %g", net, norm);
    return 0;
}

/* Sums p's gradient and the n values v over the ranks: each rank's are its images' part of the
 * batch means, so the sums are the whole batch's, the same bits on every rank (base/dist.h). A
 * no-op in one process. */
static int sum_over_ranks(param_block *p, double *v, int n) {
    int rc = rp_dist_sum_f32(p->grad, p->count);
    return rc ? rc : rp_dist_sum_f64(v, (size_t)n);
}

int train_refiner_step(train_state *s, const float *synth, int adversarial, train_stats *st) {
    train_refiner_grad(s, synth, adversarial, st);
    double v[3] = {st->r_adv, st->r_reg, st->r_l1};
    int rc = sum_over_ranks(&s->R.p, v, 3);
    if (rc) return rc;
    st->r_adv = v[0], st->r_reg = v[1], st->r_l1 = v[2];
    double loss = (adversarial ? st->r_adv + s->setup.lambda * st->r_reg : st->r_reg);
    rc = check_and_clip(&s->R.p, s->setup.clip, "refiner",
                            loss, adversarial ? "(adversarial + lambda * self-regularization)" : "(self-regularization)",
                            &st->r_grad_norm);
    if (rc) return rc;
    optim_step(&s->opt_r, &s->R.p);
    /* a NaN weight behind a ReLU can leave loss and gradient finite: check what the update made */
    if ((rc = block_finite(&s->R.p, "refiner", 0))) return rp_err_prefix(rc, "after the update: ");
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Discriminator step */

/* D's gradient on this rank's share in s->D.p.grad (zeroed first), the fake half left in dbatch
 * for the history; v = {real loss, refined loss} as this rank's parts of the batch means, then
 * {correct real, correct refined} map locations, all to be summed over the ranks. */
static void disc_grad(train_state *s, const float *real, const float *synth, double v[4]) {
    const int b = s->setup.batch, half = b / 2, nb = s->share, nh = nb / 2;
    size_t img = s->img, map1 = (size_t)nb * 2 * s->OH * s->OW;
    float *fake = s->dbatch + (size_t)nb * img;
    memcpy(s->dbatch, real, sizeof(float) * nb * img);
    /* Inference only (nothing is saved for a backward pass): the same values as refiner_forward. */
    if (history_ready(&s->hist, half)) {
        refiner_infer(&s->R, fake, synth, nh);
        /* the whole half is drawn on every rank (same rng moves); this rank keeps its slice */
        history_sample_part(&s->hist, &s->rng_hist, fake + (size_t)nh * img, half, s->setup.rank * nh, nh);
    } else {
        refiner_infer(&s->R, fake, synth, nb); /* too few past images yet: all fresh */
    }
    disc_forward(&s->D, s->logits, s->dbatch, 2 * nb);
    long c_real = 0, c_fake = 0;
    const double w = (double)nb / b; /* this rank's part of each half's mean (1 in one process) */
    v[0] = adv_loss_forward(s->probs, s->logits, s->target, nb, s->OH, s->OW, &c_real) * w;
    v[1] = adv_loss_forward(s->probs + map1, s->logits + map1, s->target + nb, nb, s->OH, s->OW, &c_fake) * w;
    param_block_zero_grad(&s->D.p);
    memset(s->dlogits, 0, sizeof(float) * 2 * map1);
    adv_loss_backward(s->dlogits, s->probs, s->target, nb, s->OH, s->OW, (float)w);
    adv_loss_backward(s->dlogits + map1, s->probs + map1, s->target + nb, nb, s->OH, s->OW, (float)w);
    disc_backward(&s->D, NULL, s->dlogits, 2 * nb, 1);
    v[2] = (double)c_real, v[3] = (double)c_fake;
}

/* D's stats from the values disc_grad returns (summed over the ranks, or one rank's part). */
static void disc_stats(const train_state *s, const double v[4], train_stats *st) {
    double locs = (double)s->setup.batch * s->OH * s->OW;
    st->d_real = v[0], st->d_fake = v[1];
    st->acc_real = v[2] / locs;
    st->acc_fake = v[3] / locs;
}

void train_disc_grad(train_state *s, const float *real, const float *synth, train_stats *st) {
    double v[4];
    disc_grad(s, real, synth, v);
    disc_stats(s, v, st);
}

int train_disc_step(train_state *s, const float *real, const float *synth, train_stats *st) {
    const int half = s->setup.batch / 2, nh = s->share / 2;
    double v[4];
    disc_grad(s, real, synth, v);
    int rc = sum_over_ranks(&s->D.p, v, 4);
    if (rc) return rc;
    disc_stats(s, v, st);
    rc = check_and_clip(&s->D.p, s->setup.clip, "discriminator", st->d_real + st->d_fake, "(real + refined)",
                        &st->d_grad_norm);
    if (rc) return rc;
    optim_step(&s->opt_d, &s->D.p);
    if ((rc = block_finite(&s->D.p, "discriminator", 0))) return rp_err_prefix(rc, "after the update: ");
    /* the fresh half: each rank's first nh fake images, in rank order the batch's first half */
    const float *fresh = s->dbatch + (size_t)s->share * s->img;
    if (s->fresh && (rc = rp_dist_gather_f32(fresh, (size_t)nh * s->img, s->fresh))) return rc;
    history_push(&s->hist, &s->rng_hist, s->fresh ? s->fresh : fresh, half);
    return 0;
}

static uint64_t block_checksum(const param_block *p, const optim *o, uint64_t h) {
    const size_t bytes = p->count * sizeof(float);
    h = rp_fnv1a(p->data, bytes, h);
    if (p->m) h = rp_fnv1a(p->m, bytes, h);
    if (p->v) h = rp_fnv1a(p->v, bytes, h);
    return rp_fnv1a(&o->t, sizeof o->t, h);
}

uint64_t train_state_checksum(const train_state *s) {
    uint64_t h = block_checksum(&s->R.p, &s->opt_r, RP_FNV1A_INIT);
    h = block_checksum(&s->D.p, &s->opt_d, h);
    h = rp_fnv1a(&s->hist.count, sizeof s->hist.count, h);
    h = rp_fnv1a(s->hist.data, (size_t)s->hist.count * s->hist.image_size * sizeof(float), h);
    h = rp_fnv1a(&s->rng_data, sizeof s->rng_data, h);
    return rp_fnv1a(&s->rng_hist, sizeof s->rng_hist, h);
}

int train_state_check_finite(const train_state *s) {
    int rc = block_finite(&s->R.p, "refiner", 1);
    return rc ? rc : block_finite(&s->D.p, "discriminator", 1);
}
