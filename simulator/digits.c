/* Procedural handwritten-style digits (MNIST-like, white on black). Each class has its own stroke
 * skeletons (several styles), jittered, elastically bent, slanted, rotated and drawn with a
 * varying pen; then the MNIST normalisation: fit the ink's bounding box into a 20x20 box keeping
 * the aspect ratio and shift so the intensity centre of mass lands on the frame centre. */
#include "simulator/sim.h"
#include "simulator/raster.h"
#include "base/rng.h"
#include "base/status.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

#define SEG 0.2f       /* longest flattened segment, digit units (~4 px at 28x28) */
#define MAXPTS 16      /* control points per spline */

typedef struct {
    rng_t *rng;
    raster_path *path;
    float jit;         /* keypoint jitter std */
    float aspect;      /* x scale of the unit box */
} dctx;

/* n control points given as 2n doubles in the unit box, each jittered in turn (the order of
 * draws is fixed, unlike an initializer list's). */
static void kp(dctx *c, float *out, int n, ...) {
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        double x = va_arg(ap, double), y = va_arg(ap, double);
        out[2 * i] = (float)((x + c->jit * rng_normal(c->rng)) * c->aspect);
        out[2 * i + 1] = (float)(y + c->jit * rng_normal(c->rng));
    }
    va_end(ap);
}

/* n points on an ellipse from angle a0 to a1 (degrees, y down: 90 = bottom), radially jittered. */
static void arc(dctx *c, float *out, int n, double cx, double cy, double rx, double ry, double a0, double a1) {
    for (int i = 0; i < n; i++) {
        double a = (a0 + (a1 - a0) * i / (n - 1)) * (M_PI / 180.0);
        double k = 1.0 + 0.5 * c->jit * rng_normal(c->rng);
        out[2 * i] = (float)((cx + rx * k * cos(a)) * c->aspect);
        out[2 * i + 1] = (float)(cy + ry * k * sin(a));
    }
}

static void spline(dctx *c, const float *xy, int n) { raster_path_spline(c->path, xy, n, 0, SEG); }
static void loop(dctx *c, const float *xy, int n) { raster_path_spline(c->path, xy, n, 1, SEG); }
static void stroke(dctx *c) { raster_path_stroke(c->path); }
static void line2(dctx *c, const float *a, const float *b) {
    float xy[4] = {a[0], a[1], b[0], b[1]};
    raster_path_spline(c->path, xy, 2, 0, SEG);
}
static double U(dctx *c, double lo, double hi) { return rng_range(c->rng, lo, hi); }

/* ---------------------------------------------------------------- skeletons */
/* relative frequency of each class's styles (0 ends the list) */
static const float variant_weight[10][5] = {
    {3, 2, 1, 1}, {6, 2, 1}, {3, 3, 1}, {2, 2, 1}, {3, 1, 2}, {2, 2, 1}, {1, 1, 1}, {3, 1, 3, 2, 2}, {2, 1, 2, 4}, {2, 1, 1},
};

static int pick_variant(rng_t *rng, int cls) {
    float total = 0;
    for (int v = 0; v < 5 && variant_weight[cls][v] > 0; v++) total += variant_weight[cls][v];
    float u = rng_uniform(rng) * total;
    int v = 0;
    while (v < 4 && variant_weight[cls][v + 1] > 0 && u >= variant_weight[cls][v]) u -= variant_weight[cls][v++];
    return v;
}
/* tuned so the mean ink-box width/height per class matches the real digits' */
static const float base_aspect[10] = {0.77f, 0.3f, 0.84f, 0.68f, 0.72f, 0.85f, 0.66f, 0.67f, 0.62f, 0.64f};

