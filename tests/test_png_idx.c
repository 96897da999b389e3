/* Tests of PNG and IDX I/O, contact sheets and the import pipeline, on small files written
 * here (PNG fixtures of every colour type through libpng's low-level API). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <hdf5.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "io/h5ds.h"
#include "io/idx.h"
#include "io/png.h"
#include "io/sheet.h"
#include "base/status.h"
#include "pipelines/import.h"
#include "tests/tmpdir.h"

static int exists(const char *p) { return access(p, F_OK) == 0; }

static void write_text(const char *p, const char *s) {
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

/* ---------------------------------------------------------------- PNG */
/* A PNG of any colour type/bit depth written with the low-level API; rows are given packed. */
static void write_png_raw(const char *path, int w, int h, int color, int depth, const uint8_t *data,
                          const png_color *pal, int npal) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing the fixture %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    size_t rb = png_get_rowbytes(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, data + y * rb);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static void test_png_roundtrip(void **state) {
    (void)state;
    enum { W = 37, H = 23 };
    uint8_t px[W * H], rgb[W * H * 3];
    for (int i = 0; i < W * H; i++) px[i] = (uint8_t)(i * 31 + 7), rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
    const char *p = tpath("g.png");
    assert_int_equal(pngio_write_gray(p, W, H, px), 0);
    int w, h;
    uint8_t *back;
    assert_int_equal(pngio_read_gray(p, &w, &h, &back), 0);
    assert_int_equal(w, W);
    assert_int_equal(h, H);
    assert_memory_equal(back, px, sizeof px);
    free(back);
    /* gray-valued RGB reads back as the same gray */
    assert_int_equal(pngio_write(tpath("c.png"), W, H, 3, rgb), 0);
    assert_int_equal(pngio_read_gray(tpath("c.png"), &w, &h, &back), 0);
    assert_memory_equal(back, px, sizeof px);
    free(back);
    /* in-memory encoding is a PNG that decodes to the same pixels */
    uint8_t *enc;
    size_t len;
    assert_int_equal(pngio_encode(W, H, 1, px, &enc, &len), 0);
    assert_true(len > 8 && !png_sig_cmp(enc, 0, 8));
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&im, enc, len));
    im.format = PNG_FORMAT_GRAY;
    uint8_t dec[W * H];
    assert_true(png_image_finish_read(&im, NULL, dec, 0, NULL));
    assert_memory_equal(dec, px, sizeof px);
    free(enc);
    assert_int_equal(pngio_write(tpath("nodir/x.png"), W, H, 1, px), RP_EIO);
    assert_non_null(strstr(rp_errmsg(), "nodir/x.png"));
    assert_int_equal(pngio_write(tpath("bad.png"), W, H, 5, px), RP_EARG);
}

