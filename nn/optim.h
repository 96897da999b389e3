/* Optimizers over a whole parameter block: SGD with momentum, and Adam (PyTorch semantics:
 * bias-corrected moments, eps added after the square root, weight decay off by default). */
#ifndef RP_OPTIM_H
#define RP_OPTIM_H
#include "nn/params.h"

typedef enum { OPTIM_SGD = 0, OPTIM_ADAM = 1 } optim_kind;

typedef struct {
    optim_kind kind;
    float lr;
    float momentum;       /* SGD */
    float beta1, beta2;   /* Adam */
    float eps;
    long t;               /* steps taken (Adam bias correction); saved in checkpoints */
} optim;

void optim_init_sgd(optim *o, float lr, float momentum);
void optim_init_adam(optim *o, float lr, float beta1, float beta2, float eps);
/* One update of p->data from p->grad, using p->m / p->v as state. Does not zero grads. */
void optim_step(optim *o, param_block *p);
/* Scales grads so their global L2 norm is at most max_norm (no-op if max_norm <= 0).
 * Returns the norm before clipping. */
double optim_clip_grad_norm(param_block *p, double max_norm);

#endif
