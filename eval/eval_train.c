/* The training loop of every evaluation network (see eval_jobs.h): the fixed recipe's Adam
 * (beta 0.9/0.999, eps 1e-8, PyTorch semantics) with eval.lr and its schedule. */
#include "eval/eval_jobs.h"
#include "base/progress.h"
#include "base/status.h"
#include "losses/xent.h"
#include "nn/optim.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double eval_lr_at(const eval_options *o, long step, long steps) {
    return o->lr_cosine ? o->lr * 0.5 * (1 + cos(M_PI * (double)step / (double)steps)) : o->lr;
}

const char *eval_lr_schedule_name(int lr_cosine) { return lr_cosine ? "cosine" : "constant"; }

int eval_train_net(evalnet *net, const eval_options *o, long steps, eval_task task, eval_batch_fn fn, void *ctx,
                     const char *what, double *tail_loss) {
    int B = o->batch, K = net->outputs, rc = 0;
    size_t img = (size_t)net->C * net->H * net->W;
    float *x = malloc(B * img * sizeof *x), *y = malloc((size_t)B * K * sizeof *y);
    float *probs = malloc((size_t)B * K * sizeof *probs), *dout = malloc((size_t)B * K * sizeof *dout);
    int *cls = malloc(B * sizeof *cls);
    if (!x || !y || !probs || !dout || !cls) rc = rp_err(RP_ENOMEM, "%s: out of memory for a batch of %d", what, B);
    optim opt;
    optim_init_adam(&opt, (float)o->lr, 0.9f, 0.999f, 1e-8f);
    rp_progress p;
    rp_progress_start(&p, what, "steps", steps, o->quiet);
    long tail_from = steps - (steps / 10 > 0 ? steps / 10 : 1);
    double tail = 0, ema = 0;
    for (long s = 0; !rc && s < steps; s++) {
        if (o->stop && *o->stop) {
            rc = rp_err(RP_EINTR, "%s: interrupted at step %ld of %ld", what, s, steps);
            break;
        }
        if ((rc = fn(ctx, B, x, cls, y))) break;
        const float *out = evalnet_forward(net, x, B);
        double loss = task == EVAL_CLASSIFY ? xent_forward(probs, out, cls, B, K, NULL) : mse_forward(out, y, B, K);
        if (!isfinite(loss)) {
            rc = rp_err(RP_ENUM, "%s: training loss became %g at step %ld (lr %g)", what, loss, s, o->lr);
            break;
        }
        memset(dout, 0, (size_t)B * K * sizeof *dout);
        if (task == EVAL_CLASSIFY) xent_backward(dout, probs, cls, B, K, 1.0f);
        else mse_backward(dout, out, y, B, K, 1.0f);
        param_block_zero_grad(&net->p);
        evalnet_backward(net, dout);
        opt.lr = (float)eval_lr_at(o, s, steps);
        optim_step(&opt, &net->p);
        if (s >= tail_from) tail += loss;
        ema = s ? 0.98 * ema + 0.02 * loss : loss;
        char extra[48];
        snprintf(extra, sizeof extra, "loss %.4f", ema);
        rp_progress_update(&p, s + 1, extra);
    }
    if (!rc) rp_progress_finish(&p);
    *tail_loss = tail / (steps - tail_from);
    free(x), free(y), free(probs), free(dout), free(cls);
    return rc;
}

