/* Losses: the local adversarial loss (2-class softmax cross-entropy at every location of D's map,
 * mean over locations), L1 (sum of |a - b|) and the per-cell mean feature used by the
 * self-regularization term. N batch, C channels, H W map size. */
#include "losses/losses.h"
#include <assert.h>
#include <math.h>

double adv_loss_forward(float *probs, const float *logits, const int *target, int N, int H, int W,
                        long *correct) {
    const size_t P = (size_t)H * W;
    double total = 0;
    long right = 0;
    for (int n = 0; n < N; n++) {
        assert(target[n] == ADV_REFINED || target[n] == ADV_REAL);
        const float *l0 = logits + (size_t)n * 2 * P, *l1 = l0 + P;
        float *p0 = probs + (size_t)n * 2 * P, *p1 = p0 + P;
        for (size_t i = 0; i < P; i++) {
            /* log-sum-exp around the larger logit: never overflows, never takes log(0). */
            double a = l0[i], b = l1[i], m = a > b ? a : b;
            double lse = m + log(exp(a - m) + exp(b - m));
            p0[i] = (float)exp(a - lse);
            p1[i] = (float)exp(b - lse);
            total += lse - (target[n] == ADV_REAL ? b : a);
            /* Ties go to class 0, as argmax takes the first maximum. */
            int pred = b > a ? ADV_REAL : ADV_REFINED;
            right += pred == target[n];
        }
    }
    if (correct) *correct = right;
    return total / ((double)N * P);
}

void adv_loss_backward(float *dlogits, const float *probs, const int *target, int N, int H, int W,
                       float scale) {
    const size_t P = (size_t)H * W;
    const float k = (float)(scale / ((double)N * P));
    for (int n = 0; n < N; n++) {
        const float *p0 = probs + (size_t)n * 2 * P, *p1 = p0 + P;
        float *g0 = dlogits + (size_t)n * 2 * P, *g1 = g0 + P;
        const float t1 = target[n] == ADV_REAL ? 1.0f : 0.0f, t0 = 1.0f - t1;
        for (size_t i = 0; i < P; i++) {
            g0[i] += k * (p0[i] - t0);
            g1[i] += k * (p1[i] - t1);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */

double l1_forward(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)a[i] - b[i]);
    return s;
}

void l1_backward(float *da, const float *a, const float *b, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) da[i] += a[i] > b[i] ? scale : a[i] < b[i] ? -scale : 0.0f;
}

/* ------------------------------------------------------------------------------------------ */

void cellmean_forward(float *out, const float *in, int N, int C, int H, int W, int k) {
    assert(k > 0);
    const int OH = (H + k - 1) / k, OW = (W + k - 1) / k;
    for (size_t pl = 0; pl < (size_t)N * C; pl++) {
        const float *x = in + pl * H * W;
        float *o = out + pl * OH * OW;
        for (int i = 0; i < OH; i++) {
            int h1 = (i + 1) * k < H ? (i + 1) * k : H;
            for (int j = 0; j < OW; j++) {
                int w1 = (j + 1) * k < W ? (j + 1) * k : W;
                double s = 0;
                for (int h = i * k; h < h1; h++)
                    for (int w = j * k; w < w1; w++) s += x[h * W + w];
                o[i * OW + j] = (float)(s / ((h1 - i * k) * (w1 - j * k)));
            }
        }
    }
}

void cellmean_backward(float *din, const float *dout, int N, int C, int H, int W, int k) {
    assert(k > 0);
    const int OH = (H + k - 1) / k, OW = (W + k - 1) / k;
    for (size_t pl = 0; pl < (size_t)N * C; pl++) {
        float *dx = din + pl * H * W;
        const float *g = dout + pl * OH * OW;
        for (int i = 0; i < OH; i++) {
            int h1 = (i + 1) * k < H ? (i + 1) * k : H;
            for (int j = 0; j < OW; j++) {
                int w1 = (j + 1) * k < W ? (j + 1) * k : W;
                float v = g[i * OW + j] / (float)((h1 - i * k) * (w1 - j * k));
                for (int h = i * k; h < h1; h++)
                    for (int w = j * k; w < w1; w++) dx[h * W + w] += v;
            }
        }
    }
}
