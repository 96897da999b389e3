/* The scene table (columns of each scene's sample record, as written to /labels and /params)
 * and threaded batch rendering: each thread renders a contiguous slice of the batch, and since
 * every sample depends only on (seed, index) the bytes do not depend on the split. */
#include "simulator/sim.h"
#include "base/status.h"
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DCOL(path, type, field, units) \
    {path, type, sizeof(((sim_digit_sample *)0)->field) / 4, units, offsetof(sim_digit_sample, field)}
static const sim_column digit_columns[] = {
    DCOL("labels/class", SIM_INT32, cls, NULL),
    DCOL("params/variant", SIM_INT32, variant, NULL),
    DCOL("params/aspect", SIM_FLOAT32, aspect, NULL),
    DCOL("params/jitter", SIM_FLOAT32, jitter, NULL),
    DCOL("params/slant", SIM_FLOAT32, slant, NULL),
    DCOL("params/rotation", SIM_FLOAT32, rotation, "radians"),
    DCOL("params/scale_x", SIM_FLOAT32, scale_x, NULL),
    DCOL("params/scale_y", SIM_FLOAT32, scale_y, NULL),
    DCOL("params/thickness", SIM_FLOAT32, thickness, NULL),
    DCOL("params/pen_variation", SIM_FLOAT32, pen_variation, NULL),
    DCOL("params/taper", SIM_FLOAT32, taper, NULL),
    DCOL("params/elastic_alpha", SIM_FLOAT32, elastic_alpha, NULL),
    DCOL("params/elastic_scale", SIM_FLOAT32, elastic_scale, NULL),
    DCOL("params/edge", SIM_FLOAT32, edge, NULL),
    DCOL("params/blur", SIM_FLOAT32, blur, "pixels"),
    DCOL("params/shift_x", SIM_FLOAT32, shift_x, "pixels"),
    DCOL("params/shift_y", SIM_FLOAT32, shift_y, "pixels"),
};
#undef DCOL

#define ECOL(path, field, units) \
    {path, SIM_FLOAT32, sizeof(((sim_eye_sample *)0)->field) / 4, units, offsetof(sim_eye_sample, field)}
static const sim_column eye_columns[] = {
    ECOL("labels/gaze", gaze, "radians"),
    ECOL("labels/pupil_center", pupil_center, "pixels"),
    ECOL("labels/iris_radius", iris_radius, "pixels"),
    ECOL("labels/pupil_radius", pupil_radius, "pixels"),
    ECOL("labels/pupil_visible", pupil_visible, NULL),
    ECOL("labels/eyelid_upper", eyelid_upper, "pixels"),
    ECOL("labels/eyelid_lower", eyelid_lower, "pixels"),
    ECOL("labels/eye_center", eye_center, "pixels"),
    ECOL("labels/eyeball_radius", eyeball_radius, "pixels"),
    ECOL("params/openness", openness, NULL),
    ECOL("params/head_roll", head_roll, "radians"),
    ECOL("params/skin_tone", skin_tone, NULL),
    ECOL("params/skin_texture", skin_texture, NULL),
    ECOL("params/sclera_tone", sclera_tone, NULL),
    ECOL("params/iris_tone", iris_tone, NULL),
    ECOL("params/iris_texture", iris_texture, NULL),
    ECOL("params/limbus", limbus, NULL),
    ECOL("params/glint_x", glint_x, "pixels"),
    ECOL("params/glint_y", glint_y, "pixels"),
    ECOL("params/glint_strength", glint_strength, NULL),
    ECOL("params/brightness", brightness, NULL),
    ECOL("params/contrast", contrast, NULL),
    ECOL("params/light_dir", light_dir, "radians"),
    ECOL("params/light_strength", light_strength, NULL),
    ECOL("params/lash", lash, NULL),
    ECOL("params/brow", brow, NULL),
    ECOL("params/noise", noise, NULL),
    ECOL("params/lid_fold", lid_fold, NULL),
    ECOL("params/fold_gap", fold_gap, "pixels"),
    ECOL("params/lid_peak", lid_peak, NULL),
    ECOL("params/lid_power", lid_power, NULL),
    ECOL("params/glint_size", glint_size, "pixels"),
    ECOL("params/brow_height", brow_height, "pixels"),
    ECOL("params/brow_curve", brow_curve, "pixels"),
    ECOL("params/lash_width", lash_width, "pixels"),
    ECOL("params/lash_wing", lash_wing, "pixels"),
    ECOL("params/lash_lower", lash_lower, NULL),
    ECOL("params/lid_shade", lid_shade, NULL),
    ECOL("params/lid_light", lid_light, NULL),
    ECOL("params/fold_width", fold_width, "pixels"),
    ECOL("params/fold_lower", fold_lower, NULL),
    ECOL("params/fold_lower_gap", fold_lower_gap, "pixels"),
    ECOL("params/socket", socket, NULL),
    ECOL("params/socket_height", socket_height, "pixels"),
    ECOL("params/brow_bone", brow_bone, NULL),
    ECOL("params/cheek", cheek, NULL),
    ECOL("params/under_shadow", under_shadow, NULL),
    ECOL("params/under_width", under_width, "pixels"),
    ECOL("params/corner_shadow", corner_shadow, NULL),
    ECOL("params/corner_radius", corner_radius, "pixels"),
    ECOL("params/tear_trough", tear_trough, NULL),
    ECOL("params/sclera_falloff", sclera_falloff, NULL),
    ECOL("params/mottle", mottle, NULL),
    ECOL("params/blur_x", blur_x, NULL),
    ECOL("params/blur_y", blur_y, NULL),
    ECOL("params/resolution", resolution, NULL),
    /* eyes-target only (the eyes scene writes all but this last column): its record begins with
     * an eye record, so every column above has the same offset in both */
    {"params/gamma", SIM_FLOAT32, 1, NULL, offsetof(sim_eye_target_sample, gamma)},
};
#undef ECOL
#define EYE_NCOLUMNS (int)(sizeof eye_columns / sizeof eye_columns[0] - 1)

