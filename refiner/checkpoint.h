/* Training checkpoints: HDF5 files of format "refine-checkpoint" version 1 holding everything
 * needed to resume exactly (both nets' parameters and optimizer state, the history buffer,
 * RNG states, phase counters, the effective config), plus run-directory helpers (numbered
 * files, a `latest.h5` symlink, keeping the last K). Layout: docs/formats.md.
 * Files are written to a temporary name and renamed, so a crash never leaves a partial one. */
#ifndef RP_CHECKPOINT_H
#define RP_CHECKPOINT_H
#include <stddef.h>
#include "io/config.h"
#include "refiner/refiner.h"
#include "refiner/train_step.h"

#define CHECKPOINT_FORMAT "refine-checkpoint"
#define CHECKPOINT_VERSION 1

/* Writes the whole training state. Refuses (RP_ENUM) to write non-finite parameters or moments.
 * synthetic / real (may be NULL) are recorded as provenance. */
int checkpoint_save(const char *path, const train_state *s, const train_counters *k, const char *config_ini,
                    const char *synthetic, const char *real);
/* Restores into s, already built by train_state_init for the architecture the current config
 * describes: checks format, version, image size, refiner F/B, every tensor's name and shape,
 * optimizers and history capacity, and says precisely what differs. */
int checkpoint_load(const char *path, train_state *s, train_counters *k);
/* The effective config stored in a checkpoint (defaults, then its INI text). */
int checkpoint_read_config(const char *path, rp_config *cfg);
/* For `refine`: builds r (refiner_init) from the checkpoint's architecture and loads its
 * parameters. cfg_out (may be NULL) gets the stored config, step_out (may be NULL) the step. */
int checkpoint_load_refiner(const char *path, refiner *r, rp_config *cfg_out, long *step_out);

/* ------------------------------------------------------------ run directory: DIR/checkpoints */
/* "dir/step_000001234.h5" */
void checkpoint_path(char *buf, size_t n, const char *dir, long step);
/* Points dir/latest.h5 at the step file (symlink replaced atomically) and deletes all but the
 * `keep` newest step files (and temp files left by crashes). */
int checkpoint_publish(const char *dir, long step, int keep);
/* The newest complete checkpoint in dir: latest.h5's target, else the highest step file.
 * 0 found, 1 none, < 0 error. */
int checkpoint_find_latest(const char *dir, char *path, size_t n);

#endif
