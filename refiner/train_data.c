/* Random mini-batches from HDF5 image datasets, cached in memory when small (see train_data.h). */
#include "refiner/train_data.h"
#include "base/status.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_READ_ROWS 4096 /* rows per read while filling the cache */

/* uint8 NHWC -> float NCHW in [-1, 1]; the one conversion both paths use. */
static void u8_to_f32(float *out, const uint8_t *in, int n, int C, int H, int W) {
    const float scale = 2.0f / 255.0f;
    size_t hw = (size_t)H * W;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = in + (size_t)i * hw * C;
        float *dst = out + (size_t)i * hw * C;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < hw; p++) dst[c * hw + p] = (float)src[p * C + c] * scale - 1.0f;
    }
}

static int fill_cache(train_source *s) {
    size_t img = (size_t)s->C * s->H * s->W;
    for (long start = 0; start < s->N; start += CACHE_READ_ROWS) {
        long n = s->N - start < CACHE_READ_ROWS ? s->N - start : CACHE_READ_ROWS;
        int rc = s->cache_u8 ? h5ds_read_images_u8(s->r, start, n, s->cache_u8 + start * img)
                             : h5ds_read_images_f32(s->r, start, n, s->cache_f + start * img, -1.0f, 1.0f);
        if (rc) return rc;
    }
    return 0;
}

int train_source_open(train_source *s, const char *spec, int max_n, size_t cache_bytes) {
    memset(s, 0, sizeof *s);
    snprintf(s->spec, sizeof s->spec, "%s", spec);
    int rc = h5ds_open(&s->r, spec);
    if (rc) return rc;
    const h5ds_info *info = h5ds_get_info(s->r);
    s->N = info->N;
    s->C = info->C;
    s->H = info->H;
    s->W = info->W;
    s->dtype = info->dtype;
    s->max_n = max_n;
    if (s->N > (long)UINT32_MAX) {
        train_source_close(s);
        return rp_err(RP_EARG, "%s: %ld images; at most %lu can be sampled", spec, info->N, (unsigned long)UINT32_MAX);
    }
    size_t img = (size_t)s->C * s->H * s->W;
    size_t bytes = (size_t)s->N * img * (s->dtype == H5DS_UINT8 ? 1 : sizeof(float));
    s->rows = malloc(sizeof(long) * max_n);
    s->scratch = malloc((size_t)max_n * img);
    if (!s->rows || !s->scratch) {
        train_source_close(s);
        return rp_err(RP_ENOMEM, "%s: out of memory for a batch of %d images", spec, max_n);
    }
    if (bytes <= cache_bytes) {
        if (s->dtype == H5DS_UINT8) s->cache_u8 = malloc(bytes);
        else s->cache_f = malloc(bytes);
        /* no memory for the cache is not an error: stream instead */
        if ((s->cache_u8 || s->cache_f) && (rc = fill_cache(s))) {
            train_source_close(s);
            return rc;
        }
    }
    return 0;
}

int train_source_read(train_source *s, const long *rows, int n, float *out) {
    size_t img = (size_t)s->C * s->H * s->W;
    if (n > s->max_n) return rp_err(RP_EARG, "%s: batch of %d rows exceeds %d", s->spec, n, s->max_n);
    for (int i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= s->N) return rp_err(RP_EARG, "%s: row %ld out of range [0, %ld)", s->spec, rows[i], s->N);
    if (s->cache_u8) {
        for (int i = 0; i < n; i++) u8_to_f32(out + i * img, s->cache_u8 + rows[i] * img, 1, s->C, s->H, s->W);
        return 0;
    }
    if (s->cache_f) {
        for (int i = 0; i < n; i++) memcpy(out + i * img, s->cache_f + rows[i] * img, sizeof(float) * img);
        return 0;
    }
    if (s->dtype != H5DS_UINT8) return h5ds_read_rows_f32(s->r, rows, n, out, -1.0f, 1.0f);
    int rc = h5ds_read_rows_u8(s->r, rows, n, s->scratch);
    if (rc) return rc;
    u8_to_f32(out, s->scratch, n, s->C, s->H, s->W);
    return 0;
}

int train_source_sample_share(train_source *s, rng_t *rng, int n, int groups, int rank, int ranks, float *out) {
    if (n > s->max_n) return rp_err(RP_EARG, "%s: batch of %d rows exceeds %d", s->spec, n, s->max_n);
    if (groups < 1 || ranks < 1 || rank < 0 || rank >= ranks || n % (groups * ranks))
        return rp_err(RP_EARG, "%s: %d rows do not split into %d group(s) of %d rank slices", s->spec, n, groups, ranks);
    for (int i = 0; i < n; i++) s->rows[i] = (long)rng_below(rng, (uint32_t)s->N);
    if (ranks == 1) return train_source_read(s, s->rows, n, out);
    const int g = n / groups, slice = g / ranks;
    /* the rank's slices to the front of rows (each moves down or stays), then one read */
    for (int j = 0; j < groups; j++)
        memmove(s->rows + (size_t)j * slice, s->rows + (size_t)j * g + (size_t)rank * slice, sizeof(long) * slice);
    return train_source_read(s, s->rows, groups * slice, out);
}

int train_source_sample(train_source *s, rng_t *rng, int n, float *out) {
    return train_source_sample_share(s, rng, n, 1, 0, 1, out);
}

void train_source_close(train_source *s) {
    if (s->r) h5ds_close(s->r);
    free(s->cache_u8);
    free(s->cache_f);
    free(s->scratch);
    free(s->rows);
    memset(s, 0, sizeof *s);
}
