/* refine-pipeline train: placeholder until its issue lands. */
#include "pipelines/commands.h"
#include <stdio.h>
#include <string.h>

int cmd_train(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: refine-pipeline train ...\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "refine-pipeline train: not implemented yet\n");
    return 2;
}