static int render_digit(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, void *sample) {
    return sim_digit_render(img, H, W, seed, index, sample);
}
static int render_eye(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, void *sample) {
    return sim_eye_render(img, H, W, seed, index, sample);
}
static int render_eye_target(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, void *sample) {
    return sim_eye_target_render(img, H, W, seed, index, sample);
}

static const sim_scene scenes[] = {
    {"digits", SIM_DIGIT_H, SIM_DIGIT_W, 8, sizeof(sim_digit_sample), digit_columns,
     sizeof digit_columns / sizeof digit_columns[0], render_digit},
    {"eyes", SIM_EYE_H, SIM_EYE_W, 16, sizeof(sim_eye_sample), eye_columns, EYE_NCOLUMNS, render_eye},
    {"eyes-target", SIM_EYE_H, SIM_EYE_W, 16, sizeof(sim_eye_target_sample), eye_columns, EYE_NCOLUMNS + 1,
     render_eye_target},
};

const sim_scene *sim_scene_find(const char *name) {
    for (size_t i = 0; i < sizeof scenes / sizeof scenes[0]; i++)
        if (!strcmp(scenes[i].name, name)) return &scenes[i];
    return NULL;
}

void sim_gather_column(const sim_scene *s, int c, const void *samples, long n, void *out) {
    assert(c >= 0 && c < s->ncolumns);
    const sim_column *col = &s->columns[c];
    size_t bytes = (size_t)col->cols * 4; /* int32 and float32 alike */
    for (long i = 0; i < n; i++)
        memcpy((char *)out + i * bytes, (const char *)samples + i * s->sample_size + col->offset, bytes);
}

/* ---------------------------------------------------------------- threads */
typedef struct {
    const sim_scene *scene;
    int H, W;
    uint64_t seed, first;
    long n;
    uint8_t *images;
    char *samples;
    int rc;
    char msg[256];
} slice;

struct sim_job {
    int nthreads;
    pthread_t tid[64];
    slice sl[64];
};

static void *slice_run(void *arg) {
    slice *s = arg;
    for (long i = 0; i < s->n && !s->rc; i++) {
        s->rc = s->scene->render(s->images + i * s->H * s->W, s->H, s->W, s->seed, s->first + i,
                                 s->samples ? s->samples + i * s->scene->sample_size : NULL);
        /* the message is thread-local: carry it to the joining thread */
        if (s->rc) snprintf(s->msg, sizeof s->msg, "%s", rp_errmsg());
    }
    return NULL;
}

int sim_job_start(sim_job **job, const sim_scene *s, int H, int W, uint64_t seed, uint64_t first, long n,
                  uint8_t *images, void *samples, int threads) {
    sim_job *j = calloc(1, sizeof *j);
    if (!j) return rp_err(RP_ENOMEM, "simulate: out of memory");
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    if (threads > n) threads = n > 0 ? (int)n : 1;
    j->nthreads = threads;
    for (int t = 0; t < threads; t++) {
        long a = n * t / threads, b = n * (t + 1) / threads;
        j->sl[t] = (slice){s, H, W, seed, first + (uint64_t)a, b - a, images + a * H * W,
                           samples ? (char *)samples + a * s->sample_size : NULL, 0, ""};
    }
    /* thread 0 of a single-threaded job runs in sim_job_wait, on the caller's thread */
    for (int t = 0; t < threads && threads > 1; t++)
        if (pthread_create(&j->tid[t], NULL, slice_run, &j->sl[t])) {
            for (int u = 0; u < t; u++) pthread_join(j->tid[u], NULL);
            free(j);
            return rp_err(RP_EINTERNAL, "simulate: cannot start thread %d of %d", t + 1, threads);
        }
    *job = j;
    return 0;
}

int sim_job_wait(sim_job *j) {
    if (j->nthreads == 1) slice_run(&j->sl[0]);
    else
        for (int t = 0; t < j->nthreads; t++) pthread_join(j->tid[t], NULL);
    int rc = 0;
    for (int t = 0; t < j->nthreads && !rc; t++)
        if (j->sl[t].rc) rc = rp_err(j->sl[t].rc, "%s", j->sl[t].msg);
    free(j);
    return rc;
}

int sim_render_batch(const sim_scene *s, int H, int W, uint64_t seed, uint64_t first, long n, uint8_t *images,
                     void *samples, int threads) {
    sim_job *j;
    int rc = sim_job_start(&j, s, H, W, seed, first, n, images, samples, threads);
    return rc ? rc : sim_job_wait(j);
}
