/* The fixed evaluation CNN (see evalnet.h): layer wiring, forward/backward over a batch, and
 * its tiny HDF5 parameter file. */
#include "eval/evalnet.h"
#include "io/h5util.h"
#include "base/status.h"
#include "base/version.h"
#include "nn/linear.h"
#include <assert.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- construction */
static float *falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

int evalnet_init(evalnet *e, int C, int H, int W, int outputs, int max_batch, uint64_t seed) {
    memset(e, 0, sizeof *e);
    if (C < 1 || H < 4 || W < 4 || outputs < 1 || max_batch < 1)
        return rp_err(RP_EARG, "evaluation network: needs images of at least 4x4 pixels and >= 1 output, "
                               "got %dx%dx%d with %d outputs", C, H, W, outputs);
    if ((long long)EVALNET_HIDDEN * EVALNET_C2 * (H / 4) * (W / 4) > INT_MAX || C > (1 << 20) || outputs > (1 << 20))
        return rp_err(RP_EARG, "evaluation network: %dx%dx%d images with %d outputs are too large (its weights are "
                               "indexed by int)", C, H, W, outputs); /* int overflow (found writing fuzz_evalnet) */
    e->C = C, e->H = H, e->W = W, e->outputs = outputs, e->max_batch = max_batch;
    e->H2 = H / 2, e->W2 = W / 2, e->H4 = e->H2 / 2, e->W4 = e->W2 / 2;
    e->flat = EVALNET_C2 * e->H4 * e->W4;
    param_block *p = &e->p;
    param_block_init(p);
    size_t o[8];
    o[0] = param_block_add(p, "conv1.w", 4, EVALNET_C1, C, 3, 3);
    o[1] = param_block_add(p, "conv1.b", 1, EVALNET_C1, 1, 1, 1);
    o[2] = param_block_add(p, "conv2.w", 4, EVALNET_C2, EVALNET_C1, 3, 3);
    o[3] = param_block_add(p, "conv2.b", 1, EVALNET_C2, 1, 1, 1);
    o[4] = param_block_add(p, "fc1.w", 2, EVALNET_HIDDEN, e->flat, 1, 1);
    o[5] = param_block_add(p, "fc1.b", 1, EVALNET_HIDDEN, 1, 1, 1);
    o[6] = param_block_add(p, "fc2.w", 2, outputs, EVALNET_HIDDEN, 1, 1);
    o[7] = param_block_add(p, "fc2.b", 1, outputs, 1, 1, 1);
    if (param_block_alloc(p)) return rp_err(RP_ENOMEM, "evaluation network: out of memory for parameters");
    param_block_init_he(p, seed);
    float **ptr[8] = {&e->c1w, &e->c1b, &e->c2w, &e->c2b, &e->f1w, &e->f1b, &e->f2w, &e->f2b};
    for (int i = 0; i < 8; i++) *ptr[i] = p->data + o[i];

    size_t N = max_batch;
    size_t n1 = N * EVALNET_C1 * H * W, np1 = N * EVALNET_C1 * e->H2 * e->W2;
    size_t n2 = N * EVALNET_C2 * e->H2 * e->W2, np2 = N * e->flat;
    conv2d_desc d1, d2;
    conv2d_desc_init(&d1, max_batch, C, H, W, EVALNET_C1, 3, 1, 1);
    conv2d_desc_init(&d2, max_batch, EVALNET_C1, e->H2, e->W2, EVALNET_C2, 3, 1, 1);
    size_t ws = conv2d_workspace(&d1), ws2 = conv2d_workspace(&d2);
    e->a1 = falloc(n1), e->p1 = falloc(np1), e->a2 = falloc(n2), e->p2 = falloc(np2);
    e->arg1 = calloc(np1, sizeof(int)), e->arg2 = calloc(np2, sizeof(int));
    e->feat = falloc(N * EVALNET_HIDDEN), e->out = falloc(N * outputs);
    e->da1 = falloc(n1), e->dp1 = falloc(np1), e->da2 = falloc(n2), e->dp2 = falloc(np2);
    e->dfeat = falloc(N * EVALNET_HIDDEN);
    e->ws = falloc(ws > ws2 ? ws : ws2);
    if (!e->a1 || !e->p1 || !e->a2 || !e->p2 || !e->arg1 || !e->arg2 || !e->feat || !e->out || !e->da1 ||
        !e->dp1 || !e->da2 || !e->dp2 || !e->dfeat || !e->ws) {
        evalnet_free(e);
        return rp_err(RP_ENOMEM, "evaluation network: out of memory for activations (batch %d, %dx%d)",
                      max_batch, H, W);
    }
    return 0;
}