static void draw_0(dctx *c, int v) {
    float p[2 * MAXPTS];
    double egg = U(c, -0.12, 0.12);
    stroke(c);
    if (v == 0) {
        arc(c, p, 8, 0.5, 0.5, 0.5, 0.5, -90, 225);
        for (int i = 0; i < 8; i++) p[2 * i] *= (float)(1.0 + egg * (p[2 * i + 1] - 0.5));
        loop(c, p, 8);
    } else if (v == 1) { /* open, the pen overshoots its start */
        double a0 = U(c, -120, -60), over = U(c, 10, 60);
        arc(c, p, 10, 0.5, 0.5, 0.5, 0.5, a0, a0 - 360 - over);
        spline(c, p, 10);
    } else if (v == 2) { /* narrow, leaning oval */
        arc(c, p, 8, 0.5, 0.5, 0.42, 0.5, -100, 215);
        for (int i = 0; i < 8; i++) p[2 * i] += (float)((0.5 - p[2 * i + 1]) * 0.25 * c->aspect);
        loop(c, p, 8);
    } else { /* teardrop: a point at the top where the pen starts and comes back (real 0s called 8),
              * the end crossing a little past the start */
        double tip = U(c, 0.5, 0.75);
        kp(c, p, 8, tip, 0.0, 0.22, 0.3, 0.05, 0.68, 0.3, 0.98, 0.7, 0.98, 0.95, 0.62, 0.85, 0.25,
           tip - U(c, 0.0, 0.15), U(c, 0.0, 0.12));
        spline(c, p, 8);
    }
}

static void draw_1(dctx *c, int v) {
    float p[2 * MAXPTS];
    stroke(c);
    if (v == 0) {
        kp(c, p, 3, 0.5, 0.0, 0.5 + U(c, -0.05, 0.05), 0.5, 0.5, 1.0);
        spline(c, p, 3);
        return;
    }
    kp(c, p, 3, U(c, -0.4, 0.2), U(c, 0.15, 0.35), 0.55, 0.0, 0.5, 1.0);
    spline(c, p, 2);
    spline(c, p + 2, 2);
    if (v == 2) {
        stroke(c);
        kp(c, p, 2, U(c, -0.3, 0.1), 1.0, U(c, 0.9, 1.3), 1.0);
        spline(c, p, 2);
    }
}

static void draw_2(dctx *c, int v) {
    float p[2 * MAXPTS];
    double droop = U(c, 0.1, 0.4), neck = U(c, 0.6, 0.75); /* real 2s carry more of their ink low: a long base */
    stroke(c);
    if (v == 0) {
        kp(c, p, 7, 0.05, droop, 0.3, 0.03, 0.75, 0.04, 0.88, 0.32, 0.5, neck, 0.05, 1.0, U(c, 0.85, 1.2), 0.98);
        spline(c, p, 6);
        spline(c, p + 10, 2);
    } else if (v == 1) { /* the neck runs into a loop, the base leaves it to the right; the bowl's right
                          * side often reaches half way down (real looped 2s called 3) */
        double lw = U(c, 0.15, 0.3), lh = U(c, 0.12, 0.22);
        kp(c, p, 5, 0.05, droop, 0.3, 0.03, 0.78, 0.06, 0.88, U(c, 0.3, 0.5), 0.55, neck - 0.05);
        arc(c, p + 10, 6, 0.12 + lw, 1.0 - lh, lw, lh, -30, U(c, -380, -420));
        kp(c, p + 22, 1, U(c, 0.9, 1.2), 0.97);
        spline(c, p, 12);
    } else { /* straight neck */
        kp(c, p, 5, 0.03, droop, 0.45, 0.0, 0.88, 0.22, 0.04, 1.0, U(c, 0.9, 1.2), 0.96);
        spline(c, p, 3);
        spline(c, p + 4, 2);
        spline(c, p + 6, 2);
    }
}

