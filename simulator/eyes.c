/* Eye regions (35x55 grayscale) calibrated against real MPIIGaze-style normalised crops
 * (docs/experiments/2026-12-05-eyes-calibration.md): the eye fills the crop (corners near the
 * edges, iris radius about a quarter of the height, gaze as in the real crops); lit, textured skin
 * with a lid crease, socket and corner shadows, a brow, a dark upper lash line that runs past the
 * corners, lower-lid margin and shadows; eyelids whose opening follows the gaze pitch; an eyeball
 * whose iris (radial texture, dark limbus), pupil and corneal glint move and foreshorten with the
 * gaze, seen only through the lid opening. The image then goes through what the real crops went
 * through: a webcam's lower horizontal resolution and blur, sensor noise, scaling to 60x36,
 * histogram equalization there, and a bilinear resize to the output size. Geometry is built in
 * "native" 55x35 pixel units in an eye frame (origin at the eyeball centre, rolled with the
 * head) and mapped to the output size; every resampling keeps that frame, so the labels are
 * exact at any size. */
#include "simulator/sim.h"
#include "simulator/raster.h"
#include "base/rng.h"
#include "base/status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EYE_MAX_SIZE 512
#define EYE_BLOCK 16                  /* pixels per vectorised block */
#define LID_BLOCK 8                   /* narrower: only the blocks across the lids are done */
#define EYE_ROW (EYE_MAX_SIZE * 12 / 11 + 1 + EYE_BLOCK) /* row buffers (the internal 60/55 width), padded to whole blocks */
#define LID_TABLE 65   /* samples of the lid profile across the eye */
#define IRIS_SPOKES 48 /* angular samples of the iris texture */
#define NOISE_GX 12    /* skin value-noise lattice */
#define NOISE_GY 8
#define FINE_GX 22     /* finer lattice: wrinkles and mottling, cells of 2.5 x 1.5 px */
#define FINE_GY 24
#define PUPIL_TONE 0.005f
#define IRIS_FLOOR 0.03f

static inline float clamp01(float v) { /* as two selects (max, then min), which vectorise well */
    v = v < 0 ? 0 : v;
    return v > 1 ? 1 : v;
}
static inline float smooth(float t) { return t * t * (3 - 2 * t); }
static inline float minf(float a, float b) { return a < b ? a : b; } /* inlined, unlike fminf */

/* The per-pixel draws: rng_u32's sequence (base/rng.c, PCG-XSH-RR), PCG_LANES at a time. The
 * state after k steps is A_k s + C_k (mod 2^64), so lane l starts k = l steps ahead and every
 * lane jumps PCG_LANES steps: independent multiplies that vectorise, the same numbers in the
 * same order as one draw after another. */
#define PCG_MULT 6364136223846793005ULL
#define PCG_LANES 8

