/* PCG32 implementation (see rng.h). */
#include "base/rng.h"
#include <math.h>

#define PCG_MULT 6364136223846793005ULL

uint64_t rng_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void rng_seed(rng_t *r, uint64_t seed, uint64_t stream) {
    r->state = 0;
    r->inc = (rng_mix64(stream) << 1) | 1u;
    rng_u32(r);
    r->state += rng_mix64(seed);
    rng_u32(r);
}

uint32_t rng_u32(rng_t *r) {
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint64_t rng_u64(rng_t *r) {
    uint64_t hi = rng_u32(r);
    return (hi << 32) | rng_u32(r);
}

uint32_t rng_below(rng_t *r, uint32_t n) {
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = -n % n;
        while (l < t) {
            m = (uint64_t)rng_u32(r) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float rng_uniform(rng_t *r) { return (rng_u32(r) >> 8) * (1.0f / 16777216.0f); }
double rng_uniform_d(rng_t *r) { return (rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }
double rng_range(rng_t *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform_d(r); }

double rng_normal(rng_t *r) {
    double u1 = rng_uniform_d(r), u2 = rng_uniform_d(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void rng_shuffle_int(rng_t *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)i + 1);
        int t = a[i]; a[i] = a[j]; a[j] = t;
    }
}
