/* Helpers shared by the subcommands. */
#include "cli/commands.h"
#include "base/status.h"
#include <stdio.h>

int cmd_fail(const char *cmd, int rc) {
    fprintf(stderr, "refine-pipeline %s: %s\n", cmd, rp_errmsg());
    return rc == RP_EARG ? 2 : 1;
}