static inline uint32_t pcg_output(uint64_t old) {
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

typedef struct {
    uint64_t a[PCG_LANES + 1], c[PCG_LANES + 1]; /* k = 0..PCG_LANES steps */
    uint64_t aw, cw;                             /* one row: W steps */
} pcg_jumps;

static void pcg_jumps_init(pcg_jumps *p, uint64_t inc, int W) {
    p->a[0] = 1, p->c[0] = 0;
    for (int k = 1; k <= PCG_LANES; k++) p->a[k] = p->a[k - 1] * PCG_MULT, p->c[k] = p->c[k - 1] * PCG_MULT + inc;
    p->aw = 1, p->cw = 0;
    for (int k = 0; k < W; k++) p->aw *= PCG_MULT, p->cw = p->cw * PCG_MULT + inc;
}

/* n >= W (a multiple of PCG_LANES) draws into bits; the generator moves on by W draws. */
static void pcg_row(rng_t *r, const pcg_jumps *p, uint32_t *bits, int n) {
    uint64_t st[PCG_LANES];
    for (int l = 0; l < PCG_LANES; l++) st[l] = p->a[l] * r->state + p->c[l];
    for (int j0 = 0; j0 < n; j0 += PCG_LANES)
        for (int l = 0; l < PCG_LANES; l++) {
            bits[j0 + l] = pcg_output(st[l]);
            st[l] = st[l] * p->a[PCG_LANES] + p->c[PCG_LANES];
        }
    r->state = p->aw * r->state + p->cw;
}

/* atan2 to ~1e-4 rad (polynomial), for the iris texture only; branch-free so that it vectorises
 * (every value computed, then selected). */
static inline float atan2_fast(float y, float x) {
    float ax = fabsf(x), ay = fabsf(y), mx = ax > ay ? ax : ay, mn = ax > ay ? ay : ax;
    float a = mn / (mx > 0 ? mx : 1), s = a * a; /* (0, 0) gives 0 */
    float r = ((-0.0464964749f * s + 0.15931422f) * s - 0.327622764f) * s * a + a;
    float r1 = 1.57079637f - r;
    r = ay > ax ? r1 : r;
    float r2 = 3.14159274f - r;
    r = x < 0 ? r2 : r;
    float r3 = -r;
    return y < 0 ? r3 : r;
}

typedef struct {
    /* eye frame */
    float ex, ey, cr, sr;      /* eyeball centre (native px), cos/sin of head roll */
    float R;                   /* eyeball radius */
    float xl, xr, yl, yr;      /* lid corners (eye frame) */
    float hu, hl;              /* upper / lower lid heights above / below the corner line */
    float prof_u[LID_TABLE], prof_l[LID_TABLE]; /* lid bump profiles 0..1 */
    float icx, icy;            /* iris centre (eye frame) */
    float dx, dy, fore;        /* unit direction of the iris offset, foreshortening */
    float ri, rp;              /* iris, pupil radius */
    float spokes[IRIS_SPOKES], lashes[LID_TABLE];
    float grid[NOISE_GY + 1][NOISE_GX + 1];
    float fgrid[FINE_GY + 1][FINE_GX + 1];
    float mottle;                          /* strength of the fine lattice */
    float gx, gy, gsig, gstr;  /* glint centre (eye frame), size, strength */
    float brow_y, brow_curve, fold_gap;
    /* lid and socket appearance */
    float lash_w, wing_l, wing_r, lash_lo; /* upper lash line width, its run past each corner, lower line */
    float lid_shade, crease_w;             /* upper lid skin darkening, crease width */
    float under, under_w;                  /* shadow under the lower lid: strength, reach */
    float corner_l, corner_r, corner_rad;  /* shadows at the corners */
    float sclera_fall;                     /* sclera darkening towards the corners */
    float bone, cheek;                     /* brightening above the crease and below the lower lid */
    float lid_light, socket, socket_h;     /* mid-lid highlight; shadow above the crease at the sides, its height */
    float fold_lo, fold_lo_gap;            /* crease under the lower lid: strength, distance */
    float nose;                            /* shadow under the inner (right) corner: the tear trough */
    float blur_x, blur_y;                  /* optics: weight of each neighbour in the 3-tap blurs */
    float src;                             /* resolution the webcam saw, relative to 60x36 */
    float gamma;                           /* eyes-target: tone curve after the equalization (0 = none) */
} eye_geom;

/* Lid y at eye-frame x for the upper (up = 1) or lower lid; *t gets the position across. */
static inline float lid_y(const eye_geom *g, float x, int up, float *t) {
    float u = (x - g->xl) / (g->xr - g->xl);
    *t = u;
    float base = g->yl + (g->yr - g->yl) * u;
    if (u <= 0 || u >= 1) return base;
    float f = u * (LID_TABLE - 1);
    int k = (int)f;
    if (k >= LID_TABLE - 1) k = LID_TABLE - 2;
    f -= k;
    const float *p = up ? g->prof_u : g->prof_l;
    float b = p[k] + (p[k + 1] - p[k]) * f;
    return up ? base - g->hu * b : base + g->hl * b;
}

/* log2, 2^x and sin(pi w) as polynomials (about 1e-7 relative): lid_profile needs 390 of them
 * per image, which through libm's powf/sinf cost more than a tenth of an eye's render time.
 * Plain arithmetic and selects, so the loop vectorises and the result is deterministic. */
static inline float log2_poly(float x) { /* x > 0, normal */
    uint32_t i;
    memcpy(&i, &x, 4);
    /* x = 2^e m with m in [sqrt(1/2), sqrt(2)), so |t| < 0.172 below (integer selects only: a
     * conditional float product would not vectorise) */
    uint32_t mant = i & 0x7fffffu;
    int big = mant > 0x3504f3u; /* mantissa of sqrt(2) */
    int e = (int)((i >> 23) & 255) - 127 + big;
    uint32_t mi = mant | (big ? 0x3f000000u : 0x3f800000u);
    float m;
    memcpy(&m, &mi, 4);
    float t = (m - 1) / (m + 1), t2 = t * t;
    float ln = 2 * t * (1 + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9)))));
    return (float)e + ln * 1.44269504f;
}

static inline float exp2_poly(float x) { /* -126 <= x <= 0 (lid_profile's are > -16) */
    float n = (float)(int)(x - 0.5f), y = (x - n) * 0.693147181f; /* n = ceil(x - 1/2): |y| <= 0.347 */
    float p = 1 + y * (1 + y * (0.5f + y * (1.0f / 6 + y * (1.0f / 24 + y * (1.0f / 120 + y * (1.0f / 720 + y * (1.0f / 5040)))))));
    uint32_t bi = (uint32_t)((int)n + 127) << 23;
    float b;
    memcpy(&b, &bi, 4);
    return p * b;
}

static inline float sin_pi(float w) { /* w in [0, 1] */
    float w1 = 1 - w, x = (float)M_PI * (w < 0.5f ? w : w1), x2 = x * x;
    return x * (1 + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880 + x2 * (-1.0f / 39916800))))));
}

/* A lid profile: a bump across the eye, sin(pi u^s)^pw, peaked at `peak` (0..1), sharpness `pw`. */
static void lid_profile(float *out, float peak, float pw) {
    float s = logf(0.5f) / logf(peak); /* u^s = 0.5 at the peak */
    /* u = k / 64 for k = 1..64 in one block of 64 (vectorises whole); 0 < u^s <= 1, and the sine
     * is > 0 except at u = 1, whose (tiny, not 0) value is replaced */
    float v[LID_TABLE - 1];
    for (int k = 0; k < LID_TABLE - 1; k++)
        v[k] = exp2_poly(pw * log2_poly(sin_pi(exp2_poly(s * log2_poly((float)(k + 1) / (LID_TABLE - 1))))));
    out[0] = out[LID_TABLE - 1] = 0;
    memcpy(out + 1, v, (LID_TABLE - 2) * sizeof *v);
}

