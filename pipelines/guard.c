/* The label guard (see guard.h): the probe's rows go through R exactly as `refine` would send
 * them (scaled to [-1, 1], then back to 8-bit levels), so the guard sees what a refined set would
 * hold. */
#include "pipelines/guard.h"
#include "base/status.h"
#include "eval/consistency.h"
#include "io/h5ds.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct guard {
    eval_probe *probe;
    float *x, *y; /* (n, C, H, W): the probe rows in [-1, 1], then refined in [0, 1] */
    long n;
    size_t img;
};

/* 0 = the set has /labels/<label>, 1 = it has not, < 0 = cannot tell (an error). */
static int lacks_label(const char *synthetic, const char *label) {
    h5ds_reader *r;
    int rc = h5ds_open(&r, synthetic);
    if (rc) return rc;
    char path[96];
    snprintf(path, sizeof path, "labels/%s", label);
    rc = h5ds_find_column(r, path) < 0;
    h5ds_close(r);
    return rc;
}

int guard_open(guard **g, const rp_config *cfg, const char *synthetic, int quiet) {
    *g = NULL;
    if (cfg->train.label_guard <= 0) return 0;
    int rc = lacks_label(synthetic, cfg->run.label);
    if (rc < 0) return rc;
    if (rc) {
        if (!quiet)
            fprintf(stderr, "train: no label guard: %s has no /labels/%s (run.label), so whether refinement keeps "
                    "labels cannot be checked during training\n", synthetic, cfg->run.label);
        return 0;
    }
    guard *p = calloc(1, sizeof *p);
    if (!p) return rp_err(RP_ENOMEM, "label guard: out of memory");
    eval_options o;
    eval_options_from_config(&o, cfg);
    o.consistency_steps = cfg->train.guard_steps;
    o.quiet = quiet;
    if ((rc = eval_probe_open(&p->probe, &o, synthetic, cfg->train.guard_rows))) {
        free(p);
        return rp_err_prefix(rc, "label guard: ");
    }
    p->n = eval_probe_count(p->probe);
    const float *img = eval_probe_images(p->probe);
    h5ds_reader *r;
    if ((rc = h5ds_open(&r, synthetic))) {
        guard_close(p);
        return rc;
    }
    const h5ds_info *in = h5ds_get_info(r);
    p->img = (size_t)in->C * in->H * in->W;
    h5ds_close(r);
    p->x = malloc(sizeof(float) * p->n * p->img);
    p->y = malloc(sizeof(float) * p->n * p->img);
    if (!p->x || !p->y) {
        long n = p->n;
        guard_close(p);
        return rp_err(RP_ENOMEM, "label guard: out of memory for %ld probe images", n);
    }
    for (size_t i = 0; i < p->n * p->img; i++) p->x[i] = 2.0f * img[i] - 1.0f;
    *g = p;
    return 0;
}

static int check(void *ctx, refiner *R, int max_batch, double *ratio) {
    guard *g = ctx;
    for (long s = 0; s < g->n; s += max_batch) {
        int m = g->n - s < max_batch ? (int)(g->n - s) : max_batch;
        refiner_forward(R, g->y + s * g->img, g->x + s * g->img, m);
    }
    for (size_t i = 0; i < g->n * g->img; i++) { /* [-1, 1] -> 8-bit levels in [0, 1], as h5ds_pack_u8 */
        float v = (g->y[i] + 1.0f) * 127.5f;
        g->y[i] = (!(v > 0) ? 0 : v > 255 ? 255 : (float)lrintf(v)) / 255.0f;
    }
    eval_consistency c;
    int rc = eval_probe_score(g->probe, g->y, &c);
    if (!rc) *ratio = c.ratio;
    return rc;
}

void guard_attach(guard *g, trainer *t) {
    if (g) trainer_set_label_check(t, check, g);
}

void guard_close(guard *g) {
    if (!g) return;
    eval_probe_close(g->probe);
    free(g->x), free(g->y);
    free(g);
}
