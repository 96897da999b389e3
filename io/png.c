/* PNG reading and writing (see png.h). libpng's simplified API does its setjmp/longjmp error
 * handling internally and reports through image.message, so no jmp_buf crosses our code. */
#include "io/png.h"
#include "base/atomic.h"
#include "base/status.h"
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PNGIO_MAX_PIXELS (1L << 28)

int pngio_read(const char *path, int channels, int *w, int *h, uint8_t **pixels) {
    *pixels = NULL;
    if (channels != 1 && channels != 3) return rp_err(RP_EARG, "%s: PNGs are read as 1 or 3 channels", path);
    *w = *h = 0;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    size_t got = fread(sig, 1, 8, f);
    rewind(f);
    if (got < 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return rp_err(RP_EFORMAT, "%s: not a PNG file (bad signature)", path);
    }
    if (!png_image_begin_read_from_stdio(&img, f)) {
        fclose(f);
        return rp_err(RP_EFORMAT, "%s: unreadable PNG: %s", path, img.message);
    }
    if ((long)img.width * img.height > PNGIO_MAX_PIXELS) {
        png_image_free(&img);
        fclose(f);
        return rp_err(RP_EFORMAT, "%s: PNG of %ux%u is too large", path, img.width, img.height);
    }
    /* 16-bit files without gamma information are sRGB-encoded like 8-bit ones, so the
     * conversion is a plain rescale rather than a linear-to-sRGB curve. */
    img.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    png_color black = {0, 0, 0};
    if (!buf) {
        png_image_free(&img);
        fclose(f);
        return rp_err(RP_ENOMEM, "%s: out of memory", path);
    }
    int ok = png_image_finish_read(&img, &black, buf, 0, NULL);
    fclose(f);
    if (!ok) {
        free(buf);
        return rp_err(RP_EFORMAT, "%s: unreadable PNG: %s", path, img.message);
    }
    *w = (int)img.width, *h = (int)img.height, *pixels = buf;
    return 0;
}

static int png_format(int channels) {
    switch (channels) {
    case 1: return PNG_FORMAT_GRAY;
    case 2: return PNG_FORMAT_GA;
    case 3: return PNG_FORMAT_RGB;
    case 4: return PNG_FORMAT_RGBA;
    }
    return -1;
}

int pngio_write(const char *path, int w, int h, int channels, const uint8_t *pixels) {
    if (w < 1 || h < 1 || png_format(channels) < 0)
        return rp_err(RP_EARG, "%s: cannot write a %dx%d PNG with %d channels", path, w, h, channels);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w, img.height = (png_uint_32)h;
    img.format = (png_uint_32)png_format(channels);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    rp_atomic_tmpname(tmp, tl, path);
    int rc = 0;
    if (!png_image_write_to_file(&img, tmp, 0, pixels, 0, NULL))
        rc = rp_err(RP_EIO, "%s: cannot write PNG: %s", path, img.message);
    rc = rp_atomic_publish(tmp, path, rc);
    free(tmp);
    return rc;
}

int pngio_encode(int w, int h, int channels, const uint8_t *pixels, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    if (w < 1 || h < 1 || png_format(channels) < 0)
        return rp_err(RP_EARG, "cannot encode a %dx%d PNG with %d channels", w, h, channels);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w, img.height = (png_uint_32)h;
    img.format = (png_uint_32)png_format(channels);
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, NULL, &size, 0, pixels, 0, NULL))
        return rp_err(RP_EIO, "PNG encoding failed: %s", img.message);
    uint8_t *buf = malloc(size);
    if (!buf) return rp_err(RP_ENOMEM, "PNG encoding: out of memory");
    if (!png_image_write_to_memory(&img, buf, &size, 0, pixels, 0, NULL)) {
        free(buf);
        return rp_err(RP_EIO, "PNG encoding failed: %s", img.message);
    }
    *out = buf, *len = size;
    return 0;
}
