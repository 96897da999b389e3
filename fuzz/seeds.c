/* Seed inputs for the fuzz targets, written with the project's own writers (fuzz/make_seeds.sh
 * adds files made by the CLI and compacts the HDF5 ones). `seeds OUTDIR` writes OUTDIR/NAME/
 * seed-*, NAME being the target. Valid files, small: the fuzzer mutates bytes, and a file it
 * has to carry around should be mostly structure, not pixels or weights. Weights here are zeros
 * (finite, so the loaders accept them); make_seeds.sh deflates the large weight datasets. */
#include "eval/evalnet.h"
#include "io/config.h"
#include "io/h5ds.h"
#include "io/h5util.h"
#include "io/idx.h"
#include "io/png.h"
#include "refiner/checkpoint.h"
#include "base/status.h"
#include <errno.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *out;

static void die(const char *what) {
    fprintf(stderr, "seeds: %s: %s\n", what, rp_errmsg());
    exit(1);
}

static const char *path(const char *target, const char *name) {
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", out, target);
    mkdir(p, 0755);
    snprintf(p, sizeof buf[0], "%s/%s/%s", out, target, name);
    return p;
}

static void write_bytes(const char *p, const void *a, size_t n, const void *b, size_t m) {
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(a, 1, n, f) != n || (m && fwrite(b, 1, m, f) != m) || fclose(f)) {
        fprintf(stderr, "seeds: cannot write %s\n", p);
        exit(1);
    }
}

/* fuzz_idx: one selector byte (0 = the file as is, 1 = gzip'd by the target), then the file. */
static void idx_seed(const char *name, int selector, int rank, const long *dims, int gz) {
    long n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    uint8_t *px = malloc(n);
    for (long i = 0; i < n; i++) px[i] = (uint8_t)(i * 37 % 251);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s/tmp.idx", out);
    if (idx_write(tmp, rank, dims, px, gz)) die(tmp);
    FILE *f = fopen(tmp, "rb");
    uint8_t buf[65536];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    remove(tmp);
    uint8_t sel = (uint8_t)selector;
    write_bytes(path("idx", name), &sel, 1, buf, len);
    free(px);
}

static void idx_seeds(void) {
    idx_seed("seed-labels.idx", 0, 1, (long[]){6}, 0);
    idx_seed("seed-labels-k.idx", 0, 2, (long[]){3, 2}, 0);
    idx_seed("seed-images.idx", 0, 3, (long[]){2, 4, 3}, 0);
    idx_seed("seed-images-gzipped-here", 1, 3, (long[]){2, 4, 3}, 0);
    idx_seed("seed-images.idx.gz", 0, 3, (long[]){3, 5, 4}, 1);
}

/* fuzz_png: gray, gray+alpha, RGB, RGBA (pngio_write), 16-bit and palette (libpng's simplified API). */
static void png_seeds(void) {
    uint8_t px[4 * 5 * 4];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 29 % 256);
    static const char *names[4] = {"seed-gray.png", "seed-gray-alpha.png", "seed-rgb.png", "seed-rgba.png"};
    for (int c = 1; c <= 4; c++)
        if (pngio_write(path("png", names[c - 1]), 5 - c % 2, 4, c, px)) die(names[c - 1]);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION, img.width = 3, img.height = 2, img.format = PNG_FORMAT_LINEAR_Y;
    uint16_t px16[6] = {0, 1000, 20000, 40000, 65535, 7};
    if (!png_image_write_to_file(&img, path("png", "seed-16bit.png"), 0, px16, 0, NULL)) die(img.message);
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION, img.width = 4, img.height = 2, img.format = PNG_FORMAT_RGB_COLORMAP;
    img.colormap_entries = 3;
    uint8_t map[9] = {0, 0, 0, 255, 0, 0, 10, 200, 30}, idx[8] = {0, 1, 2, 1, 2, 0, 0, 1};
    if (!png_image_write_to_file(&img, path("png", "seed-palette.png"), 0, idx, 0, map)) die(img.message);
}

