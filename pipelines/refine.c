/* refine_run(): stream a dataset through a trained refiner (see refine.h).
 * Phase 1 refines chunk by chunk into <out>.parts/chunk-NNNNNN.u8 (each written to a temp
 * name, then renamed); phase 2 assembles the HDF5 output from the parts plus the input's
 * labels/params, then removes the parts. Memory: one chunk of pixels + one batch of floats. */
#include "pipelines/refine.h"
#include "base/dist.h"
#include "base/hash.h"
#include "base/progress.h"
#include "refiner/checkpoint.h"
#include "io/h5ds.h"
#include "base/atomic.h"
#include "base/fault.h"
#include "base/status.h"
#include "refiner/refiner.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const refine_options *o;
    h5ds_reader *in;
    const h5ds_info *info;
    refiner R;
    int have_R;
    long step;
    char parts[4096];
    long chunk, nchunks;
    long first, last;  /* the chunks this run refines: all, or one shard's */
    int rank, ranks;   /* under MPI, rank r refines chunks first + r, first + r + ranks, ... */
    long row0, row1;   /* their rows [row0, row1) */
    size_t img_bytes; /* H*W*C */
    uint8_t *pix;     /* chunk * img_bytes */
} refine_ctx;

/* ------------------------------------------------------------------------------------ */
/* parts directory and its manifest */

static void manifest_text(const refine_ctx *c, char *buf, size_t n) {
    const h5ds_info *i = c->info;
    uint64_t h = rp_fnv1a(c->R.p.data, c->R.p.count * sizeof(float), RP_FNV1A_INIT);
    snprintf(buf, n,
             "input = %s\ninput_rows = %ld\nshape = %dx%dx%d\ncheckpoint = %s\nrefiner_step = %ld\n"
             "refiner_params_fnv1a = %016llx\nchunk = %ld\nrows = %ld-%ld\n",
             c->o->input, i->N, i->H, i->W, i->C, c->o->checkpoint, c->step, (unsigned long long)h, c->chunk, c->row0,
             c->row1);
}

