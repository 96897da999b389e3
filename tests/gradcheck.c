/* Finite-difference gradient checks (central differences in double on float32 data) shared by
 * the test binaries; see gradcheck.h. */
#include "tests/gradcheck.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/rng.h"

gc_opts gc_defaults(void) { return (gc_opts){64, 1e-3, 1e-2, 1e-5, 1, NULL}; }

/* Evaluates f at x[i] = v, returning the value actually stored (after float rounding). */
static double eval_at(gc_loss_fn f, void *ctx, float *xi, double v, double *fv) {
    *xi = (float)v;
    *fv = f(ctx);
    return *xi;
}

size_t gc_check(const char *what, gc_loss_fn f, void *ctx, float *x, const float *grad, size_t n,
                const gc_opts *o, gc_report *r) {
    gc_report rep = {0};
    double worst_ratio = -1;
    size_t m = o->max_check && o->max_check < n ? o->max_check : n;
    rng_t rng;
    rng_seed(&rng, o->seed, 0x6763);
    for (size_t j = 0; j < m; j++) {
        size_t i = m == n ? j : rng_below(&rng, (uint32_t)n);
        float x0 = x[i];
        double h = o->eps * fmax(fabs(x0), 1.0);
        if (o->skip && o->skip(ctx, i, h)) {
            rep.skipped++;
            continue;
        }
        double fp, fm;
        double xp = eval_at(f, ctx, &x[i], x0 + h, &fp);
        double xm = eval_at(f, ctx, &x[i], x0 - h, &fm);
        x[i] = x0;
        double num = (fp - fm) / (xp - xm), ana = grad[i];
        double err = fabs(num - ana), mag = fmax(fabs(num), fabs(ana));
        double bound = o->atol + o->rtol * mag;
        double rel = mag > 0 ? err / mag : 0;
        rep.checked++;
        if (!(err <= bound)) rep.failed++; /* also fails on NaN */
        if (err > rep.max_abs || isnan(err)) rep.max_abs = err;
        if (rel > rep.max_rel) rep.max_rel = rel;
        double ratio = isnan(err) ? INFINITY : err / bound;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            rep.worst = i;
            rep.num = num;
            rep.ana = ana;
        }
    }
    /* Leave the closure's side outputs (activations, probabilities) as at the unperturbed x. */
    f(ctx);
    printf("  gradcheck %-28s %4zu checked %3zu skipped %3zu failed | worst abs %.2e rel %.2e at [%zu]: "
           "numeric %.6g analytic %.6g\n",
           what, rep.checked, rep.skipped, rep.failed, rep.max_abs, rep.max_rel, rep.worst, rep.num, rep.ana);
    if (r) *r = rep;
    /* A check that checked nothing proves nothing. */
    return rep.checked ? rep.failed : 1;
}

int gc_check_direction(const char *what, gc_loss_fn f, void *ctx, float *x, const float *grad, size_t n,
                       double h, double rtol, uint64_t seed) {
    rng_t rng;
    rng_seed(&rng, seed, 0x646972);
    float *x0 = malloc(n * sizeof *x0);
    double *u = malloc(n * sizeof *u);
    if (!x0 || !u) abort();
    double ana = 0;
    for (size_t i = 0; i < n; i++) {
        x0[i] = x[i];
        u[i] = rng_normal(&rng);
        ana += (double)grad[i] * u[i];
    }
    /* Effective direction after float rounding: d_i = (x_i+ - x_i-) / 2h. */
    double dot_p = 0, fp, fm;
    for (size_t i = 0; i < n; i++) x[i] = (float)(x0[i] + h * u[i]);
    fp = f(ctx);
    for (size_t i = 0; i < n; i++) {
        float xp = x[i];
        x[i] = (float)(x0[i] - h * u[i]);
        dot_p += (double)grad[i] * (((double)xp - x[i]) / (2 * h));
    }
    fm = f(ctx);
    for (size_t i = 0; i < n; i++) x[i] = x0[i];
    f(ctx); /* side outputs as at the unperturbed x */
    double num = (fp - fm) / (2 * h);
    double err = fabs(num - dot_p), mag = fmax(fabs(num), fabs(dot_p));
    int ok = err <= rtol * mag + 1e-12;
    printf("  dircheck  %-28s numeric %.8g analytic %.8g (exact-u %.8g) rel err %.2e %s\n", what, num, dot_p,
           ana, mag > 0 ? err / mag : 0.0, ok ? "ok" : "FAIL");
    free(x0);
    free(u);
    return !ok;
}
