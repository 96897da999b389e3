/* Softmax cross-entropy over rows and mean squared error (see xent.h). */
#include "losses/xent.h"
#include <assert.h>
#include <math.h>

int xent_argmax(const float *row, int K) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (row[k] > row[best]) best = k;
    return best;
}

double xent_forward(float *probs, const float *logits, const int *target, int N, int K, long *correct) {
    assert(probs && logits && target && N > 0 && K > 0);
    double loss = 0;
    long hits = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (long)n * K;
        float *p = probs + (long)n * K;
        assert(target[n] >= 0 && target[n] < K);
        double mx = x[0];
        for (int k = 1; k < K; k++) mx = x[k] > mx ? x[k] : mx;
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp((double)x[k] - mx);
        for (int k = 0; k < K; k++) p[k] = (float)(exp((double)x[k] - mx) / sum);
        /* -log softmax[t] = log(sum) + mx - x[t]: exact even when p[t] underflows to 0 */
        loss += log(sum) + mx - x[target[n]];
        hits += xent_argmax(x, K) == target[n];
    }
    if (correct) *correct = hits;
    return loss / N;
}

void xent_backward(float *dlogits, const float *probs, const int *target, int N, int K, float scale) {
    assert(dlogits && probs && target && N > 0 && K > 0);
    float s = scale / N;
    for (int n = 0; n < N; n++) {
        float *d = dlogits + (long)n * K;
        const float *p = probs + (long)n * K;
        for (int k = 0; k < K; k++) d[k] += s * (p[k] - (k == target[n]));
    }
}

double mse_forward(const float *pred, const float *target, int N, int D) {
    assert(pred && target && N > 0 && D > 0);
    double sum = 0;
    long n = (long)N * D;
    for (long i = 0; i < n; i++) {
        double e = (double)pred[i] - target[i];
        sum += e * e;
    }
    return sum / n;
}

void mse_backward(float *dpred, const float *pred, const float *target, int N, int D, float scale) {
    assert(dpred && pred && target && N > 0 && D > 0);
    long n = (long)N * D;
    float s = 2.0f * scale / (float)n;
    for (long i = 0; i < n; i++) dpred[i] += s * (pred[i] - target[i]);
}
