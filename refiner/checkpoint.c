/* Writing and reading "refine-checkpoint" v1 HDF5 files (see checkpoint.h). Every HDF5 call
 * is checked; loading validates architecture and layout before copying anything in. */
#include "refiner/checkpoint.h"
#include "io/h5util.h"
#include "base/fault.h"
#include "base/status.h"
#include "base/version.h"
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_LEN 32 /* = sizeof param_tensor.name */

/* ------------------------------------------------------------------------------------ */
/* writing */

static int write_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *buf) {
    return h5u_write_ds(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, buf);
}

/* One group per net: params, m, v (count floats each) and the tensor table. */
static int write_block(hid_t file, const char *group, const param_block *p, const optim *o) {
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EIO, "/%s: cannot create the group", group);
    int rc = 0, nt = p->ntensors;
    hsize_t dims[2] = {p->count, 4};
    char (*names)[NAME_LEN] = rp_calloc(nt, NAME_LEN);
    int32_t *shapes = rp_calloc((size_t)nt * 4, sizeof *shapes);
    int64_t *offsets = rp_calloc(nt, sizeof *offsets);
    hid_t st = H5Tcopy(H5T_C_S1);
    if (!names || !shapes || !offsets || st < 0 || H5Tset_size(st, NAME_LEN) < 0) {
        rc = rp_err(RP_ENOMEM, "cannot prepare the tensor table (out of memory)");
        goto done;
    }
    for (int t = 0; t < nt; t++) {
        snprintf(names[t], NAME_LEN, "%s", p->tensors[t].name);
        for (int j = 0; j < 4; j++) shapes[t * 4 + j] = j < p->tensors[t].ndim ? p->tensors[t].shape[j] : 1;
        offsets[t] = (int64_t)p->tensors[t].offset;
    }
    if ((rc = write_f32(g, "params", 1, dims, p->data)) || (rc = write_f32(g, "m", 1, dims, p->m)) ||
        (rc = write_f32(g, "v", 1, dims, p->v)))
        goto done;
    dims[0] = nt;
    if ((rc = h5u_write_ds(g, "tensor_names", st, st, 1, dims, names)) ||
        (rc = h5u_write_ds(g, "tensor_shapes", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, shapes)) ||
        (rc = h5u_write_ds(g, "tensor_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, offsets)) ||
        (rc = h5u_write_attr_str(g, "optimizer", o->kind == OPTIM_SGD ? "sgd" : "adam")) ||
        (rc = h5u_write_attr_i64(g, "optimizer_t", o->t)))
        goto done;
done:
    if (st >= 0) H5Tclose(st);
    free(names);
    free(shapes);
    free(offsets);
    if (H5Gclose(g) < 0 && !rc) rc = rp_err(RP_EIO, "cannot close the group");
    return rc ? rp_err_prefix(rc, "/%s: ", group) : 0;
}

static int write_rng(hid_t g, const char *name, const rng_t *r) {
    uint64_t v[2] = {r->state, r->inc};
    hsize_t dims[1] = {2};
    return h5u_write_ds(g, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, dims, v);
}

static int write_all(hid_t f, const train_state *s, const train_counters *k, const char *config_ini,
                     const char *synthetic, const char *real) {
    const train_setup *u = &s->setup;
    char now[32];
    h5u_utc_now(now, sizeof now);
    int rc;
    if ((rc = h5u_write_attr_str(f, "refine_format", CHECKPOINT_FORMAT)) ||
        (rc = h5u_write_attr_int(f, "refine_format_version", CHECKPOINT_VERSION)) ||
        (rc = h5u_write_attr_str(f, "created_by", RP_PROGRAM " " RP_VERSION)) ||
        (rc = h5u_write_attr_str(f, "created_at", now)) ||
        (rc = h5u_write_attr_str(f, "config", config_ini ? config_ini : "")) ||
        (rc = h5u_write_attr_i64(f, "step", k->step)) ||
        (rc = h5u_write_attr_str(f, "phase", train_phase_name(k->phase))) ||
        (rc = h5u_write_attr_i64(f, "pretrain_refiner_done", k->pretrain_refiner_done)) ||
        (rc = h5u_write_attr_i64(f, "pretrain_disc_done", k->pretrain_disc_done)) ||
        (rc = h5u_write_attr_i64(f, "iterations_done", k->iterations_done)) ||
        (rc = h5u_write_attr_i64(f, "d_saturated_run", k->d_saturated_run)) ||
        (rc = h5u_write_attr_i64(f, "copy_run", k->copy_run)) ||
        (rc = h5u_write_attr_i64(f, "drift_run", k->drift_run)) ||
        (rc = h5u_write_attr_int(f, "image_channels", u->C)) || (rc = h5u_write_attr_int(f, "image_height", u->H)) ||
        (rc = h5u_write_attr_int(f, "image_width", u->W)) || (rc = h5u_write_attr_int(f, "batch", u->batch)) ||
        (rc = h5u_write_attr_int(f, "refiner_filters", u->rcfg.F)) ||
        (rc = h5u_write_attr_int(f, "refiner_blocks", u->rcfg.B)) ||
        (rc = h5u_write_attr_int(f, "discriminator_stride", s->D.cfg.stride)) ||
        (rc = h5u_write_attr_str(f, "refiner_output", refiner_output_name(u->rcfg.out))))
        return rc;
    if (synthetic && (rc = h5u_write_attr_str(f, "synthetic_file", synthetic))) return rc;
    if (real && (rc = h5u_write_attr_str(f, "real_file", real))) return rc;
    if ((rc = write_block(f, "refiner", &s->R.p, &s->opt_r)) || (rc = write_block(f, "discriminator", &s->D.p, &s->opt_d)))
        return rc;
    hid_t g = H5Gcreate2(f, "history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EIO, "/history: cannot create group");
    hsize_t hd[4] = {(hsize_t)s->hist.count, (hsize_t)u->C, (hsize_t)u->H, (hsize_t)u->W};
    if (!(rc = write_f32(g, "images", 4, hd, s->hist.data)) && !(rc = h5u_write_attr_i64(g, "capacity", s->hist.capacity)))
        rc = h5u_write_attr_i64(g, "count", s->hist.count);
    H5Gclose(g);
    if (rc) return rp_err_prefix(rc, "/history: ");
    if ((g = H5Gcreate2(f, "rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return rp_err(RP_EIO, "/rng: cannot create group");
    if (!(rc = write_rng(g, "data", &s->rng_data))) rc = write_rng(g, "history", &s->rng_hist);
    H5Gclose(g);
    return rc ? rp_err_prefix(rc, "/rng: ") : 0;
}

int checkpoint_save(const char *path, const train_state *s, const train_counters *k, const char *config_ini,
                    const char *synthetic, const char *real) {
    int rc = train_state_check_finite(s);
    if (rc) return rp_err_prefix(rc, "%s: not written: ", path);
    char tmp[4096];
    hid_t f;
    if (!(rc = h5u_create_temp(path, tmp, sizeof tmp, &f)))
        rc = h5u_publish(f, tmp, path, write_all(f, s, k, config_ini, synthetic, real));
    return rc ? rp_err_prefix(rc, "writing checkpoint %s: ", path) : 0;
}

/* ------------------------------------------------------------------------------------ */
/* reading */

static int read_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, float *buf) {
    return h5u_read_ds(loc, name, H5T_FLOAT, H5T_NATIVE_FLOAT, rank, dims, buf);
}

/* Opens path after the signature/truncation check and verifies format and version. */
static int open_checkpoint(const char *path, hid_t *f) {
    int rc = h5u_check_file(path);
    if (rc) return rc;
    h5u_silence();
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0) return rp_err(RP_EFORMAT, "%s: HDF5 cannot open it (corrupt or truncated)", path);
    char *fmt = NULL;
    rc = h5u_read_attr_str(*f, "refine_format", &fmt);
    if (rc || strcmp(fmt, CHECKPOINT_FORMAT)) {
        rc = rp_err(RP_EFORMAT, "%s: not a refine checkpoint (root attribute refine_format is %s%s%s; expected \"%s\")",
                    path, fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "", CHECKPOINT_FORMAT);
    } else {
        long v = 0;
        if ((rc = h5u_require_attr_long(*f, "refine_format_version", &v))) rc = rp_err_prefix(rc, "%s: ", path);
        else if (v != CHECKPOINT_VERSION)
            rc = rp_err(RP_EFORMAT, "%s: refine-checkpoint version %ld; this program reads version %d", path, v,
                        CHECKPOINT_VERSION);
    }
    free(fmt);
    if (rc) H5Fclose(*f);
    return rc;
}

static void shape_str(char *buf, size_t n, const int *shape, int ndim) {
    int off = snprintf(buf, n, "(");
    for (int i = 0; i < ndim && off < (int)n; i++) off += snprintf(buf + off, n - off, "%s%d", i ? "," : "", shape[i]);
    if (off < (int)n) snprintf(buf + off, n - off, ")");
}

/* Where read_block puts one net's stored state: params always; m, v and the optimizer's step
 * count t only when o (the optimizer the config asks for) is given. */
typedef struct {
    float *params, *m, *v;
    long t;
} block_buf;

/* Validates the stored tensor table against p (names, shapes, offsets) and reads into out. */
static int read_block(hid_t file, const char *group, const param_block *p, const optim *o, block_buf *out) {
    if (H5Lexists(file, group, H5P_DEFAULT) <= 0) return rp_err(RP_EFORMAT, "/%s: missing", group);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EFORMAT, "/%s: cannot open", group);
    int rc = 0, nt = 0;
    char (*names)[NAME_LEN] = NULL;
    int32_t *shapes = NULL;
    int64_t *offsets = NULL;
    hid_t st = H5Tcopy(H5T_C_S1);
    if (st < 0 || H5Tset_size(st, NAME_LEN) < 0) {
        rc = rp_err(RP_EIO, "cannot make the tensor-name type");
        goto done;
    }
    /* the stored table's length first, to report a different tensor count precisely */
    hid_t d = H5Lexists(g, "tensor_names", H5P_DEFAULT) > 0 ? H5Dopen2(g, "tensor_names", H5P_DEFAULT) : -1;
    if (d < 0) {
        rc = rp_err(RP_EFORMAT, "tensor_names: missing");
        goto done;
    }
    hid_t sp = H5Dget_space(d);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    nt = (int)np;
    if (np != p->ntensors) {
        rc = rp_err(RP_EFORMAT, "architecture mismatch: the checkpoint has %lld tensors, the current network %d",
                    (long long)np, p->ntensors);
        goto done;
    }
    names = calloc(nt, NAME_LEN);
    shapes = calloc((size_t)nt * 4, sizeof *shapes);
    offsets = calloc(nt, sizeof *offsets);
    if (!names || !shapes || !offsets) {
        rc = rp_err(RP_ENOMEM, "out of memory");
        goto done;
    }
    hsize_t dims[2] = {(hsize_t)nt, 4};
    if ((rc = h5u_read_ds(g, "tensor_names", H5T_STRING, st, 1, dims, names)) ||
        (rc = h5u_read_ds(g, "tensor_shapes", H5T_INTEGER, H5T_NATIVE_INT32, 2, dims, shapes)) ||
        (rc = h5u_read_ds(g, "tensor_offsets", H5T_INTEGER, H5T_NATIVE_INT64, 1, dims, offsets)))
        goto done;
    for (int t = 0; t < nt; t++) {
        const param_tensor *pt = &p->tensors[t];
        int want[4];
        for (int j = 0; j < 4; j++) want[j] = j < pt->ndim ? pt->shape[j] : 1;
        names[t][NAME_LEN - 1] = 0;
        if (strcmp(names[t], pt->name) || memcmp(want, shapes + t * 4, sizeof want) || offsets[t] != (int64_t)pt->offset) {
            char a[64], b[64];
            shape_str(a, sizeof a, shapes + t * 4, pt->ndim);
            shape_str(b, sizeof b, want, pt->ndim);
            rc = rp_err(RP_EFORMAT, "architecture mismatch at tensor %d: the checkpoint has %s %s, the current network %s %s",
                        t, names[t], a, pt->name, b);
            goto done;
        }
    }
    dims[0] = p->count;
    if ((rc = read_f32(g, "params", 1, dims, out->params))) goto done;
    if (o) {
        char *kind = NULL;
        long t = 0;
        rc = h5u_read_attr_str(g, "optimizer", &kind);
        if (rc == 1) rc = rp_err(RP_EFORMAT, "attribute optimizer missing");
        if (!rc && strcmp(kind, o->kind == OPTIM_SGD ? "sgd" : "adam"))
            rc = rp_err(RP_EARG, "optimizer changed: the checkpoint was trained with %s, the config asks for %s "
                                 "(its saved state would not mean the same)",
                        kind, o->kind == OPTIM_SGD ? "sgd" : "adam");
        free(kind);
        if (rc || (rc = h5u_require_attr_long(g, "optimizer_t", &t)) || (rc = read_f32(g, "m", 1, dims, out->m)) ||
            (rc = read_f32(g, "v", 1, dims, out->v)))
            goto done;
        out->t = t;
    }
done:
    if (st >= 0) H5Tclose(st);
    free(names);
    free(shapes);
    free(offsets);
    H5Gclose(g);
    return rc ? rp_err_prefix(rc, "/%s: ", group) : 0;
}

static int read_rng(hid_t g, const char *name, rng_t *r) {
    uint64_t v[2];
    hsize_t dims[1] = {2};
    int rc = h5u_read_ds(g, name, H5T_INTEGER, H5T_NATIVE_UINT64, 1, dims, v);
    if (rc) return rc;
    if (!(v[1] & 1)) return rp_err(RP_EFORMAT, "%s: increment must be odd", name);
    r->state = v[0];
    r->inc = v[1];
    return 0;
}

/* refiner_output: "tanh" when absent (checkpoints written before the attribute existed). */
static int read_output(hid_t f, refiner_output *out) {
    char *v = NULL;
    int rc = h5u_read_attr_str(f, "refiner_output", &v), o = REFINER_OUT_TANH;
    if (rc == 1) rc = 0;
    else if (!rc && (o = refiner_output_parse(v)) < 0)
        rc = rp_err(RP_EFORMAT, "attribute refiner_output: expected \"tanh\" or \"clamp\", found \"%s\"", v);
    free(v);
    *out = (refiner_output)o;
    return rc;
}

/* Architecture attributes vs the current state's: one message listing every difference. */
static int check_arch(hid_t f, const train_state *s) {
    const train_setup *u = &s->setup;
    static const char *keys[] = {"image_channels", "image_height", "image_width", "refiner_filters", "refiner_blocks"};
    static const char *label[] = {"image channels", "image height", "image width", "refiner.filters", "refiner.blocks"};
    const int want[] = {u->C, u->H, u->W, u->rcfg.F, u->rcfg.B};
    char msg[512] = "";
    for (int i = 0; i < 5; i++) {
        long v = 0;
        int rc = h5u_require_attr_long(f, keys[i], &v);
        if (rc) return rc;
        if (v != want[i]) {
            size_t len = strlen(msg);
            snprintf(msg + len, sizeof msg - len, "%s%s = %ld in the checkpoint, %d now", len ? "; " : "", label[i], v,
                     want[i]);
        }
    }
    refiner_output out;
    int rc = read_output(f, &out);
    if (rc) return rc;
    if (out != u->rcfg.out) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof msg - len, "%srefiner.output = %s in the checkpoint, %s now", len ? "; " : "",
                 refiner_output_name(out), refiner_output_name(u->rcfg.out));
    }
    /* discriminator_stride: 2 when absent (checkpoints written before the setting existed) */
    long long stride = 2;
    if ((rc = h5u_read_attr_i64(f, "discriminator_stride", &stride)) == 1) stride = 2, rc = 0;
    if (rc) return rc;
    if (stride != s->D.cfg.stride) {
        size_t len = strlen(msg);
        snprintf(msg + len, sizeof msg - len, "%sdiscriminator.stride = %lld in the checkpoint, %d now", len ? "; " : "",
                 stride, s->D.cfg.stride);
    }
    if (msg[0]) return rp_err(RP_EFORMAT, "architecture mismatch: %s", msg);
    return 0;
}