static void to_image(const eye_geom *g, float x, float y, float sx, float sy, float *out) {
    out[0] = (g->ex + g->cr * x - g->sr * y) * sx;
    out[1] = (g->ey + g->sr * x + g->cr * y) * sy;
}

/* ---------------------------------------------------------------- parameters and geometry */
/* The "eyes-target" scene's appearance (sim_eye_target_render): drawn after every value of the
 * eyes scene, so the geometry and labels are those of the eyes scene for the same (seed, index);
 * these replace its iris, lash, crease and blur values and add a tone curve. */
static void eye_target_appearance(eye_geom *g, sim_eye_sample *s, rng_t *r) {
    s->iris_tone = (float)rng_range(r, 0.25, 0.4);  /* lighter irises (eyes: 0.06-0.2) */
    s->limbus = (float)rng_range(r, 0.6, 0.9);      /* with a darker ring (0.2-0.7) */
    s->iris_texture = (float)rng_range(r, 0.5, 0.9); /* and stronger spokes (0.1-0.5) */
    s->lash = (float)rng_range(r, 0.85, 1.0);       /* a heavier lash line (0.4-0.85) */
    g->lash_w = s->lash_width = (float)rng_range(r, 2.8, 4.0); /* (1.0-2.8) */
    s->lid_fold = (float)rng_range(r, 0.5, 0.8);    /* a deeper crease (0.15-0.5) */
    g->blur_x = s->blur_x = (float)rng_range(r, 0.2, 0.3); /* a softer camera (0-0.15, 0.05-0.2) */
    g->blur_y = s->blur_y = (float)rng_range(r, 0.2, 0.3);
    g->gamma = (float)rng_range(r, 1.5, 2.2);       /* darker mid-tones after the equalization */
}

