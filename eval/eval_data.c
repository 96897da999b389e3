/* Dataset access for the evaluation (see eval_data.h). The cache keeps uint8 pixels (a quarter
 * of float) so mini-batches from files up to the budget cost no decompression; bigger files
 * fall back to the reader's random-row access. */
#include "eval/eval_data.h"
#include "base/status.h"
#include "eval/eval_metrics.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int evsrc_open(evsrc *s, const char *spec, long cache_mb) {
    memset(s, 0, sizeof *s);
    s->spec = spec;
    int rc = h5ds_open(&s->r, spec);
    if (rc) return rc;
    s->info = h5ds_get_info(s->r);
    s->img = (size_t)s->info->H * s->info->W * s->info->C;
    int f = s->info->dtype == H5DS_FLOAT32;
    double bytes = (double)s->info->N * s->img * (f ? sizeof(float) : 1);
    if (bytes > (double)cache_mb * 1048576.0) return 0;
    if (f) s->fcache = malloc(bytes > 0 ? (size_t)bytes : 1);
    else s->cache = malloc(bytes > 0 ? (size_t)bytes : 1);
    if (!s->cache && !s->fcache) return 0; /* no room: stream instead */
    const long block = 4096;
    for (long start = 0; start < s->info->N; start += block) {
        long n = s->info->N - start < block ? s->info->N - start : block;
        rc = f ? h5ds_read_images_f32(s->r, start, n, s->fcache + start * s->img, 0.0f, 1.0f)
               : h5ds_read_images_u8(s->r, start, n, s->cache + start * s->img);
        if (rc) {
            evsrc_close(s);
            return rc;
        }
    }
    return 0;
}

void evsrc_close(evsrc *s) {
    if (s->r) h5ds_close(s->r);
    free(s->cache);
    free(s->fcache);
    memset(s, 0, sizeof *s);
}

int evsrc_rows(evsrc *s, const long *rows, int n, float *out) {
    if (s->fcache) {
        for (int i = 0; i < n; i++) memcpy(out + (size_t)i * s->img, s->fcache + rows[i] * s->img, s->img * sizeof *out);
        return 0;
    }
    if (!s->cache) return h5ds_read_rows_f32(s->r, rows, n, out, 0.0f, 1.0f);
    int C = s->info->C;
    size_t hw = (size_t)s->info->H * s->info->W;
    for (int i = 0; i < n; i++) {
        const uint8_t *px = s->cache + rows[i] * s->img;
        float *o = out + (size_t)i * s->img;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < hw; p++) o[c * hw + p] = px[p * C + c] * (1.0f / 255.0f);
    }
    return 0;
}

int evsrc_hist(evsrc *s, double *hist) {
    if (s->cache) {
        metric_hist_add(hist, s->cache, (size_t)s->info->N * s->img);
        return 0;
    }
    const long block = 1024;
    uint8_t *buf = malloc(block * s->img);
    if (!buf) return rp_err(RP_ENOMEM, "%s: out of memory for the histogram buffer", s->spec);
    int rc = 0;
    for (long start = 0; !rc && start < s->info->N; start += block) {
        long n = s->info->N - start < block ? s->info->N - start : block;
        rc = h5ds_read_images_u8(s->r, start, n, buf);
        if (!rc) metric_hist_add(hist, buf, (size_t)n * s->img);
    }
    free(buf);
    return rc;
}

int evsrc_label(evsrc *s, const char *label, int *col) {
    char path[160];
    snprintf(path, sizeof path, "labels/%s", label);
    *col = h5ds_find_column(s->r, path);
    if (*col >= 0) return 0;
    char have[512] = "";
    for (int i = 0; i < s->info->ncols; i++)
        if (!strncmp(s->info->cols[i].path, "labels/", 7)) {
            if (have[0]) strncat(have, ", ", sizeof have - strlen(have) - 1);
            strncat(have, s->info->cols[i].path + 7, sizeof have - strlen(have) - 1);
        }
    return rp_err(RP_EFORMAT, "%s: /labels/%s: not found (labels present: %s)", s->spec, label,
                  have[0] ? have : "none");
}

/* ---------------------------------------------------------------- sampling */
static void shuffle(rng_t *r, long *a, long n) {
    for (long i = n - 1; i > 0; i--) {
        long j = (long)rng_below(r, (uint32_t)(i + 1));
        long t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

int evsampler_init(evsampler *s, const long *rows, long n, uint64_t seed, uint64_t stream) {
    memset(s, 0, sizeof *s);
    s->rows = malloc((n > 0 ? n : 1) * sizeof *s->rows);
    if (!s->rows) return rp_err(RP_ENOMEM, "evaluation sampler: out of memory for %ld rows", n);
    for (long i = 0; i < n; i++) s->rows[i] = rows ? rows[i] : i;
    s->n = n;
    s->pos = n; /* shuffle before the first draw */
    rng_seed(&s->rng, seed, stream);
    return 0;
}

long evsampler_next(evsampler *s) {
    if (s->pos >= s->n) {
        shuffle(&s->rng, s->rows, s->n);
        s->pos = 0;
    }
    return s->rows[s->pos++];
}

void evsampler_free(evsampler *s) {
    free(s->rows);
    memset(s, 0, sizeof *s);
}

long *eval_pick_rows(long N, long k, uint64_t seed, uint64_t stream) {
    long *all = malloc((N > 0 ? N : 1) * sizeof *all);
    if (!all) return NULL;
    for (long i = 0; i < N; i++) all[i] = i;
    rng_t r;
    rng_seed(&r, seed, stream);
    for (long i = 0; i < k && i < N - 1; i++) { /* partial Fisher-Yates: the first k are the draw */
        long j = i + (long)rng_below(&r, (uint32_t)(N - i));
        long t = all[i];
        all[i] = all[j], all[j] = t;
    }
    return all;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

void eval_sort_rows(long *rows, long n) { qsort(rows, n, sizeof *rows, cmp_long); }