/* Everything is read into staging buffers and validated first; s and k change only when the
 * whole file has been read, so a failed load (a bad discriminator, history or RNG record after
 * a good refiner) leaves the caller's state as it was. The staging costs one extra copy of the
 * state (the history buffer dominates) for the duration of the load. */
static int load_all(hid_t f, train_state *s, train_counters *k) {
    const train_setup *u = &s->setup;
    int rc;
    if ((rc = check_arch(f, s))) return rc;
    train_counters c = {0};
    char *phase = NULL;
    rc = h5u_read_attr_str(f, "phase", &phase);
    if (rc == 1) rc = rp_err(RP_EFORMAT, "attribute phase missing");
    if (!rc && (c.phase = train_phase_parse(phase)) < 0) rc = rp_err(RP_EFORMAT, "attribute phase: unknown \"%s\"", phase);
    free(phase);
    if (rc) return rc;
    /* the counters, each a count in 0..10^15 (more steps than any run makes, so that their sum
     * cannot overflow); drift_run is absent in checkpoints written before the drift warning: 0 */
    const struct { const char *name; long *v; int required; } ctr[] = {
        {"step", &c.step, 1}, {"pretrain_refiner_done", &c.pretrain_refiner_done, 1},
        {"pretrain_disc_done", &c.pretrain_disc_done, 1}, {"iterations_done", &c.iterations_done, 1},
        {"d_saturated_run", &c.d_saturated_run, 1}, {"copy_run", &c.copy_run, 1}, {"drift_run", &c.drift_run, 0}};
    for (size_t i = 0; i < sizeof ctr / sizeof *ctr; i++) {
        long long v = 0;
        if ((rc = h5u_read_attr_i64(f, ctr[i].name, &v)) < 0) return rc;
        if (rc == 1 && ctr[i].required) return rp_err(RP_EFORMAT, "attribute %s missing", ctr[i].name);
        if (v < 0 || v > 1000000000000000LL)
            return rp_err(RP_EFORMAT, "attribute %s = %lld: expected a count from 0 to 10^15", ctr[i].name, v);
        *ctr[i].v = (long)v;
    }
    if (c.step != c.pretrain_refiner_done + c.pretrain_disc_done + c.iterations_done)
        return rp_err(RP_EFORMAT, "step %ld is not the sum of the phase counters", c.step);

    size_t nr = s->R.p.count, nd = s->D.p.count, img = (size_t)u->C * u->H * u->W;
    float *stage = malloc(sizeof(float) * (3 * (nr + nd) + (size_t)s->hist.capacity * img));
    if (!stage) return rp_err(RP_ENOMEM, "out of memory for %zu floats of staged state", 3 * (nr + nd));
    block_buf br = {stage, stage + nr, stage + 2 * nr, 0};
    block_buf bd = {stage + 3 * nr, stage + 3 * nr + nd, stage + 3 * nr + 2 * nd, 0};
    float *hist = stage + 3 * (nr + nd);
    long cap = 0, count = 0;
    rng_t rng_data, rng_hist;
    hid_t g = -1;
    if ((rc = read_block(f, "refiner", &s->R.p, &s->opt_r, &br)) ||
        (rc = read_block(f, "discriminator", &s->D.p, &s->opt_d, &bd)))
        goto done;
    if (H5Lexists(f, "history", H5P_DEFAULT) <= 0 || (g = H5Gopen2(f, "history", H5P_DEFAULT)) < 0) {
        rc = rp_err(RP_EFORMAT, "/history: missing");
        goto done;
    }
    if (!(rc = h5u_require_attr_long(g, "capacity", &cap)) && !(rc = h5u_require_attr_long(g, "count", &count))) {
        if (cap != s->hist.capacity)
            rc = rp_err(RP_EARG, "capacity %ld in the checkpoint, %ld now (train.history_size, or 100 * train.batch "
                                 "when it is 0, must not change on resume)", cap, s->hist.capacity);
        else if (count < 0 || count > cap)
            rc = rp_err(RP_EFORMAT, "count %ld outside [0, %ld]", count, cap);
        else {
            hsize_t hd[4] = {(hsize_t)count, (hsize_t)u->C, (hsize_t)u->H, (hsize_t)u->W};
            rc = read_f32(g, "images", 4, hd, hist);
        }
    }
    H5Gclose(g);
    if (rc) {
        rc = rp_err_prefix(rc, "/history: ");
        goto done;
    }
    if (H5Lexists(f, "rng", H5P_DEFAULT) <= 0 || (g = H5Gopen2(f, "rng", H5P_DEFAULT)) < 0) {
        rc = rp_err(RP_EFORMAT, "/rng: missing");
        goto done;
    }
    if (!(rc = read_rng(g, "data", &rng_data))) rc = read_rng(g, "history", &rng_hist);
    H5Gclose(g);
    if (rc) {
        rc = rp_err_prefix(rc, "/rng: ");
        goto done;
    }
    /* finite, checked on the staged values through a shallow view of s */
    train_state view = *s;
    view.R.p.data = br.params, view.R.p.m = br.m, view.R.p.v = br.v;
    view.D.p.data = bd.params, view.D.p.m = bd.m, view.D.p.v = bd.v;
    if ((rc = train_state_check_finite(&view))) goto done;
    /* all read and valid: commit */
    memcpy(s->R.p.data, br.params, sizeof(float) * nr);
    memcpy(s->R.p.m, br.m, sizeof(float) * nr);
    memcpy(s->R.p.v, br.v, sizeof(float) * nr);
    memcpy(s->D.p.data, bd.params, sizeof(float) * nd);
    memcpy(s->D.p.m, bd.m, sizeof(float) * nd);
    memcpy(s->D.p.v, bd.v, sizeof(float) * nd);
    s->opt_r.t = br.t;
    s->opt_d.t = bd.t;
    memcpy(s->hist.data, hist, sizeof(float) * (size_t)count * img);
    s->hist.count = count;
    s->rng_data = rng_data;
    s->rng_hist = rng_hist;
    *k = c;
done:
    free(stage);
    return rc;
}

