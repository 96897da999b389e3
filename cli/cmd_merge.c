/* refine-pipeline merge: join the shards of a simulate or refine job (see pipelines/shard.h). */
#include "cli/commands.h"
#include "cli/args.h"
#include "base/status.h"
#include "pipelines/shard.h"
#include <stdio.h>

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int virtual_ = 0;
    const arg_spec specs[] = {
        {"--output", "-o", ARG_STR, &out, "OUT.h5", "merged dataset to write"},
        {"--virtual", NULL, ARG_FLAG, &virtual_, NULL, "write an HDF5 virtual dataset over the shards instead of a copy"},
        {0}};
    const arg_command cmd = {
        "merge", "SHARD.h5... -o OUT.h5 [--virtual]",
        "Joins the N shard files of one 'simulate --shard i/N' or 'refine --shard i/N' job, given in any order, "
        "into the file one unsharded run writes: the same rows in order, every label and parameter, /index, the "
        "job's provenance and chunking (byte for byte, with the same SOURCE_DATE_EPOCH). The shards must be the "
        "N distinct shards of one job (same input, checkpoint, config and columns); a missing, repeated or "
        "foreign shard is an error that names it. --virtual writes an HDF5 virtual dataset that reads the "
        "shard files where they are (h5py sees one dataset) instead of copying them.",
        specs, 1, 256};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("merge", rc);
    if (!out) return cmd_fail("merge", rp_err(RP_EARG, "-o OUT.h5 is required (try 'refine-pipeline merge --help')"));
    if ((rc = shard_merge(common.pos, common.npos, out, virtual_, common.quiet))) return cmd_fail("merge", rc);
    if (!common.quiet) fprintf(stderr, "merge: wrote %s from %d shard(s)%s\n", out, common.npos, virtual_ ? " (virtual)" : "");
    return 0;
}