static void test_png_color_types(void **state) {
    (void)state;
    int w, h;
    uint8_t *g;
    /* RGB: black, white, gray, red, green, blue */
    uint8_t rgb[6 * 3] = {0, 0, 0, 255, 255, 255, 100, 100, 100, 255, 0, 0, 0, 255, 0, 0, 0, 255};
    write_png_raw(tpath("rgb.png"), 6, 1, PNG_COLOR_TYPE_RGB, 8, rgb, NULL, 0);
    assert_int_equal(pngio_read_gray(tpath("rgb.png"), &w, &h, &g), 0);
    assert_int_equal(w, 6);
    assert_int_equal(h, 1);
    assert_int_equal(g[0], 0);
    assert_int_equal(g[1], 255);
    assert_int_equal(g[2], 100);
    if (getenv("RP_SHOW")) printf("  rgb->gray: %d %d %d %d %d %d\n", g[0], g[1], g[2], g[3], g[4], g[5]);
    assert_true(g[4] > g[3] && g[3] > g[5]); /* luminance: green > red > blue */
    assert_true(g[3] > 40 && g[3] < 150 && g[4] > 150 && g[5] < 110 && g[5] > 0);
    free(g);

    /* palette, 4 bits per pixel */
    png_color pal[4] = {{0, 0, 0}, {128, 128, 128}, {255, 255, 255}, {10, 10, 10}};
    uint8_t pidx[2] = {0x01, 0x23}; /* indices 0 1 2 3 */
    write_png_raw(tpath("pal.png"), 4, 1, PNG_COLOR_TYPE_PALETTE, 4, pidx, pal, 4);
    assert_int_equal(pngio_read_gray(tpath("pal.png"), &w, &h, &g), 0);
    uint8_t want_pal[4] = {0, 128, 255, 10};
    assert_memory_equal(g, want_pal, 4);
    free(g);

    /* 16-bit gray: v * 257 reads back as v (a rescale, not a gamma curve) */
    uint8_t v16[7] = {0, 1, 77, 128, 200, 254, 255}, raw16[14];
    for (int i = 0; i < 7; i++) raw16[2 * i] = raw16[2 * i + 1] = v16[i]; /* big-endian v*257 */
    write_png_raw(tpath("g16.png"), 7, 1, PNG_COLOR_TYPE_GRAY, 16, raw16, NULL, 0);
    assert_int_equal(pngio_read_gray(tpath("g16.png"), &w, &h, &g), 0);
    assert_memory_equal(g, v16, 7);
    free(g);

    /* 1-bit gray */
    uint8_t bits[1] = {0xB0}; /* 1 0 1 1 0 0 0 0 */
    write_png_raw(tpath("g1.png"), 8, 1, PNG_COLOR_TYPE_GRAY, 1, bits, NULL, 0);
    assert_int_equal(pngio_read_gray(tpath("g1.png"), &w, &h, &g), 0);
    uint8_t want_bits[8] = {255, 0, 255, 255, 0, 0, 0, 0};
    assert_memory_equal(g, want_bits, 8);
    free(g);

    /* gray + alpha composited onto black; RGBA too */
    uint8_t ga[6] = {200, 255, 200, 0, 200, 128};
    write_png_raw(tpath("ga.png"), 3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, ga, NULL, 0);
    assert_int_equal(pngio_read_gray(tpath("ga.png"), &w, &h, &g), 0);
    assert_int_equal(g[0], 200);
    assert_int_equal(g[1], 0);
    assert_true(g[2] > 60 && g[2] < 200);
    free(g);
    uint8_t rgba[8] = {50, 50, 50, 255, 255, 255, 255, 0};
    write_png_raw(tpath("rgba.png"), 2, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, rgba, NULL, 0);
    assert_int_equal(pngio_read_gray(tpath("rgba.png"), &w, &h, &g), 0);
    assert_int_equal(g[0], 50);
    assert_int_equal(g[1], 0);
    free(g);
}

static void test_png_errors(void **state) {
    (void)state;
    int w, h;
    uint8_t *g = (uint8_t *)1;
    const char *p = tpath("text.png");
    write_text(p, "hello, not a png file\n");
    assert_int_equal(pngio_read_gray(p, &w, &h, &g), RP_EFORMAT);
    assert_null(g);
    assert_non_null(strstr(rp_errmsg(), p));
    assert_non_null(strstr(rp_errmsg(), "not a PNG"));
    assert_int_equal(pngio_read_gray(tpath("none.png"), &w, &h, &g), RP_EIO);
    assert_non_null(strstr(rp_errmsg(), "none.png"));
    /* truncated: a valid noisy PNG cut in half */
    enum { W = 64, H = 64 };
    uint8_t px[W * H];
    for (int i = 0; i < W * H; i++) px[i] = (uint8_t)((i * 2654435761u) >> 13);
    p = tpath("cut.png");
    assert_int_equal(pngio_write_gray(p, W, H, px), 0);
    assert_int_equal(truncate(p, file_size(p) / 2), 0);
    assert_int_equal(pngio_read_gray(p, &w, &h, &g), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), p));
}