static void draw_3(dctx *c, int v) {
    float p[2 * MAXPTS];
    double mid = U(c, 0.32, 0.52);
    stroke(c);
    if (v == 0) { /* two bumps meeting in a corner */
        kp(c, p, 9, 0.05, 0.15, 0.45, 0.0, 0.85, 0.14, 0.78, mid - 0.1, 0.38, mid, 0.85, mid + 0.14, 0.95, 0.8,
           0.55, 1.0, 0.0, 0.85);
        spline(c, p, 5);
        spline(c, p + 8, 5);
    } else if (v == 1) { /* one smooth stroke */
        kp(c, p, 7, 0.05, 0.12, 0.5, 0.0, 0.85, 0.2, 0.45, mid, 0.9, mid + 0.22, 0.5, 1.0, 0.02, 0.85);
        spline(c, p, 7);
    } else { /* flat top, diagonal */
        kp(c, p, 6, 0.05, 0.02, 0.92, 0.02, 0.4, mid - 0.04, 0.92, mid + 0.18, 0.6, 1.0, 0.03, 0.88);
        spline(c, p, 2);
        spline(c, p + 2, 2);
        spline(c, p + 4, 4);
    }
}

static void draw_4(dctx *c, int v) {
    float p[2 * MAXPTS], q[2 * MAXPTS];
    double bar = U(c, 0.55, 0.72);
    stroke(c);
    if (v == 0) { /* open top; the left stroke from a steep one to a diagonal, often starting below the stem's top */
        kp(c, p, 3, U(c, 0.15, 0.45), U(c, 0.0, 0.25), 0.02, bar, U(c, 0.85, 1.05), bar - 0.02);
        spline(c, p, 2);
        spline(c, p + 2, 2);
        stroke(c);
        kp(c, q, 2, 0.72, U(c, 0.0, 0.3), 0.72, 1.0);
        spline(c, q, 2);
    } else if (v == 1) { /* closed triangle */
        kp(c, p, 4, 0.7, 0.0, 0.02, bar, 1.0, bar, 0.7, 1.0);
        spline(c, p, 2);
        spline(c, p + 2, 2);
        stroke(c);
        memcpy(q, p, 2 * sizeof(float));
        memcpy(q + 2, p + 6, 2 * sizeof(float));
        spline(c, q, 2);
    } else { /* "u" style with the stem tall */
        kp(c, p, 4, 0.08, 0.0, 0.05, bar - 0.12, 0.35, bar, 0.98, bar - 0.06);
        spline(c, p, 4);
        stroke(c);
        kp(c, q, 2, 0.82, 0.0, 0.78, 1.0);
        spline(c, q, 2);
    }
}

static void draw_5(dctx *c, int v) {
    float p[2 * MAXPTS], q[4];
    double neck = U(c, 0.28, 0.56); /* real stems run from a stub to over half the height */
    stroke(c);
    if (v == 2) { /* rounder, more closed bowl */
        kp(c, p, 8, 0.95, 0.0, 0.2, 0.02, 0.15, neck, 0.6, neck - 0.06, 0.95, 0.68, 0.65, 1.0, 0.2, 0.95, 0.1,
           0.78);
    } else {
        kp(c, p, 8, 0.95, 0.0, 0.2, 0.02, 0.12, neck, 0.55, neck - 0.08, 0.92, 0.62, 0.7, 0.96, 0.3, 1.0, 0.0,
           0.86);
    }
    if (v == 1) { /* bar drawn as its own stroke, left of the neck */
        spline(c, p + 2, 2);
        spline(c, p + 4, 6);
        stroke(c);
        memcpy(q, p + 2, 2 * sizeof(float));
        memcpy(q + 2, p, 2 * sizeof(float));
        line2(c, q, q + 2);
    } else {
        spline(c, p, 2);
        spline(c, p + 2, 2);
        spline(c, p + 4, 6);
    }
}

static void draw_6(dctx *c, int v) {
    float p[2 * MAXPTS];
    stroke(c);
    if (v == 0) {
        kp(c, p, 9, 0.8, 0.0, 0.4, 0.2, 0.08, 0.6, 0.2, 0.92, 0.55, 1.0, 0.88, 0.78, 0.7, 0.5, 0.35, 0.5, 0.12,
           0.7);
    } else if (v == 1) {
        kp(c, p, 8, 0.62, 0.0, 0.18, 0.45, 0.1, 0.78, 0.4, 1.0, 0.85, 0.82, 0.75, 0.55, 0.4, 0.52, 0.15, 0.66);
    } else { /* straight stem into a low, wide loop (many real 6s: the loop only in the lower ~40%) */
        double lt = U(c, 0.5, 0.68);
        kp(c, p, 8, 0.6, 0.0, 0.22, 0.35, 0.05, 0.8, 0.35, 1.0, 0.88, 0.9, 0.85, lt + 0.08, 0.5, lt, 0.1, 0.8);
    }
    spline(c, p, v == 0 ? 9 : 8);
}

