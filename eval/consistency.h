/* Label consistency: does a refined image still carry its synthetic label? A probe network (the
 * evaluation recipe, evalnet-v1) is trained on a synthetic set's labels, all but a held-out set of
 * probe rows; it is then scored on the probe rows as simulated and on the same rows refined. If
 * refinement kept the labels, both errors are alike; a refiner that changed what the label
 * describes (a gaze direction, a digit's shape) raises the second.
 *   classes:    error = fraction of probe rows misclassified; also the fraction whose predicted
 *               class changed between the simulated and the refined image
 *   regression: the task's error (gaze: mean angle in degrees; else mean absolute error)
 * ratio = refined error / synthetic error: 1 = labels kept, 2 = twice the error.
 * `eval` reports it for refined sets (eval.h); the trainer's label guard watches it during
 * training (pipelines/guard.h). */
#ifndef RP_CONSISTENCY_H
#define RP_CONSISTENCY_H
#include "eval/eval.h"

/* For classes both errors in the ratio are taken as at least this (1 point): a probe that makes
 * no mistakes on the simulated rows would otherwise turn one refined mistake into infinity, and
 * differences under a point are noise. */
#define EVAL_CONSISTENCY_FLOOR 0.01

typedef struct {
    char metric[32];  /* "error" (classes), "angular_error_deg" or "mae" */
    long rows;        /* probe rows scored */
    double synthetic; /* the probe network's error on the probe rows as simulated */
    double refined;   /* ... on the same rows refined */
    double ratio;     /* refined / synthetic (both floored for classes, see above) */
    double changed;   /* classes: fraction of rows whose predicted class differs; NaN otherwise */
} eval_consistency;

typedef struct eval_probe eval_probe;

/* Trains the probe network on label o->label of `synthetic`, holding out `rows` probe rows (a
 * seeded pick; at most a quarter of the set, so the probe trains on the other three quarters),
 * with o's recipe (batch, lr, schedule, seed, cache) for o->consistency_steps steps. */
int eval_probe_open(eval_probe **p, const eval_options *o, const char *synthetic, long rows);
void eval_probe_close(eval_probe *p); /* NULL is a no-op */
/* The probe rows (sorted source rows) and their images as simulated, NCHW floats in [0, 1]. */
long eval_probe_count(const eval_probe *p);
const long *eval_probe_rows(const eval_probe *p);
const float *eval_probe_images(const eval_probe *p);
/* Scores `images`, the probe rows refined (NCHW in [0, 1], same order), against their labels and
 * against the probe's predictions on the simulated rows. */
int eval_probe_score(eval_probe *p, const float *images, eval_consistency *out);

/* The check for a refined file whose rows are the synthetic file's rows refined (same N, /index):
 * a probe on `synthetic` scored on `refined`'s probe rows. Options as for eval_run (o->label, the
 * recipe, o->consistency_steps, o->consistency_rows). */
int eval_consistency_run(const eval_options *o, const char *synthetic, const char *refined, eval_consistency *out);

#endif
