/* Fully connected layer (see linear.h): three gemm calls, as for a 1x1 convolution on rows. */
#include "nn/linear.h"
#include "nn/gemm.h"
#include <assert.h>

void linear_forward(float *out, const float *in, const float *w, const float *b, int N, int I, int O) {
    assert(out && in && w && N > 0 && I > 0 && O > 0);
    nn_gemm(0, 1, N, O, I, 1.0f, in, I, w, I, 0.0f, out, O);
    if (!b) return;
    for (int n = 0; n < N; n++) {
        float *row = out + (long)n * O;
        for (int o = 0; o < O; o++) row[o] += b[o];
    }
}

void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                     int N, int I, int O) {
    assert(dout && N > 0 && I > 0 && O > 0);
    if (din) nn_gemm(0, 0, N, I, O, 1.0f, dout, O, w, I, 1.0f, din, I);     /* (N,O).(O,I) */
    if (dw) nn_gemm(1, 0, O, I, N, 1.0f, dout, O, in, I, 1.0f, dw, I);      /* (N,O)^T.(N,I) */
    if (db)
        for (int n = 0; n < N; n++) {
            const float *row = dout + (long)n * O;
            for (int o = 0; o < O; o++) db[o] += row[o];
        }
}
