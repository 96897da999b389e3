/* Fréchet distance, matrix square roots, histogram distances, gaze angles (see eval_metrics.h).
 * Jacobi rather than LAPACK: the matrices are at most 128x128 (a fraction of a second), it is
 * accurate for tiny eigenvalues, and it keeps the result independent of the BLAS build. */
#include "eval/eval_metrics.h"
#include "base/status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- eigen / sqrt */
int metric_sym_eig(double *a, int n, double *evals, double *evecs) {
    double norm = 0;
    for (long i = 0; i < (long)n * n; i++) {
        if (!isfinite(a[i])) return rp_err(RP_ENUM, "eigen-decomposition: matrix has a non-finite entry");
        norm += a[i] * a[i];
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) evecs[(long)i * n + k] = i == k;
    int converged = 0;
    for (int sweep = 0; sweep < 100 && !converged; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += a[(long)p * n + q] * a[(long)p * n + q];
        if (off <= 1e-30 * norm || off == 0) {
            converged = 1;
            break;
        }
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[(long)p * n + q];
                if (apq == 0) continue;
                double app = a[(long)p * n + p], aqq = a[(long)q * n + q];
                /* after a few sweeps, entries below rounding of the diagonal are zeroed, not
                 * rotated (Numerical Recipes' rule), so the off-diagonal sum reaches 0 */
                double g = 100 * fabs(apq);
                if (sweep > 3 && fabs(app) + g == fabs(app) && fabs(aqq) + g == fabs(aqq)) {
                    a[(long)p * n + q] = a[(long)q * n + p] = 0;
                    continue;
                }
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                /* A <- J^T A J with J = [c s; -s c] in the (p, q) plane; V <- V J */
                for (int k = 0; k < n; k++) {
                    double akp = a[(long)k * n + p], akq = a[(long)k * n + q];
                    a[(long)k * n + p] = c * akp - s * akq;
                    a[(long)k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = a[(long)p * n + k], aqk = a[(long)q * n + k];
                    a[(long)p * n + k] = c * apk - s * aqk;
                    a[(long)q * n + k] = s * apk + c * aqk;
                }
                a[(long)p * n + q] = a[(long)q * n + p] = 0;
                for (int k = 0; k < n; k++) {
                    double vkp = evecs[(long)k * n + p], vkq = evecs[(long)k * n + q];
                    evecs[(long)k * n + p] = c * vkp - s * vkq;
                    evecs[(long)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) evals[i] = a[(long)i * n + i];
    if (!converged) return rp_err(RP_ENUM, "eigen-decomposition: Jacobi rotations did not converge (n = %d)", n);
    return 0;
}

int metric_sqrtm_psd(double *out, const double *a, int n) {
    size_t nn = (size_t)n * n;
    double *w = malloc(nn * sizeof *w), *v = malloc(nn * sizeof *v), *l = malloc(n * sizeof *l);
    int rc = 0;
    if (!w || !v || !l) rc = rp_err(RP_ENOMEM, "matrix square root: out of memory (n = %d)", n);
    if (!rc) {
        memcpy(w, a, nn * sizeof *w);
        rc = metric_sym_eig(w, n, l, v);
    }
    if (!rc) {
        for (int k = 0; k < n; k++) l[k] = l[k] > 0 ? sqrt(l[k]) : 0;
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) s += v[(long)i * n + k] * l[k] * v[(long)j * n + k];
                out[(long)i * n + j] = out[(long)j * n + i] = s;
            }
    }
    free(w), free(v), free(l);
    return rc;
}

/* ---------------------------------------------------------------- Gaussian statistics */
int metric_mean_cov(double *mean, double *cov, const float *x, long n, int d) {
    double *c = malloc(d * sizeof *c);
    if (!c) return rp_err(RP_ENOMEM, "feature statistics: out of memory");
    memset(mean, 0, d * sizeof *mean);
    memset(cov, 0, (size_t)d * d * sizeof *cov);
    for (long r = 0; r < n; r++)
        for (int i = 0; i < d; i++) mean[i] += x[r * d + i];
    for (int i = 0; i < d; i++) mean[i] /= n;
    for (long r = 0; r < n; r++) {
        for (int i = 0; i < d; i++) c[i] = x[r * d + i] - mean[i];
        for (int i = 0; i < d; i++) {
            if (c[i] == 0) continue; /* post-ReLU features are often exactly zero */
            for (int j = i; j < d; j++) cov[(long)i * d + j] += c[i] * c[j];
        }
    }
    free(c);
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++) cov[(long)j * d + i] = cov[(long)i * d + j] /= (n > 1 ? n - 1 : 1);
    return 0;
}

