/* Progress reporting for long work: a one-line bar with rate and ETA when stderr is a
 * terminal, plain periodic log lines otherwise (data-prep scripts, CI logs), nothing if quiet. */
#ifndef RP_PROGRESS_H
#define RP_PROGRESS_H

typedef struct {
    const char *what;     /* "simulate", "train" */
    const char *unit;     /* "images", "steps" */
    long total;
    long done;
    int quiet, tty;
    double t_start, t_last;
} rp_progress;

double rp_now_seconds(void); /* CLOCK_MONOTONIC */
void rp_progress_start(rp_progress *p, const char *what, const char *unit, long total, int quiet);
/* Sets the count done; redraws at most ~10 times/s on a terminal, every 10 s otherwise.
 * extra (may be NULL) is appended, e.g. "loss 0.31". */
void rp_progress_update(rp_progress *p, long done, const char *extra);
/* The final line; none when total was 0 (nothing left to do). */
void rp_progress_finish(rp_progress *p);

#endif
