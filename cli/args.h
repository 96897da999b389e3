/* Command-line parsing shared by every subcommand: each command declares its options in a
 * table; the common options (--help, --config, --set, --threads, --quiet) are always there,
 * and --help prints a synopsis built from the same table, so help never drifts from behaviour. */
#ifndef RP_ARGS_H
#define RP_ARGS_H
#include "io/config.h"

typedef enum { ARG_FLAG, ARG_INT, ARG_LONG, ARG_DOUBLE, ARG_STR, ARG_LIST } arg_kind;

/* A repeatable string option (ARG_LIST): every value, in order. */
typedef struct {
    const char *v[64];
    int n;
} arg_list;

typedef struct {
    const char *name;    /* "--seed" */
    const char *alias;   /* "-n", or NULL */
    arg_kind kind;
    void *dst;           /* int* (FLAG, INT), long*, double*, const char** (STR), arg_list* (LIST) */
    const char *metavar; /* "N", "FILE.h5" */
    const char *help;
} arg_spec;

typedef struct {
    const char *config_path;  /* --config */
    const char *sets[64];     /* --set section.key=value, in order */
    int nsets;
    int threads;              /* --threads (0 = default) */
    int quiet;                /* --quiet */
    const char *pos[256];     /* positional arguments */
    int npos;
} args_common;

typedef struct {
    const char *name;        /* "simulate" */
    const char *synopsis;    /* "--scene digits|eyes -n N [--seed S] -o OUT.h5" */
    const char *description; /* one paragraph */
    const arg_spec *specs;   /* terminated by {0} */
    int min_pos, max_pos;    /* positional argument count bounds */
} arg_command;

/* 0 = parsed, 1 = --help was printed (the command should return 0), RP_EARG = usage error
 * (message set; it says to try --help). */
int args_parse(const arg_command *cmd, args_common *common, int argc, char **argv);

/* Builds the effective config: defaults, then --config FILE, then each --set, in that order. */
int args_load_config(const args_common *common, rp_config *cfg);

#endif