static void eye_draw_params(eye_geom *g, sim_eye_sample *s, rng_t *r) {
    /* gaze as in the real crops, whose irises sit within a few pixels of the centre: looking
     * slightly down on average */
    float pitch = fminf(fmaxf(-0.05f + 0.12f * (float)rng_normal(r), -0.45f), 0.45f);
    float yaw = fminf(fmaxf(0.15f * (float)rng_normal(r), -0.6f), 0.6f);
    s->gaze[0] = pitch;
    s->gaze[1] = yaw;
    /* the eye fills the crop as in MPIIGaze's normalised images: corners near the left and
     * right edges, iris radius about a quarter of the height */
    g->R = (float)rng_range(r, 16.0, 18.0);
    g->ex = 27.5f + 0.6f * (float)rng_normal(r);
    g->ey = 16.5f + 0.6f * (float)rng_normal(r);
    s->head_roll = 0.05f * (float)rng_normal(r);
    g->cr = cosf(s->head_roll);
    g->sr = sinf(s->head_roll);
    float R = g->R;
    g->xl = -R * (float)rng_range(r, 1.25, 1.4);
    g->xr = R * (float)rng_range(r, 1.05, 1.2);
    g->yl = R * (float)rng_range(r, -0.05, 0.2);
    g->yr = R * (float)rng_range(r, -0.1, 0.15);
    /* the upper lid rides on the iris: up with the gaze, down when looking down; the lower lid
     * moves a little the other way */
    s->openness = (float)rng_range(r, 0.85, 1.1);
    float sp = sinf(pitch);
    g->hu = R * s->openness * (0.6f + 0.8f * sp);
    g->hu = fminf(fmaxf(g->hu, 0.05f * R), 1.15f * R);
    g->hl = R * (0.32f - 0.3f * sp) * sqrtf(s->openness);
    g->hl = fminf(fmaxf(g->hl, 0.1f * R), 0.7f * R);
    /* the lids' highest / lowest point shifts a little towards where the eye looks */
    s->lid_peak[0] = fminf(fmaxf(0.5f + 0.22f * sinf(yaw) + 0.05f * (float)rng_normal(r), 0.3f), 0.7f);
    s->lid_peak[1] = fminf(fmaxf(0.5f + 0.12f * sinf(yaw) + 0.05f * (float)rng_normal(r), 0.3f), 0.7f);
    s->lid_power[0] = (float)rng_range(r, 0.7, 1.3);
    s->lid_power[1] = (float)rng_range(r, 0.8, 1.5);
    lid_profile(g->prof_u, s->lid_peak[0], s->lid_power[0]);
    lid_profile(g->prof_l, s->lid_peak[1], s->lid_power[1]);
    /* iris on the eyeball: the limbus circle sits sqrt(R^2 - ri^2) from the centre along the gaze */
    g->ri = R * (float)rng_range(r, 0.45, 0.55);
    g->rp = g->ri * (float)rng_range(r, 0.3, 0.55);
    float depth = sqrtf(R * R - g->ri * g->ri);
    float vx = sinf(yaw) * cosf(pitch), vy = -sinf(pitch), vn = hypotf(vx, vy);
    g->icx = depth * vx;
    g->icy = depth * vy;
    g->dx = vn > 1e-6f ? vx / vn : 1;
    g->dy = vn > 1e-6f ? vy / vn : 0;
    g->fore = cosf(pitch) * cosf(yaw);
    for (int k = 0; k < IRIS_SPOKES; k++) g->spokes[k] = rng_uniform(r);
    for (int k = 0; k < LID_TABLE; k++) g->lashes[k] = rng_uniform(r);
    for (int i = 0; i <= NOISE_GY; i++)
        for (int j = 0; j <= NOISE_GX; j++) g->grid[i][j] = rng_uniform(r) - 0.5f;
    for (int i = 0; i <= FINE_GY; i++)
        for (int j = 0; j <= FINE_GX; j++) g->fgrid[i][j] = rng_uniform(r) - 0.5f;
    /* appearance */
    s->skin_tone = (float)rng_range(r, 0.5, 0.9);
    s->skin_texture = (float)rng_range(r, 0.005, 0.03);
    s->sclera_tone = (float)rng_range(r, 0.75, 1.15);
    s->iris_tone = (float)rng_range(r, 0.06, 0.2);
    s->iris_texture = (float)rng_range(r, 0.1, 0.5);
    s->limbus = (float)rng_range(r, 0.2, 0.7);
    s->light_dir = (float)rng_range(r, -M_PI, M_PI);
    s->light_strength = (float)rng_range(r, 0.0, 0.35);
    float gr = g->ri * (float)rng_range(r, 0.15, 0.6);
    s->glint_x = gr * cosf(s->light_dir + (float)M_PI);
    s->glint_y = gr * sinf(s->light_dir + (float)M_PI);
    s->glint_strength = (float)rng_range(r, 0.4, 1.0);
    g->gsig = s->glint_size = (float)rng_range(r, 0.5, 0.9);
    s->lash = (float)rng_range(r, 0.4, 0.85);
    s->brow = (float)rng_range(r, 0.0, 0.4);
    g->brow_y = -R * (float)rng_range(r, 1.2, 1.7);
    g->brow_curve = R * (float)rng_range(r, 0.05, 0.25);
    s->brow_height = -g->brow_y;
    s->brow_curve = g->brow_curve;
    s->lid_fold = (float)rng_range(r, 0.15, 0.5);
    g->fold_gap = s->fold_gap = (float)rng_range(r, 4.0, 8.0);
    s->brightness = (float)rng_range(r, 0.0, 0.1);
    s->contrast = (float)rng_range(r, 0.7, 1.2);
    s->noise = (float)rng_range(r, 0.005, 0.04);
    g->gx = g->icx + s->glint_x;
    g->gy = g->icy + s->glint_y;
    g->gstr = s->glint_strength;
    g->lash_w = s->lash_width = (float)rng_range(r, 1.0, 2.8);
    g->wing_l = s->lash_wing[0] = (float)rng_range(r, 0.0, 2.0);
    g->wing_r = s->lash_wing[1] = (float)rng_range(r, 0.0, 3.0);
    g->lash_lo = s->lash_lower = (float)rng_range(r, 0.05, 0.25);
    g->lid_shade = s->lid_shade = (float)rng_range(r, 0.0, 0.3);
    g->crease_w = s->fold_width = (float)rng_range(r, 0.8, 1.5);
    g->under = s->under_shadow = (float)rng_range(r, 0.1, 0.4);
    g->under_w = s->under_width = (float)rng_range(r, 3.0, 7.0);
    g->corner_l = s->corner_shadow[0] = (float)rng_range(r, 0.1, 0.5);
    g->corner_r = s->corner_shadow[1] = (float)rng_range(r, 0.3, 0.7);
    g->corner_rad = s->corner_radius = (float)rng_range(r, 2.0, 3.5);
    g->sclera_fall = s->sclera_falloff = (float)rng_range(r, 0.2, 0.5);
    g->bone = s->brow_bone = (float)rng_range(r, 0.2, 0.7);
    g->cheek = s->cheek = (float)rng_range(r, 0.2, 0.5);
    g->blur_x = s->blur_x = (float)rng_range(r, 0.0, 0.15);
    g->blur_y = s->blur_y = (float)rng_range(r, 0.05, 0.2);
    g->src = s->resolution = (float)rng_range(r, 0.55, 0.9);
    g->mottle = s->mottle = (float)rng_range(r, 0.02, 0.12);
    g->lid_light = s->lid_light = (float)rng_range(r, 0.1, 0.5);
    g->fold_lo = s->fold_lower = (float)rng_range(r, 0.0, 0.2);
    g->fold_lo_gap = s->fold_lower_gap = (float)rng_range(r, 3.0, 6.0);
    g->nose = s->tear_trough = (float)rng_range(r, 0.0, 0.5);
    g->socket = s->socket = (float)rng_range(r, 0.2, 0.6);
    g->socket_h = s->socket_height = (float)rng_range(r, 3.0, 8.0);
}

/* Fraction of the pupil outline strictly inside the lid opening. */
static float pupil_visible(const eye_geom *g) {
    int in = 0;
    for (int k = 0; k < 16; k++) {
        float a = k * (float)M_PI / 8, ca = cosf(a) * g->rp * g->fore, sa = sinf(a) * g->rp;
        float x = g->icx + ca * g->dx - sa * g->dy, y = g->icy + ca * g->dy + sa * g->dx, t;
        float yu = lid_y(g, x, 1, &t), yl = lid_y(g, x, 0, &t);
        in += t > 0 && t < 1 && y > yu + 0.5f && y < yl - 0.5f;
    }
    return in / 16.0f;
}

/* ---------------------------------------------------------------- shading */
/* What the eyeball shows at eye-frame (x, y): sclera, iris, pupil, glint; branch-free for the
 * vectorised pass (the iris and glint terms are exactly 0 away from them, so they are simply
 * computed everywhere; exp as 2^x by exp2_poly, sqrt by sqrt_nonneg). */
