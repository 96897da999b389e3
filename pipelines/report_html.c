/* Writer of the self-contained report.html (see report_html.h). */
#include "pipelines/report_html.h"
#include "base/atomic.h"
#include "base/status.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------ */
/* small output helpers */

static void put_escaped(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

void report_base64(char *out, const unsigned char *in, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = 0;
}

static int embed_png(FILE *f, const char *path, const char *caption) {
    FILE *in = fopen(path, "rb");
    if (!in) return rp_err(RP_EIO, "%s: cannot read sample sheet for the report: %s", path, strerror(errno));
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc(n) : NULL;
    char *b64 = n > 0 ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    int ok = buf && b64 && fread(buf, 1, n, in) == (size_t)n;
    fclose(in);
    if (!ok) {
        free(buf);
        free(b64);
        return rp_err(RP_EIO, "%s: cannot read sample sheet for the report", path);
    }
    report_base64(b64, buf, n);
    fputs("<figure><img alt=\"", f);
    put_escaped(f, caption);
    fprintf(f, "\" src=\"data:image/png;base64,%s\"><figcaption>", b64);
    put_escaped(f, caption);
    fputs("</figcaption></figure>\n", f);
    free(buf);
    free(b64);
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* metrics.csv -> inline SVG charts. Columns are found by name: "step" is x; columns whose
 * name contains "acc" go to the accuracy chart, other numeric columns except time/phase to
 * the loss chart. Rows may be many: charts draw at most ~600 points per series (strided). */

#define MAX_SERIES 12

typedef struct {
    int ncols;
    char names[MAX_SERIES + 4][48];
    int step_col;
    long nrows, cap;
    double *vals; /* nrows * ncols */
} csv_table;

static int csv_load(const char *path, csv_table *t) {
    memset(t, 0, sizeof *t);
    t->step_col = -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[4096];
    if (!fgets(line, sizeof line, f)) { fclose(f); return -1; }
    for (char *tok = strtok(line, ",\r\n"); tok && t->ncols < MAX_SERIES + 4; tok = strtok(NULL, ",\r\n")) {
        snprintf(t->names[t->ncols], sizeof t->names[0], "%s", tok);
        if (!strcmp(tok, "step")) t->step_col = t->ncols;
        t->ncols++;
    }
    while (fgets(line, sizeof line, f)) {
        if (t->nrows == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            double *v = realloc(t->vals, t->cap * t->ncols * sizeof *v);
            if (!v) break;
            t->vals = v;
        }
        double *row = t->vals + t->nrows * t->ncols;
        char *p = line;
        for (int c = 0; c < t->ncols; c++) {
            char *end;
            row[c] = strtod(p, &end);
            if (end == p) row[c] = NAN; /* non-numeric (e.g. phase name) */
            p = strchr(p, ',');
            if (!p) { for (c++; c < t->ncols; c++) row[c] = NAN; break; }
            p++;
        }
        t->nrows++;
    }
    fclose(f);
    return t->nrows > 0 && t->step_col >= 0 ? 0 : -1;
}

static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

#define LOG_DECADES 4

static void svg_chart(FILE *f, const csv_table *t, int want_acc, const char *title) {
    int cols[MAX_SERIES], n = 0;
    for (int c = 0; c < t->ncols && n < MAX_SERIES; c++) {
        const char *nm = t->names[c];
        if (c == t->step_col || strstr(nm, "time") || !strcmp(nm, "phase")) continue;
        if ((strstr(nm, "acc") != NULL) != want_acc) continue;
        cols[n++] = c;
    }
    if (!n) return;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY, minpos = INFINITY;
    for (long r = 0; r < t->nrows; r++) {
        const double *row = t->vals + r * t->ncols;
        for (int i = 0; i < n; i++) {
            double y = row[cols[i]];
            if (!isfinite(y)) continue;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
            if (y > 0 && y < minpos) minpos = y;
        }
        double x = row[t->step_col];
        if (isfinite(x)) { if (x < xmin) xmin = x; if (x > xmax) xmax = x; }
    }
    if (!isfinite(ymin) || !isfinite(xmin)) return;
    /* Losses on a log scale over whole decades, at most LOG_DECADES of them below the largest
     * (D's first adversarial steps reach 5-100 and would flatten the rest); smaller values,
     * zeros included, sit on the floor. Accuracies on [0, 1]. */
    int log_y = !want_acc && ymax > 0;
    if (want_acc) ymin = 0, ymax = 1;
    else if (log_y) {
        double top = ceil(log10(ymax));
        ymax = top;
        ymin = fmax(floor(log10(minpos)), top - LOG_DECADES);
        if (ymin >= ymax) ymin = ymax - 1;
    }
    if (ymax <= ymin) ymax = ymin + 1;
    if (xmax <= xmin) xmax = xmin + 1;
    const double W = 640, H = 260, L = 50, R = 160, T = 20, B = 30;
    fprintf(f, "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "viewBox=\"0 0 %g %g\" role=\"img\" aria-label=\"", W, H, W, H);
    put_escaped(f, title);
    fprintf(f, "\"><rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"#fff\" stroke=\"#999\"/>\n", L, T,
            W - L - R, H - T - B);
    int lines = log_y ? (int)(ymax - ymin) : 4; /* one per decade on the log scale */
    for (int k = 0; k <= lines; k++) {
        double y = T + (H - T - B) * k / lines, v = ymax - (ymax - ymin) * k / lines;
        fprintf(f, "<line x1=\"%g\" x2=\"%g\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                   "<text x=\"%g\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>\n",
                L, W - R, y, y, L - 4, y + 3, log_y ? pow(10, v) : v);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" font-size=\"10\">step %.0f</text><text x=\"%g\" y=\"%g\" font-size=\"10\" "
               "text-anchor=\"end\">%.0f</text>\n", L, H - 8, xmin, W - R, H - 8, xmax);
    long stride = t->nrows > 600 ? (t->nrows + 599) / 600 : 1;
    for (int i = 0; i < n; i++) {
        fprintf(f, "<polyline fill=\"none\" stroke-width=\"1.2\" stroke=\"%s\" points=\"", palette[i % 8]);
        for (long r = 0; r < t->nrows; r += stride) {
            const double *row = t->vals + r * t->ncols;
            double x = row[t->step_col], y = row[cols[i]];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (log_y) y = y > 0 ? fmax(log10(y), ymin) : ymin;
            fprintf(f, "%.1f,%.1f ", L + (W - L - R) * (x - xmin) / (xmax - xmin),
                    T + (H - T - B) * (ymax - y) / (ymax - ymin));
        }
        fprintf(f, "\"/><text x=\"%g\" y=\"%g\" font-size=\"11\" fill=\"%s\">", W - R + 8, T + 12 + 14.0 * i,
                palette[i % 8]);
        put_escaped(f, t->names[cols[i]]);
        fputs("</text>\n", f);
    }
    fputs("</svg><figcaption>", f);
    put_escaped(f, title);
    fputs("</figcaption></figure>\n", f);
}

/* ------------------------------------------------------------------------------------ */

static int write_body(FILE *f, const report_html_input *in) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
    put_escaped(f, in->title);
    fputs("</title><style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 10px;text-align:right}"
          "th{background:#f0f0f0}td:first-child{text-align:left}figure{display:inline-block;margin:8px}"
          "img{image-rendering:pixelated;border:1px solid #ccc;max-width:100%}pre{background:#f6f6f6;padding:8px;"
          "overflow:auto;font-size:12px}</style></head><body>\n<h1>", f);
    put_escaped(f, in->title);
    fputs("</h1>\n", f);
    if (in->summary) { fputs("<p>", f); put_escaped(f, in->summary); fputs("</p>\n", f); }
    fputs("<h2>Evaluation</h2>\n<table id=\"evaluation\"><thead><tr>", f);
    for (int c = 0; c < in->ncols; c++) { fputs("<th>", f); put_escaped(f, in->header[c]); fputs("</th>", f); }
    fputs("</tr></thead><tbody>\n", f);
    for (int r = 0; r < in->nrows; r++) {
        fputs("<tr>", f);
        for (int c = 0; c < in->ncols; c++) { fputs("<td>", f); put_escaped(f, in->cells[r][c]); fputs("</td>", f); }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
    csv_table t;
    if (in->metrics_csv && csv_load(in->metrics_csv, &t) == 0) {
        fputs("<h2>Training curves</h2>\n", f);
        svg_chart(f, &t, 0, "losses per step (log scale)");
        svg_chart(f, &t, 1, "discriminator accuracy per step");
    }
    if (in->metrics_csv) free(t.vals);
    if (in->nimages) fputs("<h2>Samples</h2>\n", f);
    for (int i = 0; i < in->nimages; i++) {
        int rc = embed_png(f, in->image_path[i], in->image_caption[i]);
        if (rc) return rc;
    }
    if (in->nkv) {
        fputs("<h2>Provenance</h2>\n<table id=\"provenance\">", f);
        for (int i = 0; i < in->nkv; i++) {
            fputs("<tr><td>", f); put_escaped(f, in->kv_key[i]);
            fputs("</td><td style=\"text-align:left\">", f); put_escaped(f, in->kv_value[i]);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    if (in->config_ini) {
        fputs("<h2>Effective configuration</h2>\n<pre id=\"config\">", f);
        put_escaped(f, in->config_ini);
        fputs("</pre>\n", f);
    }
    /* Lets a headless browser test prove the page rendered: after load, the body carries how
     * many embedded images actually decoded (see tests/test_report_browser.c). */
    fputs("<script>window.addEventListener('load',function(){var n=0;for(var i=0;i<document.images.length;i++)"
          "{var m=document.images[i];if(m.complete&&m.naturalWidth>0)n++;}"
          "document.body.setAttribute('data-images-decoded',String(n));});</script>\n", f);
    fputs("</body></html>\n", f);
    return 0;
}

int report_html_write(const char *path, const report_html_input *in) {
    char tmp[4096];
    int rc = rp_atomic_tmpname(tmp, sizeof tmp, path);
    if (rc) return rc;
    FILE *f = fopen(tmp, "w");
    if (!f) return rp_err(RP_EIO, "%s: cannot write report: %s", tmp, strerror(errno));
    rc = write_body(f, in);
    if (fclose(f) != 0 && !rc) rc = rp_err(RP_EIO, "%s: write failed: %s", tmp, strerror(errno));
    return rp_atomic_publish(tmp, path, rc);
}