static void draw_7(dctx *c, int v) {
    float p[2 * MAXPTS], q[4];
    double foot = U(c, 0.25, 0.55);
    stroke(c);
    if (v == 2) { /* tick at the start of the bar (real ones reach half way down) */
        kp(c, p, 5, 0.02, U(c, 0.15, 0.55), 0.04, 0.03, 1.0, 0.02, 0.62, 0.5, foot, 1.0);
        spline(c, p, 2);
        spline(c, p + 2, 2);
        spline(c, p + 4, 3);
    } else if (v == 3) { /* curved stem */
        kp(c, p, 5, 0.0, 0.05, 1.0, 0.02, 0.6, 0.4, foot + 0.05, 0.7, foot, 1.0);
        spline(c, p, 2);
        spline(c, p + 2, 4);
    } else if (v == 4) { /* one rounded stroke: the bar curls into the stem */
        double drop = U(c, 0.05, 0.3);
        kp(c, p, 6, 0.0, drop, 0.3, 0.02, 0.8, 0.0, 0.95, 0.1, 0.65, 0.5, foot, 1.0);
        spline(c, p, 6);
    } else {
        kp(c, p, 4, 0.0, 0.05, 1.0, 0.02, 0.68, 0.45, foot, 1.0);
        spline(c, p, 2);
        spline(c, p + 2, 3);
    }
    if (v == 1) { /* crossbar */
        stroke(c);
        kp(c, q, 2, foot + 0.02, 0.55, U(c, 0.85, 1.05), 0.52);
        spline(c, q, 2);
    }
}

static void draw_8(dctx *c, int v) {
    float p[2 * MAXPTS];
    double mid = U(c, 0.4, 0.64); /* real 8s called 2: a big top over a small bottom loop */
    stroke(c);
    if (v == 0) { /* one closed stroke */
        kp(c, p, 11, 0.8, 0.1, 0.5, 0.0, 0.18, 0.12, 0.22, mid - 0.15, 0.5, mid, 0.85, mid + 0.2, 0.82, 0.9, 0.5,
           1.0, 0.15, 0.9, 0.18, mid + 0.2, 0.78, mid - 0.15);
        loop(c, p, 11);
    } else if (v == 1) { /* two stacked loops */
        arc(c, p, 7, 0.5, mid / 2, 0.36, mid / 2, 90, 90 + 360 * 6.0 / 7);
        loop(c, p, 7);
        stroke(c);
        arc(c, p, 7, 0.5, (1 + mid) / 2, 0.48, (1 - mid) / 2, -90, -90 + 360 * 6.0 / 7);
        loop(c, p, 7);
    } else if (v == 2) { /* open: starts right of the top loop and stops short of it */
        kp(c, p, 12, 1.0, U(c, 0.0, 0.15), 0.55, 0.02, 0.15, 0.1, 0.2, mid - 0.15, 0.5, mid, 0.85, mid + 0.2, 0.8,
           0.92, 0.45, 1.0, 0.12, 0.88, 0.2, mid + 0.16, 0.6, mid - 0.05, U(c, 0.75, 0.95), U(c, 0.1, 0.3));
        spline(c, p, 12);
    } else { /* an S, then a straight diagonal from the lower left back up through the waist */
        kp(c, p, 9, 0.85, U(c, 0.05, 0.2), 0.5, 0.0, 0.15, 0.14, 0.35, mid - 0.06, 0.75, mid + 0.15, 0.88, 0.8,
           0.55, 1.0, 0.15, 0.88, U(c, 0.8, 1.0), U(c, 0.0, 0.15));
        spline(c, p, 8);
        spline(c, p + 14, 2);
    }
}

