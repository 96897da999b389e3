/* Writing and reading "refine-checkpoint" v1 HDF5 files (see checkpoint.h). Every HDF5 call
 * is checked; loading validates architecture and layout before copying anything in. */
#include "refiner/checkpoint.h"
#include "io/h5util.h"
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

static int write_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                    const void *buf) {
    hid_t space = H5Screate_simple(rank, dims, NULL);
    if (space < 0) return rp_err(RP_EIO, "%s: cannot create dataspace", name);
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    hssize_t npts = H5Sget_simple_extent_npoints(space);
    if (d < 0) rc = rp_err(RP_EIO, "%s: cannot create dataset", name);
    else if (npts > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = rp_err(RP_EIO, "%s: cannot write", name);
    if (d >= 0 && H5Dclose(d) < 0 && !rc) rc = rp_err(RP_EIO, "%s: cannot close", name);
    H5Sclose(space);
    return rc;
}

static int write_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *buf) {
    return write_ds(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, buf);
}

/* One group per net: params, m, v (count floats each) and the tensor table. */
static int write_block(hid_t file, const char *group, const param_block *p, const optim *o) {
    hid_t g = H5Gcreate2(file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EIO, "/%s: cannot create group", group);
    int rc = 0, nt = p->ntensors;
    hsize_t dims[2] = {p->count, 4};
    char (*names)[NAME_LEN] = calloc(nt, NAME_LEN);
    int32_t *shapes = calloc((size_t)nt * 4, sizeof *shapes);
    int64_t *offsets = calloc(nt, sizeof *offsets);
    hid_t st = H5Tcopy(H5T_C_S1);
    if (!names || !shapes || !offsets || st < 0 || H5Tset_size(st, NAME_LEN) < 0) {
        rc = rp_err(RP_ENOMEM, "/%s: cannot prepare the tensor table", group);
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
    if ((rc = write_ds(g, "tensor_names", st, st, 1, dims, names)) ||
        (rc = write_ds(g, "tensor_shapes", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, shapes)) ||
        (rc = write_ds(g, "tensor_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, offsets)) ||
        (rc = h5u_write_attr_str(g, "optimizer", o->kind == OPTIM_SGD ? "sgd" : "adam")) ||
        (rc = h5u_write_attr_i64(g, "optimizer_t", o->t)))
        goto done;
done:
    if (st >= 0) H5Tclose(st);
    free(names);
    free(shapes);
    free(offsets);
    if (H5Gclose(g) < 0 && !rc) rc = rp_err(RP_EIO, "/%s: cannot close group", group);
    return rc ? rp_err_prefix(rc, "/%s: ", group) : 0;
}

static int write_rng(hid_t g, const char *name, const rng_t *r) {
    uint64_t v[2] = {r->state, r->inc};
    hsize_t dims[1] = {2};
    return write_ds(g, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, dims, v);
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
    h5u_silence();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return rp_err(RP_EIO, "%s: cannot create", tmp);
    rc = write_all(f, s, k, config_ini, synthetic, real);
    if (H5Fclose(f) < 0 && !rc) rc = rp_err(RP_EIO, "%s: cannot close", tmp);
    if (!rc && rename(tmp, path)) rc = rp_err(RP_EIO, "%s: cannot rename to %s", tmp, path);
    if (rc) {
        unlink(tmp);
        return rp_err_prefix(rc, "writing checkpoint %s: ", path);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* reading */

/* Opens dataset name, checks a float/integer class and the exact dims, reads it as mtype. */
static int read_ds(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, int rank, const hsize_t *want,
                   void *buf) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return rp_err(RP_EFORMAT, "%s: missing", name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return rp_err(RP_EFORMAT, "%s: cannot open", name);
    hid_t t = H5Dget_type(d), space = H5Dget_space(d);
    int rc = 0;
    hsize_t dims[8];
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    char a[64], b[64], tn[32];
    if (t < 0 || H5Tget_class(t) != cls) {
        rc = rp_err(RP_EFORMAT, "%s: expected %s, found %s", name, cls == H5T_FLOAT ? "float32" : "integers",
                    t < 0 ? "unreadable type" : h5u_type_name(t, tn, sizeof tn));
    } else if (r != rank || H5Sget_simple_extent_dims(space, dims, NULL) < 0 ||
               memcmp(dims, want, sizeof(hsize_t) * rank)) {
        if (r < 0 || r > 8) rc = rp_err(RP_EFORMAT, "%s: unreadable shape", name);
        else
            rc = rp_err(RP_EFORMAT, "%s: expected shape %s, found %s", name, h5u_shape_str(want, rank, a, sizeof a),
                        h5u_shape_str(dims, r, b, sizeof b));
    } else if (H5Sget_simple_extent_npoints(space) > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rc = rp_err(RP_EIO, "%s: cannot read", name);
    }
    if (t >= 0) H5Tclose(t);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return rc;
}

static int read_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, float *buf) {
    return read_ds(loc, name, H5T_FLOAT, H5T_NATIVE_FLOAT, rank, dims, buf);
}

static int attr_long(hid_t obj, const char *name, long *out) {
    long long v;
    int rc = h5u_read_attr_i64(obj, name, &v);
    if (rc == 1) return rp_err(RP_EFORMAT, "attribute %s missing", name);
    if (rc) return rc;
    *out = (long)v;
    return 0;
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
        if ((rc = attr_long(*f, "refine_format_version", &v))) rc = rp_err_prefix(rc, "%s: ", path);
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

/* Validates the stored tensor table against p (names, shapes, offsets) and reads what is asked. */
static int read_block(hid_t file, const char *group, param_block *p, optim *o) {
    if (H5Lexists(file, group, H5P_DEFAULT) <= 0) return rp_err(RP_EFORMAT, "/%s: missing", group);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EFORMAT, "/%s: cannot open", group);
    int rc = 0, nt = 0;
    char (*names)[NAME_LEN] = NULL;
    int32_t *shapes = NULL;
    int64_t *offsets = NULL;
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, NAME_LEN);
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
    if ((rc = read_ds(g, "tensor_names", H5T_STRING, st, 1, dims, names)) ||
        (rc = read_ds(g, "tensor_shapes", H5T_INTEGER, H5T_NATIVE_INT32, 2, dims, shapes)) ||
        (rc = read_ds(g, "tensor_offsets", H5T_INTEGER, H5T_NATIVE_INT64, 1, dims, offsets)))
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
    if ((rc = read_f32(g, "params", 1, dims, p->data))) goto done;
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
        if (rc || (rc = attr_long(g, "optimizer_t", &t)) || (rc = read_f32(g, "m", 1, dims, p->m)) ||
            (rc = read_f32(g, "v", 1, dims, p->v)))
            goto done;
        o->t = t;
    }
done:
    H5Tclose(st);
    free(names);
    free(shapes);
    free(offsets);
    H5Gclose(g);
    return rc ? rp_err_prefix(rc, "/%s: ", group) : 0;
}

static int read_rng(hid_t g, const char *name, rng_t *r) {
    uint64_t v[2];
    hsize_t dims[1] = {2};
    int rc = read_ds(g, name, H5T_INTEGER, H5T_NATIVE_UINT64, 1, dims, v);
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

/* Architecture attributes vs the current setup: one message listing every difference. */
static int check_arch(hid_t f, const train_setup *u) {
    static const char *keys[] = {"image_channels", "image_height", "image_width", "refiner_filters", "refiner_blocks"};
    static const char *label[] = {"image channels", "image height", "image width", "refiner.filters", "refiner.blocks"};
    const int want[] = {u->C, u->H, u->W, u->rcfg.F, u->rcfg.B};
    char msg[512] = "";
    for (int i = 0; i < 5; i++) {
        long v = 0;
        int rc = attr_long(f, keys[i], &v);
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
    if (msg[0]) return rp_err(RP_EFORMAT, "architecture mismatch: %s", msg);
    return 0;
}

static int load_all(hid_t f, train_state *s, train_counters *k) {
    const train_setup *u = &s->setup;
    int rc;
    if ((rc = check_arch(f, u))) return rc;
    train_counters c = {0};
    char *phase = NULL;
    rc = h5u_read_attr_str(f, "phase", &phase);
    if (rc == 1) rc = rp_err(RP_EFORMAT, "attribute phase missing");
    if (!rc && (c.phase = train_phase_parse(phase)) < 0) rc = rp_err(RP_EFORMAT, "attribute phase: unknown \"%s\"", phase);
    free(phase);
    if (rc || (rc = attr_long(f, "step", &c.step)) ||
        (rc = attr_long(f, "pretrain_refiner_done", &c.pretrain_refiner_done)) ||
        (rc = attr_long(f, "pretrain_disc_done", &c.pretrain_disc_done)) ||
        (rc = attr_long(f, "iterations_done", &c.iterations_done)) ||
        (rc = attr_long(f, "d_saturated_run", &c.d_saturated_run)) || (rc = attr_long(f, "copy_run", &c.copy_run)))
        return rc;
    long long drift = 0; /* absent in checkpoints written before the drift warning: 0 */
    if ((rc = h5u_read_attr_i64(f, "drift_run", &drift)) < 0) return rc;
    c.drift_run = (long)drift;
    if (c.step != c.pretrain_refiner_done + c.pretrain_disc_done + c.iterations_done)
        return rp_err(RP_EFORMAT, "step %ld is not the sum of the phase counters", c.step);
    if ((rc = read_block(f, "refiner", &s->R.p, &s->opt_r)) || (rc = read_block(f, "discriminator", &s->D.p, &s->opt_d)))
        return rc;
    if (H5Lexists(f, "history", H5P_DEFAULT) <= 0) return rp_err(RP_EFORMAT, "/history: missing");
    hid_t g = H5Gopen2(f, "history", H5P_DEFAULT);
    if (g < 0) return rp_err(RP_EFORMAT, "/history: cannot open");
    long cap = 0, count = 0;
    if (!(rc = attr_long(g, "capacity", &cap)) && !(rc = attr_long(g, "count", &count))) {
        if (cap != s->hist.capacity)
            rc = rp_err(RP_EARG, "capacity %ld in the checkpoint, %ld now (train.history_size, or 100 * train.batch "
                                 "when it is 0, must not change on resume)", cap, s->hist.capacity);
        else if (count < 0 || count > cap)
            rc = rp_err(RP_EFORMAT, "count %ld outside [0, %ld]", count, cap);
        else {
            hsize_t hd[4] = {(hsize_t)count, (hsize_t)u->C, (hsize_t)u->H, (hsize_t)u->W};
            if (!(rc = read_f32(g, "images", 4, hd, s->hist.data))) s->hist.count = count;
        }
    }
    H5Gclose(g);
    if (rc) return rp_err_prefix(rc, "/history: ");
    if (H5Lexists(f, "rng", H5P_DEFAULT) <= 0) return rp_err(RP_EFORMAT, "/rng: missing");
    if ((g = H5Gopen2(f, "rng", H5P_DEFAULT)) < 0) return rp_err(RP_EFORMAT, "/rng: cannot open");
    if (!(rc = read_rng(g, "data", &s->rng_data))) rc = read_rng(g, "history", &s->rng_hist);
    H5Gclose(g);
    if (rc) return rp_err_prefix(rc, "/rng: ");
    *k = c;
    return 0;
}

int checkpoint_load(const char *path, train_state *s, train_counters *k) {
    hid_t f;
    int rc = open_checkpoint(path, &f);
    if (rc) return rc;
    rc = load_all(f, s, k);
    H5Fclose(f);
    if (!rc && (rc = train_state_check_finite(s))) return rp_err_prefix(rc, "%s: ", path);
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

int checkpoint_read_config(const char *path, rp_config *cfg) {
    hid_t f;
    int rc = open_checkpoint(path, &f);
    if (rc) return rc;
    rc = read_config(f, path, cfg);
    H5Fclose(f);
    return rc;
}

int checkpoint_load_refiner(const char *path, refiner *r, rp_config *cfg_out, long *step_out) {
    memset(r, 0, sizeof *r);
    hid_t f;
    int rc = open_checkpoint(path, &f);
    if (rc) return rc;
    long C = 0, F = 0, B = 0, step = 0;
    refiner_output out = REFINER_OUT_TANH;
    rp_config cfg;
    if ((rc = attr_long(f, "image_channels", &C)) || (rc = attr_long(f, "refiner_filters", &F)) ||
        (rc = attr_long(f, "refiner_blocks", &B)) || (rc = attr_long(f, "step", &step)) ||
        (rc = read_output(f, &out))) {
        rc = rp_err_prefix(rc, "%s: ", path);
    } else if (C < 1 || C > 64 || F < 1 || F > 4096 || B < 0 || B > REFINER_MAX_BLOCKS) {
        rc = rp_err(RP_EFORMAT, "%s: implausible refiner architecture C=%ld F=%ld B=%ld", path, C, F, B);
    } else if (!(rc = read_config(f, path, &cfg))) {
        refiner_config rc_ = {.C = (int)C, .F = (int)F, .B = (int)B, .out = out};
        if (!(rc = refiner_init(r, &rc_, 0))) {
            if ((rc = read_block(f, "refiner", &r->p, NULL))) {
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
