/* refine-pipeline simulate: render labeled synthetic images into a refine-dataset. */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/simulate.h"
#include "base/status.h"
#include <stdio.h>

/* Command-line shortcuts are applied as config keys, so the provenance records them. */
static int set_str(rp_config *c, const char *key, const char *v) { return v ? config_set(c, key, v) : 0; }

static int set_num(rp_config *c, const char *key, long v, int given) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", v);
    return given ? config_set(c, key, buf) : 0;
}

int cmd_simulate(int argc, char **argv) {
    const char *scene = NULL, *size = NULL, *out = NULL, *shard = NULL;
    long n = -1, seed = -1, chunk = -1;
    const arg_spec specs[] = {
        {"--scene", NULL, ARG_STR, &scene, "digits|eyes|eyes-target", "scene to render (simulate.scene; default digits; eyes-target: the eyes with another appearance, for sim-to-sim checks)"},
        {"--count", "-n", ARG_LONG, &n, "N", "images to render (simulate.n)"},
        {"--seed", NULL, ARG_LONG, &seed, "S", "seed; each image depends only on (seed, index) (simulate.seed)"},
        {"--size", NULL, ARG_STR, &size, "HxW", "image size (default: the scene's, 28x28 digits, 35x55 eyes)"},
        {"--chunk", NULL, ARG_LONG, &chunk, "K", "images per HDF5 chunk and render batch (simulate.chunk)"},
        {"--output", "-o", ARG_STR, &out, "OUT.h5", "dataset to write"},
        {"--shard", NULL, ARG_STR, &shard, "i/N", "write only shard i of N (whole chunks; join them with merge)"},
        {0}};
    const arg_command cmd = {
        "simulate", "--scene digits|eyes|eyes-target -n N [--seed S] [--size HxW] -o synthetic.h5",
        "Renders N labeled synthetic images into a refine-dataset: /images, /labels/* (class for digits; gaze, "
        "pupil_center, iris_radius, eyelid landmarks ... for eyes), /params/* (every value drawn) and /index, with "
        "provenance. The same seed gives the same bytes whatever --threads is. --shard i/N renders only the i-th "
        "of N contiguous shares of the rows (0-based), as a complete dataset whose /index gives each row's place "
        "in the job; 'refine-pipeline merge' joins the N files into the bytes of one unsharded run.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("simulate", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("simulate", rc);
    if (!out) return cmd_fail("simulate", rp_err(RP_EARG, "-o OUT.h5 is required (try 'refine-pipeline simulate --help')"));
    if (size) {
        int h, w;
        char tail;
        if (sscanf(size, "%dx%d%c", &h, &w, &tail) != 2)
            return cmd_fail("simulate", rp_err(RP_EARG, "--size: expected HxW (e.g. 28x28), got \"%s\"", size));
        if ((rc = set_num(&cfg, "simulate.height", h, 1)) || (rc = set_num(&cfg, "simulate.width", w, 1)))
            return cmd_fail("simulate", rc);
    }
    if ((rc = set_str(&cfg, "simulate.scene", scene)) || (rc = set_num(&cfg, "simulate.n", n, n != -1)) ||
        (rc = set_num(&cfg, "simulate.seed", seed, seed != -1)) || (rc = set_num(&cfg, "simulate.chunk", chunk, chunk != -1)))
        return cmd_fail("simulate", rc);
    shard_spec sh = {0, 1};
    if (shard && (rc = shard_parse(shard, &sh))) return cmd_fail("simulate", rc);
    rc = sh.count > 1 ? simulate_run_shard(&cfg, out, common.threads, common.quiet, &sh)
                      : simulate_run(&cfg, out, common.threads, common.quiet); /* under MPI: spread over the ranks */
    if (rc) return cmd_fail("simulate", rc);
    long from = 0, to = cfg.simulate.n;
    shard_rows(&sh, cfg.simulate.n, cfg.simulate.chunk, &from, &to);
    if (!common.quiet)
        fprintf(stderr, "simulate: wrote %s (%ld %s images%s)\n", out, to - from, cfg.simulate.scene,
                sh.count > 1 ? ", one shard" : "");
    return 0;
}