static int remove_parts(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : rp_err(RP_EIO, "%s: cannot open: %s", dir, strerror(errno));
    struct dirent *e;
    char p[4352];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    if (rmdir(dir) != 0) return rp_err(RP_EIO, "%s: cannot remove: %s", dir, strerror(errno));
    return 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Makes sure <out>.parts exists and belongs to this exact job; with resume, parts of the same
 * job are kept, and parts of another job are an error rather than silently mixed in. */
static int prepare_parts(refine_ctx *c) {
    char want[8192], path[4352];
    manifest_text(c, want, sizeof want);
    snprintf(path, sizeof path, "%s/manifest", c->parts);
    if (c->o->resume && file_size(path) >= 0) {
        char have[8192] = "";
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(have, 1, sizeof have - 1, f) : 0;
        if (f) fclose(f);
        have[n] = 0;
        if (!strcmp(have, want)) return 0;
        if (c->o->resume == REFINE_RESUME)
            return rp_err(RP_EARG,
                          "%s: the partial output there was made by a different job (input, checkpoint or "
                          "chunk size differ); run without --resume to start over",
                          c->parts);
    }
    int rc = remove_parts(c->parts);
    if (rc) return rc;
    if (mkdir(c->parts, 0777) != 0) return rp_err(RP_EIO, "%s: cannot create: %s", c->parts, strerror(errno));
    return rp_atomic_write(path, want, strlen(want));
}

/* ------------------------------------------------------------------------------------ */
/* phase 1: refine every missing chunk */

static int refine_chunks(refine_ctx *c, refine_result *res) {
    const h5ds_info *i = c->info;
    int batch = c->o->cfg->refine.batch;
    size_t pix_per_img = (size_t)i->H * i->W * i->C;
    float *x = rp_malloc(sizeof(float) * pix_per_img * batch), *y = rp_malloc(sizeof(float) * pix_per_img * batch);
    int rc = (!x || !y) ? rp_err(RP_ENOMEM, "%s: out of memory for a batch of %d images", c->o->output, batch) : 0;
    if (!rc) rc = refiner_prepare(&c->R, batch, i->H, i->W);
    rp_progress pr;
    rp_progress_start(&pr, "refine", "images", c->row1 - c->row0, c->o->quiet);
    double t0 = rp_now_seconds();
    for (long k = c->first + c->rank; !rc && k < c->last; k += c->ranks) {
        long start = k * c->chunk, rows = i->N - start < c->chunk ? i->N - start : c->chunk;
        if (c->o->stop && *c->o->stop) {
            rc = rp_err(RP_EINTR, "interrupted after %ld of %ld images; the finished chunks are kept in %s: continue "
                        "with --resume", start - c->row0, c->row1 - c->row0, c->parts);
            break;
        }
        char part[4352];
        snprintf(part, sizeof part, "%s/chunk-%06ld.u8", c->parts, k);
        if (file_size(part) == (long)(rows * c->img_bytes)) {
            res->chunks_reused++;
            rp_progress_update(&pr, start + rows - c->row0, "(reused)");
            continue;
        }
        for (long b = 0; !rc && b < rows; b += batch) {
            int nb = rows - b < batch ? (int)(rows - b) : batch;
            rc = h5ds_read_images_f32(c->in, start + b, nb, x, -1.0f, 1.0f);
            if (rc) break;
            refiner_forward(&c->R, y, x, nb);
            h5ds_pack_u8(c->pix + b * c->img_bytes, y, nb, i->C, i->H, i->W, -1.0f, 1.0f);
            rp_progress_update(&pr, start + b + nb - c->row0, NULL);
        }
        if (!rc) rc = rp_atomic_write(part, c->pix, rows * c->img_bytes);
    }
    res->seconds_refine = rp_now_seconds() - t0;
    if (!rc) rp_progress_finish(&pr);
    free(x);
    free(y);
    return rc;
}

/* ------------------------------------------------------------------------------------ */
/* phase 2: assemble the output from the parts and the input's columns */

static int assemble(refine_ctx *c, refine_result *res) {
    const h5ds_info *i = c->info;
    const refine_options *o = c->o;
    int nc = i->ncols;
    h5ds_column *cols = rp_calloc(nc ? nc : 1, sizeof *cols);
    void **vals = rp_calloc(nc ? nc : 1, sizeof *vals);
    int64_t *index = rp_malloc(sizeof(int64_t) * c->chunk);
    int rc = (!cols || !vals || !index) ? rp_err(RP_ENOMEM, "%s: out of memory", o->output) : 0;
    for (int j = 0; !rc && j < nc; j++) {
        cols[j].path = i->cols[j].path;
        cols[j].dtype = i->cols[j].dtype;
        cols[j].cols = i->cols[j].cols;
        cols[j].units = i->cols[j].units[0] ? i->cols[j].units : NULL;
        vals[j] = rp_malloc(h5ds_dtype_size(cols[j].dtype) * cols[j].cols * c->chunk);
        if (!vals[j]) rc = rp_err(RP_ENOMEM, "%s: out of memory", o->output);
    }
    char *ini = rc ? NULL : config_to_ini(o->cfg);
    if (!rc && !ini) rc = rp_err(RP_ENOMEM, "%s: out of memory", o->output);
    h5ds_provenance prov = {"refined", i->scene ? i->scene : "external", ini, -1, o->input, o->checkpoint, c->step};
    h5ds_writer *w = NULL;
    if (!rc) rc = h5ds_create(&w, o->output, i->H, i->W, i->C, cols, nc, &prov, &(h5ds_options){.chunk = c->chunk});
    if (!rc && o->shard.count > 1) rc = shard_mark(w, &o->shard, c->row0, c->row1, i->N, c->chunk);
    for (long k = c->first; !rc && k < c->last; k++) {
        long start = k * c->chunk, rows = i->N - start < c->chunk ? i->N - start : c->chunk;
        if (c->o->stop && *c->o->stop) {
            rc = rp_err(RP_EINTR, "interrupted while assembling %s; the refined chunks are kept in %s: continue with "
                        "--resume", o->output, c->parts);
            break;
        }
        char part[4352];
        snprintf(part, sizeof part, "%s/chunk-%06ld.u8", c->parts, k);
        FILE *f = fopen(part, "rb");
        size_t got = f ? fread(c->pix, 1, rows * c->img_bytes, f) : 0;
        if (f) fclose(f);
        if (got != rows * c->img_bytes) {
            rc = rp_err(RP_EIO, "%s: refined chunk missing or short (expected %ld bytes)", part,
                        (long)(rows * c->img_bytes));
            break;
        }
        for (int j = 0; !rc && j < nc; j++) rc = h5ds_read_column(c->in, cols[j].path, start, rows, vals[j], cols[j].dtype);
        for (long r = 0; r < rows; r++) index[r] = start + r;
        if (!rc) rc = h5ds_append(w, rows, c->pix, (const void *const *)vals, index);
    }
    if (!rc) {
        rc = h5ds_finish(w);
        w = NULL;
    }
    h5ds_abort(w);
    if (!rc) res->images = c->row1 - c->row0;
    free(ini);
    for (int j = 0; vals && j < nc; j++) free(vals[j]);
    free(vals);
    free(cols);
    free(index);
    return rc;
}

/* ------------------------------------------------------------------------------------ */

int refine_run(const refine_options *o, refine_result *res) {
    memset(res, 0, sizeof *res);
    double t0 = rp_now_seconds();
    refine_ctx c = {.o = o};
    /* no early return: under MPI every rank must reach rp_dist_agree below, or the ranks whose
     * input opened would wait for the one whose did not */
    int rc = h5ds_open(&c.in, o->input);
    if (!rc) {
        c.info = h5ds_get_info(c.in);
        rc = checkpoint_load_refiner(o->checkpoint, &c.R, NULL, &c.step);
        c.have_R = rc == 0;
    }
    if (!rc && c.R.cfg.C != c.info->C)
        rc = rp_err(RP_EARG, "%s: the refiner takes %d-channel images, but %s:%s has %d channel%s", o->checkpoint,
                    c.R.cfg.C, c.info->file, c.info->images, c.info->C, c.info->C == 1 ? "" : "s");
    if (!rc) {
        c.chunk = o->cfg->refine.chunk;
        c.nchunks = (c.info->N + c.chunk - 1) / c.chunk;
        c.first = 0, c.last = c.nchunks, c.row0 = 0, c.row1 = c.info->N;
        if (o->shard.count > 1) {
            shard_rows(&o->shard, c.info->N, c.chunk, &c.row0, &c.row1);
            c.first = c.row0 / c.chunk, c.last = (c.row1 + c.chunk - 1) / c.chunk;
        }
        c.img_bytes = (size_t)c.info->H * c.info->W * c.info->C;
        c.pix = rp_malloc(c.img_bytes * c.chunk);
        if (!c.pix) rc = rp_err(RP_ENOMEM, "%s: out of memory for a chunk of %ld images", o->output, c.chunk);
        snprintf(c.parts, sizeof c.parts, "%s.parts", o->output);
    }
    /* under MPI: rank 0 prepares the parts folder, every rank refines its chunks into it, rank 0
     * assembles; each step ends with every rank knowing whether any failed */
    c.rank = rp_dist_rank(), c.ranks = rp_dist_size();
    rc = rp_dist_agree(rc);
    if (!rc && c.rank == 0) rc = prepare_parts(&c);
    if (!(rc = rp_dist_agree(rc))) rc = refine_chunks(&c, res);
    if (!(rc = rp_dist_agree(rc)) && c.rank == 0) {
        rc = assemble(&c, res);
        if (!rc) rc = remove_parts(c.parts);
    }
    rc = rp_dist_agree(rc);
    if (!rc && c.ranks > 1) res->images = c.row1 - c.row0;
    if (c.have_R) refiner_free(&c.R);
    h5ds_close(c.in);
    free(c.pix);
    res->seconds_total = rp_now_seconds() - t0;
    return rc;
}