/* Each loader runs once in h5u_probe's child first (libhdf5 may crash on a corrupt file). */
typedef struct {
    const char *path;
    train_state *s;
    train_counters *k;
} load_args;

static void probe_load(void *arg) {
    load_args *a = arg; /* the child's copy of the state: the parent's is untouched */
    checkpoint_load(a->path, a->s, a->k);
}

int checkpoint_load(const char *path, train_state *s, train_counters *k) {
    hid_t f;
    int rc = h5u_probe(path, probe_load, &(load_args){path, s, k});
    if (rc || (rc = open_checkpoint(path, &f))) return rc;
    rc = load_all(f, s, k);
    H5Fclose(f);
    return rc ? rp_err_prefix(rc, "%s: ", path) : 0;
}

static int read_config(hid_t f, const char *path, rp_config *cfg) {
    char *ini = NULL;
    int rc = h5u_read_attr_str(f, "config", &ini);
    if (rc == 1) rc = rp_err(RP_EFORMAT, "%s: attribute config missing", path);
    else if (rc) rc = rp_err_prefix(rc, "%s: ", path);
    else {
        char origin[600];
        snprintf(origin, sizeof origin, "%s (stored config)", path);
        config_defaults(cfg);
        rc = config_load_string(cfg, ini, origin);
    }
    free(ini);
    return rc;
}

