/* Fault injection (see fault.h): the environment is read once, before main. */
#include "base/fault.h"
#include <errno.h>
#include <stdio.h>

int rp_fault_on;
static long fail_at; /* RP_FAULT_AT; 0 = none */
static int list;     /* RP_FAULT_LIST */
static long passed;  /* sites passed so far (atomically: sites may be passed on several threads) */

__attribute__((constructor)) static void fault_init(void) {
    const char *at = getenv("RP_FAULT_AT"), *ls = getenv("RP_FAULT_LIST");
    fail_at = at ? atol(at) : 0;
    list = ls && ls[0] && strcmp(ls, "0");
    rp_fault_on = fail_at > 0 || list;
}

int rp_fault_hit(const char *kind, const char *where) {
    long n = __atomic_add_fetch(&passed, 1, __ATOMIC_RELAXED);
    int fail = n == fail_at;
    if (list || fail) fprintf(stderr, "rp-fault %ld: %s%s at %s\n", n, fail ? "failing " : "", kind, where);
    if (fail) errno = strncmp(kind, "malloc", 6) && strncmp(kind, "calloc", 6) && strncmp(kind, "realloc", 7) &&
                      strncmp(kind, "strdup", 6) ? EIO : ENOMEM;
    return fail;
}
