/* Procedural labeled scenes (digits, eyes): the common API. Every sample is a pure function of
 * (seed, index): all its randomness comes from rng_seed(seed, index), so any image can be rebuilt
 * alone and a dataset is byte-identical whatever the thread count or sharding. */
#ifndef RP_SIM_H
#define RP_SIM_H
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- per-sample records */
#define SIM_DIGIT_H 28
#define SIM_DIGIT_W 28
#define SIM_EYE_H 35
#define SIM_EYE_W 55
#define SIM_EYELID_K 7 /* landmarks per eyelid, evenly spaced from corner to corner */

/* What one digit render drew. Lengths are in the digit's own units (height 1 before the
 * MNIST-style normalisation), angles in radians. */
typedef struct {
    int32_t cls;          /* label 0..9 */
    int32_t variant;      /* stroke-skeleton style of that class */
    float aspect;         /* width / height of the skeleton */
    float jitter;         /* control-point jitter (std, digit units) */
    float slant;          /* shear x += slant * (0.5 - y) */
    float rotation;
    float scale_x, scale_y;
    float thickness;      /* pen diameter, digit units */
    float pen_variation;  /* relative amplitude of the pressure wave along strokes */
    float taper;          /* relative thinning at stroke ends */
    float elastic_alpha;  /* elastic displacement amplitude (digit units) */
    float elastic_scale;  /* wavelength of the elastic field (digit units) */
    float edge;           /* coverage curve c + edge * c * (1 - c): > 0 bolder, < 0 crisper */
    float blur;           /* edge ramp width (pixels) */
    float shift_x, shift_y; /* centre-of-mass shift applied (pixels) */
} sim_digit_sample;

/* What one eye render drew; labels first. Pixels are measured from the top-left corner of the
 * image (pixel centres at i + 0.5). */
typedef struct {
    float gaze[2];          /* pitch (up > 0), yaw (towards image right > 0), radians */
    float pupil_center[2];  /* (x, y) pixels */
    float iris_radius;      /* pixels */
    float pupil_radius;     /* pixels */
    float pupil_visible;    /* fraction of the pupil outline inside the lid opening */
    float eyelid_upper[2 * SIM_EYELID_K]; /* (x, y) pairs, pixels */
    float eyelid_lower[2 * SIM_EYELID_K];
    float eye_center[2];    /* eyeball centre projection (x, y) pixels */
    float eyeball_radius;   /* pixels */
    float openness;         /* lid opening relative to its neutral value */
    float head_roll;        /* radians: in-plane tilt of the whole region */
    float skin_tone, skin_texture;
    float sclera_tone, iris_tone, iris_texture, limbus;
    float glint_x, glint_y, glint_strength; /* glint position offset (pixels) */
    /* output = brightness + contrast * shade + sensor noise, before the histogram equalization,
     * which removes any offset and scale: brightness changes nothing but float rounding (kept so
     * the images stay byte-identical), contrast only sets the scene's strength against the noise */
    float brightness, contrast;
    float light_dir, light_strength;
    float lash, brow, noise;
    float lid_fold;         /* crease strength above the upper lid */
    float fold_gap;         /* crease distance above the lid margin (native pixels) */
    float lid_peak[2];      /* upper, lower lid: where across the eye (0..1) the lid is highest/lowest */
    float lid_power[2];     /* upper, lower lid profile sharpness */
    float glint_size;       /* glint std (native pixels) */
    float brow_height, brow_curve; /* brow line above the eyeball centre (native pixels) */
    /* drawn by the calibration (docs/experiments/2026-12-05-eyes-calibration.md); strengths are
     * relative darkenings (brightenings) of the skin, lengths in native pixels */
    float lash_width;       /* upper lash line width (native pixels; x0.5 mid-lid to x1.3 at the corners) */
    float lash_wing[2];     /* how far the upper lash line runs past the left, right corner (native pixels) */
    float lash_lower;       /* lower-lid margin darkening */
    float lid_shade;        /* upper-lid skin darkening towards the corners */
    float lid_light;        /* highlight on the middle of the upper lid */
    float fold_width;       /* width of both creases (native pixels) */
    float fold_lower;       /* crease under the lower lid: strength */
    float fold_lower_gap;   /* its distance below the lid margin (native pixels) */
    float socket, socket_height; /* shadow above the crease at the sides; its height (native pixels) */
    float brow_bone, cheek; /* brightening above the crease, below the lower lid */
    float under_shadow, under_width; /* shadow under the lower lid: strength, reach (native pixels) */
    float corner_shadow[2]; /* shadows in the left (outer), right (inner) corner */
    float corner_radius;    /* their radius (native pixels) */
    float tear_trough;      /* shadow running down from the inner (right) corner */
    float sclera_falloff;   /* sclera darkening towards the corners */
    float mottle;           /* strength of the fine skin lattice (wrinkles, spots) */
    float blur_x, blur_y;   /* camera blur: neighbour weight of the 3-tap blurs along rows (twice), down columns */
    float resolution;       /* horizontal resolution the webcam saw, relative to the 60-pixel capture width */
} sim_eye_sample;

