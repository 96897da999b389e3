/* Data access for the evaluation (used only by eval/eval*.c): a dataset opened through the
 * h5ds reader with an optional in-memory uint8 cache, seeded row samplers, and subset picking. */
#ifndef RP_EVAL_DATA_H
#define RP_EVAL_DATA_H
#include "io/h5ds.h"
#include "base/rng.h"
#include <stdint.h>

typedef struct {
    const char *spec;
    h5ds_reader *r;
    const h5ds_info *info;
    uint8_t *cache;  /* uint8 files: (N, H, W, C) when they fit in the cache budget, else NULL */
    float *fcache;   /* float32 files: (N, C, H, W) in [0, 1] when they fit (kept unquantised) */
    size_t img;      /* H * W * C */
} evsrc;

/* Opens spec; caches all images when they fit in cache_mb MB (1 byte a pixel, 4 for float32). */
int evsrc_open(evsrc *s, const char *spec, long cache_mb);
void evsrc_close(evsrc *s);
/* n rows (any order) as float NCHW in [0, 1]. */
int evsrc_rows(evsrc *s, const long *rows, int n, float *out);
/* Adds every pixel of the file to a 256-bin histogram (streams when not cached). */
int evsrc_hist(evsrc *s, double *hist);
/* "labels/<label>" column index or an error naming the file and the labels present. */
int evsrc_label(evsrc *s, const char *label, int *col);

/* Endless sampler over a row list: reshuffled (seeded) at every pass. */
typedef struct {
    long *rows;
    long n, pos;
    rng_t rng;
} evsampler;
int evsampler_init(evsampler *s, const long *rows, long n, uint64_t seed, uint64_t stream);
long evsampler_next(evsampler *s);
void evsampler_free(evsampler *s);

/* k distinct rows of [0, N) chosen by the seeded RNG (malloc'd; NULL on ENOMEM), in draw order. */
long *eval_pick_rows(long N, long k, uint64_t seed, uint64_t stream);
void eval_sort_rows(long *rows, long n);

#endif
