/* refine-pipeline refine: placeholder until its issue lands. */
#include "pipelines/commands.h"
#include <stdio.h>
#include <string.h>

int cmd_refine(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        printf("usage: refine-pipeline refine ...\n(not implemented yet)\n");
        return 0;
    }
    fprintf(stderr, "refine-pipeline refine: not implemented yet\n");
    return 2;
}