/* ---------------------------------------------------------------- IDX */
static void test_idx_roundtrip(void **state) {
    (void)state;
    enum { N = 7, H = 5, W = 4 };
    uint8_t img[N * H * W], lab[N];
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)(i * 11);
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 10);
    long dims[3] = {N, H, W}, ldims[1] = {N};
    for (int gz = 0; gz < 2; gz++) {
        const char *pi = tpath(gz ? "img.idx.gz" : "img.idx"), *pl = tpath(gz ? "lab.idx.gz" : "lab.idx");
        assert_int_equal(idx_write(pi, 3, dims, img, gz), 0);
        assert_int_equal(idx_write(pl, 1, ldims, lab, gz), 0);
        if (!gz) assert_int_equal(file_size(pi), 16 + N * H * W);
        idx_file *f;
        assert_int_equal(idx_open(&f, pi), 0);
        assert_int_equal(idx_rank(f), 3);
        assert_int_equal(idx_dims(f)[0], N);
        assert_int_equal(idx_dims(f)[1], H);
        assert_int_equal(idx_dims(f)[2], W);
        assert_int_equal(idx_item_size(f), H * W);
        uint8_t back[N * H * W];
        assert_int_equal(idx_read(f, 3, back), 0);
        assert_int_equal(idx_read(f, 4, back + 3 * H * W), 0);
        assert_memory_equal(back, img, sizeof img);
        assert_int_equal(idx_read(f, 1, back), RP_EARG); /* past the end */
        idx_close(f);
        assert_int_equal(idx_open(&f, pl), 0);
        assert_int_equal(idx_rank(f), 1);
        assert_int_equal(idx_item_size(f), 1);
        uint8_t lb[N];
        assert_int_equal(idx_read(f, N, lb), 0);
        assert_memory_equal(lb, lab, N);
        idx_close(f);
    }
}

static void expect_idx_error(const char *p, const char *word, int read_all) {
    idx_file *f = NULL;
    int rc = idx_open(&f, p);
    if (!rc && read_all) {
        uint8_t *buf = malloc(idx_dims(f)[0] * idx_item_size(f));
        rc = idx_read(f, idx_dims(f)[0], buf);
        free(buf);
        idx_close(f);
    } else if (!rc) idx_close(f);
    assert_true(rc < 0);
    if (!strstr(rp_errmsg(), p) || !strstr(rp_errmsg(), word))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", rp_errmsg(), p, word);
}

static void test_idx_errors(void **state) {
    (void)state;
    const char *p = tpath("magic.idx");
    write_text(p, "abcdefgh");
    expect_idx_error(p, "not an IDX file", 0);
    p = tpath("type.idx");
    FILE *f = fopen(p, "wb");
    fwrite("\0\0\x0d\x01\0\0\0\x01\0\0\0\0", 1, 12, f); /* float data */
    fclose(f);
    expect_idx_error(p, "0x0d", 0);
    expect_idx_error(tpath("missing.idx"), "cannot open", 0);

    enum { N = 50, H = 28, W = 28 };
    uint8_t *img = malloc(N * H * W);
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)((i * 2654435761u) >> 11);
    long dims[3] = {N, H, W};
    p = tpath("short.idx");
    assert_int_equal(idx_write(p, 3, dims, img, 0), 0);
    assert_int_equal(truncate(p, 16 + 10 * H * W + 5), 0);
    expect_idx_error(p, "truncated", 0);
    p = tpath("long.idx");
    assert_int_equal(idx_write(p, 3, dims, img, 0), 0);
    f = fopen(p, "ab");
    fputc(1, f);
    fclose(f);
    expect_idx_error(p, "oversized", 0);
    p = tpath("short.idx.gz");
    assert_int_equal(idx_write(p, 3, dims, img, 1), 0);
    assert_int_equal(truncate(p, file_size(p) / 2), 0);
    expect_idx_error(p, "truncated", 1);
    /* a gzip'd file whose data is shorter than its header says (valid gzip stream) */
    p = tpath("lie.idx.gz");
    {
        uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, N + 1, 0, 0, 0, H, 0, 0, 0, W};
        FILE *raw = fopen(tpath("lie.idx"), "wb");
        fwrite(hdr, 1, 16, raw);
        fwrite(img, 1, N * H * W, raw);
        fclose(raw);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", tpath("lie.idx"), p);
        assert_int_equal(system(cmd), 0);
    }
    expect_idx_error(p, "data ends in item 50 of 51", 1);
    free(img);
}