static inline float eyeball(const eye_geom *g, const sim_eye_sample *s, float x, float y, float yu, float glint) {
    float v = s->sclera_tone * (1 - g->sclera_fall * minf((x * x) / (g->R * g->R), 1)) * (1 - 0.4f * clamp01(x / g->R));
    float vx = x - g->icx, vy = y - g->icy;
    float along = (vx * g->dx + vy * g->dy) / g->fore, perp = vy * g->dx - vx * g->dy;
    float rho = sqrt_nonneg(along * along + perp * perp); /* radius in the iris plane (native px) */
    float a = atan2_fast(perp, along) * (IRIS_SPOKES / (2 * (float)M_PI)), a1 = a + IRIS_SPOKES;
    a = a < 0 ? a1 : a; /* 0 <= a <= IRIS_SPOKES */
    int k = (int)a, k0 = k >= IRIS_SPOKES ? k - IRIS_SPOKES : k, k1 = k + 1 >= IRIS_SPOKES ? k + 1 - IRIS_SPOKES : k + 1;
    float f = a - k, sp = g->spokes[k0] * (1 - f) + g->spokes[k1] * f;
    float q = rho / g->ri;
    /* texture and limbus modulate the iris above a floor that keeps the pupil the darkest */
    float iris = IRIS_FLOOR + (s->iris_tone - IRIS_FLOOR) * (1 + s->iris_texture * (sp - 0.5f) * 2 * q) *
                                  (1 - s->limbus * smooth(clamp01((q - 0.7f) / 0.3f)));
    iris = iris + (PUPIL_TONE - iris) * clamp01(g->rp + 0.5f - rho);
    v = v + (iris - v) * clamp01(g->ri + 0.5f - rho);
    /* the glint inside 3 sigma: a factor of 0 or 1 rather than a select, which the compiler
     * would turn back into a branch around the exponential; d2c keeps 2^x in range */
    float gx = x - g->gx, gy = y - g->gy, d2 = gx * gx + gy * gy, r2 = 9 * g->gsig * g->gsig;
    float inside = d2 < r2 ? 1.0f : 0.0f, d2c = d2 < r2 ? d2 : r2;
    v += glint * g->gstr * exp2_poly(-d2c / (2 * g->gsig * g->gsig) * 1.44269504f) * (1 - v) * inside;
    /* the upper lid shades the eyeball just under it */
    return v * (1 - 0.35f * clamp01(1 - (y - yu) / 3.0f));
}

/* Histogram equalization, as the real crops had (MPIIGaze normalises each eye image with it):
 * every pixel's value becomes its rank among the image's pixels, scaled to 0..255, so the
 * histogram is flat whatever the lighting. Ranks come from a fine histogram (EQ_BINS between the
 * image's min and max) interpolated inside each bin: a pixel a fraction f into bin b gets rank
 * cdf(b) + f * count(b), which spreads tied regions evenly rather than piling them on one value. */
#define EQ_BINS 1024
static void equalize(float *v, int n) {
    float lo = v[0], hi = v[0];
    for (int k = 1; k < n; k++) lo = v[k] < lo ? v[k] : lo, hi = v[k] > hi ? v[k] : hi;
    float scale = hi > lo ? (EQ_BINS - 0.001f) / (hi - lo) : 0;
    int count[EQ_BINS];
    float cdf[EQ_BINS];
    memset(count, 0, sizeof count);
    for (int k = 0; k < n; k++) count[(int)((v[k] - lo) * scale)]++;
    int run = 0;
    for (int b = 0; b < EQ_BINS; b++) cdf[b] = (float)run, run += count[b];
    float to8 = 256.0f / n;
    for (int k = 0; k < n; k++) {
        float f = (v[k] - lo) * scale;
        int b = (int)f;
        v[k] = (cdf[b] + (f - b) * count[b]) * to8;
    }
}

/* The camera's blur, wider along rows than down columns as in the real crops (whose fine
 * texture is correlated over about two pixels across and hardly at all down): [bx, 1 - 2bx, bx]
 * twice along rows, then [by, 1 - 2by, by] down columns, in place (edges repeat). */
static void blur_rows(float *v, int H, int W, float b) {
    float c = 1 - 2 * b;
    for (int i = 0; i < H; i++) {
        float *r = v + (size_t)i * W, left = r[0];
        for (int j = 0; j < W; j++) {
            float right = r[j + 1 < W ? j + 1 : j], m = r[j];
            r[j] = c * m + b * (left + right);
            left = m;
        }
    }
}

static void blur_cols(float *v, int H, int W, float b) {
    float c = 1 - 2 * b, prev[EYE_ROW], cur[EYE_ROW];
    memcpy(prev, v, W * sizeof *v);
    for (int i = 0; i < H; i++) {
        float *r = v + (size_t)i * W;
        const float *next = i + 1 < H ? r + W : r;
        for (int j = 0; j < W; j++) cur[j] = c * r[j] + b * (prev[j] + next[j]);
        memcpy(prev, r, W * sizeof *r);
        memcpy(r, cur, W * sizeof *r);
    }
}

/* Bilinear resize, pixel centres aligned (OpenCV's INTER_LINEAR without antialiasing, which
 * the real crops went through from 60x36), into floats or, for the last step, bytes from a
 * (0..256) image. */
