/* metrics.csv, sample sheets and train.log of a training run (see train_log.h). */
#include "refiner/train_log.h"
#include "io/sheet.h"
#include "base/dist.h"
#include "base/atomic.h"
#include "base/status.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Rows of the old file to keep: the header and complete rows (ending in '\n') whose step is
 * <= keep_until. A row cut short by a crash has no newline and is dropped. */
static int rewrite_kept(const char *path, long keep_until) {
    FILE *in = fopen(path, "r");
    if (!in) return errno == ENOENT ? 1 : rp_err(RP_EIO, "%s: cannot read: %s", path, strerror(errno));
    char tmp[4200];
    int rc = rp_atomic_tmpname(tmp, sizeof tmp, path);
    if (rc) {
        fclose(in);
        return rc;
    }
    FILE *out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return rp_err(RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int first = 1;
    while ((len = getline(&line, &cap, in)) > 0) {
        if (line[len - 1] != '\n') break;
        if (first) {
            first = 0;
            if (strncmp(line, "step,", 5)) {
                rc = rp_err(RP_EFORMAT, "%s: not a metrics file (first line is not the header)", path);
                break;
            }
            fputs(TRAIN_METRICS_HEADER "\n", out);
            continue;
        }
        char *end;
        long step = strtol(line, &end, 10);
        if (end == line || *end != ',' || step > keep_until) continue;
        fputs(line, out);
    }
    free(line);
    if (first && !rc) fputs(TRAIN_METRICS_HEADER "\n", out);
    fclose(in);
    if (fclose(out) && !rc) rc = rp_err(RP_EIO, "cannot write %s: %s", tmp, strerror(errno));
    return rp_atomic_publish(tmp, path, rc);
}

int train_metrics_open(train_metrics *m, const char *path, long keep_until) {
    memset(m, 0, sizeof *m);
    if (rp_dist_rank() != 0) return 0; /* under MPI rank 0 writes metrics.csv */
    snprintf(m->path, sizeof m->path, "%s", path);
    rp_atomic_sweep(path); /* a killed run's rewrite */
    int rc = keep_until < 0 ? 1 : rewrite_kept(path, keep_until);
    if (rc < 0) return rc;
    m->f = fopen(path, rc == 1 ? "w" : "a");
    if (!m->f) return rp_err(RP_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
    if (rc == 1) fputs(TRAIN_METRICS_HEADER "\n", m->f);
    return fflush(m->f) ? rp_err(RP_EIO, "%s: cannot write: %s", path, strerror(errno)) : 0;
}

static void field(FILE *f, double v) {
    if (isnan(v)) fputs(",", f);
    else fprintf(f, ",%.6g", v);
}

int train_metrics_row(train_metrics *m, long step, int phase, const train_stats *st, double seconds) {
    if (!m->f) return 0; /* not rank 0 */
    fprintf(m->f, "%ld,%s", step, train_phase_name(phase));
    field(m->f, st->r_adv);
    field(m->f, st->r_reg);
    field(m->f, st->d_real);
    field(m->f, st->d_fake);
    field(m->f, st->acc_real);
    field(m->f, st->acc_fake);
    field(m->f, st->r_l1);
    fprintf(m->f, ",%.4f\n", seconds);
    /* flushed per row so a crash loses at most the row being written */
    if (fflush(m->f) || ferror(m->f)) return rp_err(RP_EIO, "%s: cannot write: %s", m->path, strerror(errno));
    return 0;
}

void train_metrics_close(train_metrics *m) {
    if (m->f) fclose(m->f);
    m->f = NULL;
}

/* ------------------------------------------------------------------------------------ */

static uint8_t to_u8(float v) { /* [-1, 1] -> 0..255 */
    float x = (v + 1.0f) * 127.5f + 0.5f;
    return x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)x;
}

/* float NCHW image i of a row -> uint8 NHWC cell r*n + i */
static void put_row(uint8_t *cells, int r, const float *imgs, const float *minus, int n, int C, int H, int W) {
    size_t hw = (size_t)H * W, img = hw * C;
    for (int i = 0; i < n; i++) {
        uint8_t *dst = cells + ((size_t)r * n + i) * img;
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < hw; p++) {
                float v = imgs[i * img + c * hw + p];
                if (minus) {
                    /* |difference| in [0, 2], x4 gain mapped onto 0..255: 1/32 of the range is 32 levels */
                    float d = fabsf(v - minus[i * img + c * hw + p]) * 0.5f * 4.0f;
                    dst[p * C + c] = to_u8(d * 2.0f - 1.0f);
                } else {
                    dst[p * C + c] = to_u8(v);
                }
            }
    }
}

int train_sample_sheet(const char *path, const float *synthetic, const float *refined, const float *real, int n,
                       int C, int H, int W) {
    size_t img = (size_t)C * H * W;
    uint8_t *cells = malloc(4 * n * img);
    const char **captions = calloc(4 * (size_t)n, sizeof *captions);
    if (!cells || !captions) {
        free(cells);
        free(captions);
        return rp_err(RP_ENOMEM, "%s: out of memory for the sample sheet", path);
    }
    put_row(cells, 0, synthetic, NULL, n, C, H, W);
    put_row(cells, 1, refined, NULL, n, C, H, W);
    put_row(cells, 2, refined, synthetic, n, C, H, W);
    put_row(cells, 3, real, NULL, n, C, H, W);
    captions[0] = "synthetic";
    captions[n] = "refined";
    captions[2 * n] = "diff x4";
    captions[3 * n] = "real";
    int scale = H < 48 ? 2 : 1;
    sheet_layout layout = {.cols = n, .scale = scale, .pad = 2, .background = 0};
    int rc = sheet_write_png(path, cells, 4 * n, H, W, C, captions, &layout);
    free(cells);
    free(captions);
    return rc;
}

/* ------------------------------------------------------------------------------------ */

void train_log(const char *log_path, int quiet, long step, const char *fmt, ...) {
    if (rp_dist_rank() != 0) return; /* under MPI rank 0 keeps the log */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_path) {
        FILE *f = fopen(log_path, "a");
        if (f) {
            char when[32];
            time_t now = time(NULL);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
            fprintf(f, "%s step %ld: %s\n", when, step, msg);
            fclose(f);
        }
    }
    if (!quiet) {
        /* clear a progress bar drawn on this line first */
        fprintf(stderr, "%strain: step %ld: %s\n", isatty(2) ? "\r\033[K" : "", step, msg);
        fflush(stderr);
    }
}
