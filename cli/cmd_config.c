/* refine-pipeline config: every setting with its meaning, default and accepted values, as an INI
 * file to edit and pass back with --config (with --config / --set applied, the effective values). */
#include "cli/commands.h"
#include "cli/args.h"
#include "base/status.h"
#include <stdio.h>
#include <stdlib.h>

int cmd_config(int argc, char **argv) {
    const arg_spec specs[] = {{0}};
    const arg_command cmd = {
        "config", "[--config FILE.ini] [--set SECTION.KEY=VALUE]... > pipeline.ini",
        "Prints every setting of every command as an INI file: each key with a comment saying what it means, "
        "its default and the values it accepts. The values are the defaults with --config and --set applied, "
        "so 'refine-pipeline config --set train.iterations=5000 > pipeline.ini' writes a complete configuration "
        "to edit and pass to any command with --config pipeline.ini.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("config", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("config", rc);
    char *ini = config_to_ini_commented(&cfg);
    if (!ini) return cmd_fail("config", rp_err(RP_ENOMEM, "out of memory"));
    fputs("# refine-pipeline configuration: pass it to any command with --config FILE.ini\n\n", stdout);
    fputs(ini, stdout);
    free(ini);
    return fflush(stdout) == 0 ? 0 : cmd_fail("config", rp_err(RP_EIO, "cannot write to standard output"));
}
