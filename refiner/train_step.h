/* One SimGAN training step on in-memory batches: the refiner step (adversarial + lambda *
 * self-regularization, or self-regularization alone while pretraining) and the discriminator
 * step (real vs refined, half of the refined batch from the history buffer). Everything the
 * steps touch is allocated by train_state_init; a step allocates nothing. The trainer
 * (trainer.h) feeds batches from HDF5 files; benchmarks and tests call these directly.
 *
 * Reductions (documented with lambda in docs/training.md):
 *   refiner loss  = adv + lambda * reg,  adv = mean CE over the N*OH*OW locations of D's map
 *                   (target "real"), reg = mean over elements of |psi(R(x)) - psi(x)|
 *   pretraining   = reg alone (weight 1)
 *   D loss        = mean CE on the real batch (target "real") + mean CE on the refined batch
 *                   (target "refined").
 *
 * Data-parallel (MPI, setup.ranks = P > 1): each rank computes on its share of b / P images of
 * every batch, with the GLOBAL b in every denominator, so its gradient and loss terms are its
 * images' part of the batch means; the steps sum both over the ranks (rank order, so every rank
 * holds the same bits) before the NaN checks, the clipping and the update. The history buffer
 * stays one buffer, identical on every rank: the ranks' fresh refined images are gathered and
 * pushed everywhere, and a history sample is drawn whole on every rank, each copying its slice. */
#ifndef RP_TRAIN_STEP_H
#define RP_TRAIN_STEP_H
#include <stdint.h>
#include "io/config.h"
#include "nn/optim.h"
#include "base/rng.h"
#include "refiner/disc.h"
#include "refiner/history.h"
#include "refiner/refiner.h"

typedef struct {
    int C, H, W;            /* image size */
    int batch;              /* b (even): refiner batch, and each half (real / refined) of D's batch */
    refiner_config rcfg;
    int d_stride;           /* stride of D's first convolution (discriminator.stride) */
    double lambda;
    int psi_cell;           /* 0 = psi is the identity, k = mean over k x k cells */
    optim_kind opt_r, opt_d;
    double lr_r, lr_d, momentum, beta1, beta2;
    double clip;            /* gradient-norm clip for both nets, 0 = off */
    long history_size;      /* images */
    uint64_t seed;
    int rank, ranks;        /* this process of the ranks that share each batch (MPI; 0 of 1 alone) */
} train_setup;

/* Where a run is in Algorithm 1. Phases only move forward; ADVERSARIAL and DONE switch with
 * train.iterations, so a resumed run with a larger T continues. */
enum train_phase {
    TRAIN_PHASE_PRETRAIN_REFINER = 0,
    TRAIN_PHASE_PRETRAIN_DISC = 1,
    TRAIN_PHASE_ADVERSARIAL = 2,
    TRAIN_PHASE_DONE = 3
};
const char *train_phase_name(int phase); /* "pretrain_refiner", ... */
int train_phase_parse(const char *name);  /* -1 if unknown */

typedef struct {
    int phase;
    long step;                   /* steps done over all phases (metrics.csv rows) */
    long pretrain_refiner_done;  /* refiner pretraining steps done */
    long pretrain_disc_done;     /* discriminator pretraining steps done */
    long iterations_done;        /* adversarial iterations (K_g + K_d steps each) done */
    long d_saturated_run;        /* adversarial steps with D accuracy >= 0.99 on both halves, see below */
    long copy_run;               /* consecutive adversarial steps with mean |R(x) - x| < half a gray level */
    long drift_run;              /* consecutive adversarial steps with mean |R(x) - x| > 0.5 (DRIFT_L1) */
} train_counters;

/* The next d_saturated_run after an adversarial step with D accuracies acc_real and acc_fake:
 * one more when both are >= 0.99; unchanged while both stay >= 0.95 (a won D still misses a
 * patch now and then); 0 once either falls below 0.95. */
long train_saturated_run(long run, double acc_real, double acc_fake);

