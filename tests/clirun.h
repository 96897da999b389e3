/* Driving the refine-pipeline binary from a test: run it (with extra environment) and capture
 * what it printed, start it in the background to kill it, and compare and list files. The
 * binary is found next to the test's build directory (BUILD/tests/test_x -> BUILD/refine-pipeline). */
#ifndef RP_TEST_CLIRUN_H
#define RP_TEST_CLIRUN_H
#include <stddef.h>
#include <sys/types.h>

extern char clirun_bin[4096];
/* Finds the binary from argv[0]; nonzero (with a message) if it is not built. */
int clirun_init(const char *argv0);
/* Runs "ENV refine-pipeline ARGS" (env: NULL, or "NAME=VALUE ..." for the child only) with stdout
 * and stderr into out (NUL-terminated; what does not fit is dropped); returns the exit status, or
 * 128 + the signal's number when a signal ended it. */
int clirun(char *out, size_t n, const char *env, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The same in the background, stdout and stderr to the file log; returns the pid. */
pid_t clirun_spawn(const char *log, const char *env, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* waitpid: the exit status, or 128 + the signal's number. */
int clirun_wait(pid_t pid);
/* The whole file (malloc'd, *n its size), or NULL if it cannot be read. */
unsigned char *clirun_read(const char *path, long *n);
/* 1 when both files can be read and hold the same bytes. */
int clirun_same(const char *a, const char *b);
/* system() of the formatted command; its status. */
int clirun_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in seconds. */
double clirun_now(void);
/* The names in dir (all but . and ..), sorted, each followed by a space; "" if dir is missing. */
void clirun_list(const char *dir, char *out, size_t n);

#endif
