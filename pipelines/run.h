/* `refine-pipeline run`: simulate -> train -> refine -> eval (synthetic vs refined with the
 * same recipe) -> report.json + report.html, in one run directory. Re-running with the same
 * directory resumes from what is complete: the simulated set, the newest checkpoint, the
 * refined chunks; the evaluation and the report are redone. `fresh` starts over. */
#ifndef RP_RUN_H
#define RP_RUN_H
#include "io/config.h"
#include <signal.h>

typedef struct {
    const char *run_dir;
    int fresh;
    int threads;
    int quiet;
    volatile sig_atomic_t *stop; /* may be NULL; when set, training checkpoints and the run stops (RP_EINTR) */
} run_options;

int run_pipeline(const rp_config *cfg, const run_options *o);

#endif
