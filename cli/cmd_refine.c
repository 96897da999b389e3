/* refine-pipeline refine: refine a whole dataset with a trained checkpoint (see refine.h). */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/refine.h"
#include "nn/gemm.h"
#include "base/status.h"
#include <stdio.h>

int cmd_refine(int argc, char **argv) {
    const char *ck = NULL, *in = NULL, *out = NULL, *shard = NULL;
    int resume = 0, batch = 0;
    long chunk = 0;
    const arg_spec specs[] = {
        {"--checkpoint", NULL, ARG_STR, &ck, "CK.h5", "refiner checkpoint (e.g. RUN/checkpoints/latest.h5)"},
        {"--in", "-i", ARG_STR, &in, "S.h5", "dataset to refine (refine-dataset or file.h5:/path)"},
        {"--output", "-o", ARG_STR, &out, "OUT.h5", "refined dataset to write"},
        {"--resume", NULL, ARG_FLAG, &resume, NULL, "continue an interrupted run from its last complete chunk"},
        {"--batch", NULL, ARG_INT, &batch, "N", "images per forward batch (refine.batch)"},
        {"--chunk", NULL, ARG_LONG, &chunk, "N", "images per output chunk, the resume unit (refine.chunk)"},
        {"--shard", NULL, ARG_STR, &shard, "i/N", "refine only shard i of N (whole chunks; join them with merge)"},
        {0}};
    const arg_command cmd = {"refine", "--checkpoint CK.h5 --in S.h5 -o refined.h5 [--resume]",
                             "Streams every image of S.h5 through the trained refiner and writes refined.h5 with "
                             "every label, simulator parameter and the source row index copied 1:1, plus "
                             "provenance (source_file, refiner_checkpoint, refiner_step). Memory does not grow "
                             "with the dataset; the output appears only when complete. An interrupted run "
                             "continues with --resume and gives the same bytes as an uninterrupted one. --shard "
                             "i/N refines only the i-th of N contiguous shares of the rows (0-based) into a "
                             "complete dataset whose /index points to the source rows; 'refine-pipeline merge' "
                             "joins the N files into the bytes of one unsharded run.",
                             specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("refine", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("refine", rc);
    char key[32];
    if (batch) { snprintf(key, sizeof key, "%d", batch); if ((rc = config_set(&cfg, "refine.batch", key))) return cmd_fail("refine", rc); }
    if (chunk) { snprintf(key, sizeof key, "%ld", chunk); if ((rc = config_set(&cfg, "refine.chunk", key))) return cmd_fail("refine", rc); }
    if (!ck || !in || !out)
        return cmd_fail("refine", rp_err(RP_EARG, "--checkpoint, --in and -o are required (try 'refine-pipeline refine --help')"));
    nn_set_threads(common.threads);
    shard_spec sh = {0, 1};
    if (shard && (rc = shard_parse(shard, &sh))) return cmd_fail("refine", rc);
    refine_options o = {.shard = sh, .checkpoint = ck, .input = in, .output = out, .resume = resume, .quiet = common.quiet,
                        .cfg = &cfg, .stop = cmd_catch_stop_signals()};
    refine_result res;
    if ((rc = refine_run(&o, &res))) return cmd_fail("refine", rc);
    if (!common.quiet)
        fprintf(stderr, "refine: wrote %s: %ld images (%.1f images/s through R%s), %.1f s in all\n", out, res.images,
                res.seconds_refine > 0 ? (res.images - 0.0) / res.seconds_refine : 0.0,
                res.chunks_reused ? ", some chunks reused" : "", res.seconds_total);
    return 0;
}
