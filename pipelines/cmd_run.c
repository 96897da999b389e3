/* refine-pipeline run: placeholder until its issue lands. */
#include "pipelines/commands.h"
#include <stdio.h>
#include <string.h>

int cmd_run(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: refine-pipeline run ...\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "refine-pipeline run: not implemented yet\n");
    return 2;
}