/* ---------------------------------------------------------------- sheets */
static void test_sheet(void **state) {
    (void)state;
    uint8_t img[3 * 2 * 2];
    for (int i = 0; i < 12; i++) img[i] = (uint8_t)(10 + i);
    sheet_layout lay = {2, 2, 1, 0};
    uint8_t *out;
    int w, h, c;
    assert_int_equal(sheet_compose(img, 3, 2, 2, 1, NULL, &lay, &out, &w, &h, &c), 0);
    assert_int_equal(w, 2 * 4 + 3);
    assert_int_equal(h, 2 * 4 + 3);
    assert_int_equal(c, 1);
    assert_int_equal(out[1 * w + 1], 10);           /* image 0 pixel (0,0) */
    assert_int_equal(out[2 * w + 2], 10);           /* upscaled by 2 */
    assert_int_equal(out[1 * w + 3], 11);           /* image 0 pixel (0,1) */
    assert_int_equal(out[1 * w + 6], 14);           /* image 1 pixel (0,0) */
    assert_int_equal(out[6 * w + 1], 18);           /* image 2, second row of cells */
    assert_int_equal(out[0], 0);                    /* padding */
    assert_int_equal(out[6 * w + 6], 0);            /* empty fourth cell */
    free(out);
    /* captions: text pixels (255 - background) below each cell; RGB input stays RGB */
    uint8_t rgb[2 * 8 * 8 * 3];
    memset(rgb, 40, sizeof rgb);
    const char *caps[2] = {"7", NULL};
    sheet_layout l2 = {0, 1, 2, 0};
    assert_int_equal(sheet_compose(rgb, 2, 8, 8, 3, caps, &l2, &out, &w, &h, &c), 0);
    assert_int_equal(c, 3);
    assert_int_equal(w, 2 * 8 + 3 * 2);
    assert_int_equal(h, 8 + 10 + 2 * 2);
    int lit0 = 0, lit1 = 0;
    for (int y = 2 + 8; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = out[(y * w + x) * 3];
            if (v == 255) *(x < 2 + 8 + 1 ? &lit0 : &lit1) += 1;
        }
    assert_true(lit0 >= 10); /* the glyph '7' has 11 pixels */
    assert_int_equal(lit1, 0);
    assert_int_equal(out[(2 * w + 2) * 3 + 1], 40);
    free(out);
    assert_int_equal(sheet_text_width("abc", 2), 36);
    assert_int_equal(sheet_write_png(tpath("s.png"), img, 3, 2, 2, 1, NULL, &lay), 0);
    uint8_t *g;
    assert_int_equal(pngio_read_gray(tpath("s.png"), &w, &h, &g), 0);
    assert_int_equal(w, 11);
    assert_int_equal(g[1 * w + 6], 14);
    free(g);
}

/* ---------------------------------------------------------------- import */
static void test_resize_crop(void **state) {
    (void)state;
    uint8_t src[16], dst[16];
    for (int i = 0; i < 16; i++) src[i] = (uint8_t)(i * 10); /* 4x4, row-major */
    assert_int_equal(import_resize(src, 4, 4, 1, dst, 2, 2), 0); /* area: means of 2x2 blocks */
    uint8_t want[4] = {25, 45, 105, 125};
    assert_memory_equal(dst, want, 4);
    uint8_t line[2] = {0, 100}, up[4];
    assert_int_equal(import_resize(line, 2, 1, 1, up, 4, 1), 0); /* bilinear, centres aligned */
    uint8_t want_up[4] = {0, 25, 75, 100};
    assert_memory_equal(up, want_up, 4);
    import_crop(src, 4, 4, 1, dst, 2, 2);
    uint8_t want_c[4] = {50, 60, 90, 100};
    assert_memory_equal(dst, want_c, 4);
    uint8_t two[4] = {1, 2, 3, 4};
    import_crop(two, 2, 2, 1, dst, 4, 4);
    uint8_t want_pad[16] = {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0};
    assert_memory_equal(dst, want_pad, 16);
}

/* The out-of-memory test below caps the address space; under AddressSanitizer a failed allocation
 * must then come back as NULL, as it does from glibc, instead of aborting the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* Virtual memory in use by this process, in bytes (/proc/self/statm's first field). */
static long vm_bytes(void) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld", &pages) != 1) pages = 0;
    if (f) fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

/* Resizing needs scratch memory; when it cannot be had, the import stops with an error naming the
 * file and leaves no output (it once wrote a black image and went on). Run in a child whose
 * address space is capped 64 MB above what it uses after decoding a 28 x 1,000,000 PNG (28 MB),
 * so the 112 MB of resize scratch cannot be allocated. */
