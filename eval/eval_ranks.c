/* The seeds of eval.repeats spread over MPI ranks (see eval_jobs.h): job j runs on rank j % P and
 * its result row travels from there to every rank as it is, so each seed's numbers, and the means
 * formed from them in seed order, are those of one process with the same thread count. */
#include "eval/eval_jobs.h"
#include "base/dist.h"

int eval_job_mine(int job) { return job % rp_dist_size() == rp_dist_rank(); }

int eval_jobs_share(double *rows, int first_job, int n, int width, int rc) {
    if (rp_dist_size() == 1) return rc;
    if ((rc = rp_dist_agree(rc))) return rc; /* a failed seed stops every rank; its own says why */
    for (int i = 0; !rc && i < n; i++)
        rc = rp_dist_bcast(rows + (size_t)i * width, sizeof *rows * width, (first_job + i) % rp_dist_size());
    return rc;
}