static void probe_read_config(void *path) {
    rp_config cfg;
    checkpoint_read_config(path, &cfg);
}

int checkpoint_read_config(const char *path, rp_config *cfg) {
    hid_t f;
    int rc = h5u_probe(path, probe_read_config, (void *)path);
    if (rc || (rc = open_checkpoint(path, &f))) return rc;
    rc = read_config(f, path, cfg);
    H5Fclose(f);
    return rc;
}

/* /refiner/params must hold at least what C, F and B imply (the block adds alignment padding;
 * read_block checks the exact layout), before refiner_init allocates it: attributes saying
 * F = 4096, B = 16 asked for 77 GB (found writing fuzz_checkpoint). */
static int check_refiner_count(hid_t f, const char *path, long C, long F, long B) {
    long long want = F * C * 9 + F + B * 2 * (F * F * 9 + F) + C * F + C;
    hid_t d = H5Lexists(f, "refiner", H5P_DEFAULT) > 0 && H5Lexists(f, "refiner/params", H5P_DEFAULT) > 0
                  ? H5Dopen2(f, "refiner/params", H5P_DEFAULT)
                  : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    long long have = sp >= 0 ? (long long)H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (have < 0) return rp_err(RP_EFORMAT, "%s: /refiner/params: missing", path);
    if (have < want)
        return rp_err(RP_EFORMAT, "%s: /refiner/params holds %lld values, a refiner with C=%ld F=%ld B=%ld has at least "
                      "%lld", path, have, C, F, B, want);
    return 0;
}