/* What one render of the "eyes-target" scene drew: the eyes scene's record (same geometry and
 * labels for the same (seed, index); its appearance values replaced by the target's draws, see
 * sim_eye_target_render) and the tone curve applied after the equalization. */
typedef struct {
    sim_eye_sample eye;
    float gamma;            /* output = 255 (equalized / 255)^gamma: a darker, non-flat histogram */
} sim_eye_target_sample;

/* ---------------------------------------------------------------- scenes */
typedef enum { SIM_INT32, SIM_FLOAT32 } sim_dtype;

/* One label or parameter column of a scene: where it lives in the sample record. */
typedef struct {
    const char *path;   /* "labels/class", "params/slant" */
    sim_dtype dtype;
    int cols;           /* values per sample */
    const char *units;  /* NULL, "radians", "pixels" */
    size_t offset;      /* byte offset of the first value in the sample record */
} sim_column;

/* Renders sample `index` into img (H*W uint8, row-major) and fills `sample` (the scene's
 * record type, may be NULL). Returns 0 or RP_EARG for an unsupported size. */
typedef int (*sim_render_fn)(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, void *sample);

typedef struct {
    const char *name;       /* "digits" */
    int height, width;      /* native size */
    int min_size;           /* smallest height/width accepted */
    size_t sample_size;     /* sizeof the record */
    const sim_column *columns;
    int ncolumns;
    sim_render_fn render;
} sim_scene;

/* "digits" | "eyes" | "eyes-target" -> scene, NULL if unknown. */
const sim_scene *sim_scene_find(const char *name);

int sim_digit_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_digit_sample *out);
int sim_eye_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out);

/* The eye scene with another appearance, for sim-to-sim checks of the refiner with known labels
 * (scene "eyes-target", docs/simulator.md): the same draws as sim_eye_render for the geometry and
 * labels, then lighter irises with a darker limbus and more texture, a heavier lash line, a deeper
 * crease, more camera blur and a tone curve after the equalization. */
int sim_eye_target_render(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_target_sample *out);

/* Eye renders without the corneal glint and/or the sensor noise (for label tests: the glint is
 * the one bright spot inside the pupil). Same geometry and labels as sim_eye_render for the
 * same (seed, index). */
enum { SIM_EYE_NO_GLINT = 1, SIM_EYE_NO_NOISE = 2 };
int sim_eye_render_opts(uint8_t *img, int H, int W, uint64_t seed, uint64_t index, sim_eye_sample *out,
                        int flags);

/* ---------------------------------------------------------------- batches */
/* Renders samples first .. first+n-1 into images (n*H*W) and samples (n records, may be NULL)
 * with `threads` threads (<= 0: 1); each thread takes a contiguous slice of the batch.
 * The result does not depend on `threads`. */
int sim_render_batch(const sim_scene *s, int H, int W, uint64_t seed, uint64_t first, long n, uint8_t *images,
                     void *samples, int threads);

/* The same, started in the background so a caller can write the previous batch meanwhile. */
typedef struct sim_job sim_job;
int sim_job_start(sim_job **job, const sim_scene *s, int H, int W, uint64_t seed, uint64_t first, long n,
                  uint8_t *images, void *samples, int threads);
/* Joins the threads and frees the job; returns the first error of the batch. */
int sim_job_wait(sim_job *job);

/* Copies column c of n sample records into a dense array (n * cols values of its dtype). */
void sim_gather_column(const sim_scene *s, int c, const void *samples, long n, void *out);

#endif
