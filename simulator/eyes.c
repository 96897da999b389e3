/* UnityEyes-like 2D eye regions (35x55 grayscale): textured, lit skin with a lid crease, brow and
 * lashes; eyelids whose opening follows the gaze pitch; an eyeball whose iris (radial texture,
 * dark limbus), pupil and corneal glint move and foreshorten with the gaze. Everything inside the
 * eyeball is seen only through the lid opening. Geometry is built in "native" 55x35 pixel units in
 * an eye frame (origin at the eyeball centre, rolled with the head) and mapped to the output size. */
#include "simulator/sim.h"
#include "simulator/raster.h"
#include "base/rng.h"
#include "base/status.h"
#include <math.h>
#include <string.h>

#define EYE_MAX_SIZE 512
#define EYE_BLOCK 16                  /* pixels per vectorised block */
#define LID_BLOCK 8                   /* narrower: only the blocks across the lids are done */
#define EYE_ROW (EYE_MAX_SIZE + EYE_BLOCK) /* row buffers, padded to whole blocks */
#define LID_TABLE 65   /* samples of the lid profile across the eye */
#define IRIS_SPOKES 48 /* angular samples of the iris texture */
#define NOISE_GX 12    /* skin value-noise lattice */
#define NOISE_GY 8
#define PUPIL_TONE 0.02f
#define IRIS_FLOOR 0.12f

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
    float gx, gy, gsig, gstr;  /* glint centre (eye frame), size, strength */
    float brow_y, brow_curve, fold_gap;
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
static void eye_draw_params(eye_geom *g, sim_eye_sample *s, rng_t *r) {
    float pitch = (float)rng_range(r, -0.45, 0.45), yaw = (float)rng_range(r, -0.6, 0.6);
    s->gaze[0] = pitch;
    s->gaze[1] = yaw;
    g->R = (float)rng_range(r, 12.0, 14.5);
    g->ex = 27.5f + 1.5f * (float)rng_normal(r);
    g->ey = 17.5f + 1.2f * (float)rng_normal(r);
    s->head_roll = 0.08f * (float)rng_normal(r);
    g->cr = cosf(s->head_roll);
    g->sr = sinf(s->head_roll);
    float R = g->R;
    g->xl = -R * (float)rng_range(r, 1.1, 1.35);
    g->xr = R * (float)rng_range(r, 1.1, 1.35);
    g->yl = R * (float)rng_range(r, -0.05, 0.25);
    g->yr = R * (float)rng_range(r, -0.1, 0.2);
    /* the upper lid rides on the iris: up with the gaze, down when looking down; the lower lid
     * moves a little the other way */
    s->openness = (float)rng_range(r, 0.6, 1.15);
    float sp = sinf(pitch);
    g->hu = R * s->openness * (0.6f + 0.8f * sp);
    g->hu = fminf(fmaxf(g->hu, 0.05f * R), 1.15f * R);
    g->hl = R * (0.4f - 0.3f * sp) * sqrtf(s->openness);
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
    /* appearance */
    s->skin_tone = (float)rng_range(r, 0.35, 0.8);
    s->skin_texture = (float)rng_range(r, 0.02, 0.1);
    s->sclera_tone = (float)rng_range(r, 0.55, 0.95);
    s->iris_tone = (float)rng_range(r, 0.15, 0.5);
    s->iris_texture = (float)rng_range(r, 0.1, 0.5);
    s->limbus = (float)rng_range(r, 0.2, 0.7);
    s->light_dir = (float)rng_range(r, -M_PI, M_PI);
    s->light_strength = (float)rng_range(r, 0.0, 0.35);
    float gr = g->ri * (float)rng_range(r, 0.15, 0.6);
    s->glint_x = gr * cosf(s->light_dir + (float)M_PI);
    s->glint_y = gr * sinf(s->light_dir + (float)M_PI);
    s->glint_strength = (float)rng_range(r, 0.4, 1.0);
    g->gsig = s->glint_size = (float)rng_range(r, 0.5, 0.9);
    s->lash = (float)rng_range(r, 0.1, 0.45);
    s->brow = (float)rng_range(r, 0.0, 0.5);
    g->brow_y = -R * (float)rng_range(r, 1.0, 1.5);
    g->brow_curve = R * (float)rng_range(r, 0.05, 0.25);
    s->brow_height = -g->brow_y;
    s->brow_curve = g->brow_curve;
    s->lid_fold = (float)rng_range(r, 0.0, 0.35);
    g->fold_gap = s->fold_gap = (float)rng_range(r, 2.5, 5.0);
    s->brightness = (float)rng_range(r, 0.0, 0.1);
    s->contrast = (float)rng_range(r, 0.7, 1.2);
    s->noise = (float)rng_range(r, 0.0, 0.02);
    g->gx = g->icx + s->glint_x;
    g->gy = g->icy + s->glint_y;
    g->gstr = s->glint_strength;
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
    float v = s->sclera_tone * (1 - 0.35f * (x * x) / (g->R * g->R));
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
    return v * (1 - 0.25f * clamp01(1 - (y - yu) / 2.5f));
}