/* Fills s from cfg for images of C x H x W and the MPI world (base/dist.h); RP_EARG if a value
 * does not fit (a batch that is odd or does not split into even shares over the ranks ...). */
int train_setup_from_config(train_setup *s, const rp_config *cfg, int C, int H, int W);

typedef struct {
    double r_adv;             /* refiner: mean CE of D's map vs "real" (NAN when not computed) */
    double r_reg;             /* refiner: mean |psi(R(x)) - psi(x)| (unweighted) */
    double r_l1;              /* refiner: mean |R(x) - x| in [-1,1] units (the "refined == input" watch) */
    double r_grad_norm;
    double d_real, d_fake;    /* D: mean CE on real / on refined */
    double acc_real, acc_fake;/* D: fraction of map locations classified correctly */
    double d_grad_norm;
} train_stats;

void train_stats_clear(train_stats *st); /* every field NAN */

typedef struct {
    train_setup setup;
    refiner R;
    disc D;
    optim opt_r, opt_d;
    history hist;
    rng_t rng_data;           /* mini-batch rows (drawn by the trainer's loader) */
    rng_t rng_hist;           /* history sampling and replacement */
    int OH, OW;               /* D's output map */
    size_t img;               /* floats per image */
    int share;                /* images of each batch this rank computes: batch / ranks (even) */
    /* workspaces, allocated once; n = share (the whole batch b in one process) */
    float *refined, *drefined;        /* (n, C, H, W) */
    float *dbatch;                    /* (2n, C, H, W): real half then refined half */
    float *logits, *probs, *dlogits;  /* (2n, 2, OH, OW) */
    float *psi_a, *psi_b, *dpsi;      /* (n, C, ceil(H/k), ceil(W/k)) when psi = cellmean */
    int *target;                      /* (2n): ADV_REAL then ADV_REFINED */
    float *fresh;                     /* (b/2, C, H, W): all ranks' fresh images (ranks > 1 only) */
} train_state;

/* Builds both nets (He init from seed), optimizers, history buffer and workspaces. */
int train_state_init(train_state *s, const train_setup *setup);
void train_state_free(train_state *s);

/* Refiner loss and its gradient in s->R.p.grad (zeroed first); no update. synth: this rank's
 * share images (NCHW, [-1,1]; all b in one process). adversarial = 0 for pretraining (reg only).
 * Fills st's refiner fields. With ranks > 1 gradient and fields are this rank's part (global
 * denominators): summed over the ranks they are the whole batch's. */
void train_refiner_grad(train_state *s, const float *synth, int adversarial, train_stats *st);
/* train_refiner_grad, the sum over the ranks, then NaN/Inf check of loss and gradient,
 * clipping, optimizer update. RP_ENUM (message says which quantity) leaves the parameters
 * untouched. */
int train_refiner_step(train_state *s, const float *synth, int adversarial, train_stats *st);
/* D's loss and gradient in s->D.p.grad (zeroed first) on a train_disc_step's batch (which see),
 * no update and nothing pushed to the history (its sample is drawn). Fills st's D fields but the
 * gradient norm; with ranks > 1 this rank's parts, as train_refiner_grad. */
void train_disc_grad(train_state *s, const float *real, const float *synth, train_stats *st);
/* One D step: real = b real images, synth = b synthetic images of which b/2 are refined
 * fresh once the history holds b/2 images (all b before that); the other half comes from the
 * history, which then takes the b/2 fresh ones. RP_ENUM on NaN/Inf (nothing updated).
 * With ranks > 1, rank r passes share real images and share synthetic ones: slice r of the
 * batch's first half, then slice r of its second half (train_source_sample_share, groups 2). */
int train_disc_step(train_state *s, const float *real, const float *synth, train_stats *st);
/* FNV-1a of everything a step depends on: both nets' parameters and optimizer state, the
 * history buffer and both RNGs (ranks compare it: they must hold the same state). */
uint64_t train_state_checksum(const train_state *s);
/* 0 if every parameter and optimizer moment of both nets is finite, else RP_ENUM naming one. */
int train_state_check_finite(const train_state *s);

#endif
