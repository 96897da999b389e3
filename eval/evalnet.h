/* The fixed evaluation network ("evalnet-v1"), one recipe for every training set so synthetic
 * and refined data compare on equal terms:
 *   conv3x3 C->32 pad 1, ReLU, maxpool 2 stride 2,
 *   conv3x3 32->64 pad 1, ReLU, maxpool 2 stride 2,
 *   fc (64 * floor(floor(H/2)/2) * floor(floor(W/2)/2)) -> 128, ReLU   <- the "penultimate features"
 *   fc 128 -> outputs (K classes, 2 for the domain classifier, D regression values).
 * Any H, W >= 4 (28x28 digits, 35x55 eyes). One parameter block (nn/params.h), He init.
 * Saved to / loaded from a small HDF5 file: root attributes describing the architecture and
 * one float32 dataset /params holding the whole parameter block. */
#ifndef RP_EVALNET_H
#define RP_EVALNET_H
#include "nn/conv2d.h"
#include "nn/layers.h"
#include "nn/params.h"
#include <stdint.h>

#define EVALNET_ARCH "evalnet-v1"
#define EVALNET_FORMAT "refine-evalnet"
#define EVALNET_C1 32
#define EVALNET_C2 64
#define EVALNET_HIDDEN 128

typedef struct {
    int C, H, W, outputs, max_batch;
    int H2, W2, H4, W4, flat;        /* after each pool; flat = C2 * H4 * W4 */
    param_block p;
    /* into p.data (the same offsets index p.grad) */
    float *c1w, *c1b;                /* (C1, C, 3, 3), (C1) */
    float *c2w, *c2b;                /* (C2, C1, 3, 3), (C2) */
    float *f1w, *f1b;                /* (HIDDEN, flat), (HIDDEN) */
    float *f2w, *f2b;                /* (outputs, HIDDEN), (outputs) */
    /* activations for max_batch rows (allocated once) */
    float *a1, *p1, *a2, *p2;        /* (N,C1,H,W) (N,C1,H2,W2) (N,C2,H2,W2) (N,C2,H4,W4) */
    int *arg1, *arg2;                /* max-pool argmax, sizes of p1, p2 */
    float *feat;                     /* (N, HIDDEN): penultimate features after ReLU */
    float *out;                      /* (N, outputs) */
    float *da1, *dp1, *da2, *dp2, *dfeat;
    float *ws;                       /* conv workspace */
    const float *x;                  /* input of the last forward (caller keeps it alive) */
    int n;                           /* rows of the last forward */
} evalnet;

/* 0, RP_EARG (size too small), or RP_ENOMEM. Parameters He-initialised from seed. */
int evalnet_init(evalnet *e, int C, int H, int W, int outputs, int max_batch, uint64_t seed);
void evalnet_free(evalnet *e);
/* x (N, C, H, W) float, N <= max_batch. Returns out (N, outputs); e->feat holds the features.
 * x must stay valid until evalnet_backward. */
const float *evalnet_forward(evalnet *e, const float *x, int N);
/* Backward of the last forward for dout (N, outputs): accumulates (+=) into e->p.grad. */
void evalnet_backward(evalnet *e, const float *dout);

/* Writes path atomically (temp + rename). note (may be NULL) is stored as attribute "note"
 * (e.g. what it was trained on). */
int evalnet_save(const evalnet *e, const char *path, const char *note);
/* Reads an evalnet file and initialises e from it (e must not be initialised). Errors name the
 * file, the attribute/dataset and what was expected. */
int evalnet_load(evalnet *e, const char *path, int max_batch);

#endif
