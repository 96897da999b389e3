/* The refiner R(F, B) of SimGAN: conv 3x3 (C -> F) + ReLU, B ResNet blocks
 * (conv 3x3 F->F, ReLU, conv 3x3 F->F, add block input, ReLU), conv 1x1 (F -> C), then tanh
 * (the paper's) or a clamp to [-1, 1] (REFINER_OUT_CLAMP: reaches exact black and white, which
 * tanh only approaches, so refined backgrounds can stay exactly 0 like scanned ones).
 * Fully convolutional, stride 1, "same" padding: output size = input size. Inputs and outputs
 * are in [-1, 1]. Parameter names: "in.w" (F,C,3,3) "in.b" (F), "blockI.conv1.w" (F,F,3,3),
 * "blockI.conv1.b", "blockI.conv2.w", "blockI.conv2.b", "out.w" (C,F,1,1), "out.b" (C). */
#ifndef RP_REFINER_H
#define RP_REFINER_H
#include "nn/params.h"
#include "nn/conv2d.h"

#define REFINER_MAX_BLOCKS 16

typedef enum { REFINER_OUT_TANH = 0, REFINER_OUT_CLAMP = 1 } refiner_output;

typedef struct {
    int C;  /* image channels */
    int F;  /* feature maps */
    int B;  /* ResNet blocks */
    refiner_output out; /* output non-linearity */
} refiner_config;

/* "tanh" / "clamp" and back; parse returns -1 for anything else. */
const char *refiner_output_name(refiner_output o);
int refiner_output_parse(const char *name);

typedef struct {
    refiner_config cfg;
    param_block p;
    /* named pointers into p.data */
    float *in_w, *in_b;                                   /* (F,C,3,3) (F) */
    float *blk_w1[REFINER_MAX_BLOCKS], *blk_b1[REFINER_MAX_BLOCKS]; /* (F,F,3,3) (F) */
    float *blk_w2[REFINER_MAX_BLOCKS], *blk_b2[REFINER_MAX_BLOCKS];
    float *out_w, *out_b;                                 /* (C,F,1,1) (C) */
    /* activations for the current (N, H, W), allocated by refiner_prepare, reused every step */
    int N, H, W;
    int training;    /* 1: acts holds every saved activation (refiner_prepare); 0: three
                      * ping-pong (chunk,F,H,W) maps for refiner_infer (refiner_prepare_infer) */
    float *acts;     /* training: h[0..B] (B+1 maps), r[0..B-1] (B maps), tanh output;
                      * each map (N,F,H,W), the tanh output (N,C,H,W) */
    float *dacts;    /* backward scratch: three (chunk,F,H,W) maps and one (chunk,C,H,W) */
    int chunk;       /* images run through every layer together (forward, backward, infer) */
    float *ws;       /* shared conv workspace */
    const float *last_in;
    /* Fast path (conv2d_fast.h), used when the CPU has AVX2 or AVX-512 and F is a multiple of 16:
     * feature maps are channels-last (N,H,W,F) and the 3x3 F->F layers run Winograd F(4x4,3x3)
     * with bias, ReLU and the residual add fused. fast: the layout of the last refiner_forward. */
    int fast;
    float *wino;     /* per block conv: U (36,F,F) for the forward, Ut (36,F,F) for backward-data */
    float *wino_of;  /* the block weights wino was last transformed from (2B (F,F,3,3) tensors) */
    int wino_ok[2];  /* wino's forward / backward halves are current for wino_of */
} refiner;

/* Builds the parameter table and allocates parameters (He init from seed). 0 or RP_E*. */
int refiner_init(refiner *r, const refiner_config *cfg, uint64_t seed);
/* Allocates activations/workspace for training on batch N of H x W images (no-op if
 * unchanged): (2B+1) feature maps of N*F*H*W floats are saved for the backward pass. */
int refiner_prepare(refiner *r, int N, int H, int W);
/* Inference only: three feature maps of a few images each, whatever N (no-op if already
 * prepared, for training or not, with this H x W and at least N). refiner_forward/backward
 * then assert. */
int refiner_prepare_infer(refiner *r, int N, int H, int W);
/* out (n,C,H,W) = R(in), saving activations. in must stay valid until refiner_backward.
 * n <= prepared N. Needs refiner_prepare. */
void refiner_forward(refiner *r, float *out, const float *in, int n);
/* Accumulates parameter grads into r->p.grad, and din (may be NULL) += dL/din, for the n
 * images of the last refiner_forward. */
void refiner_backward(refiner *r, float *din, const float *dout, int n);
/* out = R(in) without saving anything (works after either prepare). Same values as
 * refiner_forward. */
void refiner_infer(refiner *r, float *out, const float *in, int n);
void refiner_free(refiner *r);
/* FLOPs of one forward pass over n images of the prepared size. */
double refiner_flops(const refiner *r, int n);

#endif
