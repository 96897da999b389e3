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

/* Fills a batch of B inputs x (B, C, H, W) and targets: classes cls (B) or values y (B, K). */
typedef int (*eval_batch_fn)(void *ctx, int B, float *x, int *cls, float *y);

/* Trains net for `steps` Adam steps (eval.lr with its schedule) on batches from fn; progress is
 * named `what`. *tail_loss = mean loss over the last 10% of steps. */
int eval_train_net(evalnet *net, const eval_options *o, long steps, eval_task task, eval_batch_fn fn, void *ctx,
                   const char *what, double *tail_loss);

/* The task network: reads T's and the test set's labels (o->label), trains one network per seed
 * of eval.repeats on T and scores each on the test set (the first seed writes o->predictions).
 * Fills res's task, outputs, metric, value(s), train_loss and per-class fields; net gets the
 * first seed's network (the feature network when none is loaded; the caller frees it). */
int eval_task_run(const eval_options *o, int repeats, evsrc *T, evsrc *test, evalnet *net, eval_result *res);

/* Realism of T against the real pool: Fréchet distance in feat's features, the domain classifier
 * once per seed, intensity histograms. */
int eval_realism_run(const eval_options *o, int repeats, evalnet *feat, evsrc *real, evsrc *T, eval_result *res);

#endif
