/* A world of one process (see dist.h); the MPI build links base/dist_mpi.c instead. */
#include "base/dist.h"
#include <string.h>

int rp_dist_init(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}
void rp_dist_finalize(void) {}
int rp_dist_rank(void) { return 0; }
int rp_dist_size(void) { return 1; }
int rp_dist_mean_f32(float *buf, size_t n) {
    (void)buf, (void)n;
    return 0;
}
int rp_dist_sum_f32(float *buf, size_t n) {
    (void)buf, (void)n;
    return 0;
}
int rp_dist_sum_f64(double *buf, size_t n) {
    (void)buf, (void)n;
    return 0;
}
int rp_dist_gather_f32(const float *in, size_t n, float *out) {
    if (out != in) memmove(out, in, n * sizeof *in);
    return 0;
}
int rp_dist_max_int(int v) { return v; }
int rp_dist_agree(int rc) { return rc; }
int rp_dist_failed_alone(void) { return 1; }
int rp_dist_same_u64(uint64_t v) {
    (void)v;
    return 1;
}
int rp_dist_bcast(void *buf, size_t bytes, int root) {
    (void)buf, (void)bytes, (void)root;
    return 0;
}
int rp_dist_barrier(void) { return 0; }
