/* The MPI world (see dist.h), for refine-pipeline-mpi: Open MPI, one rank per process. Sums are
 * formed from an allgather, rank by rank, so every rank holds the same bits and the result does
 * not depend on the collective algorithm MPI picks. Failures abort the whole job: a rank that
 * cannot take part would leave the others waiting forever. */
#include "base/dist.h"
#include "base/status.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank_, size_ = 1, inited;
static void *scratch;
static size_t scratch_bytes;

static void *grow(size_t bytes) {
    if (bytes <= scratch_bytes) return scratch;
    void *p = realloc(scratch, bytes);
    if (!p) {
        fprintf(stderr, "refine-pipeline (rank %d): out of memory for %zu bytes of MPI scratch\n", rank_, bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    scratch = p, scratch_bytes = bytes;
    return p;
}

static int check(int e, const char *what) {
    if (e == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(e, msg, &len);
    fprintf(stderr, "refine-pipeline (rank %d of %d): %s failed: %s\n", rank_, size_, what, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return RP_EIO;
}

int rp_dist_init(int *argc, char ***argv) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return rp_err(RP_EIO, "MPI_Init failed");
    inited = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    return 0;
}

void rp_dist_finalize(void) {
    if (inited) MPI_Finalize();
    inited = 0;
    free(scratch);
    scratch = NULL, scratch_bytes = 0;
}

int rp_dist_rank(void) { return rank_; }
int rp_dist_size(void) { return size_; }

int rp_dist_mean_f32(float *buf, size_t n) {
    int rc = rp_dist_sum_f32(buf, n);
    for (size_t i = 0; !rc && size_ > 1 && i < n; i++) buf[i] /= (float)size_;
    return rc;
}

int rp_dist_sum_f32(float *buf, size_t n) {
    if (size_ == 1) return 0;
    float *all = grow(n * size_ * sizeof *all);
    int rc = check(MPI_Allgather(buf, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgather");
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        float s = all[i];
        for (int r = 1; r < size_; r++) s += all[(size_t)r * n + i];
        buf[i] = s;
    }
    return 0;
}

int rp_dist_sum_f64(double *buf, size_t n) {
    if (size_ == 1) return 0;
    double *all = grow(n * size_ * sizeof *all);
    int rc = check(MPI_Allgather(buf, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, MPI_COMM_WORLD), "MPI_Allgather");
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        double s = all[i];
        for (int r = 1; r < size_; r++) s += all[(size_t)r * n + i];
        buf[i] = s;
    }
    return 0;
}

int rp_dist_gather_f32(const float *in, size_t n, float *out) {
    if (size_ == 1) {
        if (out != in) memmove(out, in, n * sizeof *in);
        return 0;
    }
    return check(MPI_Allgather(in, (int)n, MPI_FLOAT, out, (int)n, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgather");
}

int rp_dist_max_int(int v) {
    int out = v;
    if (size_ > 1) check(MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    return out;
}

static int failed_alone, failure_seen;

int rp_dist_agree(int rc) {
    int mine = rc != 0, failed = mine;
    if (size_ > 1) check(MPI_Allreduce(&mine, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    /* decided at the first failure: a failure passed on through later agreements (where every
     * rank has failed by then) must not hide that this rank's was the cause */
    if (failed && !failure_seen) failure_seen = 1, failed_alone = mine && failed < size_;
    if (failed && !rc) rc = rp_err(RP_EIO, "stopped: another rank failed (its message names the cause)");
    return rc;
}

int rp_dist_failed_alone(void) { return size_ == 1 || failed_alone; }

int rp_dist_same_u64(uint64_t v) {
    uint64_t root = v;
    if (size_ > 1) check(MPI_Bcast(&root, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return !rp_dist_max_int(root != v);
}

int rp_dist_bcast(void *buf, size_t bytes, int root) {
    if (size_ == 1) return 0;
    return check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

int rp_dist_barrier(void) { return size_ == 1 ? 0 : check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
