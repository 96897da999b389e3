/* What a training run leaves to look at: metrics.csv (one row per step, truncated to the
 * checkpoint's step on resume so it matches an uninterrupted run), sample sheets, and
 * train.log lines (also echoed to stderr unless quiet). */
#ifndef RP_TRAIN_LOG_H
#define RP_TRAIN_LOG_H
#include <stdio.h>
#include "refiner/train_step.h"

/* Columns: step,phase,r_adv,r_reg,d_loss_real,d_loss_refined,d_acc_real,d_acc_refined,
 * r_mean_abs_diff,step_time. Empty fields where a phase computes nothing. */
#define TRAIN_METRICS_HEADER \
    "step,phase,r_adv,r_reg,d_loss_real,d_loss_refined,d_acc_real,d_acc_refined,r_mean_abs_diff,step_time"

typedef struct {
    FILE *f;
    char path[4096];
} train_metrics;

/* keep_until < 0: a new file with the header. Otherwise keeps the header and the complete rows
 * with step <= keep_until (rewritten atomically), then appends. */
int train_metrics_open(train_metrics *m, const char *path, long keep_until);
int train_metrics_row(train_metrics *m, long step, int phase, const train_stats *st, double seconds);
void train_metrics_close(train_metrics *m);

/* A PNG of 4 rows of n images (float NCHW in [-1, 1]): synthetic, refined,
 * |refined - synthetic| amplified x4 (black = unchanged), real. */
int train_sample_sheet(const char *path, const float *synthetic, const float *refined, const float *real, int n,
                       int C, int H, int W);

/* Appends "step N: message" to log_path; echoes "train: step N: message" to stderr
 * unless quiet. */
void train_log(const char *log_path, int quiet, long step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