static void test_import_resize_out_of_memory(void **state) {
    (void)state;
    const int W = 28, H = 1000000;
    uint8_t *px = calloc((size_t)W * H, 1);
    assert_non_null(px);
    for (int y = 0; y < H; y++) px[(size_t)y * W + y % W] = 255;
    assert_int_equal(pngio_write_gray(tpath("tall.png"), W, H, px), 0);
    free(px);
    const char *src[1] = {tpath("tall.png")}, *out = tpath("tall.h5");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int w, h;
        uint8_t *g;
        if (pngio_read_gray(src[0], &w, &h, &g)) _exit(10); /* page the decoder's buffers in once */
        free(g);
        struct rlimit rl = {(rlim_t)vm_bytes() + (64l << 20), RLIM_INFINITY};
        if (setrlimit(RLIMIT_AS, &rl)) _exit(11);
        import_options o = {.H = 28, .W = 28, .quiet = 1};
        import_stats st;
        int rc = import_files(src, 1, out, &o, &st);
        if (rc != RP_ENOMEM) {
            fprintf(stderr, "import returned %d (%s), expected RP_ENOMEM\n", rc, rc ? rp_errmsg() : "success");
            _exit(12);
        }
        if (!strstr(rp_errmsg(), "tall.png") || !strstr(rp_errmsg(), "out of memory")) {
            fprintf(stderr, "message: %s\n", rp_errmsg());
            _exit(13);
        }
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(exists(out));
    unlink(src[0]);
}

static void make_png(const char *name, int w, int h, uint8_t v) {
    uint8_t *px = malloc(w * h);
    for (int i = 0; i < w * h; i++) px[i] = (uint8_t)(v + i);
    assert_int_equal(pngio_write_gray(tpath(name), w, h, px), 0);
    free(px);
}

static void test_import_png_folder(void **state) {
    (void)state;
    mkdir(tpath("pngs"), 0755);
    make_png("pngs/b.png", 6, 5, 20);
    make_png("pngs/a.png", 6, 5, 10);
    make_png("pngs/c.PNG", 6, 5, 30);
    write_text(tpath("pngs/notes.txt"), "ignored\n");
    const char *src[1] = {tpath("pngs")}, *out = tpath("png.h5");
    import_options o = {.quiet = 1, .command = "import pngs -o png.h5"};
    import_stats st;
    assert_int_equal(import_files(src, 1, out, &o, &st), 0);
    assert_int_equal(st.images, 3);
    assert_int_equal(st.ignored, 1);
    assert_int_equal(st.bad, 0);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, out), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_int_equal(in->N, 3);
    assert_int_equal(in->H, 5);
    assert_int_equal(in->W, 6);
    assert_string_equal(in->kind, "real");
    assert_string_equal(in->scene, "external");
    assert_int_equal(in->ncols, 0);
    assert_string_equal(h5ds_attr_str(r, "import_command"), "import pngs -o png.h5");
    uint8_t px[3 * 30];
    assert_int_equal(h5ds_read_images_u8(r, 0, 3, px), 0);
    assert_int_equal(px[0], 10); /* sorted by name: a, b, c */
    assert_int_equal(px[30], 20);
    assert_int_equal(px[60], 30);
    assert_int_equal(px[29], 39);
    h5ds_close(r);

    /* a bad file stops the import (naming it) and leaves no output; --skip-bad counts it */
    write_text(tpath("pngs/d.png"), "not really a png");
    const char *out2 = tpath("png2.h5");
    assert_int_equal(import_files(src, 1, out2, &o, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "d.png"));
    assert_non_null(strstr(rp_errmsg(), "--skip-bad"));
    assert_false(exists(out2));
    o.skip_bad = 1;
    assert_int_equal(import_files(src, 1, out2, &o, &st), 0);
    assert_int_equal(st.images, 3);
    assert_int_equal(st.bad, 1);
    /* an odd size is an error without --size ... */
    make_png("pngs/e.png", 7, 7, 0);
    o.skip_bad = 0;
    const char *out3 = tpath("png3.h5");
    unlink(tpath("pngs/d.png"));
    assert_int_equal(import_files(src, 1, out3, &o, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "e.png: image is 7x7 (HxW), expected 5x6"));
    assert_false(exists(out3));
    /* ... and resized with it */
    o.H = 4, o.W = 4;
    assert_int_equal(import_files(src, 1, out3, &o, &st), 0);
    assert_int_equal(st.images, 4);
    assert_int_equal(st.H, 4);
    assert_int_equal(st.W, 4);
    /* a single PNG file works as a source too */
    const char *one[1] = {tpath("pngs/a.png")};
    o.H = o.W = 0;
    assert_int_equal(import_files(one, 1, tpath("one.h5"), &o, &st), 0);
    assert_int_equal(st.images, 1);
}

