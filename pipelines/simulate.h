/* The library half of `refine-pipeline simulate`: renders cfg->simulate.n images of the
 * configured scene into a refine-dataset (labels, params, provenance), streaming, written
 * atomically. Used by the simulate command and by `run`. */
#ifndef RP_SIMULATE_H
#define RP_SIMULATE_H
#include "io/config.h"
#include "pipelines/shard.h"

int simulate_run(const rp_config *cfg, const char *out, int threads, int quiet);
/* The rows of one shard of the job (shard.h); NULL or a count of 1 is the whole job. */
int simulate_run_shard(const rp_config *cfg, const char *out, int threads, int quiet, const shard_spec *shard);

#endif
