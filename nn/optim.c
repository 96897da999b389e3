/* SGD with momentum and Adam over a whole parameter block, one loop each, with PyTorch's
 * update rules (torch.optim.SGD dampening 0 / nesterov off; torch.optim.Adam amsgrad off,
 * weight decay 0), so a PyTorch reference can check them element by element. */
#include "nn/optim.h"
#include <assert.h>
#include <math.h>

void optim_init_sgd(optim *o, float lr, float momentum) {
    *o = (optim){.kind = OPTIM_SGD, .lr = lr, .momentum = momentum};
}

void optim_init_adam(optim *o, float lr, float beta1, float beta2, float eps) {
    *o = (optim){.kind = OPTIM_ADAM, .lr = lr, .beta1 = beta1, .beta2 = beta2, .eps = eps};
}

/* buf = momentum * buf + g; p -= lr * buf. PyTorch starts buf at g, which is what the
 * zero-initialised buffer gives on the first step. */
static void sgd_step(const optim *o, param_block *p) {
    const float lr = o->lr, mu = o->momentum;
    float *restrict x = p->data, *restrict buf = p->m;
    const float *restrict g = p->grad;
    for (size_t i = 0; i < p->count; i++) {
        buf[i] = mu * buf[i] + g[i];
        x[i] -= lr * buf[i];
    }
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
static void adam_step(optim *o, param_block *p) {
    o->t++;
    const double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    const float step = (float)(o->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = o->beta1, b2 = o->beta2, a1 = 1.0f - o->beta1, a2 = 1.0f - o->beta2, eps = o->eps;
    float *restrict x = p->data, *restrict m = p->m, *restrict v = p->v;
    const float *restrict g = p->grad;
    for (size_t i = 0; i < p->count; i++) { /* element-wise: vectorised without changing results */
        m[i] = b1 * m[i] + a1 * g[i];
        v[i] = b2 * v[i] + a2 * g[i] * g[i];
        x[i] -= step * (m[i] / (sqrtf(v[i]) / bc2_sqrt + eps));
    }
}

void optim_step(optim *o, param_block *p) {
    assert(p->data);
    if (o->kind == OPTIM_SGD)
        sgd_step(o, p);
    else
        adam_step(o, p);
}

double optim_clip_grad_norm(param_block *p, double max_norm) {
    double norm = param_block_grad_norm(p);
    /* torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied when < 1.
     * A NaN norm compares false and leaves the gradients for the caller's finiteness check. */
    if (max_norm > 0 && norm + 1e-6 > max_norm) {
        float k = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < p->count; i++) p->grad[i] *= k;
    }
    return norm;
}