static void draw_9(dctx *c, int v) {
    float p[2 * MAXPTS];
    double ry = U(c, 0.15, 0.3), rx = U(c, 0.4, 0.5); /* real loops: from under a third to over half the height */
    stroke(c);
    /* loop counter-clockwise on screen from the right side, then the stem */
    arc(c, p, 8, 0.5, ry, rx, ry, 10, -340);
    if (v == 0) {
        kp(c, p + 16, 1, 0.5 + rx * 0.95, 1.0);
        spline(c, p, 8);
        spline(c, p + 14, 2);
    } else if (v == 1) { /* curved tail */
        kp(c, p + 16, 2, 0.88, 0.75, 0.55, 1.0);
        spline(c, p, 10);
    } else { /* closed loop, then the stem as its own stroke from the loop's upper right */
        arc(c, p, 7, 0.5, ry, rx, ry, 0, -360 * 6.0 / 7);
        loop(c, p, 7);
        stroke(c);
        kp(c, p, 2, 0.5 + rx * 0.97, ry * 0.7, 0.5 + rx * 0.85, 1.0);
        spline(c, p, 2);
    }
}

static void (*const draw_class[10])(dctx *, int) = {draw_0, draw_1, draw_2, draw_3, draw_4,
                                                     draw_5, draw_6, draw_7, draw_8, draw_9};

/* ---------------------------------------------------------------- render */
#define DIGIT_MAX_SIZE 128
#define ELASTIC_MODES 3
#define DBLK 8 /* pixels per vectorised block */
#define CANVAS_MAX ((DIGIT_MAX_SIZE * 3 / 2 + DBLK) * (DIGIT_MAX_SIZE * 3 / 2))

/* Pen radius along each stroke: a slow pressure wave and thinner ends, by arc length. */
static void apply_pen(raster_path *path, rng_t *rng, const sim_digit_sample *s) {
    for (int k = 0; k < path->nstrokes; k++) {
        int a = raster_path_start(path, k), b = path->end[k];
        float len = 0;
        float seg[RASTER_PATH_MAX];
        for (int i = a + 1; i < b; i++) {
            float dx = path->p[i].x - path->p[i - 1].x, dy = path->p[i].y - path->p[i - 1].y;
            len += seg[i - a] = sqrtf(dx * dx + dy * dy);
        }
        float phase = (float)rng_range(rng, 0, 2 * M_PI), freq = (float)rng_range(rng, 0.5, 1.5);
        float u = 0, r0 = 0.5f * s->thickness;
        for (int i = a; i < b; i++) {
            if (i > a) u += seg[i - a];
            float f = len > 0 ? u / len : 0.5f;
            float e = (f < 1 - f ? f : 1 - f) * (1 / 0.15f), end = e < 1 ? (1 - e) * (1 - e) : 0;
            path->p[i].r = r0 * (1 + s->pen_variation * sinf(2 * (float)M_PI * freq * f + phase)) * (1 - s->taper * end);
        }
    }
}

/* sin to ~1e-5, cheaper than sinf in the per-point elastic field (exact IEEE, no fast-math).
 * Branch-free (floor from a truncation, the fold by selects) so the loops over points vectorise;
 * the values are the same as floorf's and the branches' (|t| stays far below 2^31). */
static inline float sin_fast(float x) {
    float t = x * 0.15915494f, v = t + 0.5f, fl = (float)(int)v;
    t -= fl > v ? fl - 1 : fl;
    float hi = 0.5f - t, lo = -0.5f - t;
    t = t > 0.25f ? hi : t < -0.25f ? lo : t;
    float y = t * 6.2831853f, y2 = y * y;
    return y * (1 + y2 * (-1.0f / 6 + y2 * (1.0f / 120 + y2 * (-1.0f / 5040 + y2 * (1.0f / 362880)))));
}

#define POSE_BLOCK 16 /* points per vectorised block */

