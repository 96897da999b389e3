/* report.html: one self-contained page (no external resources) with the evaluation table,
 * loss/accuracy curves drawn as inline SVG from metrics.csv, sample sheets embedded as
 * base64 PNG data URIs, the effective config and provenance. Generic inputs (strings, file
 * paths) keep it independent of how the numbers were produced. */
#ifndef RP_REPORT_HTML_H
#define RP_REPORT_HTML_H
#include <stddef.h>

#define REPORT_MAX_ROWS 16
#define REPORT_MAX_COLS 8
#define REPORT_MAX_IMAGES 16
#define REPORT_MAX_KV 32

typedef struct {
    const char *title;
    const char *summary;                 /* one paragraph shown under the title (may be NULL) */
    /* evaluation table: header + rows of cells (plain text, escaped on output) */
    int ncols, nrows;
    const char *header[REPORT_MAX_COLS];
    const char *cells[REPORT_MAX_ROWS][REPORT_MAX_COLS];
    const char *metrics_csv;             /* path to metrics.csv (may be NULL or missing) */
    int nimages;
    const char *image_caption[REPORT_MAX_IMAGES];
    const char *image_path[REPORT_MAX_IMAGES]; /* PNG files, embedded inline */
    int nkv;
    const char *kv_key[REPORT_MAX_KV], *kv_value[REPORT_MAX_KV]; /* provenance */
    const char *config_ini;              /* effective config (may be NULL) */
} report_html_input;

/* Writes path atomically (temp + rename). 0 or RP_E* with a message. */
int report_html_write(const char *path, const report_html_input *in);

/* Exposed for tests: standard base64 of n bytes into out (4*ceil(n/3)+1 bytes), NUL-terminated. */
void report_base64(char *out, const unsigned char *in, size_t n);

#endif
