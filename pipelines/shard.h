/* Shards for schedulers (SLURM arrays, Kubernetes Jobs, xargs): `simulate --shard i/N` and
 * `refine --shard i/N` each write a complete refine-dataset of their share of the rows, whole
 * chunks, contiguous, in order; `merge` joins the N shard files into the file one unsharded run
 * would have written, byte for byte. A shard file records which share it holds in root attributes
 * shard_index, shard_count, shard_start, shard_end (its rows [start, end) of the job's),
 * shard_total (the job's rows) and shard_chunk (rows per chunk). */
#ifndef RP_SHARD_H
#define RP_SHARD_H
#include "io/h5ds.h"

typedef struct {
    int index, count; /* shard `index` of `count` (0-based); count 1 = the whole job */
} shard_spec;

/* "i/N" with 0 <= i < N (N <= 100000). */
int shard_parse(const char *text, shard_spec *s);
/* The rows [*start, *end) of shard s in a job of `total` rows cut into chunks of `chunk` rows:
 * whole chunks, contiguous, the chunks spread as evenly as they go (a shard may be empty). */
void shard_rows(const shard_spec *s, long total, long chunk, long *start, long *end);
/* Records the shard attributes in a writer (nothing for count 1). */
int shard_mark(h5ds_writer *w, const shard_spec *s, long start, long end, long total, long chunk);

/* Joins shard files (any order) into `out`: checks they are the `count` distinct shards of one job
 * (same kind, source, checkpoint, config, shape and columns; no gap, no overlap) and writes the
 * rows in order with the job's provenance and chunking. virtual: an HDF5 virtual dataset over the
 * shard files instead of a copy (the shards must stay where they are). */
int shard_merge(const char *const *shards, int n, const char *out, int virtual_, int quiet);

#endif
