/* Terminal progress bar / plain log lines (see progress.h). */
#include "base/progress.h"
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double rp_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void rp_progress_start(rp_progress *p, const char *what, const char *unit, long total, int quiet) {
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->t_start = p->t_last = rp_now_seconds();
}

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "--:--");
    else if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(rp_progress *p, const char *extra, int final) {
    double t = rp_now_seconds(), el = t - p->t_start;
    double rate = el > 0 ? p->done / el : 0;
    char eta[32], elapsed[32];
    fmt_time(eta, sizeof eta, rate > 0 ? (p->total - p->done) / rate : -1);
    fmt_time(elapsed, sizeof elapsed, el);
    double frac = p->total > 0 ? (double)p->done / p->total : 0;
    if (p->tty) {
        char bar[31];
        int filled = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %ld/%ld %s %.1f/s elapsed %s eta %s%s%s\033[K%s", p->what, bar, p->done,
                p->total, p->unit, rate, elapsed, eta, extra ? " " : "", extra ? extra : "", final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %ld/%ld %s (%.0f%%) %.1f %s/s elapsed %s eta %s%s%s\n", p->what, p->done, p->total,
                p->unit, frac * 100, rate, p->unit, elapsed, eta, extra ? " " : "", extra ? extra : "");
    }
    fflush(stderr);
}

void rp_progress_update(rp_progress *p, long done, const char *extra) {
    p->done = done;
    if (p->quiet) return;
    double t = rp_now_seconds();
    if (t - p->t_last < (p->tty ? 0.1 : 10.0)) return;
    p->t_last = t;
    draw(p, extra, 0);
}

void rp_progress_finish(rp_progress *p) {
    if (p->quiet || p->total <= 0) return; /* nothing was left to do (a finished run resumed): no "0/0" line */
    draw(p, NULL, 1);
}
