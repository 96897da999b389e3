/* Shared by the benchmarks: monotonic clock, medians, and the machine/command header every
 * benchmark prints so its numbers can be reproduced. Header-only (each bench is one file). */
#ifndef RP_BENCH_UTIL_H
#define RP_BENCH_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nn/gemm.h"

static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *t, int n) {
    qsort(t, n, sizeof *t, bench_cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* "model name" of /proc/cpuinfo, or "unknown". */
static inline void bench_cpu_model(char *model, size_t n) {
    snprintf(model, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) snprintf(model, n, "%s", p + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        fclose(f);
    }
}

static inline void bench_print_machine(int argc, char **argv) {
    char model[256];
    bench_cpu_model(model, sizeof model);
    printf("machine: %s, %ld online cores; OpenBLAS kernels %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
           nn_blas_init());
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    double l[3];
    if (getloadavg(l, 3) == 3) printf("load average at start: %.2f %.2f %.2f\n", l[0], l[1], l[2]);
}

#endif
