/* Losses for the evaluation network: multi-class softmax cross-entropy over N rows of K logits
 * and mean squared error for regression. Both reduce by the MEAN (over N rows for cross-entropy,
 * over N*D values for MSE); backward accumulates scale * d(mean)/dinput. */
#ifndef RP_XENT_H
#define RP_XENT_H

/* logits (N, K), target[n] in [0, K). Writes probs (N, K) (softmax, kept for backward) and
 * returns the mean cross-entropy (computed in double with log-sum-exp). If correct != NULL,
 * *correct = rows whose argmax (first maximum on ties) equals the target. */
double xent_forward(float *probs, const float *logits, const int *target, int N, int K, long *correct);
/* dlogits += scale * (probs - onehot(target)) / N. */
void xent_backward(float *dlogits, const float *probs, const int *target, int N, int K, float scale);
/* Index of the largest of K values (first on ties). */
int xent_argmax(const float *row, int K);

/* pred, target (N, D): returns mean of (pred - target)^2 over N*D values. */
double mse_forward(const float *pred, const float *target, int N, int D);
/* dpred += scale * 2 (pred - target) / (N*D). */
void mse_backward(float *dpred, const float *pred, const float *target, int N, int D, float scale);

#endif
