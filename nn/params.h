/* Parameter blocks (llm.c style): one contiguous buffer per network for parameters, one for
 * gradients with the same layout, and optimizer moments likewise, so zeroing grads is one
 * memset, an optimizer update one loop, a checkpoint one dataset, a snapshot one memcpy.
 * Networks keep a table of named tensors (name + shape) pointing into the block. */
#ifndef RP_PARAMS_H
#define RP_PARAMS_H
#include <stddef.h>
#include <stdint.h>

#define PARAM_MAX_TENSORS 96 /* R(F, 16) has 68 */

typedef struct {
    char name[32];   /* e.g. "block2.conv1.w" */
    int shape[4];    /* unused trailing dims are 1 */
    int ndim;
    size_t offset;   /* into data/grad/m/v, in floats */
    size_t count;
} param_tensor;

typedef struct {
    size_t count;            /* total floats */
    int ntensors;
    param_tensor tensors[PARAM_MAX_TENSORS];
    float *data;             /* (count) */
    float *grad;             /* (count) */
    float *m, *v;            /* optimizer moments (count each); SGD momentum uses m */
} param_block;

/* Building: add tensors, then allocate once. Returns the offset of the new tensor. */
void param_block_init(param_block *p);
size_t param_block_add(param_block *p, const char *name, int ndim, int d0, int d1, int d2, int d3);
int param_block_alloc(param_block *p); /* 0 or RP_ENOMEM; all buffers zeroed */
void param_block_free(param_block *p);
void param_block_zero_grad(param_block *p);
/* He (Kaiming) normal init for conv weights: std = sqrt(2 / fan_in), fan_in = C*K*K; biases 0.
 * Tensors whose name ends in ".b" are biases. Deterministic for a given seed. */
void param_block_init_he(param_block *p, uint64_t seed);
const param_tensor *param_block_find(const param_block *p, const char *name);
double param_block_grad_norm(const param_block *p);

#endif
