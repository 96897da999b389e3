/* Batch refinement of a whole dataset: streams the input through R chunk by chunk, copies
 * every label, parameter and the source row index 1:1, and writes a refined refine-dataset
 * with provenance. Resumable: each finished chunk is kept in "<out>.parts/" (written atomically)
 * and the final file is always assembled from the parts by the same pass, so an interrupted
 * run continued with resume gives the same bytes as an uninterrupted one. */
#ifndef RP_REFINE_H
#define RP_REFINE_H
#include "io/config.h"

typedef struct {
    const char *checkpoint; /* refiner checkpoint (.h5) */
    const char *input;      /* refine-dataset or file.h5:/path */
    const char *output;     /* refined.h5 */
    int resume;             /* continue from <output>.parts if present */
    int quiet;
    const rp_config *cfg;   /* refine.batch, refine.chunk; stored as provenance */
} refine_options;

typedef struct {
    long images;           /* rows written */
    long chunks_reused;    /* chunks taken from an earlier interrupted run */
    double seconds_refine; /* time in R forward (incl. reading input) */
    double seconds_total;
} refine_result;

int refine_run(const refine_options *o, refine_result *res);

#endif
