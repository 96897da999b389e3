/* Fixtures of the training tests (see train_fixtures.h). */
#include "tests/train_fixtures.h"
#include "io/h5ds.h"
#include <math.h>
#include <stdlib.h>

#define S TRAINFIX_S

static void blob(float *img, rng_t *r, int real) {
    double cx = 4 + rng_uniform_d(r) * 8, cy = 4 + rng_uniform_d(r) * 8, sd = 2 + rng_uniform_d(r) * 2;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            double v = 30 + 170 * exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * sd * sd));
            if (real) v += 40;
            img[y * S + x] = (float)v;
        }
}

void trainfix_blobs(float *x, int n, rng_t *r, int real) {
    for (int i = 0; i < n; i++) {
        blob(x + (size_t)i * S * S, r, real);
        for (int p = 0; p < S * S; p++) x[i * S * S + p] = x[i * S * S + p] * (2.0f / 255.0f) - 1.0f;
    }
}

int trainfix_write_set(const char *path, int n, int real, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed, 0);
    float img[S * S];
    uint8_t *u = malloc((size_t)n * S * S);
    if (!u) return -4;
    for (int i = 0; i < n; i++) {
        blob(img, &r, real);
        for (int p = 0; p < S * S; p++) {
            float v = img[p] + 0.5f;
            u[i * S * S + p] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
        }
    }
    h5ds_writer *w;
    h5ds_provenance prov = {.kind = real ? "real" : "synthetic", .scene = "external", .seed = -1, .refiner_step = -1};
    int rc = h5ds_create(&w, path, S, S, 1, NULL, 0, &prov, NULL);
    if (!rc && (rc = h5ds_append(w, n, u, NULL, NULL))) h5ds_abort(w);
    else if (!rc) rc = h5ds_finish(w);
    free(u);
    return rc;
}

void trainfix_config(rp_config *cfg) {
    config_defaults(cfg);
    cfg->refiner.filters = 6;
    cfg->refiner.blocks = 1;
    cfg->train.batch = 4;
    cfg->train.history_size = 12;
    cfg->train.seed = 3;
}

int trainfix_state(train_state *s, const rp_config *cfg) {
    train_setup u;
    int rc = train_setup_from_config(&u, cfg, 1, S, S);
    return rc ? rc : train_state_init(s, &u);
}
