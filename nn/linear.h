/* Fully connected layer on rows, PyTorch layout: w (O, I), b (O). Same argument order and
 * accumulate semantics as conv2d: forward overwrites out, backward adds into the gradients.
 *
 * Dimension letters: N rows (batch), I input features, O output features. */
#ifndef RP_LINEAR_H
#define RP_LINEAR_H

/* out (N, O) = in (N, I) . w^T + b.  b may be NULL. Overwrites out. */
void linear_forward(float *out, const float *in, const float *w, const float *b, int N, int I, int O);
/* Accumulates (+=) into din (N, I), dw (O, I), db (O); any of them may be NULL. */
void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                     int N, int I, int O);

#endif
