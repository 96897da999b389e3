/* simulate_run(): render a scene into a refine-dataset (see simulate.h). Chunks are rendered
 * in the background (sim_job, threaded) while the previous chunk is compressed and written,
 * so memory is two chunks whatever N is; every sample depends only on (seed, index), so the
 * bytes do not depend on the thread count. */
#include "pipelines/simulate.h"
#include "base/dist.h"
#include "io/h5ds.h"
#include "base/fault.h"
#include "base/status.h"
#include "base/progress.h"
#include "simulator/sim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Under MPI (P ranks): rank r renders shard r of P into a file beside out, then rank 0 merges the
 * shards into out (the bytes of one process's run) and removes them. */
static int simulate_ranks(const rp_config *cfg, const char *out, int threads, int quiet) {
    int rank = rp_dist_rank(), P = rp_dist_size();
    char (*part)[4200] = rp_calloc(P, sizeof *part);
    const char **parts = rp_calloc(P, sizeof *parts);
    int rc = part && parts ? 0 : rp_err(RP_ENOMEM, "out of memory");
    for (int r = 0; !rc && r < P; r++) {
        snprintf(part[r], sizeof part[r], "%s.rank-%d-of-%d.h5", out, r, P);
        parts[r] = part[r];
    }
    shard_spec sh = {rank, P};
    if (!rc) rc = simulate_run_shard(cfg, part[rank], threads, quiet || rank, &sh);
    rc = rp_dist_agree(rc);
    if (!rc && rank == 0) rc = shard_merge(parts, P, out, 0, 1);
    rc = rp_dist_agree(rc); /* rank 0 says why the merge failed */
    if (part) unlink(part[rank]);
    free(part), free(parts);
    return rc;
}

int simulate_run(const rp_config *cfg, const char *out, int threads, int quiet) {
    if (rp_dist_size() > 1) return simulate_ranks(cfg, out, threads, quiet);
    return simulate_run_shard(cfg, out, threads, quiet, NULL);
}

int simulate_run_shard(const rp_config *cfg, const char *out, int threads, int quiet, const shard_spec *shard) {
    const sim_scene *sc = sim_scene_find(cfg->simulate.scene);
    if (!sc) return rp_err(RP_EARG, "simulate.scene: unknown scene \"%s\" (digits, eyes or eyes-target)", cfg->simulate.scene);
    int H = cfg->simulate.height ? cfg->simulate.height : sc->height;
    int W = cfg->simulate.width ? cfg->simulate.width : sc->width;
    if (H < sc->min_size || W < sc->min_size)
        return rp_err(RP_EARG, "%dx%d is too small for the %s scene (at least %dx%d)", H, W, sc->name,
                      sc->min_size, sc->min_size);
    if (threads <= 0) threads = 2;
    long total = cfg->simulate.n, chunk = cfg->simulate.chunk, from = 0, to = total;
    uint64_t seed = (uint64_t)cfg->simulate.seed;
    int sharded = shard && shard->count > 1;
    if (sharded) shard_rows(shard, total, chunk, &from, &to);

    h5ds_column *cols = rp_calloc(sc->ncolumns, sizeof *cols);
    void **vals = rp_calloc(sc->ncolumns, sizeof *vals);
    uint8_t *img[2] = {rp_malloc((size_t)chunk * H * W), rp_malloc((size_t)chunk * H * W)};
    void *samp[2] = {rp_calloc(chunk, sc->sample_size), rp_calloc(chunk, sc->sample_size)};
    int64_t *index = rp_malloc(chunk * sizeof *index);
    int rc = 0;
    if (!cols || !vals || !img[0] || !img[1] || !samp[0] || !samp[1] || !index)
        rc = rp_err(RP_ENOMEM, "%s: out of memory for chunks of %ld images", out, chunk);
    for (int c = 0; !rc && c < sc->ncolumns; c++) {
        const sim_column *sc_c = &sc->columns[c];
        cols[c] = (h5ds_column){sc_c->path, sc_c->dtype == SIM_INT32 ? H5DS_INT32 : H5DS_FLOAT32, sc_c->cols,
                                sc_c->units};
        if (!(vals[c] = rp_malloc((size_t)4 * sc_c->cols * chunk))) rc = rp_err(RP_ENOMEM, "%s: out of memory", out);
    }
    char *ini = rc ? NULL : config_to_ini(cfg);
    if (!rc && !ini) rc = rp_err(RP_ENOMEM, "%s: out of memory", out);
    h5ds_provenance prov = {"synthetic", sc->name, ini, (long)seed, NULL, NULL, -1};
    h5ds_writer *w = NULL;
    if (!rc) rc = h5ds_create(&w, out, H, W, 1, cols, sc->ncolumns, &prov, &(h5ds_options){.chunk = chunk});
    if (!rc && sharded) rc = shard_mark(w, shard, from, to, total, chunk);
    rp_progress pr;
    rp_progress_start(&pr, "simulate", "images", to - from, quiet);
    sim_job *job = NULL;
    long first = from, n = to - from < chunk ? to - from : chunk;
    if (!rc && n > 0) rc = sim_job_start(&job, sc, H, W, seed, first, n, img[0], samp[0], threads);
    for (int b = 0; !rc && n > 0; b ^= 1) {
        rc = sim_job_wait(job);
        job = NULL;
        long next = first + n, nn = to - next < chunk ? to - next : chunk;
        /* render the next chunk while this one is compressed and written */
        if (!rc && nn > 0) rc = sim_job_start(&job, sc, H, W, seed, next, nn, img[b ^ 1], samp[b ^ 1], threads);
        for (int c = 0; !rc && c < sc->ncolumns; c++) sim_gather_column(sc, c, samp[b], n, vals[c]);
        for (long r = 0; r < n; r++) index[r] = first + r; /* the job's rows: a shard's /index says which */
        if (!rc) rc = h5ds_append(w, n, img[b], (const void *const *)vals, index);
        rp_progress_update(&pr, next - from, NULL);
        first = next, n = nn;
    }
    if (job) sim_job_wait(job);
    if (!rc) {
        rc = h5ds_finish(w);
        w = NULL;
        if (!rc) rp_progress_finish(&pr);
    }
    h5ds_abort(w);
    free(ini);
    for (int c = 0; vals && c < sc->ncolumns; c++) free(vals[c]);
    free(vals), free(cols), free(img[0]), free(img[1]), free(samp[0]), free(samp[1]), free(index);
    return rc;
}
