/* PNG files through libpng's simplified API: read any PNG (gray, gray+alpha, RGB, RGBA, palette,
 * 1..16 bits) as 8-bit gray or RGB, write 8-bit gray/RGB/RGBA atomically (temp name + rename), and
 * encode to memory for reports. Prefix pngio_ because libpng owns png_. */
#ifndef RP_PNGIO_H
#define RP_PNGIO_H
#include <stddef.h>
#include <stdint.h>

/* Reads `path` as 8-bit gray (channels 1: colour converted to luminance) or RGB (channels 3: gray
 * repeated in the three channels); alpha is composited onto black, 16-bit samples scaled to 8
 * bits. *pixels (malloc'd, w*h*channels, row-major interleaved) is the caller's to free. */
int pngio_read(const char *path, int channels, int *w, int *h, uint8_t **pixels);
static inline int pngio_read_gray(const char *path, int *w, int *h, uint8_t **pixels) {
    return pngio_read(path, 1, w, h, pixels);
}
/* channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; pixels row-major interleaved, w*h*channels. */
int pngio_write(const char *path, int w, int h, int channels, const uint8_t *pixels);
static inline int pngio_write_gray(const char *path, int w, int h, const uint8_t *pixels) {
    return pngio_write(path, w, h, 1, pixels);
}
/* The same PNG bytes in memory (*out malloc'd), e.g. for data: URIs in report.html. */
int pngio_encode(int w, int h, int channels, const uint8_t *pixels, uint8_t **out, size_t *len);

#endif