/* Smooth random displacement (a few plane waves per axis) and the affine pose, in digit units. */
static void apply_pose(raster_path *path, rng_t *rng, const sim_digit_sample *s) {
    float kx[2][ELASTIC_MODES], ky[2][ELASTIC_MODES], ph[2][ELASTIC_MODES], am[2][ELASTIC_MODES];
    for (int ax = 0; ax < 2; ax++)
        for (int m = 0; m < ELASTIC_MODES; m++) {
            float dir = (float)rng_range(rng, 0, 2 * M_PI), k = 2 * (float)M_PI / s->elastic_scale;
            kx[ax][m] = k * cosf(dir);
            ky[ax][m] = k * sinf(dir);
            ph[ax][m] = (float)rng_range(rng, 0, 2 * M_PI);
            am[ax][m] = s->elastic_alpha * (float)rng_normal(rng) * 0.57735f;
        }
    float cx = 0.5f * s->aspect, cs = cosf(s->rotation), sn = sinf(s->rotation);
    /* points as arrays padded to whole blocks; each displacement sums its modes in order */
    int n = path->n, np = (n + POSE_BLOCK - 1) / POSE_BLOCK * POSE_BLOCK;
    float px[RASTER_PATH_MAX + POSE_BLOCK], py[RASTER_PATH_MAX + POSE_BLOCK];
    float d[2][RASTER_PATH_MAX + POSE_BLOCK];
    for (int i = 0; i < np; i++) {
        px[i] = i < n ? path->p[i].x : 0;
        py[i] = i < n ? path->p[i].y : 0;
        d[0][i] = d[1][i] = 0;
    }
    for (int ax = 0; ax < 2; ax++)
        for (int m = 0; m < ELASTIC_MODES; m++)
            for (int i0 = 0; i0 < np; i0 += POSE_BLOCK)
                for (int i = i0; i < i0 + POSE_BLOCK; i++)
                    d[ax][i] += am[ax][m] * sin_fast(kx[ax][m] * px[i] + ky[ax][m] * py[i] + ph[ax][m]);
    for (int i = 0; i < n; i++) {
        float x = px[i], y = py[i];
        x = (x + d[0][i] - cx) * s->scale_x;
        y = (y + d[1][i] - 0.5f) * s->scale_y;
        x += s->slant * -y;
        path->p[i].x = cs * x - sn * y;
        path->p[i].y = sn * x + cs * y;
    }
}

