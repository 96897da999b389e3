/* Stroke rasterisation (see raster.h). Distance-to-segment coverage is cheap enough to run at the
 * final resolution, in branch-free blocks the compiler vectorises; that is most of what lets the
 * digits renderer approach its per-core speed target. */
#include "simulator/raster.h"
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define RASTER_BLOCK 16

void raster_path_init(raster_path *path) {
    path->n = 0;
    path->nstrokes = 0;
}

void raster_path_stroke(raster_path *path) {
    assert(path->nstrokes < RASTER_STROKES_MAX);
    path->end[path->nstrokes++] = path->n;
}

void raster_path_point(raster_path *path, float x, float y) {
    assert(path->nstrokes > 0 && path->n < RASTER_PATH_MAX);
    path->p[path->n++] = (raster_pt){x, y, 0.0f};
    path->end[path->nstrokes - 1] = path->n;
}

/* Cubic Hermite between p1 and p2 with Catmull-Rom tangents from p0 and p3. */
static void spline_span(raster_path *path, const float *p0, const float *p1, const float *p2, const float *p3,
                        int sub, int skip_first) {
    float m1x = 0.5f * (p2[0] - p0[0]), m1y = 0.5f * (p2[1] - p0[1]);
    float m2x = 0.5f * (p3[0] - p1[0]), m2y = 0.5f * (p3[1] - p1[1]);
    for (int k = skip_first ? 1 : 0; k <= sub; k++) {
        float t = (float)k / sub, t2 = t * t, t3 = t2 * t;
        float h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
        raster_path_point(path, h00 * p1[0] + h10 * m1x + h01 * p2[0] + h11 * m2x,
                          h00 * p1[1] + h10 * m1y + h01 * p2[1] + h11 * m2y);
    }
}

void raster_path_spline(raster_path *path, const float *xy, int n, int closed, float seg) {
    assert(n >= 2 && seg > 0);
    int s = path->nstrokes - 1, start = raster_path_start(path, s);
    int skip = 0;
    if (path->n > start) {
        const raster_pt *last = &path->p[path->n - 1];
        skip = fabsf(last->x - xy[0]) < 1e-6f && fabsf(last->y - xy[1]) < 1e-6f;
    }
    int spans = closed ? n : n - 1;
    for (int i = 0; i < spans; i++) {
        const float *p1 = xy + 2 * i;
        const float *p2 = xy + 2 * ((i + 1) % n);
        float e0[2], e3[2];
        const float *p0, *p3;
        if (i > 0 || closed) p0 = xy + 2 * ((i - 1 + n) % n);
        else { e0[0] = 2 * p1[0] - p2[0]; e0[1] = 2 * p1[1] - p2[1]; p0 = e0; }
        if (i + 2 < n || closed) p3 = xy + 2 * ((i + 2) % n);
        else { e3[0] = 2 * p2[0] - p1[0]; e3[1] = 2 * p2[1] - p1[1]; p3 = e3; }
        /* enough segments that none is longer than `seg` nor turns by more than ~20 degrees
         * (chord error under ~seg/20); a lone segment is straight */
        float m1x = p2[0] - p0[0], m1y = p2[1] - p0[1], m2x = p3[0] - p1[0], m2y = p3[1] - p1[1];
        float turn = fabsf(atan2f(m1x * m2y - m1y * m2x, m1x * m2x + m1y * m2y));
        int sp = (int)ceilf(fmaxf(hypotf(p2[0] - p1[0], p2[1] - p1[1]) / seg, turn * (1 / 0.35f)));
        sp = n == 2 && !closed ? 1 : sp < 1 ? 1 : sp > 24 ? 24 : sp;
        spline_span(path, p0, p1, p2, p3, sp, i > 0 || skip);
    }
}

/* ---------------------------------------------------------------- drawing */
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void raster_capsule(float *canvas, int w, int h, raster_pt a, raster_pt b, float soft) {
    assert(w >= RASTER_BLOCK);
    float rmax = a.r > b.r ? a.r : b.r;
    float pad = rmax + 1.0f;
    int x0 = clampi((int)floorf(fminf(a.x, b.x) - pad), 0, w - 1);
    int x1 = clampi((int)ceilf(fmaxf(a.x, b.x) + pad), 0, w - 1);
    int y0 = clampi((int)floorf(fminf(a.y, b.y) - pad), 0, h - 1);
    int y1 = clampi((int)ceilf(fmaxf(a.y, b.y) + pad), 0, h - 1);
    if (fmaxf(a.x, b.x) + pad < 0 || fminf(a.x, b.x) - pad > w || fmaxf(a.y, b.y) + pad < 0 ||
        fminf(a.y, b.y) - pad > h)
        return;
    float dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
    float inv = len2 > 1e-12f ? 1.0f / len2 : 0.0f, dr = b.r - a.r, isoft = 1.0f / soft;
    /* blocks of RASTER_BLOCK pixels with a fixed trip count and no branches, so the compiler
     * vectorises them; a block that would cross the right edge is moved left (max is idempotent) */
    float rr = a.r + 0.5f;
    for (int i = y0; i <= y1; i++) {
        float py = i + 0.5f - a.y;
        float *row = canvas + (long)i * w;
        for (int j0 = x0; j0 <= x1; j0 += RASTER_BLOCK) {
            int jb = j0 + RASTER_BLOCK <= w ? j0 : w - RASTER_BLOCK;
            float *out = row + jb;
            for (int k = 0; k < RASTER_BLOCK; k++) {
                float px = (float)(jb + k) + 0.5f - a.x;
                float t = (px * dx + py * dy) * inv;
                t = t < 0 ? 0 : t;
                t = t > 1 ? 1 : t;
                float ex = px - t * dx, ey = py - t * dy;
                float lim = rr + t * dr;
                float c = (lim - sqrt_nonneg(ex * ex + ey * ey)) * isoft;
                c = c < 0 ? 0 : c;
                c = c > 1 ? 1 : c;
                out[k] = out[k] > c ? out[k] : c;
            }
        }
    }
}

void raster_path_draw(float *canvas, int w, int h, const raster_path *path, float soft) {
    for (int s = 0; s < path->nstrokes; s++) {
        int a = raster_path_start(path, s), b = path->end[s];
        if (b - a == 1) raster_capsule(canvas, w, h, path->p[a], path->p[a], soft);
        for (int i = a; i + 1 < b; i++) raster_capsule(canvas, w, h, path->p[i], path->p[i + 1], soft);
    }
}
