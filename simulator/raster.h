/* Anti-aliased stroke rasterisation for the simulator: polylines with a per-point pen radius,
 * built from Catmull-Rom splines through control points, drawn as capsules whose coverage
 * falls off linearly at the edge (a box-filter approximation), combined with max. */
#ifndef RP_RASTER_H
#define RP_RASTER_H

#include <stdint.h>
#include <string.h>

/* sqrt for x >= 0 to ~1e-6 relative, from the classic reciprocal-sqrt estimate and two Newton
 * steps: exact IEEE arithmetic (deterministic) that vectorises in the renderers' pixel loops.
 * The images depend on its exact values, so it stays even where sqrtf would vectorise too. */
static inline float sqrt_nonneg(float x) {
    uint32_t i;
    float y;
    memcpy(&i, &x, 4);
    i = 0x5f375a86u - (i >> 1);
    memcpy(&y, &i, 4);
    y = y * (1.5f - 0.5f * x * y * y);
    y = y * (1.5f - 0.5f * x * y * y);
    return x * y;
}

#define RASTER_PATH_MAX 768
#define RASTER_STROKES_MAX 8

typedef struct {
    float x, y, r; /* position and pen radius */
} raster_pt;

/* Strokes as one point array; stroke s spans [start(s), end[s]) with start(0) = 0. */
typedef struct {
    raster_pt p[RASTER_PATH_MAX];
    int n;
    int end[RASTER_STROKES_MAX];
    int nstrokes;
} raster_path;

void raster_path_init(raster_path *path);
/* Starts a new stroke (the previous one ends). */
void raster_path_stroke(raster_path *path);
/* Appends a point to the current stroke (r = 0; pens are applied later). */
void raster_path_point(raster_path *path, float x, float y);
/* Appends a Catmull-Rom spline through n control points xy[2*i], xy[2*i+1], flattened into
 * segments at most `seg` long (path units) and turning at most ~20 degrees each; closed
 * splines return to the first point.
 * n == 2 gives a line.
 * The first point is skipped when it repeats the stroke's last point (joined corners). */
void raster_path_spline(raster_path *path, const float *xy, int n, int closed, float seg);
/* Stroke s's first point index. */
static inline int raster_path_start(const raster_path *path, int s) { return s ? path->end[s - 1] : 0; }

/* Draws segment a-b (radius interpolated) into canvas (h rows of w >= 8 floats, pixel (i, j)
 * centred at (j + 0.5, i + 0.5)) as max(canvas, coverage), coverage = clamp((r + 0.5 - d) / soft,
 * 0, 1) for d the distance to the segment: soft = 1 approximates box-filtered coverage; a softer
 * edge eats into the stroke rather than growing it, so ink never reaches beyond r + 0.5 (what
 * keeps the digits' bounding box exact). */
void raster_capsule(float *canvas, int w, int h, raster_pt a, raster_pt b, float soft);
void raster_path_draw(float *canvas, int w, int h, const raster_path *path, float soft);

#endif