static void resize_any(const float *src, int Hs, int Ws, float *dstf, uint8_t *dst8, int H, int W) {
    int x0[EYE_ROW];
    float fx[EYE_ROW];
    for (int j = 0; j < W; j++) {
        float u = (j + 0.5f) * Ws / W - 0.5f;
        u = u < 0 ? 0 : u;
        int a = (int)u;
        a = a > Ws - 2 ? Ws - 2 : a;
        x0[j] = a, fx[j] = u - a > 1 ? 1 : u - a;
    }
    for (int i = 0; i < H; i++) {
        float v = (i + 0.5f) * Hs / H - 0.5f;
        v = v < 0 ? 0 : v;
        int b = (int)v;
        b = b > Hs - 2 ? Hs - 2 : b;
        float fy = v - b > 1 ? 1 : v - b;
        const float *r0 = src + (size_t)b * Ws, *r1 = r0 + Ws;
        for (int j = 0; j < W; j++) {
            float t = r0[x0[j]] + (r0[x0[j] + 1] - r0[x0[j]]) * fx[j];
            float d = r1[x0[j]] + (r1[x0[j] + 1] - r1[x0[j]]) * fx[j];
            float o = t + (d - t) * fy;
            if (dstf) dstf[(size_t)i * W + j] = o;
            else dst8[(size_t)i * W + j] = (uint8_t)(o < 255 ? o : 255);
        }
    }
}
static void resize_float(const float *src, int Hs, int Ws, float *dst, int H, int W) { resize_any(src, Hs, Ws, dst, NULL, H, W); }
static void resize_bilinear(const float *src, int Hs, int Ws, uint8_t *dst, int H, int W) { resize_any(src, Hs, Ws, NULL, dst, H, W); }

