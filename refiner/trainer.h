/* The SimGAN trainer: Algorithm 1 (refiner pretraining, discriminator pretraining, then T
 * iterations of K_g refiner steps and K_d discriminator steps) over random mini-batches of two
 * HDF5 datasets, writing a run directory:
 *   DIR/config.ini        effective config
 *   DIR/checkpoints/      step_NNNNNNNNN.h5 (last train.keep_checkpoints kept), latest.h5 symlink
 *   DIR/metrics.csv       one row per step
 *   DIR/samples/          step_NNNNNN.png: synthetic | refined | |refined - synthetic| x4 | real
 *   DIR/train.log         start/resume, checkpoints, warnings
 * An opaque handle; the steps themselves are in train_step.h for benchmarks and tests.
 * Under MPI (refine-pipeline-mpi) every rank calls the same functions in the same order: each
 * computes on its share of every batch (train_step.h) and rank 0 alone writes DIR. */
#ifndef RP_TRAINER_H
#define RP_TRAINER_H
#include <signal.h>
#include "io/config.h"
#include "refiner/train_step.h"

typedef struct trainer trainer;

/* Opens both datasets (same C, H, W required), builds the nets and the run directory.
 * resume = 0: DIR must not already hold checkpoints. resume = 1: loads DIR/checkpoints' newest
 * checkpoint (architecture checked against cfg), truncates metrics.csv to its step, and
 * continues to the end of cfg's schedule (a larger train.iterations extends the run).
 * quiet: no progress bar or warnings on stderr (they still go to train.log). */
int trainer_open(trainer **t, const rp_config *cfg, const char *synthetic, const char *real, const char *run_dir,
                 int resume, int quiet);
/* Trains to the end of the schedule, writing the final checkpoint and sample sheet.
 * NaN/Inf stops with RP_ENUM naming step and phase; the last good checkpoint stays latest. */
int trainer_run(trainer *t);
/* At most max_steps more steps (checkpoints and sheets on their cadence; the final ones only
 * if the schedule ends). Returns 0 or an error as trainer_run. */
int trainer_run_steps(trainer *t, long max_steps);
/* Writes a checkpoint of the current step now (if none exists for it) and publishes it. */
int trainer_checkpoint(trainer *t);
void trainer_close(trainer *t); /* NULL is a no-op; writes nothing */

long trainer_step(const trainer *t);        /* steps done */
long trainer_total_steps(const trainer *t); /* steps in the whole schedule */
const train_counters *trainer_counters(const trainer *t);
train_state *trainer_state(trainer *t);     /* the nets, optimizers, history (tests, benchmarks) */
const char *trainer_last_checkpoint(const trainer *t); /* "" if none yet */
/* When *flag becomes non-zero (e.g. from a SIGINT handler) the run checkpoints and returns
 * RP_EINTR ("interrupted at step N ..."). */
void trainer_set_stop_flag(trainer *t, volatile sig_atomic_t *flag);

/* The label guard (pipelines/guard.h provides one): before every checkpoint once adversarial
 * iterations have begun (pretraining only teaches R to copy its input), the trainer calls
 * fn, which refines its probe images with R (prepared for max_batch images) and sets *ratio, how
 * much worse a network trained on the synthetic labels does on them refined than simulated
 * (train.label_guard is the limit). Above the limit the checkpoint is not written and a warning
 * names the cause; a second check above it in a row (or one at the end of the schedule) stops
 * training with RP_ELABEL, the last checkpoint that passed staying latest.h5. Under MPI only rank
 * 0 needs fn: it measures and broadcasts the ratio, so every rank decides alike. */
typedef int (*trainer_label_check)(void *ctx, refiner *R, int max_batch, double *ratio);
void trainer_set_label_check(trainer *t, trainer_label_check fn, void *ctx);

/* For `train --resume`: the effective config stored in run_dir's newest checkpoint, to which
 * the caller then applies --config / --set. */
int trainer_resume_config(const char *run_dir, rp_config *cfg);

#endif
