/* The label guard of training: a probe network trained on the synthetic set's labels (run.label;
 * eval/consistency.h) scored, before every checkpoint, on its probe rows refined by the current
 * R. The trainer stops when the refined probe rows stop carrying their labels (see
 * trainer_set_label_check). `train` and `run` attach one unless train.label_guard = 0. */
#ifndef RP_GUARD_H
#define RP_GUARD_H
#include "io/config.h"
#include "refiner/trainer.h"

typedef struct guard guard;

/* Trains the probe for cfg (train.guard_steps, train.guard_rows, the [eval] recipe, run.label) on
 * `synthetic`. *g = NULL when the guard is off (train.label_guard = 0) or the set has no
 * /labels/<run.label> (said on stderr unless quiet): training then runs unguarded. */
int guard_open(guard **g, const rp_config *cfg, const char *synthetic, int quiet);
/* Makes t call the guard before each checkpoint; g may be NULL (no guard). */
void guard_attach(guard *g, trainer *t);
void guard_close(guard *g); /* NULL is a no-op */

#endif
