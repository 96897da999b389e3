/* PCG32 (O'Neill, pcg-random.org, "PCG-XSH-RR 64/32"): a small, documented, seedable generator.
 * The state is a plain struct so checkpoints can store it; streams let every (seed, index) pair
 * own an independent sequence, which is how sharded and threaded work stays byte-identical. */
#ifndef RP_RNG_H
#define RP_RNG_H
#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* always odd */
} rng_t;

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng_t *r);
uint64_t rng_u64(rng_t *r);
/* Uniform in [0, n), unbiased (Lemire's method with rejection). n > 0. */
uint32_t rng_below(rng_t *r, uint32_t n);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float rng_uniform(rng_t *r);
double rng_uniform_d(rng_t *r);
/* Uniform in [lo, hi). */
double rng_range(rng_t *r, double lo, double hi);
/* Standard normal (Box-Muller; consumes two draws, caches nothing so the state alone is the state). */
double rng_normal(rng_t *r);
/* Fisher-Yates shuffle of an int array. */
void rng_shuffle_int(rng_t *r, int *a, int n);
/* splitmix64 finaliser, for deriving seeds from (seed, index) pairs. */
uint64_t rng_mix64(uint64_t x);

#endif
