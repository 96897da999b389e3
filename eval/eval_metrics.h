/* Numerical metrics of the evaluation: Gaussian moments of feature sets, the Fréchet distance
 * between two Gaussians (via symmetric eigen-decompositions by cyclic Jacobi, all in double),
 * pixel-intensity histogram distances, and the gaze angular error. */
#ifndef RP_EVAL_METRICS_H
#define RP_EVAL_METRICS_H
#include <stddef.h>
#include <stdint.h>

/* Eigen-decomposition of the symmetric (n, n) row-major matrix a (destroyed) by cyclic Jacobi
 * rotations: evals (n), evecs (n, n) with eigenvector k in column k (evecs[i*n + k]).
 * Returns 0, or RP_ENUM if a is not finite or the rotations fail to converge. */
int metric_sym_eig(double *a, int n, double *evals, double *evecs);
/* out (n, n) = principal square root of the symmetric PSD matrix a; eigenvalues below zero
 * (rounding) are clamped to 0. out may not alias a. */
int metric_sqrtm_psd(double *out, const double *a, int n);

/* mean (d) and unbiased covariance (d, d) of n >= 2 rows of d features, in double. 0 or RP_ENOMEM. */
int metric_mean_cov(double *mean, double *cov, const float *x, long n, int d);
/* Fréchet distance between N(mu1, s1) and N(mu2, s2):
 *   |mu1 - mu2|^2 + Tr(s1 + s2 - 2 (s1^1/2 s2 s1^1/2)^1/2),
 * the last trace as the sum of square roots of the eigenvalues of s1^1/2 s2 s1^1/2.
 * Writes the distance (clamped at 0 against rounding) to *out; 0 or RP_ENUM. */
int metric_frechet(double *out, const double *mu1, const double *s1, const double *mu2, const double *s2, int d);

/* 256-bin intensity histograms (bin v = pixel value v of uint8 images). */
void metric_hist_add(double *hist, const uint8_t *px, size_t n);
/* L1 distance between the two histograms after normalising each to sum 1: in [0, 2]. */
double metric_hist_l1(const double *h1, const double *h2, int bins);
/* Wasserstein-1 (earth mover's) distance between the normalised histograms, bins spaced evenly
 * over [0, 1] (bin k at k / (bins - 1)): sum |CDF1 - CDF2| / (bins - 1), in intensity units. */
double metric_hist_w1(const double *h1, const double *h2, int bins);

/* Angle in degrees between the gaze directions of (pitch, yaw) pairs in radians, with the
 * vector (-cos p sin y, -sin p, -cos p cos y) (MPIIGaze / UnityEyes convention). */
double metric_gaze_angle_deg(double pitch1, double yaw1, double pitch2, double yaw2);

#endif
