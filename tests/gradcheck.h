/* Finite-difference gradient checks shared by the tests: central differences in double on
 * float32 buffers, a cap on the number of elements checked, and a report of the worst element.
 * The closure evaluates a scalar loss from the current contents of the buffers it reads. */
#ifndef RP_GRADCHECK_H
#define RP_GRADCHECK_H
#include <stddef.h>
#include <stdint.h>

/* The loss as a function of whatever buffers ctx points to (evaluated after each perturbation). */
typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    size_t max_check; /* elements checked; 0 = all. Beyond n, chosen at random (seeded). */
    double eps;       /* step h = eps * max(|x_i|, 1) */
    double rtol, atol; /* element passes if |num - ana| <= atol + rtol * max(|num|, |ana|) */
    uint64_t seed;
    /* Optional: nonzero skips element i (e.g. within h of a ReLU kink or a max-pool tie). */
    int (*skip)(void *ctx, size_t i, double h);
} gc_opts;

typedef struct {
    size_t checked, skipped, failed;
    size_t worst;      /* index of the element with the largest error relative to its bound */
    double max_abs;    /* largest |num - ana| */
    double max_rel;    /* largest |num - ana| / max(|num|, |ana|) (0/0 counts as 0) */
    double num, ana;   /* numeric and analytic values at `worst` */
} gc_report;

/* Defaults: max_check 64, eps 1e-3, rtol 1e-2, atol 1e-5, seed 1, no skip. */
gc_opts gc_defaults(void);

/* Perturbs x[i] by +-h in place (restored afterwards; the step actually taken after float
 * rounding is what divides), compares with grad[i]. Prints one line naming `what` with the worst
 * element; returns the number of failing elements (0 = pass). r may be NULL. f is evaluated
 * once more at the restored x, so buffers the closure writes end as at the unperturbed point. */
size_t gc_check(const char *what, gc_loss_fn f, void *ctx, float *x, const float *grad, size_t n,
                const gc_opts *o, gc_report *r);

/* Whole-tensor check along one random direction u (unit-variance normal entries):
 * compares (f(x + h u) - f(x - h u)) / 2h with dot(grad, u) (u as actually applied after float
 * rounding). Returns 0 on pass. Through ReLU/max-pool, a larger h lets more units cross a kink
 * inside [x - hu, x + hu]: h = 1e-4 kept a small D-like net within 2e-3 where 1e-3 gave 7%. */
int gc_check_direction(const char *what, gc_loss_fn f, void *ctx, float *x, const float *grad, size_t n,
                       double h, double rtol, uint64_t seed);

#endif