/* fuzz_config: INI text, NUL, --set overrides separated by NUL. */
static void config_seed(const char *name, const char *ini, const char *const *sets) {
    size_t cap = strlen(ini) + 1 + 4096, n = strlen(ini) + 1;
    char *buf = malloc(cap);
    memcpy(buf, ini, n);
    for (int i = 0; sets && sets[i]; i++) {
        size_t l = strlen(sets[i]) + (sets[i + 1] ? 1 : 0);
        memcpy(buf + n, sets[i], l);
        n += l;
    }
    write_bytes(path("config", name), buf, n, NULL, 0);
    free(buf);
}

static void config_seeds(void) {
    rp_config c;
    config_defaults(&c);
    char *ini = config_to_ini(&c);
    config_seed("seed-defaults.ini", ini, (const char *[]){"train.lambda=0.5", "run.real=data/real images.h5", NULL});
    free(ini);
    config_seed("seed-small.ini",
                "; a comment\n[refiner]\nfilters = 8\nblocks=1\n\n[train]\nbatch = 4 ; inline\nlambda = 1e-1\n"
                "psi = identity\n[run]\nreal = /data/real.h5\n",
                (const char *[]){"eval.lr_schedule=constant", "simulate.scene=eyes", "train.seed=12", NULL});
    config_seed("seed-errors.ini", "[train]\nbatch = 3x\n[nosuch]\nkey = 1\n",
                (const char *[]){"train.nosuch=1", "noequals", "refiner.filters=0", NULL});
}

/* fuzz_json: report.json files as eval writes them, and odd but valid JSON. */
static void json_seeds(void) {
    const char *a = "{\n  \"refine_report\": 1,\n  \"evaluations\": {\n    \"synthetic\": {\"train\": \"s.h5\", "
                    "\"value\": 0.9, \"values\": [0.9, null], \"realism\": null}\n  },\n  \"note\": \"\\u00e9\\\"x\\\\\"\n}\n";
    write_bytes(path("json", "seed-report.json"), a, strlen(a), NULL, 0);
    const char *b = "[1, -0.5e+10, true, false, null, {\"a\": {}}, [], \"\"]";
    write_bytes(path("json", "seed-array.json"), b, strlen(b), NULL, 0);
    const char *c = " {\"evaluations\": 3, \"fuzz\": [{}], \"k\\u0041y\": \"v\"} ";
    write_bytes(path("json", "seed-evaluations-not-object.json"), c, strlen(c), NULL, 0);
}

/* fuzz_csv: the target reads columns col, a,b and b (with units). */
static void csv_seeds(void) {
    const char *a = "filename,col,a,b\nimg/0.png,3,1.5,-2\nimg/1.png,7,0.25,1e3\n2.png,0,3,4\n";
    write_bytes(path("csv", "seed-keyed.csv"), a, strlen(a), NULL, 0);
    const char *b = "\"col\",a,\"b, quoted\",b\r\n1,2,\"x\"\"y\",3.5\r\n\r\n4,5,z,6\r\n";
    write_bytes(path("csv", "seed-quoted.csv"), b, strlen(b), NULL, 0);
    const char *c = "a,b,col\n1,2,3\n4,5,6\n";
    write_bytes(path("csv", "seed-rows.csv"), c, strlen(c), NULL, 0);
}

