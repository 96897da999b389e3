/* The processes of one job. Without MPI a world of one: every call below is a no-op or a copy,
 * and results are those of a single process. The MPI build (refine-pipeline-mpi, base/dist_mpi.c)
 * replaces these functions: under `mpirun -np P` there are P ranks that train on shares of each
 * batch, refine and simulate shares of the rows, and evaluate shares of the seeds. Reductions
 * combine the ranks' values in rank order, so every rank gets the same bits, and the same P gives
 * the same bytes from run to run. */
#ifndef RP_DIST_H
#define RP_DIST_H
#include <stddef.h>
#include <stdint.h>

/* Called by main before anything else (consumes MPI's own arguments) and at exit. */
int rp_dist_init(int *argc, char ***argv);
void rp_dist_finalize(void);
int rp_dist_rank(void); /* 0 .. size-1 */
int rp_dist_size(void);
/* Replaces buf (n floats) on every rank by the mean over the ranks, summed in rank order. */
int rp_dist_mean_f32(float *buf, size_t n);
/* Replaces buf (n floats) by the sum over ranks, in rank order (float additions, rank 0 first). */
int rp_dist_sum_f32(float *buf, size_t n);
/* Replaces buf (n doubles) by the sum over ranks, in rank order. */
int rp_dist_sum_f64(double *buf, size_t n);
/* out (size * n floats, rank order) = every rank's `in` (n floats), on every rank. */
int rp_dist_gather_f32(const float *in, size_t n, float *out);
/* The largest of the ranks' values (e.g. a stop request), on every rank. */
int rp_dist_max_int(int v);
/* rc where it failed; elsewhere RP_EIO ("another rank failed ...") if any rank failed, else 0.
 * A rank that fails alone must not leave the others waiting in the next collective. */
int rp_dist_agree(int rc);
/* 1 if this rank failed in the first rp_dist_agree that saw a failure, and some other rank passed
 * it: its message is news and worth printing (later agreements, where every rank has failed by
 * then, do not change that). Failures every rank shares (a config error, a NaN in the common
 * state) are said once, by rank 0. Always 1 in one process. */
int rp_dist_failed_alone(void);
/* 1 if every rank's v equals rank 0's (e.g. a checksum of state that must not differ), on every
 * rank; else 0. */
int rp_dist_same_u64(uint64_t v);
/* bytes from rank `root` to every rank. */
int rp_dist_bcast(void *buf, size_t bytes, int root);
int rp_dist_barrier(void);

#endif
