/* refine-pipeline: the command-line entry point. Dispatches to the subcommands (cli/cmd_*.c);
 * the only place that exits. */
#include "cli/commands.h"
#include <stdio.h>
#include <string.h>
#ifdef RP_TRAP_FPE
#include <fenv.h>
#endif

#include "base/dist.h"
#include "base/status.h"
#include "base/version.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
    int ranks; /* spreads its work over MPI ranks (refine-pipeline-mpi under mpirun) */
} commands[] = {
    {"simulate", cmd_simulate, "render labeled synthetic images (digits, eyes) into HDF5", 1},
    {"import", cmd_import, "import real images (PNG folder, IDX/IDX.gz, file.h5:/path) into HDF5", 0},
    {"inspect", cmd_inspect, "describe a dataset: layout, counts, statistics, provenance", 0},
    {"preview", cmd_preview, "write a contact-sheet PNG of a dataset", 0},
    {"train", cmd_train, "train the refiner against the local patch discriminator", 1},
    {"refine", cmd_refine, "refine a whole dataset with a trained checkpoint, keeping labels", 1},
    {"eval", cmd_eval, "train a fixed classifier on a dataset and score it on real data", 1},
    {"run", cmd_run, "simulate -> train -> refine -> eval -> report", 1},
    {"merge", cmd_merge, "join the shards of a simulate or refine job (--shard i/N) into one dataset", 0},
    {"config", cmd_config, "print every setting with its meaning and default, as an INI file to edit", 0},
};

static void usage(FILE *f) {
    fprintf(f, "usage: refine-pipeline COMMAND [options]   (refine-pipeline COMMAND --help)\n\n"
               "Turns synthetic training images into realistic ones while keeping their labels (SimGAN).\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv) {
    if (rp_dist_init(&argc, &argv)) {
        fprintf(stderr, "refine-pipeline: %s\n", rp_errmsg());
        return 1;
    }
    int rc = dispatch(argc, argv);
    rp_dist_finalize();
    return rc;
}

static int dispatch(int argc, char **argv) {
#ifdef RP_TRAP_FPE
    feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
#endif
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("refine-pipeline %s\n", RP_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        if (rp_dist_size() > 1 && !commands[i].ranks) { /* every rank would write the same files */
            if (rp_dist_rank() == 0)
                fprintf(stderr, "refine-pipeline %s: not spread over MPI ranks yet; run it without mpirun (under "
                        "mpirun: simulate, refine, train, eval, run)\n", argv[1]);
            return 2;
        }
        return commands[i].fn(argc - 2, argv + 2);
    }
    fprintf(stderr, "refine-pipeline: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