/* fuzz_h5ds: refine-datasets with labels, params (N, k) with units and /index; an RGB one. */
static void h5ds_seed(const char *name, int C, int with_cols) {
    const int N = 3, H = 4, W = 5;
    h5ds_column cols[2] = {{"labels/class", H5DS_INT32, 1, NULL}, {"params/gaze", H5DS_FLOAT32, 2, "radians"}};
    h5ds_provenance prov = {"synthetic", "digits", "[train]\nbatch = 4\n", 7, NULL, NULL, -1};
    h5ds_options opt = {2, 0};
    h5ds_writer *w;
    if (h5ds_create(&w, path("h5ds", name), H, W, C, cols, with_cols ? 2 : 0, &prov, &opt)) die(name);
    uint8_t px[3 * 4 * 5 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 13);
    int32_t cls[3] = {1, 0, 9};
    float gaze[6] = {0.1f, -0.2f, 0.3f, 0, 1, -1};
    const void *vals[2] = {cls, gaze};
    if (h5ds_append(w, N, px, with_cols ? vals : NULL, NULL) || h5ds_finish(w)) die(name);
}

/* An external file (another tool's): float32 images in [0, 1] and a label dataset, no attributes. */
static void external_seed(void) {
    const char *p = path("h5ds", "seed-external-float.h5");
    h5u_silence();
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    float img[2 * 4 * 4];
    for (int i = 0; i < 32; i++) img[i] = (float)i / 31;
    int64_t lab[2] = {4, 2};
    if (f < 0 || h5u_write_ds(f, "images", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, (hsize_t[]){2, 4, 4}, img) ||
        h5u_write_ds(f, "labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, (hsize_t[]){2}, lab) || H5Fclose(f) < 0)
        die(p);
}

/* fuzz_checkpoint: the tiny state of the brief (F = 2, B = 0, batch 2), zero weights, 2 history images. */
static void checkpoint_seed(void) {
    rp_config cfg;
    config_defaults(&cfg);
    const char *sets[] = {"refiner.filters=2", "refiner.blocks=0", "train.batch=2", "train.iterations=1",
                          "train.pretrain_refiner_steps=1", "train.pretrain_disc_steps=1", "train.history_size=4"};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        if (config_set_arg(&cfg, sets[i])) die(sets[i]);
    train_setup u;
    train_state s;
    if (train_setup_from_config(&u, &cfg, 1, 28, 28) || train_state_init(&s, &u)) die("train_state_init");
    param_block *ps[2] = {&s.R.p, &s.D.p};
    for (int i = 0; i < 2; i++) {
        memset(ps[i]->data, 0, ps[i]->count * sizeof(float));
        memset(ps[i]->m, 0, ps[i]->count * sizeof(float));
        memset(ps[i]->v, 0, ps[i]->count * sizeof(float));
    }
    s.hist.count = 2;
    memset(s.hist.data, 0, 2 * s.img * sizeof(float));
    train_counters k = {.phase = TRAIN_PHASE_ADVERSARIAL, .step = 3, .pretrain_refiner_done = 1,
                        .pretrain_disc_done = 1, .iterations_done = 1};
    char *ini = config_to_ini(&cfg);
    if (checkpoint_save(path("checkpoint", "seed-tiny.h5"), &s, &k, ini, "synthetic.h5", "real.h5"))
        die("checkpoint_save");
    free(ini);
    train_state_free(&s);
}

/* fuzz_evalnet: a 1x28x28, 10-class feature network, zero weights. */
static void evalnet_seed(void) {
    evalnet e;
    if (evalnet_init(&e, 1, 28, 28, 10, 1, 1)) die("evalnet_init");
    memset(e.p.data, 0, e.p.count * sizeof(float));
    if (evalnet_save(&e, path("evalnet", "seed-28x28.h5"), "fuzz seed: zero weights")) die("evalnet_save");
    evalnet_free(&e);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seeds OUTDIR\n");
        return 2;
    }
    out = argv[1];
    if (mkdir(out, 0755) && errno != EEXIST) {
        perror(out);
        return 1;
    }
    idx_seeds();
    png_seeds();
    config_seeds();
    json_seeds();
    csv_seeds();
    h5ds_seed("seed-labels-params-index.h5", 1, 1);
    h5ds_seed("seed-rgb.h5", 3, 0);
    external_seed();
    checkpoint_seed();
    evalnet_seed();
    return 0;
}
