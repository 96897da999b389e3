/* Shared fixtures of the training tests (test_train.c, test_trainer.c): tiny blob images,
 * small refine-dataset files of them, and a tiny training config. Names carry the trainfix_
 * prefix because every support file under tests/ is linked into every test binary. */
#ifndef RP_TRAIN_FIXTURES_H
#define RP_TRAIN_FIXTURES_H
#include <stdint.h>
#include "io/config.h"
#include "base/rng.h"
#include "refiner/train_step.h"

#define TRAINFIX_S 16 /* image side: D maps 16x16 to 4x4 */

/* n images (n, 1, S, S) in [-1, 1]: a smooth blob on a dark background; "real" ones are
 * brighter by 40/255 of the pixel range (0.31 in [-1, 1] units), a difference D sees in every
 * patch and R can learn (a texture R could not: it has no noise input, and its convolutions
 * cannot anchor a pattern on a flat background). */
void trainfix_blobs(float *x, int n, rng_t *r, int real);
/* The same images as a uint8 refine-dataset file of n rows. 0 or an RP_E* code. */
int trainfix_write_set(const char *path, int n, int real, uint64_t seed);
/* Defaults with R(C=1, F=6, B=1), batch 4, history 12, seed 3. */
void trainfix_config(rp_config *cfg);
/* train_setup_from_config for 1 x S x S images, then train_state_init. */
int trainfix_state(train_state *s, const rp_config *cfg);

#endif
