/* Batch refinement of a whole dataset: streams the input through R chunk by chunk, copies
 * every label, parameter and the source row index 1:1, and writes a refined refine-dataset
 * with provenance. Resumable: each finished chunk is kept in "<out>.parts/" (written atomically)
 * and the final file is always assembled from the parts by the same pass, so an interrupted
 * run continued with resume gives the same bytes as an uninterrupted one. */
#ifndef RP_REFINE_H
#define RP_REFINE_H
#include "io/config.h"
#include "pipelines/shard.h"
#include <signal.h>

/* What to do with "<output>.parts" left by an interrupted run. */
enum refine_resume {
    REFINE_FRESH = 0,          /* discard them and start over */
    REFINE_RESUME = 1,         /* continue; parts of a different job are an error */
    REFINE_RESUME_OR_FRESH = 2 /* continue if they belong to this job, else start over (`run`) */
};

typedef struct {
    const char *checkpoint; /* refiner checkpoint (.h5) */
    const char *input;      /* refine-dataset or file.h5:/path */
    const char *output;     /* refined.h5 */
    int resume;             /* a refine_resume value */
    int quiet;
    const rp_config *cfg;   /* refine.batch, refine.chunk; stored as provenance */
    volatile sig_atomic_t *stop; /* may be NULL; when set, stop after the current chunk (RP_EINTR) */
    shard_spec shard;       /* {0, 0} or {0, 1}: every row; else only this shard's (shard.h) */
} refine_options;

typedef struct {
    long images;           /* rows written */
    long chunks_reused;    /* chunks taken from an earlier interrupted run */
    double seconds_refine; /* time in R forward (incl. reading input) */
    double seconds_total;
} refine_result;

int refine_run(const refine_options *o, refine_result *res);

#endif