static void test_import_idx_and_h5(void **state) {
    (void)state;
    enum { N = 1500, H = 4, W = 3 }; /* more than one import batch */
    uint8_t *img = malloc(N * H * W), lab[N];
    for (int i = 0; i < N * H * W; i++) img[i] = (uint8_t)(i * 7);
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)(i % 10);
    long dims[3] = {N, H, W}, ldims[1] = {N};
    assert_int_equal(idx_write(tpath("i.idx.gz"), 3, dims, img, 1), 0);
    assert_int_equal(idx_write(tpath("l.idx"), 1, ldims, lab, 0), 0);
    const char *src[1] = {tpath("i.idx.gz")}, *out = tpath("idx.h5");
    char lspec[200];
    snprintf(lspec, sizeof lspec, "class=%s", tpath("l.idx"));
    const char *lab_args[1] = {lspec};
    import_options o = {.quiet = 1, .labels = lab_args, .nlabels = 1, .scene = "digits", .chunk = 100};
    import_stats st;
    assert_int_equal(import_files(src, 1, out, &o, &st), 0);
    assert_int_equal(st.images, N);
    assert_int_equal(st.ncols, 1);
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, out), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_int_equal(in->N, N);
    assert_string_equal(in->scene, "digits");
    assert_string_equal(in->cols[0].path, "labels/class");
    assert_int_equal(in->cols[0].dtype, H5DS_INT32);
    uint8_t *back = malloc(N * H * W);
    int32_t cls[N];
    assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
    assert_memory_equal(back, img, N * H * W);
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, cls, H5DS_INT32), 0);
    for (int i = 0; i < N; i++) assert_int_equal(cls[i], lab[i]);
    h5ds_close(r);

    /* re-import from HDF5 (file.h5:/images): labels travel along */
    char spec[300];
    snprintf(spec, sizeof spec, "%s:/images", out);
    const char *src2[1] = {spec}, *out2 = tpath("copy.h5");
    import_options o2 = {.quiet = 1};
    assert_int_equal(import_files(src2, 1, out2, &o2, &st), 0);
    assert_int_equal(st.images, N);
    assert_int_equal(h5ds_open(&r, out2), 0);
    assert_int_equal(h5ds_get_info(r)->ncols, 1);
    assert_int_equal(h5ds_read_images_u8(r, 0, N, back), 0);
    assert_memory_equal(back, img, N * H * W);
    memset(cls, 0, sizeof cls);
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, cls, H5DS_INT32), 0);
    for (int i = 0; i < N; i++) assert_int_equal(cls[i], lab[i]);
    h5ds_close(r);

    /* mismatched label count: error naming the labels file, no output */
    long l2[1] = {N - 1};
    assert_int_equal(idx_write(tpath("l2.idx"), 1, l2, lab, 0), 0);
    snprintf(lspec, sizeof lspec, "class=%s", tpath("l2.idx"));
    const char *out3 = tpath("bad.h5");
    assert_int_equal(import_files(src, 1, out3, &o, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "l2.idx"));
    assert_false(exists(out3));
    /* two sources hold twice the images: the labels' rows must cover both */
    const char *two[2] = {tpath("i.idx.gz"), tpath("i.idx.gz")};
    snprintf(lspec, sizeof lspec, "class=%s", tpath("l.idx"));
    assert_int_equal(import_files(two, 2, out3, &o, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "hold 3000 images"));
    /* an unrecognised source */
    write_text(tpath("junk.bin"), "junk junk junk");
    const char *junk[1] = {tpath("junk.bin")};
    assert_int_equal(import_files(junk, 1, out3, &o2, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "junk.bin: unrecognised format"));
    assert_false(exists(out3));
    free(img), free(back);
}

/* Labels the way other tools write them: an h5py-style file (/images uint8, /labels int64,
 * /gaze float32 (N, 2)), a PNG folder with a CSV keyed by file name in another order, and a CSV
 * matched by row; every value arrives on its image's row; mistakes are named. */