int metric_frechet(double *out, const double *mu1, const double *s1, const double *mu2, const double *s2, int d) {
    size_t nn = (size_t)d * d;
    double *r1 = malloc(nn * sizeof *r1), *t = malloc(nn * sizeof *t), *m = malloc(nn * sizeof *m);
    double *v = malloc(nn * sizeof *v), *l = malloc(d * sizeof *l);
    int rc = 0;
    if (!r1 || !t || !m || !v || !l) rc = rp_err(RP_ENOMEM, "Fréchet distance: out of memory (d = %d)", d);
    if (!rc) rc = metric_sqrtm_psd(r1, s1, d);
    if (!rc) {
        /* m = r1 s2 r1, symmetrised against rounding */
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += r1[(long)i * d + k] * s2[(long)k * d + j];
                t[(long)i * d + j] = s;
            }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += t[(long)i * d + k] * r1[(long)k * d + j];
                m[(long)i * d + j] = s;
            }
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                m[(long)i * d + j] = m[(long)j * d + i] = 0.5 * (m[(long)i * d + j] + m[(long)j * d + i]);
        rc = metric_sym_eig(m, d, l, v);
    }
    if (!rc) {
        double dist = 0, tr = 0;
        for (int i = 0; i < d; i++) {
            double e = mu1[i] - mu2[i];
            dist += e * e;
            tr += s1[(long)i * d + i] + s2[(long)i * d + i];
        }
        for (int k = 0; k < d; k++) tr -= 2 * (l[k] > 0 ? sqrt(l[k]) : 0);
        dist += tr;
        *out = dist > 0 ? dist : 0;
    }
    free(r1), free(t), free(m), free(v), free(l);
    return rc;
}

/* ---------------------------------------------------------------- histograms */
void metric_hist_add(double *hist, const uint8_t *px, size_t n) {
    uint64_t h[256] = {0};
    for (size_t i = 0; i < n; i++) h[px[i]]++;
    for (int k = 0; k < 256; k++) hist[k] += (double)h[k];
}

static double total(const double *h, int bins) {
    double s = 0;
    for (int k = 0; k < bins; k++) s += h[k];
    return s > 0 ? s : 1;
}

double metric_hist_l1(const double *h1, const double *h2, int bins) {
    double t1 = total(h1, bins), t2 = total(h2, bins), s = 0;
    for (int k = 0; k < bins; k++) s += fabs(h1[k] / t1 - h2[k] / t2);
    return s;
}

double metric_hist_w1(const double *h1, const double *h2, int bins) {
    double t1 = total(h1, bins), t2 = total(h2, bins), c1 = 0, c2 = 0, s = 0;
    for (int k = 0; k < bins - 1; k++) {
        c1 += h1[k] / t1;
        c2 += h2[k] / t2;
        s += fabs(c1 - c2);
    }
    return bins > 1 ? s / (bins - 1) : 0;
}

/* ---------------------------------------------------------------- gaze */
double metric_gaze_angle_deg(double p1, double y1, double p2, double y2) {
    double a[3] = {-cos(p1) * sin(y1), -sin(p1), -cos(p1) * cos(y1)};
    double b[3] = {-cos(p2) * sin(y2), -sin(p2), -cos(p2) * cos(y2)};
    double dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    dot = dot > 1 ? 1 : dot < -1 ? -1 : dot;
    return acos(dot) * (180.0 / M_PI);
}
