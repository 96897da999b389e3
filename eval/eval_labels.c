/* Labels for the evaluation networks (see eval_jobs.h): one label column of a training set T (and
 * of a test set) read into memory, classes checked, regression targets standardised with T's mean
 * and std for training; the error of one prediction in the task's terms. */
#include "eval/eval_jobs.h"
#include "base/status.h"
#include "eval/eval_metrics.h"
#include "losses/xent.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void eval_labels_free(eval_labels *L) {
    free(L->cls), free(L->y), free(L->mean), free(L->std), free(L->test_cls), free(L->test_y);
    memset(L, 0, sizeof *L);
}

static int is_int(h5ds_dtype t) { return t != H5DS_FLOAT32; }

int eval_labels_load(eval_labels *L, evsrc *T, evsrc *test, const char *label) {
    memset(L, 0, sizeof *L);
    int ct, cs, rc;
    if (!test) test = T; /* no test set: T's own labels stand in */
    if ((rc = evsrc_label(T, label, &ct)) || (rc = evsrc_label(test, label, &cs))) return rc;
    const h5ds_colinfo *a = &T->info->cols[ct], *b = &test->info->cols[cs];
    if (is_int(a->dtype) && a->cols != 1)
        return rp_err(RP_EFORMAT, "%s: /labels/%s: expected class indices of shape (N), found (N, %d) %s", T->spec,
                      label, a->cols, h5ds_dtype_name(a->dtype));
    if (!is_int(a->dtype) && a->cols > EVAL_MAX_LABEL_VALUES)
        return rp_err(RP_EFORMAT, "%s: /labels/%s: %d values per row; the evaluation takes at most %d", T->spec, label,
                      a->cols, EVAL_MAX_LABEL_VALUES);
    if (is_int(a->dtype) != is_int(b->dtype) || a->cols != b->cols)
        return rp_err(RP_EFORMAT, "%s: /labels/%s: expected %s with %d column%s as in the training set %s, found %s "
                      "with %d", test->spec, label, is_int(a->dtype) ? "integer classes" : "float32 values", a->cols,
                      a->cols == 1 ? "" : "s", T->spec, h5ds_dtype_name(b->dtype), b->cols);
    long N = T->info->N, M = test->info->N;
    L->task = is_int(a->dtype) ? EVAL_CLASSIFY : EVAL_REGRESS;
    L->D = a->cols;
    L->gaze = L->task == EVAL_REGRESS && !strcmp(label, "gaze") && L->D == 2;
    if (L->task == EVAL_CLASSIFY) {
        L->cls = malloc(N * sizeof *L->cls), L->test_cls = malloc(M * sizeof *L->test_cls);
        if (!L->cls || !L->test_cls) return rp_err(RP_ENOMEM, "evaluation: out of memory for labels");
        if ((rc = h5ds_read_column(T->r, a->path, 0, N, L->cls, H5DS_INT32)) ||
            (rc = h5ds_read_column(test->r, b->path, 0, M, L->test_cls, H5DS_INT32)))
            return rc;
        int mx = -1;
        for (int pass = 0; pass < 2; pass++) {
            const int *v = pass ? L->test_cls : L->cls;
            long n = pass ? M : N;
            for (long i = 0; i < n; i++) {
                if (v[i] < 0 || v[i] >= EVAL_MAX_CLASSES)
                    return rp_err(RP_EFORMAT, "%s: /labels/%s: row %ld: class %d outside [0, %d)",
                                  pass ? test->spec : T->spec, label, i, v[i], EVAL_MAX_CLASSES);
                mx = v[i] > mx ? v[i] : mx;
            }
        }
        L->K = mx + 1 < 2 ? 2 : mx + 1;
        return 0;
    }
    int D = L->D;
    L->y = malloc((size_t)N * D * sizeof *L->y), L->test_y = malloc((size_t)M * D * sizeof *L->test_y);
    L->mean = calloc(D, sizeof *L->mean), L->std = calloc(D, sizeof *L->std);
    if (!L->y || !L->test_y || !L->mean || !L->std) return rp_err(RP_ENOMEM, "evaluation: out of memory for labels");
    if ((rc = h5ds_read_column(T->r, a->path, 0, N, L->y, H5DS_FLOAT32)) ||
        (rc = h5ds_read_column(test->r, b->path, 0, M, L->test_y, H5DS_FLOAT32)))
        return rc;
    for (long i = 0; i < (long)N * D; i++)
        if (!isfinite(L->y[i]))
            return rp_err(RP_EFORMAT, "%s: /labels/%s: row %ld is not finite", T->spec, label, i / D);
    for (int d = 0; d < D; d++) {
        double s = 0, q = 0;
        for (long i = 0; i < N; i++) s += L->y[i * D + d];
        L->mean[d] = s / N;
        for (long i = 0; i < N; i++) q += (L->y[i * D + d] - L->mean[d]) * (L->y[i * D + d] - L->mean[d]);
        L->std[d] = N > 1 && q > 0 ? sqrt(q / (N - 1)) : 1.0;
    }
    for (long i = 0; i < N; i++)
        for (int d = 0; d < D; d++) L->y[i * D + d] = (float)((L->y[i * D + d] - L->mean[d]) / L->std[d]);
    L->K = D;
    return 0;
}

const char *eval_labels_metric(const eval_labels *L) {
    return L->task == EVAL_CLASSIFY ? "accuracy" : L->gaze ? "angular_error_deg" : "mae";
}

void eval_labels_predicted(const eval_labels *L, const float *out, float *dst) {
    for (int d = 0; d < L->D; d++) dst[d] = (float)(out[d] * L->std[d] + L->mean[d]);
}

double eval_labels_error(const eval_labels *L, const float *out, const float *target) {
    if (L->task == EVAL_CLASSIFY) return xent_argmax(out, L->K) != (int)target[0];
    float p[EVAL_MAX_LABEL_VALUES];
    eval_labels_predicted(L, out, p);
    if (L->gaze) return metric_gaze_angle_deg(p[0], p[1], target[0], target[1]); /* (pitch, yaw) in radians */
    double err = 0;
    for (int d = 0; d < L->D; d++) err += fabs(p[d] - target[d]) / L->D;
    return err;
}

void eval_labels_target(const eval_labels *L, long i, int test, float *dst) {
    if (L->task == EVAL_CLASSIFY) {
        dst[0] = (float)(test ? L->test_cls[i] : L->cls[i]);
        return;
    }
    if (test) {
        memcpy(dst, L->test_y + (size_t)i * L->D, L->D * sizeof *dst);
        return;
    }
    for (int d = 0; d < L->D; d++) dst[d] = (float)(L->y[(size_t)i * L->D + d] * L->std[d] + L->mean[d]);
}
