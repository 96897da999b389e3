/* Parameter blocks: a table of named tensors laid out in one allocation that holds the
 * parameters, their gradients and the two optimizer moments, each `count` floats long with the
 * same layout. Tensor offsets are 64-byte aligned so every tensor starts on a cache line. */
#include "nn/params.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/status.h"
#include "base/rng.h"

#define PARAM_ALIGN 16 /* floats: 64 bytes */

void param_block_init(param_block *p) { memset(p, 0, sizeof *p); }

size_t param_block_add(param_block *p, const char *name, int ndim, int d0, int d1, int d2, int d3) {
    assert(!p->data && "add every tensor before param_block_alloc");
    assert(p->ntensors < PARAM_MAX_TENSORS);
    assert(ndim >= 1 && ndim <= 4 && strlen(name) < sizeof p->tensors[0].name);
    int dims[4] = {d0, d1, d2, d3};
    param_tensor *t = &p->tensors[p->ntensors++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->count = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? dims[i] : 1;
        assert(t->shape[i] > 0);
        t->count *= (size_t)t->shape[i];
    }
    t->offset = (p->count + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    p->count = t->offset + t->count;
    return t->offset;
}

int param_block_alloc(param_block *p) {
    assert(!p->data && p->count > 0);
    /* Round up so the moments stay aligned too; the padding is zero and stays zero (its
     * gradient is zero, so neither optimizer moves it). */
    p->count = (p->count + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    size_t bytes = 4 * p->count * sizeof(float);
    float *buf = aligned_alloc(64, bytes);
    if (!buf) return rp_err(RP_ENOMEM, "parameter block: cannot allocate %zu bytes", bytes);
    memset(buf, 0, bytes);
    p->data = buf;
    p->grad = buf + p->count;
    p->m = buf + 2 * p->count;
    p->v = buf + 3 * p->count;
    return 0;
}

void param_block_free(param_block *p) {
    free(p->data);
    p->data = p->grad = p->m = p->v = NULL;
}

void param_block_zero_grad(param_block *p) { memset(p->grad, 0, p->count * sizeof(float)); }

static int is_bias(const char *name) {
    size_t n = strlen(name);
    return n >= 2 && strcmp(name + n - 2, ".b") == 0;
}

void param_block_init_he(param_block *p, uint64_t seed) {
    assert(p->data);
    for (int i = 0; i < p->ntensors; i++) {
        const param_tensor *t = &p->tensors[i];
        float *x = p->data + t->offset;
        if (is_bias(t->name)) {
            memset(x, 0, t->count * sizeof(float));
            continue;
        }
        /* One stream per tensor: a tensor's values depend only on (seed, its index), so
         * adding a tensor at the end of a table leaves the others unchanged. */
        rng_t r;
        rng_seed(&r, seed, (uint64_t)i);
        size_t fan_in = t->count / (size_t)t->shape[0];
        double std = sqrt(2.0 / (double)fan_in);
        for (size_t k = 0; k < t->count; k++) x[k] = (float)(std * rng_normal(&r));
    }
}

const param_tensor *param_block_find(const param_block *p, const char *name) {
    for (int i = 0; i < p->ntensors; i++)
        if (strcmp(p->tensors[i].name, name) == 0) return &p->tensors[i];
    return NULL;
}

double param_block_grad_norm(const param_block *p) {
    double s = 0;
    for (size_t i = 0; i < p->count; i++) s += (double)p->grad[i] * p->grad[i];
    return sqrt(s);
}
