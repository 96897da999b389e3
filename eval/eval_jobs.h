/* Inside the evaluation (eval/eval*.c only): the training loop every evaluation network shares,
 * and the two jobs eval_run strings together, the task network (eval_task.c) and the realism
 * metrics (eval_realism.c). */
#ifndef RP_EVAL_JOBS_H
#define RP_EVAL_JOBS_H
#include "eval/eval.h"
#include "eval/eval_data.h"
#include "eval/evalnet.h"

/* RNG streams and init seeds, so each random choice is independent and fixed by the seed */
enum { EVAL_ST_TASK = 1, EVAL_ST_DOM_REAL, EVAL_ST_DOM_T, EVAL_ST_DOM_SAMPLE_REAL, EVAL_ST_DOM_SAMPLE_T,
       EVAL_ST_FID_REAL, EVAL_ST_FID_T };
#define EVAL_INIT_TASK 101
#define EVAL_INIT_DOMAIN 202

/* ---------------------------------------------------------------- labels (eval_labels.c) */
#define EVAL_MAX_LABEL_VALUES 64 /* float label columns per row */

typedef struct {
    eval_task task;
    int D;           /* values per row (1 for classes) */
    int K;           /* network outputs */
    int gaze;        /* label "gaze" with 2 values: errors are angles in degrees */
    int *cls;        /* T classes (N) */
    float *y;        /* T targets standardised (N, D) */
    double *mean, *std;
    int *test_cls;   /* test set (N_test) */
    float *test_y;   /* test set, label units (N_test, D) */
} eval_labels;

/* Reads label `label` of T and of test (NULL: T's own labels stand in) and checks they agree. */
int eval_labels_load(eval_labels *L, evsrc *T, evsrc *test, const char *label);
void eval_labels_free(eval_labels *L);
/* "accuracy", "angular_error_deg" or "mae": the task's score on a test set. */
const char *eval_labels_metric(const eval_labels *L);
/* Row i's label in label units (classes: the class as a float) from T, or from the test set. */
void eval_labels_target(const eval_labels *L, long i, int test, float *dst);
/* A prediction (the network's K outputs) in label units (regression): dst (D). */
void eval_labels_predicted(const eval_labels *L, const float *out, float *dst);
/* The error of one prediction against a target in label units: classes 0 (right) or 1 (wrong);
 * gaze the angle in degrees; other regression labels the mean absolute error over the D values. */
double eval_labels_error(const eval_labels *L, const float *out, const float *target);

/* ---------------------------------------------------------------- MPI ranks (eval_ranks.c) */
/* Under mpirun the seeds of eval.repeats are jobs spread over the ranks: the task network's seeds
 * are jobs 0 .. repeats-1 (job 0, the first seed, whose network is the feature network and writes
 * the predictions, on rank 0), the domain classifier's jobs repeats .. 2 repeats-1. The last rank
 * trains the label-consistency probe; rank 0 does the rest (Fréchet distance, histograms) and
 * sends the whole result. */
/* 1 if job `job` runs on this rank (job % ranks == rank; always 1 in one process). */
int eval_job_mine(int job);
/* After each rank ran its jobs with status rc: agrees on failure (any rank's stops all), then
 * rows (n rows of width doubles, row i from job first_job + i, filled by its rank) are copied
 * from their ranks to every rank. Returns rc, or the agreed failure. */
int eval_jobs_share(double *rows, int first_job, int n, int width, int rc);

/* ---------------------------------------------------------------- training */
/* Fills a batch of B inputs x (B, C, H, W) and targets: classes cls (B) or values y (B, K). */
typedef int (*eval_batch_fn)(void *ctx, int B, float *x, int *cls, float *y);

/* Trains net for `steps` Adam steps (eval.lr with its schedule) on batches from fn; progress is
 * named `what`. *tail_loss = mean loss over the last 10% of steps. */
int eval_train_net(evalnet *net, const eval_options *o, long steps, eval_task task, eval_batch_fn fn, void *ctx,
                   const char *what, double *tail_loss);

/* The task network: reads T's and the test set's labels (o->label), trains one network per seed
 * of eval.repeats on T and scores each on the test set (the first seed writes o->predictions).
 * test may be NULL (no labeled real test set): one network is trained, the feature network, and
 * the scores are NaN.
 * Fills res's task, outputs, metric, value(s), train_loss and per-class fields; net gets the
 * first seed's network (the feature network when none is loaded; the caller frees it). */
int eval_task_run(const eval_options *o, int repeats, evsrc *T, evsrc *test, evalnet *net, eval_result *res);

/* Realism of T against the real pool: Fréchet distance in feat's features, the domain classifier
 * once per seed, intensity histograms. */
int eval_realism_run(const eval_options *o, int repeats, evalnet *feat, evsrc *real, evsrc *T, eval_result *res);

#endif