static void probe_load_refiner(void *path) {
    refiner r;
    if (!checkpoint_load_refiner(path, &r, NULL, NULL)) refiner_free(&r);
}

int checkpoint_load_refiner(const char *path, refiner *r, rp_config *cfg_out, long *step_out) {
    memset(r, 0, sizeof *r);
    hid_t f;
    int rc = h5u_probe(path, probe_load_refiner, (void *)path);
    if (rc || (rc = open_checkpoint(path, &f))) return rc;
    long C = 0, F = 0, B = 0, step = 0;
    refiner_output out = REFINER_OUT_TANH;
    rp_config cfg;
    if ((rc = h5u_require_attr_long(f, "image_channels", &C)) || (rc = h5u_require_attr_long(f, "refiner_filters", &F)) ||
        (rc = h5u_require_attr_long(f, "refiner_blocks", &B)) || (rc = h5u_require_attr_long(f, "step", &step)) ||
        (rc = read_output(f, &out))) {
        rc = rp_err_prefix(rc, "%s: ", path);
    } else if (C < 1 || C > 64 || F < 1 || F > 4096 || B < 0 || B > REFINER_MAX_BLOCKS) {
        rc = rp_err(RP_EFORMAT, "%s: implausible refiner architecture C=%ld F=%ld B=%ld", path, C, F, B);
    } else if ((rc = check_refiner_count(f, path, C, F, B))) {
    } else if (!(rc = read_config(f, path, &cfg))) {
        refiner_config rc_ = {.C = (int)C, .F = (int)F, .B = (int)B, .out = out};
        if (!(rc = refiner_init(r, &rc_, 0))) {
            block_buf b = {.params = r->p.data};
            if ((rc = read_block(f, "refiner", &r->p, NULL, &b))) {
                rc = rp_err_prefix(rc, "%s: ", path);
                refiner_free(r);
            }
        }
    }
    H5Fclose(f);
    if (rc) return rc;
    /* the stored config may predate a --set of the architecture: the attributes are the truth */
    cfg.refiner.filters = (int)F;
    cfg.refiner.blocks = (int)B;
    snprintf(cfg.refiner.output, sizeof cfg.refiner.output, "%s", refiner_output_name(out));
    if (cfg_out) *cfg_out = cfg;
    if (step_out) *step_out = step;
    return 0;
}
