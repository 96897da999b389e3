/* Losses: the local adversarial loss (2-class softmax cross-entropy at every location of D's
 * output map) and L1 between two tensors (self-regularization). Reductions are explicit:
 * the adversarial loss is the MEAN over all N*OH*OW locations; L1 is the SUM of |a - b|
 * (callers scale it, e.g. lambda / numel for a mean). */
#ifndef RP_LOSSES_H
#define RP_LOSSES_H
#include <stddef.h>

/* Class indices of D's 2-map output. */
enum adv_class { ADV_REFINED = 0, ADV_REAL = 1 };

/* logits (N, 2, H, W). target[n] in {ADV_REFINED, ADV_REAL} for every location of image n.
 * Writes probs (N, 2, H, W) (softmax over the 2 maps, needed by backward) and returns the mean
 * cross-entropy over N*H*W locations. If correct != NULL, *correct = number of locations whose
 * argmax equals the target. */
double adv_loss_forward(float *probs, const float *logits, const int *target, int N, int H, int W,
                        long *correct);
/* dlogits += scale * d(mean CE)/dlogits, i.e. scale * (probs - onehot) / (N*H*W). */
void adv_loss_backward(float *dlogits, const float *probs, const int *target, int N, int H, int W,
                       float scale);

/* Sum of |a - b| over n elements (accumulated in double). */
double l1_forward(const float *a, const float *b, size_t n);
/* da += scale * sign(a - b) (0 where equal). */
void l1_backward(float *da, const float *a, const float *b, size_t n, float scale);

/* psi = mean over k x k cells (the paper's "per-cell mean" feature): in (N,C,H,W) ->
 * out (N,C,ceil(H/k),ceil(W/k)); partial cells at the border average what they hold. */
void cellmean_forward(float *out, const float *in, int N, int C, int H, int W, int k);
void cellmean_backward(float *din, const float *dout, int N, int C, int H, int W, int k);

#endif