void evalnet_free(evalnet *e) {
    param_block_free(&e->p);
    void *bufs[] = {e->a1, e->p1, e->a2, e->p2, e->arg1, e->arg2, e->feat, e->out,
                    e->da1, e->dp1, e->da2, e->dp2, e->dfeat, e->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------- forward / backward */
static void descs(const evalnet *e, int N, conv2d_desc *d1, maxpool_desc *m1, conv2d_desc *d2, maxpool_desc *m2) {
    conv2d_desc_init(d1, N, e->C, e->H, e->W, EVALNET_C1, 3, 1, 1);
    maxpool_desc_init(m1, N, EVALNET_C1, e->H, e->W, 2, 2, 0);
    conv2d_desc_init(d2, N, EVALNET_C1, e->H2, e->W2, EVALNET_C2, 3, 1, 1);
    maxpool_desc_init(m2, N, EVALNET_C2, e->H2, e->W2, 2, 2, 0);
}

const float *evalnet_forward(evalnet *e, const float *x, int N) {
    assert(N >= 1 && N <= e->max_batch);
    conv2d_desc d1, d2;
    maxpool_desc m1, m2;
    descs(e, N, &d1, &m1, &d2, &m2);
    e->x = x, e->n = N;
    conv2d_forward(&d1, e->a1, x, e->c1w, e->c1b, e->ws);
    relu_forward(e->a1, e->a1, (size_t)N * EVALNET_C1 * e->H * e->W);
    maxpool_forward(&m1, e->p1, e->arg1, e->a1);
    conv2d_forward(&d2, e->a2, e->p1, e->c2w, e->c2b, e->ws);
    relu_forward(e->a2, e->a2, (size_t)N * EVALNET_C2 * e->H2 * e->W2);
    maxpool_forward(&m2, e->p2, e->arg2, e->a2);
    linear_forward(e->feat, e->p2, e->f1w, e->f1b, N, e->flat, EVALNET_HIDDEN);
    relu_forward(e->feat, e->feat, (size_t)N * EVALNET_HIDDEN);
    linear_forward(e->out, e->feat, e->f2w, e->f2b, N, EVALNET_HIDDEN, e->outputs);
    return e->out;
}

void evalnet_backward(evalnet *e, const float *dout) {
    int N = e->n;
    assert(N >= 1 && e->x);
    conv2d_desc d1, d2;
    maxpool_desc m1, m2;
    descs(e, N, &d1, &m1, &d2, &m2);
    float *g = e->p.grad;
    size_t off_c1w = e->c1w - e->p.data, off_c1b = e->c1b - e->p.data, off_c2w = e->c2w - e->p.data,
           off_c2b = e->c2b - e->p.data, off_f1w = e->f1w - e->p.data, off_f1b = e->f1b - e->p.data,
           off_f2w = e->f2w - e->p.data, off_f2b = e->f2b - e->p.data;
    size_t nf = (size_t)N * EVALNET_HIDDEN, np2 = (size_t)N * e->flat;
    size_t n2 = (size_t)N * EVALNET_C2 * e->H2 * e->W2, np1 = (size_t)N * EVALNET_C1 * e->H2 * e->W2;
    size_t n1 = (size_t)N * EVALNET_C1 * e->H * e->W;
    /* activation grads are scratch: zero them, since every backward accumulates */
    memset(e->dfeat, 0, nf * sizeof(float));
    memset(e->dp2, 0, np2 * sizeof(float));
    memset(e->da2, 0, n2 * sizeof(float));
    memset(e->dp1, 0, np1 * sizeof(float));
    memset(e->da1, 0, n1 * sizeof(float));
    linear_backward(e->dfeat, g + off_f2w, g + off_f2b, dout, e->feat, e->f2w, N, EVALNET_HIDDEN, e->outputs);
    /* relu in place: gradient through the kink uses the saved output */
    float *dh = e->dfeat;
    for (size_t i = 0; i < nf; i++) dh[i] = e->feat[i] > 0 ? dh[i] : 0.0f;
    linear_backward(e->dp2, g + off_f1w, g + off_f1b, dh, e->p2, e->f1w, N, e->flat, EVALNET_HIDDEN);
    maxpool_backward(&m2, e->da2, e->dp2, e->arg2);
    for (size_t i = 0; i < n2; i++) e->da2[i] = e->a2[i] > 0 ? e->da2[i] : 0.0f;
    conv2d_backward(&d2, e->dp1, g + off_c2w, g + off_c2b, e->da2, e->p1, e->c2w, e->ws);
    maxpool_backward(&m1, e->da1, e->dp1, e->arg1);
    for (size_t i = 0; i < n1; i++) e->da1[i] = e->a1[i] > 0 ? e->da1[i] : 0.0f;
    conv2d_backward(&d1, NULL, g + off_c1w, g + off_c1b, e->da1, e->x, e->c1w, e->ws);
}

/* ---------------------------------------------------------------- parameter file */
static const char *const int_attrs[] = {"channels", "height", "width", "outputs", "hidden", "conv1", "conv2"};

static int write_file(hid_t f, const evalnet *e, const char *note) {
    int vals[] = {e->C, e->H, e->W, e->outputs, EVALNET_HIDDEN, EVALNET_C1, EVALNET_C2};
    char when[32];
    h5u_utc_now(when, sizeof when);
    int rc;
    if ((rc = h5u_write_attr_str(f, "refine_format", EVALNET_FORMAT)) ||
        (rc = h5u_write_attr_int(f, "refine_format_version", 1)) || (rc = h5u_write_attr_str(f, "arch", EVALNET_ARCH)) ||
        (rc = h5u_write_attr_str(f, "created_by", RP_PROGRAM " " RP_VERSION)) ||
        (rc = h5u_write_attr_str(f, "created_at", when)) || (note && (rc = h5u_write_attr_str(f, "note", note))))
        return rc;
    for (int i = 0; i < 7; i++)
        if ((rc = h5u_write_attr_int(f, int_attrs[i], vals[i]))) return rc;
    hsize_t dims[1] = {e->p.count};
    return h5u_write_ds(f, "params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, e->p.data);
}

int evalnet_save(const evalnet *e, const char *path, const char *note) {
    char tmp[4096];
    hid_t f;
    int rc = h5u_create_temp(path, tmp, sizeof tmp, &f);
    if (!rc) rc = h5u_publish(f, tmp, path, write_file(f, e, note));
    return rc ? rp_err_prefix(rc, "writing the feature network %s: ", path) : 0;
}

typedef struct {
    const char *path;
    int max_batch;
} load_args;

/* The load, in h5u_probe's child first: libhdf5 may crash on a corrupt file. */
static void probe_load(void *arg) {
    const load_args *a = arg;
    evalnet e;
    if (!evalnet_load(&e, a->path, a->max_batch)) evalnet_free(&e);
}

int evalnet_load(evalnet *e, const char *path, int max_batch) {
    memset(e, 0, sizeof *e);
    int rc = h5u_check_file(path);
    if (rc || (rc = h5u_probe(path, probe_load, &(load_args){path, max_batch}))) return rc;
    h5u_silence();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return rp_err(RP_EIO, "%s: cannot open as HDF5", path);
    char *fmt = NULL, *arch = NULL;
    long long v[7];
    rc = 0;
    if (h5u_read_attr_str(f, "refine_format", &fmt) || strcmp(fmt, EVALNET_FORMAT))
        rc = rp_err(RP_EFORMAT, "%s: root attribute refine_format: expected \"%s\", found %s%s%s", path,
                    EVALNET_FORMAT, fmt ? "\"" : "none", fmt ? fmt : "", fmt ? "\"" : "");
    else if (h5u_read_attr_str(f, "arch", &arch) || strcmp(arch, EVALNET_ARCH))
        rc = rp_err(RP_EFORMAT, "%s: root attribute arch: expected \"%s\", found \"%s\"", path, EVALNET_ARCH,
                    arch ? arch : "(none)");
    for (int i = 0; !rc && i < 7; i++)
        if (h5u_read_attr_i64(f, int_attrs[i], &v[i]) || v[i] < 1 || v[i] > 1 << 20)
            rc = rp_err(RP_EFORMAT, "%s: root attribute %s: expected a positive integer", path, int_attrs[i]);
    if (!rc && (v[4] != EVALNET_HIDDEN || v[5] != EVALNET_C1 || v[6] != EVALNET_C2))
        rc = rp_err(RP_EFORMAT, "%s: architecture widths (conv1 %lld, conv2 %lld, hidden %lld) differ from %s's "
                    "(%d, %d, %d)", path, v[5], v[6], v[4], EVALNET_ARCH, EVALNET_C1, EVALNET_C2, EVALNET_HIDDEN);
    free(fmt);
    free(arch);
    /* /params must hold what the attributes imply, checked before allocating for it: attributes
     * declaring 1000000x1000000 images asked for terabytes (found writing fuzz_evalnet) */
    if (!rc) {
        long long C = v[0], H4 = v[1] / 4, W4 = v[2] / 4, K = v[3], H = EVALNET_HIDDEN, C1 = EVALNET_C1, C2 = EVALNET_C2;
        long long want = C1 * C * 9 + C1 + C2 * C1 * 9 + C2 + H * C2 * H4 * W4 + H + K * H + K;
        hid_t d = H5Lexists(f, "params", H5P_DEFAULT) > 0 ? H5Dopen2(f, "params", H5P_DEFAULT) : -1;
        hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
        long long have = sp >= 0 ? (long long)H5Sget_simple_extent_npoints(sp) : -1;
        if (sp >= 0) H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        if (have < want) /* want omits the block's alignment padding: the exact count is checked on reading */
            rc = rp_err(RP_EFORMAT, "%s: /params holds %lld values, the architecture in the attributes (%lldx%lldx%lld, "
                        "%lld outputs) has at least %lld", path, have, v[0], v[1], v[2], v[3], want);
        else if (want > 1LL << 28)
            rc = rp_err(RP_EFORMAT, "%s: %lld parameters (%lldx%lldx%lld images): implausibly large", path, want, v[0],
                        v[1], v[2]);
    }
    if (!rc && (rc = evalnet_init(e, (int)v[0], (int)v[1], (int)v[2], (int)v[3], max_batch, 0)))
        rc = rp_err_prefix(RP_EFORMAT, "%s: root attributes: ", path); /* e.g. images too small for the layers */
    if (rc) {
        H5Fclose(f);
        return rc;
    }
    hsize_t dims[1] = {e->p.count};
    if ((rc = h5u_read_ds(f, "params", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, dims, e->p.data)))
        rc = rp_err_prefix(rc, "%s: /", path);
    H5Fclose(f);
    if (rc) evalnet_free(e);
    return rc;
}