int sim_digit_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_digit_sample *out) {
    if (H < 8 || W < 8 || H > DIGIT_MAX_SIZE || W > DIGIT_MAX_SIZE)
        return rp_err(RP_EARG, "digits: size %dx%d not supported (8..%d per side)", H, W, DIGIT_MAX_SIZE);
    rng_t rng;
    rng_seed(&rng, seed, index);
    sim_digit_sample s;
    memset(&s, 0, sizeof s);
    s.cls = (int32_t)rng_below(&rng, 10);
    s.variant = pick_variant(&rng, s.cls);
    s.aspect = base_aspect[s.cls] * expf(0.15f * (float)rng_normal(&rng));
    s.jitter = (float)rng_range(&rng, 0.01, 0.05);
    s.slant = (float)rng_range(&rng, -0.25, 0.6);
    s.rotation = 0.12f * (float)rng_normal(&rng);
    s.scale_x = expf(0.12f * (float)rng_normal(&rng));
    s.scale_y = expf(0.12f * (float)rng_normal(&rng));
    s.thickness = expf((float)rng_range(&rng, log(0.09), log(0.3)));
    s.pen_variation = (float)rng_range(&rng, 0, 0.35);
    s.taper = (float)rng_range(&rng, 0, 0.5);
    s.elastic_alpha = (float)rng_range(&rng, 0, 0.06);
    s.elastic_scale = (float)rng_range(&rng, 0.35, 0.9);
    s.edge = (float)rng_range(&rng, -0.5, 0.6);
    s.blur = (float)rng_range(&rng, 0.9, 1.8);

    raster_path path;
    raster_path_init(&path);
    dctx c = {&rng, &path, s.jitter, s.aspect};
    draw_class[s.cls](&c, s.variant);
    apply_pen(&path, &rng, &s);
    apply_pose(&path, &rng, &s);

    /* ink bounding box -> the 20x20 box of a 28x28 frame (scaled for other sizes) */
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (int i = 0; i < path.n; i++) {
        const raster_pt *p = &path.p[i];
        x0 = p->x - p->r < x0 ? p->x - p->r : x0;
        x1 = p->x + p->r > x1 ? p->x + p->r : x1;
        y0 = p->y - p->r < y0 ? p->y - p->r : y0;
        y1 = p->y + p->r > y1 ? p->y + p->r : y1;
    }
    float bw = x1 - x0, bh = y1 - y0, boxw = W * (20.0f / 28), boxh = H * (20.0f / 28);
    float sc = boxw / bw < boxh / bh ? boxw / bw : boxh / bh;
    /* a margin M for the centre-of-mass shift; rows padded to whole blocks so the passes below
     * vectorise */
    int M = (H > W ? H : W) / 4, CW = (W + 2 * M + DBLK - 1) / DBLK * DBLK, CH = H + 2 * M;
    float ox = M + 0.5f * (W - bw * sc), oy = M + 0.5f * (H - bh * sc);
    for (int i = 0; i < path.n; i++) {
        raster_pt *p = &path.p[i];
        p->x = ox + (p->x - x0) * sc;
        p->y = oy + (p->y - y0) * sc;
        p->r *= sc;
    }
    float canvas[CANVAS_MAX];
    memset(canvas, 0, sizeof(float) * CW * CH);
    raster_path_draw(canvas, CW, CH, &path, s.blur);

    /* coverage curve, peak, centre of mass (pixel-index coordinates), over the ink's rows */
    double m = 0, my = 0, mx = 0;
    float peak[DBLK] = {0};
    int i0 = (int)oy - 1, i1 = (int)(oy + bh * sc) + 2;
    i0 = i0 < 0 ? 0 : i0;
    i1 = i1 > CH ? CH : i1;
    for (int i = i0; i < i1; i++) {
        float rs[DBLK] = {0}, rx[DBLK] = {0}, *row = canvas + i * CW;
        for (int jb = 0; jb < CW; jb += DBLK)
            for (int k = 0; k < DBLK; k++) {
                float v = row[jb + k];
                v += s.edge * v * (1 - v);
                row[jb + k] = v;
                rs[k] += v;
                rx[k] += v * (float)(jb + k);
                peak[k] = peak[k] > v ? peak[k] : v;
            }
        double srow = 0;
        for (int k = 0; k < DBLK; k++) srow += rs[k], mx += rx[k];
        m += srow;
        my += srow * i;
    }
    float top = 0;
    for (int k = 0; k < DBLK; k++) top = peak[k] > top ? peak[k] : top;
    int sy = 0, sx = 0;
    if (m > 0) {
        sy = (int)lround(my / m - M - 0.5 * H);
        sx = (int)lround(mx / m - M - 0.5 * W);
    }
    s.shift_x = (float)-sx;
    s.shift_y = (float)-sy;
    /* shift by whole pixels (as MNIST did) and stretch the peak to 255 */
    float gain = top > 0 ? 255.0f / top : 0;
    int c0 = M + sx;
    for (int i = 0; i < H; i++) {
        int ci = i + M + sy;
        uint8_t *dst = img + i * W;
        if (ci < 0 || ci >= CH) {
            memset(dst, 0, W);
        } else if (c0 < 0 || c0 + W > CW) { /* a shift beyond the margin: clip */
            for (int j = 0; j < W; j++) {
                int cj = j + c0;
                dst[j] = cj >= 0 && cj < CW ? (uint8_t)(canvas[ci * CW + cj] * gain + 0.5f) : 0;
            }
        } else {
            const float *src = canvas + ci * CW + c0;
            for (int jb = 0; jb < W; jb += DBLK) {
                int j = jb + DBLK <= W ? jb : W - DBLK; /* the last block may overlap: same values */
                for (int k = 0; k < DBLK; k++) dst[j + k] = (uint8_t)(src[j + k] * gain + 0.5f);
            }
        }
    }
    if (out) *out = s;
    return 0;
}