static void write_h5_like_h5py(const char *path, int n, int h, int w) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    uint8_t *img = malloc((size_t)n * h * w);
    int64_t *lab = malloc(n * sizeof *lab);
    float *gaze = malloc(2 * n * sizeof *gaze);
    for (int i = 0; i < n * h * w; i++) img[i] = (uint8_t)(i * 13);
    for (int i = 0; i < n; i++) lab[i] = i % 7, gaze[2 * i] = 0.01f * i, gaze[2 * i + 1] = -0.02f * i;
    hsize_t d3[3] = {(hsize_t)n, (hsize_t)h, (hsize_t)w}, d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, 2};
    struct { const char *name; hid_t ft, mt; int rank; hsize_t *dims; const void *buf; } ds[3] = {
        {"images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, d3, img},
        {"labels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, lab},
        {"gaze", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, gaze}};
    for (int k = 0; k < 3; k++) {
        hid_t sp = H5Screate_simple(ds[k].rank, ds[k].dims, NULL);
        hid_t d = H5Dcreate2(f, ds[k].name, ds[k].ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(d >= 0 && H5Dwrite(d, ds[k].mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ds[k].buf) >= 0);
        H5Dclose(d), H5Sclose(sp);
    }
    H5Fclose(f);
    free(img), free(lab), free(gaze);
}

static void test_import_labels_from_other_tools(void **state) {
    (void)state;
    enum { N = 40, H = 6, W = 5 };
    char toy[256], out[256], idxp[256]; /* tpath's buffers rotate: keep copies */
    snprintf(toy, sizeof toy, "%s", tpath("toy.h5"));
    snprintf(out, sizeof out, "%s", tpath("toy-in.h5"));
    snprintf(idxp, sizeof idxp, "%s", tpath("two.idx"));
    write_h5_like_h5py(toy, N, H, W);
    const char *src[1] = {toy};
    import_options o = {.quiet = 1, .kind = "synthetic"};
    import_stats st;
    /* no --labels: the per-image datasets beside /images are named, not silently dropped */
    assert_int_equal(import_files(src, 1, out, &o, &st), 0);
    assert_string_equal(st.hint, "/gaze float32 (N, 2), /labels int64 (N)");
    char a1[512], a2[512];
    snprintf(a1, sizeof a1, "class=%s:/labels", toy);
    snprintf(a2, sizeof a2, "gaze=%s:/gaze", toy);
    const char *labs[2] = {a1, a2}, *units[1] = {"gaze=radians"};
    o.labels = labs, o.nlabels = 2, o.units = units, o.nunits = 1;
    assert_int_equal(import_files(src, 1, out, &o, &st), 0);
    assert_int_equal(st.ncols, 2);
    assert_string_equal(st.hint, "");
    h5ds_reader *r;
    assert_int_equal(h5ds_open(&r, out), 0);
    const h5ds_info *in = h5ds_get_info(r);
    assert_string_equal(in->kind, "synthetic");
    int c = h5ds_find_column(r, "labels/class"), g = h5ds_find_column(r, "labels/gaze");
    assert_true(c >= 0 && g >= 0);
    assert_int_equal(in->cols[c].dtype, H5DS_INT32);
    assert_int_equal(in->cols[g].dtype, H5DS_FLOAT32);
    assert_int_equal(in->cols[g].cols, 2);
    assert_string_equal(in->cols[g].units, "radians");
    int32_t cls[N];
    float gz[2 * N];
    assert_int_equal(h5ds_read_column(r, "labels/class", 0, N, cls, H5DS_INT32), 0);
    assert_int_equal(h5ds_read_column(r, "labels/gaze", 0, N, gz, H5DS_FLOAT32), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cls[i], i % 7);
        assert_float_equal(gz[2 * i + 1], -0.02f * i, 0);
    }
    h5ds_close(r);

    /* a PNG folder and a CSV keyed by file name, rows in another order, one extra row */
    mkdir(tpath("shots"), 0755);
    char csv[4096] = "id,filename,digit,angle\n";
    const char *names[3] = {"b.png", "c.png", "a.png"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "shots/%s", names[i]);
        make_png(name, 4, 4, (uint8_t)(10 * i));
        size_t l = strlen(csv);
        snprintf(csv + l, sizeof csv - l, "%d,\"shots/%s\",%d,%.2f\n", i, names[i], 5 + i, 0.25 * i);
    }
    strcat(csv, "9,unused.png,1,0.5\n");
    write_text(tpath("shots.csv"), csv);
    char shots[256];
    snprintf(shots, sizeof shots, "%s", tpath("shots"));
    const char *folder[1] = {shots};
    snprintf(a1, sizeof a1, "digit=%s:digit", tpath("shots.csv"));
    snprintf(a2, sizeof a2, "angle=%s:angle", tpath("shots.csv"));
    import_options p = {.quiet = 1, .labels = labs, .nlabels = 2};
    assert_int_equal(import_files(folder, 1, tpath("shots.h5"), &p, &st), 0);
    assert_int_equal(h5ds_open(&r, tpath("shots.h5")), 0);
    in = h5ds_get_info(r);
    assert_int_equal(in->cols[h5ds_find_column(r, "labels/digit")].dtype, H5DS_INT32);
    assert_int_equal(in->cols[h5ds_find_column(r, "labels/angle")].dtype, H5DS_FLOAT32);
    float ang[3];
    assert_int_equal(h5ds_read_column(r, "labels/digit", 0, 3, cls, H5DS_INT32), 0);
    assert_int_equal(h5ds_read_column(r, "labels/angle", 0, 3, ang, H5DS_FLOAT32), 0);
    /* images in name order a, b, c; their rows in the CSV were 2, 0, 1 */
    assert_int_equal(cls[0], 7), assert_int_equal(cls[1], 5), assert_int_equal(cls[2], 6);
    assert_float_equal(ang[0], 0.5f, 1e-6), assert_float_equal(ang[1], 0.0f, 1e-6);
    h5ds_close(r);
    /* a PNG the CSV does not name */
    make_png("shots/d.png", 4, 4, 99);
    assert_int_equal(import_files(folder, 1, tpath("shots2.h5"), &p, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "has no row for"));
    assert_non_null(strstr(rp_errmsg(), "d.png"));
    assert_false(exists(tpath("shots2.h5")));

    /* a CSV matched by row, and its mistakes */
    write_text(tpath("rows.csv"), "pitch,yaw,note\n0.1,0.2,x\n0.3,0.4,y\n");
    const char *idx_src[1] = {idxp};
    uint8_t two[2 * 9] = {0};
    long d[3] = {2, 3, 3};
    assert_int_equal(idx_write(idxp, 3, d, two, 0), 0);
    snprintf(a1, sizeof a1, "gaze=%s:pitch,yaw", tpath("rows.csv"));
    p.nlabels = 1;
    assert_int_equal(import_files(idx_src, 1, tpath("rows.h5"), &p, &st), 0);
    assert_int_equal(h5ds_open(&r, tpath("rows.h5")), 0);
    assert_int_equal(h5ds_read_column(r, "labels/gaze", 0, 2, gz, H5DS_FLOAT32), 0);
    assert_float_equal(gz[3], 0.4f, 1e-6);
    h5ds_close(r);
    snprintf(a1, sizeof a1, "gaze=%s:pitch,roll", tpath("rows.csv"));
    assert_int_equal(import_files(idx_src, 1, tpath("rows2.h5"), &p, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "no column \"roll\" in the header (columns: pitch, yaw, note)"));
    snprintf(a1, sizeof a1, "x=%s:note", tpath("rows.csv"));
    assert_int_equal(import_files(idx_src, 1, tpath("rows2.h5"), &p, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "rows.csv:2: column note: expected a number, found \"x\""));
    /* a value float32 cannot hold is an error, not an infinite label (found by fuzz_csv;
     * tests/corpus/csv/crash-beyond-float32) */
    write_text(tpath("huge.csv"), "pitch,yaw\n0.1,0.2\n0.3,-2e53\n");
    snprintf(a1, sizeof a1, "gaze=%s:pitch,yaw", tpath("huge.csv"));
    assert_int_equal(import_files(idx_src, 1, tpath("rows2.h5"), &p, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "huge.csv:3: column pitch,yaw: -2e53 is beyond float32's range"));
    snprintf(a1, sizeof a1, "class=%s:/labels", toy); /* 40 rows for 2 images */
    assert_int_equal(import_files(idx_src, 1, tpath("rows2.h5"), &p, &st), RP_EFORMAT);
    assert_non_null(strstr(rp_errmsg(), "has 40 rows, but the source(s) hold 2 images"));
    snprintf(a1, sizeof a1, "nolabel");
    assert_int_equal(import_files(idx_src, 1, tpath("rows2.h5"), &p, &st), RP_EARG);
    assert_false(exists(tpath("rows2.h5")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_png_roundtrip, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_png_color_types, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_png_errors, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_idx_roundtrip, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_idx_errors, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_sheet, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_resize_crop, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_import_resize_out_of_memory, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_import_png_folder, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_import_idx_and_h5, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_import_labels_from_other_tools, tmpdir_setup, tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
