/* The subcommands of the refine-pipeline binary. Each takes the arguments after its name
 * and returns the process exit status (0 success, 1 failure, 2 usage error / not implemented);
 * errors are printed by the command itself as "refine-pipeline CMD: message". */
#ifndef RP_COMMANDS_H
#define RP_COMMANDS_H
#include <signal.h>

int cmd_simulate(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_preview(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_refine(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_merge(int argc, char **argv);

/* Prints "refine-pipeline <cmd>: <rp_errmsg()>" to stderr and maps an RP_E* code to an
 * exit status (RP_EARG -> 2, RP_EINTR -> 130 as for a shell's Ctrl-C, others -> 1). */
int cmd_fail(const char *cmd, int rc);
/* Catches SIGINT and SIGTERM: the first sets the returned flag (and says so on stderr), which
 * long jobs check at their safe points (a training step, a refined chunk, an evaluation step);
 * the second ends the process at once (the handler resets itself). */
volatile sig_atomic_t *cmd_catch_stop_signals(void);

#endif