int sim_eye_render_opts(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out, int flags) {
    if (H < 16 || W < 16 || H > EYE_MAX_SIZE || W > EYE_MAX_SIZE)
        return rp_err(RP_EARG, "eyes: size %dx%d not supported (16..%d per side)", H, W, EYE_MAX_SIZE);
    rng_t rng;
    rng_seed(&rng, seed, index);
    eye_geom g;
    sim_eye_sample s;
    memset(&s, 0, sizeof s);
    eye_draw_params(&g, &s, &rng);
    float sx = W / (float)SIM_EYE_W, sy = H / (float)SIM_EYE_H; /* output px per native px */
    int Wp = (W + EYE_BLOCK - 1) / EYE_BLOCK * EYE_BLOCK;
    float glint = flags & SIM_EYE_NO_GLINT ? 0 : 1;
    float noise_amp = flags & SIM_EYE_NO_NOISE ? 0 : 2 * s.noise;
    float lcs = cosf(s.light_dir) / (2 * g.R), lsn = sinf(s.light_dir) / (2 * g.R);
    float lash_len = 1.5f + 2.0f * s.lash / 0.45f;
    /* the noise lattice interpolated along x once per lattice row: rows then only blend two */
    float nx[NOISE_GY + 1][EYE_ROW], colX[EYE_ROW];
    for (int j = 0; j < Wp; j++) {
        colX[j] = (j + 0.5f) / sx;
        float gxf = colX[j] * (NOISE_GX / (float)SIM_EYE_W);
        int gj = (int)gxf;
        gj = gj < 0 ? 0 : gj >= NOISE_GX ? NOISE_GX - 1 : gj;
        float fx = smooth(clamp01(gxf - gj));
        for (int gi = 0; gi <= NOISE_GY; gi++) nx[gi][j] = g.grid[gi][gj] + (g.grid[gi][gj + 1] - g.grid[gi][gj]) * fx;
    }
    float inv_w = 1 / (g.xr - g.xl), inv_h = 1 / (g.hu + g.hl), inv_lash = 1 / lash_len, inv_R2 = 1 / (g.R * g.R);
    float tex3 = 3 * s.skin_texture;
    /* per row: random bits (serial), skin (vectorised blocks), lids and eyeball (scalar, only
     * where the lids open), gain + sensor noise + rounding (vectorised blocks) */
    uint32_t bits[EYE_ROW];
    pcg_jumps jumps;
    pcg_jumps_init(&jumps, rng.inc, W);
    float xs[EYE_ROW], ys[EYE_ROW], ts[EYE_ROW], val[EYE_ROW], as[EYE_ROW], yus[EYE_ROW];
    uint8_t out8[EYE_ROW];
    for (int i = 0; i < H; i++) {
        float Y = (i + 0.5f) / sy, gyf = Y * (NOISE_GY / (float)SIM_EYE_H);
        int gi = (int)gyf;
        gi = gi < 0 ? 0 : gi >= NOISE_GY ? NOISE_GY - 1 : gi;
        float fy = smooth(clamp01(gyf - gi));
        const float *n0 = nx[gi], *n1 = nx[gi + 1];
        float ry = Y - g.ey;
        /* one draw per pixel: 10 bits of pore texture and two 11-bit uniforms of sensor noise */
        pcg_row(&rng, &jumps, bits, Wp); /* W draws used; the padding's are thrown away */
        for (int j0 = 0; j0 < Wp; j0 += EYE_BLOCK)
            for (int j = j0; j < j0 + EYE_BLOCK; j++) {
                float noise = n0[j] + (n1[j] - n0[j]) * fy;
                float rx = colX[j] - g.ex;
                float x = g.cr * rx + g.sr * ry, y = -g.sr * rx + g.cr * ry;
                /* skin: tone, light, low-frequency texture, pores */
                float fine = (bits[j] & 1023) * (1.0f / 1024) - 0.5f;
                float skin = s.skin_tone * (1 + s.light_strength * (x * lcs + y * lsn)) *
                             (1 + tex3 * noise + s.skin_texture * fine);
                float yb = g.brow_y + g.brow_curve * minf(x * x * inv_R2, 1.5f);
                float brow = skin * (1 - s.brow * clamp01((yb - y) * (1.0f / 3)) * (1 + 0.8f * noise));
                val[j] = y < yb ? brow : skin;
                xs[j] = x, ys[j] = y;
                ts[j] = (x - g.xl) * inv_w;
            }
        /* lids, crease and lashes, branch-free (a factor of exactly 1 where a feature is absent),
         * over the blocks where 0 < t < 1 (t does not decrease along a row: cos(roll) > 0) */
        int ja = 0, jb = W;
        while (ja < W && !(ts[ja] > 0)) ja++;
        while (jb > ja && !(ts[jb - 1] < 1)) jb--;
        ja = ja / LID_BLOCK * LID_BLOCK;
        for (int j = 0; j < Wp; j++) as[j] = 0;
        for (int j0 = ja; j0 < jb; j0 += LID_BLOCK)
            for (int j = j0; j < j0 + LID_BLOCK; j++) {
                /* every value computed, then selected: conditional arithmetic would not vectorise */
                float t0 = ts[j], y = ys[j];
                int in = (t0 > 0) & (t0 < 1);
                /* both lids at this x from one table position (clamped: t is anything outside) */
                float t = t0, f = t * (LID_TABLE - 1);
                int k = (int)f;
                k = k < 0 ? 0 : k > LID_TABLE - 2 ? LID_TABLE - 2 : k;
                f -= k;
                float base = g.yl + (g.yr - g.yl) * t;
                float yu = base - g.hu * (g.prof_u[k] + (g.prof_u[k + 1] - g.prof_u[k]) * f);
                float yl = base + g.hl * (g.prof_l[k] + (g.prof_l[k + 1] - g.prof_l[k]) * f);
                float bump = (yl - yu) * inv_h; /* 0 at the corners */
                /* crease above the upper lid */
                float dc = fabsf(y - (yu - g.fold_gap * bump)) * (1.0f / 1.5f);
                float cf = 1 - s.lid_fold * (1 - dc) * bump, crease = dc < 1 ? cf : 1;
                /* lashes: strands above the upper lid margin, a thin dark line under the lower lid */
                float du = yu - y;
                float dark = s.lash * clamp01(1 - du * inv_lash) * (0.5f + g.lashes[k]) * (0.4f + 0.6f * bump);
                float uf = 1 - minf(dark, 0.5f), upper = (du > -0.8f) & (du < lash_len) ? uf : 1;
                float dl = y - yl;
                float lf = 1 - 0.5f * s.lash * clamp01(1 - fabsf(dl - 0.5f)), lower = (dl > -0.5f) & (dl < 1.5f) ? lf : 1;
                float skin = val[j] * crease * upper * lower;
                /* the lid opening, soft over a pixel */
                float a = clamp01(y - yu + 0.5f) * clamp01(yl - y + 0.5f);
                val[j] = in ? skin : val[j];
                as[j] = in ? a : 0;
                yus[j] = yu;
            }
        /* the eyeball through the opening: blocks from its first to its last pixel in the row */
        int oa = ja, ob = jb;
        while (oa < ob && !(as[oa] > 0)) oa++;
        while (ob > oa && !(as[ob - 1] > 0)) ob--;
        for (int j0 = oa / LID_BLOCK * LID_BLOCK; j0 < ob; j0 += LID_BLOCK)
            for (int j = j0; j < j0 + LID_BLOCK; j++) {
                float e = val[j] + (eyeball(&g, &s, xs[j], ys[j], yus[j], glint) - val[j]) * as[j];
                val[j] = as[j] > 0 ? e : val[j];
            }
        for (int j0 = 0; j0 < Wp; j0 += EYE_BLOCK)
            for (int j = j0; j < j0 + EYE_BLOCK; j++) {
                /* gain and offset keep the darkest things (pupil, lashes) apart */
                float v = s.brightness + s.contrast * val[j];
                v += noise_amp * (((bits[j] >> 10) & 2047) * (1.0f / 2048) + (bits[j] >> 21) * (1.0f / 2048) - 1);
                val[j] = clamp01(v) * 255 + 0.5f;
            }
        /* apart from the float pass, which then runs 16 wide rather than at the bytes' width */
        for (int j0 = 0; j0 < Wp; j0 += EYE_BLOCK)
            for (int j = j0; j < j0 + EYE_BLOCK; j++) out8[j] = (uint8_t)val[j];
        memcpy(img + i * W, out8, W);
    }
    /* labels in output pixels */
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
    return 0;
}

int sim_eye_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out) {
    return sim_eye_render_opts(img, H, W, seed, index, out, 0);
}
