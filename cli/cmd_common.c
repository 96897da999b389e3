/* Helpers shared by the subcommands. */
#include "cli/commands.h"
#include "base/dist.h"
#include "base/status.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cmd_fail(const char *cmd, int rc) {
    /* under mpirun rank 0 speaks for the job; another rank only for a failure of its own */
    if (rp_dist_rank() == 0) fprintf(stderr, "refine-pipeline %s: %s\n", cmd, rp_errmsg());
    else if (rp_dist_failed_alone())
        fprintf(stderr, "refine-pipeline %s (rank %d of %d): %s\n", cmd, rp_dist_rank(), rp_dist_size(), rp_errmsg());
    return rc == RP_EARG ? 2 : rc == RP_EINTR ? 130 : 1;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    static const char msg[] = "\nrefine-pipeline: stopping at the next safe point (again to quit at once)\n";
    stop_requested = 1;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1); /* async-signal-safe, unlike fprintf */
    (void)w;
}

volatile sig_atomic_t *cmd_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_requested;
}
