/* Contact sheets: a grid of images (nearest-neighbour upscaled, padded) with optional captions
 * under each cell drawn in a built-in 5x7 bitmap font. Used by `preview` and the training
 * sample sheets (synthetic | refined | real). */
#ifndef RP_SHEET_H
#define RP_SHEET_H
#include <stdint.h>

typedef struct {
    int cols;           /* cells per row; 0 = about sqrt(n) */
    int scale;          /* integer upscaling; 0 = 1 */
    int pad;            /* pixels around cells; < 0 = 2 */
    uint8_t background; /* padding/caption background; text is drawn in 255 - background */
} sheet_layout;

/* images: n uint8 images NHWC (C = 1..4; alpha is dropped). captions: NULL or n strings (NULL
 * entries allowed). Output is gray (C <= 2) or RGB (C >= 3), row-major, *out malloc'd. */
int sheet_compose(const uint8_t *images, int n, int H, int W, int C, const char *const *captions,
                  const sheet_layout *layout, uint8_t **out, int *out_w, int *out_h, int *out_c);
/* sheet_compose then pngio_write. */
int sheet_write_png(const char *path, const uint8_t *images, int n, int H, int W, int C,
                    const char *const *captions, const sheet_layout *layout);

/* Text in the 5x7 font (digits, letters case-folded, " -.:=/_(),+%|#"; others as '?'),
 * each glyph 6*size pixels wide and 8*size tall, clipped to the image. */
void sheet_draw_text(uint8_t *img, int w, int h, int channels, int x, int y, int size, const char *text,
                     uint8_t value);
int sheet_text_width(const char *text, int size);

#endif
