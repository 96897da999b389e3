/* Mini-batch source for training: random rows of an HDF5 image dataset as float NCHW in
 * [-1, 1]. Datasets up to a memory budget (train.cache_mb) are read once into memory
 * (as stored: uint8 stays uint8, so 50,000 28x28 digits take 39 MB); larger ones stream
 * each batch's rows through the h5ds reader. Both paths convert pixels with one formula
 * (v * 2/255 - 1 for uint8), so results do not depend on whether a dataset was cached. */
#ifndef RP_TRAIN_DATA_H
#define RP_TRAIN_DATA_H
#include <stddef.h>
#include <stdint.h>
#include "io/h5ds.h"
#include "base/rng.h"

typedef struct {
    h5ds_reader *r;
    char spec[512];
    long N;
    int C, H, W;
    h5ds_dtype dtype;
    int max_n;            /* largest batch read at once */
    uint8_t *cache_u8;    /* (N, H, W, C) as stored, or NULL */
    float *cache_f;       /* (N, C, H, W) in [-1, 1] for float32 datasets, or NULL */
    uint8_t *scratch;     /* (max_n, H, W, C) for streaming uint8 rows */
    long *rows;           /* (max_n) */
} train_source;

/* Opens spec ("file.h5" or "file.h5:/path") and caches it when it fits cache_bytes. */
int train_source_open(train_source *s, const char *spec, int max_n, size_t cache_bytes);
/* out (n, C, H, W) = rows drawn uniformly at random (with replacement) using rng. */
int train_source_sample(train_source *s, rng_t *rng, int n, float *out);
/* Data-parallel share of such a sample: draws all n rows (the same draws on every rank), cuts
 * them into `groups` equal consecutive groups, each group into `ranks` equal slices, and reads
 * slice `rank` of every group, group by group, into out (n / ranks images). groups = 1: the
 * rank's consecutive part of the batch; 2: its part of each half (the discriminator's synthetic
 * batch, train_disc_step). One rank of one reads everything, as train_source_sample. */
int train_source_sample_share(train_source *s, rng_t *rng, int n, int groups, int rank, int ranks, float *out);
/* out (n, C, H, W) = the given rows. */
int train_source_read(train_source *s, const long *rows, int n, float *out);
void train_source_close(train_source *s);

#endif
