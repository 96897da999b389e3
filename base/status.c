/* Thread-local last-error message behind rp_err()/rp_errmsg(). */
#include "base/status.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[2048];

int rp_err(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

int rp_err_prefix(int code, const char *fmt, ...) {
    char old[sizeof errbuf], pre[512];
    memcpy(old, errbuf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (snprintf(errbuf, sizeof errbuf, "%s%s", pre, old) >= (int)sizeof errbuf)
        memcpy(errbuf + sizeof errbuf - 4, "...", 4); /* cut long messages visibly */
    return code;
}

const char *rp_errmsg(void) { return errbuf[0] ? errbuf : "unknown error"; }
void rp_err_clear(void) { errbuf[0] = 0; }
