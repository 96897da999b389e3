/* Contact-sheet composition and a tiny bitmap font (see sheet.h). */
#include "io/sheet.h"
#include "io/png.h"
#include "base/status.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- font */
/* 5x7 glyphs, one byte per row top to bottom, bit 4 = leftmost column. */
static const struct {
    char c;
    uint8_t rows[7];
} font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},                      {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},                {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},                   {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},       {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}}, {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},
};

static const uint8_t *glyph(char c) {
    c = (char)toupper((unsigned char)c);
    size_t n = sizeof font / sizeof font[0];
    for (size_t i = 0; i < n; i++)
        if (font[i].c == c) return font[i].rows;
    return font[n - 1].rows;
}

int sheet_text_width(const char *text, int size) { return (int)strlen(text) * 6 * (size < 1 ? 1 : size); }

void sheet_draw_text(uint8_t *img, int w, int h, int channels, int x, int y, int size, const char *text,
                     uint8_t value) {
    if (size < 1) size = 1;
    for (; *text; text++, x += 6 * size) {
        const uint8_t *g = glyph(*text);
        for (int r = 0; r < 7 * size; r++)
            for (int c = 0; c < 5 * size; c++) {
                int px = x + c, py = y + r;
                if (px < 0 || py < 0 || px >= w || py >= h || !(g[r / size] & (0x10 >> (c / size)))) continue;
                for (int k = 0; k < channels; k++) img[((long)py * w + px) * channels + k] = value;
            }
    }
}

/* ---------------------------------------------------------------- sheets */
int sheet_compose(const uint8_t *images, int n, int H, int W, int C, const char *const *captions,
                  const sheet_layout *lay, uint8_t **out, int *out_w, int *out_h, int *out_c) {
    *out = NULL;
    if (n < 1 || H < 1 || W < 1 || C < 1 || C > 4)
        return rp_err(RP_EARG, "contact sheet: %d images of %dx%dx%d", n, H, W, C);
    int cols = lay && lay->cols > 0 ? lay->cols : (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    int scale = lay && lay->scale > 0 ? lay->scale : 1;
    int pad = lay && lay->pad >= 0 ? lay->pad : 2;
    uint8_t bg = lay ? lay->background : 0;
    int rows = (n + cols - 1) / cols;
    int cap = captions ? 10 : 0;
    int cw = W * scale, ch = H * scale + cap;
    int oc = C >= 3 ? 3 : 1;
    long ow = (long)cols * cw + (long)(cols + 1) * pad, oh = (long)rows * ch + (long)(rows + 1) * pad;
    if (ow * oh > (1L << 28)) return rp_err(RP_EARG, "contact sheet of %ldx%ld pixels is too large", ow, oh);
    uint8_t *img = malloc(ow * oh * oc);
    if (!img) return rp_err(RP_ENOMEM, "contact sheet: out of memory");
    memset(img, bg, ow * oh * oc);
    for (int i = 0; i < n; i++) {
        long x0 = pad + (long)(i % cols) * (cw + pad), y0 = pad + (long)(i / cols) * (ch + pad);
        const uint8_t *src = images + (long)i * H * W * C;
        for (long y = 0; y < (long)H * scale; y++)
            for (long x = 0; x < cw; x++) {
                const uint8_t *p = src + ((y / scale) * W + x / scale) * C;
                uint8_t *d = img + ((y0 + y) * ow + x0 + x) * oc;
                for (int k = 0; k < oc; k++) d[k] = p[k];
            }
        if (captions && captions[i]) {
            /* clip to the cell so long captions cannot run into the neighbour */
            char buf[64];
            int maxc = cw / 6;
            snprintf(buf, sizeof buf, "%.*s", maxc < 63 ? maxc : 63, captions[i]);
            int tx = (int)x0 + (cw - sheet_text_width(buf, 1)) / 2;
            sheet_draw_text(img, (int)ow, (int)oh, oc, tx, (int)(y0 + H * scale + 2), 1, buf, (uint8_t)(255 - bg));
        }
    }
    *out = img, *out_w = (int)ow, *out_h = (int)oh, *out_c = oc;
    return 0;
}

int sheet_write_png(const char *path, const uint8_t *images, int n, int H, int W, int C,
                    const char *const *captions, const sheet_layout *layout) {
    uint8_t *img;
    int w, h, c;
    int rc = sheet_compose(images, n, H, W, C, captions, layout, &img, &w, &h, &c);
    if (rc) return rp_err_prefix(rc, "%s: ", path);
    rc = pngio_write(path, w, h, c, img);
    free(img);
    return rc;
}