/* target != 0: the eyes-target scene (its tone curve's gamma into *gamma). */
static int eye_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out, int flags,
                      int target, float *gamma) {
    if (H < 16 || W < 16 || H > EYE_MAX_SIZE || W > EYE_MAX_SIZE)
        return rp_err(RP_EARG, "eyes: size %dx%d not supported (16..%d per side)", H, W, EYE_MAX_SIZE);
    rng_t rng;
    rng_seed(&rng, seed, index);
    eye_geom g;
    sim_eye_sample s;
    memset(&s, 0, sizeof s);
    eye_draw_params(&g, &s, &rng);
    g.gamma = 0;
    if (target) eye_target_appearance(&g, &s, &rng);
    /* drawn at the real crops' capture size (60x36 for 55x35), equalized there, then resized
     * bilinearly to HxW as they were: the same native frame, so the labels are unchanged */
    int Hi = (H * 36 + 17) / 35, Wi = (W * 12 + 5) / 11;
    /* and before that, the webcam saw the eye at a lower resolution (the normalisation scaled
     * it up): the scene and its sensor noise are drawn at Hr x Wr, then scaled up to Hi x Wi */
    int Hr = Hi, Wr = (int)(Wi * g.src + 0.5f);
    Hr = Hr < 8 ? 8 : Hr, Wr = Wr < 8 ? 8 : Wr;
    float sx = Wr / (float)SIM_EYE_W, sy = Hr / (float)SIM_EYE_H; /* drawn px per native px */
    int Wp = (Wr + EYE_BLOCK - 1) / EYE_BLOCK * EYE_BLOCK;
    float glint = flags & SIM_EYE_NO_GLINT ? 0 : 1;
    float noise_amp = flags & SIM_EYE_NO_NOISE ? 0 : 2 * s.noise;
    float lcs = cosf(s.light_dir) / (2 * g.R), lsn = sinf(s.light_dir) / (2 * g.R);
    /* the noise lattice interpolated along x once per lattice row: rows then only blend two */
    float nx[NOISE_GY + 1][EYE_ROW], fx2[FINE_GY + 1][EYE_ROW], colX[EYE_ROW];
    for (int j = 0; j < Wp; j++) {
        colX[j] = (j + 0.5f) / sx;
        float gxf = colX[j] * (NOISE_GX / (float)SIM_EYE_W);
        int gj = (int)gxf;
        gj = gj < 0 ? 0 : gj >= NOISE_GX ? NOISE_GX - 1 : gj;
        float fx = smooth(clamp01(gxf - gj));
        for (int gi = 0; gi <= NOISE_GY; gi++) nx[gi][j] = g.grid[gi][gj] + (g.grid[gi][gj + 1] - g.grid[gi][gj]) * fx;
        float hxf = colX[j] * (FINE_GX / (float)SIM_EYE_W);
        int hj = (int)hxf;
        hj = hj < 0 ? 0 : hj >= FINE_GX ? FINE_GX - 1 : hj;
        float hx = clamp01(hxf - hj);
        for (int gi = 0; gi <= FINE_GY; gi++) fx2[gi][j] = g.fgrid[gi][hj] + (g.fgrid[gi][hj + 1] - g.fgrid[gi][hj]) * hx;
    }
    float inv_w = 1 / (g.xr - g.xl), inv_h = 1 / (g.hu + g.hl), inv_R2 = 1 / (g.R * g.R);
    float tex3 = 3 * s.skin_texture, inv_cw = 1 / g.crease_w, inv_uw = 1 / g.under_w;
    float inv_wl = 1 / (g.wing_l + 0.01f), inv_wr = 1 / (g.wing_r + 0.01f), inv_cr2 = 1 / (g.corner_rad * g.corner_rad);
    float *shade = malloc(((size_t)Hr * Wr + (size_t)Hi * Wi) * sizeof *shade), *up = shade + (size_t)Hr * Wr;
    if (!shade) return rp_err(RP_ENOMEM, "eyes: no memory for a %dx%d image", H, W);
    /* per row: random bits (serial), skin with lids, crease, lashes and shadows (vectorised
     * blocks), the eyeball where the lids open, sensor noise (vectorised blocks) */
    uint32_t bits[EYE_ROW];
    pcg_jumps jumps;
    pcg_jumps_init(&jumps, rng.inc, Wr);
    float xs[EYE_ROW], ys[EYE_ROW], ts[EYE_ROW], val[EYE_ROW], as[EYE_ROW], yus[EYE_ROW];
    for (int i = 0; i < Hr; i++) {
        float Y = (i + 0.5f) / sy, gyf = Y * (NOISE_GY / (float)SIM_EYE_H);
        int gi = (int)gyf;
        gi = gi < 0 ? 0 : gi >= NOISE_GY ? NOISE_GY - 1 : gi;
        float fy = smooth(clamp01(gyf - gi));
        const float *n0 = nx[gi], *n1 = nx[gi + 1];
        float hyf = Y * (FINE_GY / (float)SIM_EYE_H);
        int hi = (int)hyf;
        hi = hi < 0 ? 0 : hi >= FINE_GY ? FINE_GY - 1 : hi;
        float hy = clamp01(hyf - hi);
        const float *m0 = fx2[hi], *m1 = fx2[hi + 1];
        float ry = Y - g.ey;
        /* one draw per pixel: 10 bits of pore texture and two 11-bit uniforms of sensor noise */
        pcg_row(&rng, &jumps, bits, Wp); /* Wr draws used; the padding's are thrown away */
        for (int j0 = 0; j0 < Wp; j0 += EYE_BLOCK)
            for (int j = j0; j < j0 + EYE_BLOCK; j++) {
                /* every value computed, then selected: conditional arithmetic would not vectorise */
                float noise = n0[j] + (n1[j] - n0[j]) * fy;
                float rx = colX[j] - g.ex;
                float x = g.cr * rx + g.sr * ry, y = -g.sr * rx + g.cr * ry;
                /* skin: tone, light, low-frequency texture, pores */
                /* pores: sparse dark specks (a heavy-tailed draw), as real skin texture is */
                float u = (bits[j] & 1023) * (1.0f / 1024), u2 = u * u, fine = -(u2 * u2 * u2 * 4 - 0.57f);
                float mo = m0[j] + (m1[j] - m0[j]) * hy;
                mo = mo * fabsf(mo) * 4; /* heavy-tailed too: a few strong wrinkles and spots */
                float skin = s.skin_tone * (1 + s.light_strength * (x * lcs + y * lsn)) *
                             (1 + tex3 * noise + s.skin_texture * fine + g.mottle * mo);
                float yb = g.brow_y + g.brow_curve * minf(x * x * inv_R2, 1.5f);
                skin *= 1 - s.brow * clamp01((yb - y) * (1.0f / 3)) * (1 + 0.8f * noise);
                val[j] = skin;
                xs[j] = x, ys[j] = y;
                ts[j] = (x - g.xl) * inv_w;
            }
        /* lids, creases, lashes and shadows: a second pass in narrower blocks, whose lid table
         * look-ups vectorise (in one pass with the skin they did not) */
        for (int j0 = 0; j0 < Wp; j0 += LID_BLOCK)
            for (int j = j0; j < j0 + LID_BLOCK; j++) {
                float x = xs[j], y = ys[j], skin = val[j];
                /* both lids at this x from one table position (flat past the corners) */
                float t = ts[j], f = t * (LID_TABLE - 1);
                int k = (int)f;
                k = k < 0 ? 0 : k > LID_TABLE - 2 ? LID_TABLE - 2 : k;
                f = clamp01(f - k); /* past the corners: the table's end, 0 */
                float base = g.yl + (g.yr - g.yl) * t;
                float yu = base - g.hu * (g.prof_u[k] + (g.prof_u[k + 1] - g.prof_u[k]) * f);
                float yl = base + g.hl * (g.prof_l[k] + (g.prof_l[k + 1] - g.prof_l[k]) * f);
                float bump = (yl - yu) * inv_h; /* 0 at the corners */
                float du = yu - y, dl = y - yl;
                /* how far past each corner (0 between them) */
                float past_l = (g.xl - x) * clamp01(-t * 1e6f), past_r = (x - g.xr) * clamp01((t - 1) * 1e6f);
                /* the upper lid: a highlight mid-lid and shade towards the corners up to the
                 * crease; the crease a line above it, faint mid-lid and darker at the sides where
                 * it runs into the socket's shadow; the brow bone above it and the cheek below
                 * catch the light */
                float run = clamp01(1 - past_l * inv_wl) * clamp01(1 - past_r * inv_wr);
                float fade = clamp01(1 - (past_l + past_r) * (1.0f / 16));
                float side = 1 - bump, above = clamp01(du * 1e6f);
                float cpos = g.fold_gap * (0.6f + 0.4f * bump), q = clamp01(du / cpos);
                float lid = clamp01(cpos - du) * above;
                skin *= 1 + g.lid_light * bump * 4 * q * (1 - q) - g.lid_shade * side * lid;
                skin *= 1 - s.lid_fold * clamp01(1 - fabsf(du - cpos) * inv_cw) * fade;
                /* a crease under the lower lid */
                skin *= 1 - g.fold_lo * clamp01(1 - fabsf(dl - g.fold_lo_gap) * inv_cw) * bump;
                skin *= 1 - g.socket * side * clamp01(du - cpos) * clamp01((cpos + g.socket_h - du) * 0.25f) * (x < 0 ? 0.6f : 1.0f);
                skin *= 1 + g.bone * clamp01(1 - x * x * inv_R2 * 0.4f) * clamp01((du - cpos) * 0.25f) + g.cheek * clamp01((dl - 2) * 0.1f);
                /* the side towards the nose (image right): a shadow running down from the inner
                 * corner under the lower lid (the tear trough) */
                skin *= 1 - g.nose * smooth(clamp01((x - g.xr + 12) * 0.1f)) * clamp01((y - g.yr + 2) * 0.25f) *
                                clamp01(1 - (y - g.yr) * 0.08f);
                /* the upper lash line: dark, thickest towards the corners, running on past them
                 * as a tapering wing; strands give it a ragged top */
                float lw = g.lash_w * (0.5f + 0.8f * side) * (0.7f + 0.6f * g.lashes[k]) * run;
                skin *= 1 - s.lash * run * clamp01(du + 0.5f) * clamp01(lw - du + 0.5f);
                /* the lower lid margin and the shadow under it */
                skin *= 1 - g.lash_lo * run * clamp01(dl + 0.5f) * clamp01(1.5f - dl);
                skin *= 1 - g.under * clamp01(1 - dl * inv_uw) * clamp01(dl * 1e6f) * (0.1f + 0.9f * side);
                /* shadows in the corners */
                float cl = (x - g.xl) * (x - g.xl) + (y - g.yl) * (y - g.yl);
                float cr2 = (x - g.xr) * (x - g.xr) + (y - g.yr) * (y - g.yr);
                skin *= (1 - g.corner_l * smooth(clamp01(1 - cl * inv_cr2))) * (1 - g.corner_r * smooth(clamp01(1 - cr2 * inv_cr2)));
                /* the lid opening, soft over a pixel */
                float a = clamp01(y - yu + 0.5f) * clamp01(yl - y + 0.5f);
                int in = (t > 0) & (t < 1);
                val[j] = skin;
                as[j] = in ? a : 0;
                yus[j] = yu;
            }
        /* the eyeball through the opening: blocks from its first to its last pixel in the row */
        int oa = 0, ob = Wr;
        while (oa < ob && !(as[oa] > 0)) oa++;
        while (ob > oa && !(as[ob - 1] > 0)) ob--;
        for (int j0 = oa / LID_BLOCK * LID_BLOCK; j0 < ob; j0 += LID_BLOCK)
            for (int j = j0; j < j0 + LID_BLOCK; j++) {
                float e = val[j] + (eyeball(&g, &s, xs[j], ys[j], yus[j], glint) - val[j]) * as[j];
                val[j] = as[j] > 0 ? e : val[j];
            }
        for (int j0 = 0; j0 < Wp; j0 += EYE_BLOCK)
            for (int j = j0; j < j0 + EYE_BLOCK; j++) {
                float v = s.brightness + s.contrast * val[j];
                v += noise_amp * (((bits[j] >> 10) & 2047) * (1.0f / 2048) + (bits[j] >> 21) * (1.0f / 2048) - 1);
                val[j] = v;
            }
        memcpy(shade + (size_t)i * Wr, val, Wr * sizeof *val);
    }
    blur_rows(shade, Hr, Wr, g.blur_x);
    blur_rows(shade, Hr, Wr, g.blur_x);
    blur_cols(shade, Hr, Wr, g.blur_y);
    resize_float(shade, Hr, Wr, up, Hi, Wi);
    equalize(up, Hi * Wi);
    if (g.gamma > 0)
        for (int k = 0; k < Hi * Wi; k++) up[k] = 256.0f * powf(up[k] * (1.0f / 256), g.gamma);
    resize_bilinear(up, Hi, Wi, img, H, W);
    free(shade);
    /* labels in output pixels */
    sx = W / (float)SIM_EYE_W, sy = H / (float)SIM_EYE_H;
    to_image(&g, g.icx, g.icy, sx, sy, s.pupil_center);
    to_image(&g, 0, 0, sx, sy, s.eye_center);
    float sc = sqrtf(sx * sy);
    s.iris_radius = g.ri * sc;
    s.pupil_radius = g.rp * sc;
    s.eyeball_radius = g.R * sc;
    s.pupil_visible = pupil_visible(&g);
    for (int k = 0; k < SIM_EYELID_K; k++) {
        float t, x = g.xl + (g.xr - g.xl) * k / (SIM_EYELID_K - 1);
        to_image(&g, x, lid_y(&g, x, 1, &t), sx, sy, s.eyelid_upper + 2 * k);
        to_image(&g, x, lid_y(&g, x, 0, &t), sx, sy, s.eyelid_lower + 2 * k);
    }
    if (out) *out = s;
    if (gamma) *gamma = g.gamma;
    return 0;
}

int sim_eye_render_opts(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out, int flags) {
    return eye_render(img, H, W, seed, index, out, flags, 0, NULL);
}

int sim_eye_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out) {
    return eye_render(img, H, W, seed, index, out, 0, 0, NULL);
}

int sim_eye_target_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_target_sample *out) {
    return eye_render(img, H, W, seed, index, out ? &out->eye : NULL, 0, 1, out ? &out->gamma : NULL);
}
