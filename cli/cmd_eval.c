/* refine-pipeline eval: trains the fixed evaluation network on a dataset, scores it on the real
 * test set, measures realism against a real pool, prints a table and updates report.json. */
#include "base/dist.h"
#include "base/status.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "eval/eval.h"
#include <stdio.h>
#include <string.h>

/* "runs/x/refined.h5:/images" -> "refined" */
static void default_name(char *out, size_t n, const char *spec) {
    const char *base = strrchr(spec, '/');
    base = base ? base + 1 : spec;
    snprintf(out, n, "%s", base);
    char *colon = strchr(out, ':'), *dot;
    if (colon) *colon = 0;
    if ((dot = strrchr(out, '.'))) *dot = 0;
}

int cmd_eval(int argc, char **argv) {
    const char *train = NULL, *test = NULL, *label = NULL, *real = NULL, *features = NULL, *save = NULL;
    const char *out = "report.json", *name = NULL, *pred = NULL, *source = NULL;
    const arg_spec specs[] = {
        {"--train", NULL, ARG_STR, &train, "T.h5", "training set (synthetic or refined) with /labels/LABEL"},
        {"--test", NULL, ARG_STR, &test, "TEST.h5", "labeled real test set (never trained on); without it, no accuracy"},
        {"--label", NULL, ARG_STR, &label, "NAME", "label to learn: integer -> classes, float -> regression (default run.label)"},
        {"--real", NULL, ARG_STR, &real, "REAL.h5", "real pool: enables domain classifier, Frechet distance, histograms"},
        {"--features", NULL, ARG_STR, &features, "F.h5", "feature network for the Frechet distance (shared between runs)"},
        {"--save-features", NULL, ARG_STR, &save, "F.h5", "save the network trained here as the shared feature network"},
        {"--output", "-o", ARG_STR, &out, "REPORT.json", "report to create or update (default report.json)"},
        {"--name", NULL, ARG_STR, &name, "NAME", "entry under \"evaluations\" (default: the training file's base name)"},
        {"--predictions", NULL, ARG_STR, &pred, "P.csv", "write each test row's target and prediction (for error analysis)"},
        {"--source", NULL, ARG_STR, &source, "S.h5", "synthetic set T was refined from: label consistency (default: T's source_file)"},
        {0},
    };
    const arg_command cmd = {
        "eval", "--train T.h5 [--test REAL_TEST.h5] [--label class] [--real REAL.h5] [--features F.h5 | "
                "--save-features F.h5] [--source S.h5] [-o report.json] [--name NAME] [--predictions P.csv]",
        "Trains the fixed evaluation network (evalnet-v1: two conv3x3+ReLU+maxpool stages, fc 128, fc out) on the "
        "training set with the [eval] seed and step budget, and reports accuracy on the real test set (or the "
        "mean angular error in degrees for label gaze, mean absolute error for other float labels). With --real it "
        "also reports a domain classifier's held-out accuracy (50% = indistinguishable), the Frechet distance in "
        "the 128-d penultimate features, and intensity-histogram distances. Compare synthetic and refined sets "
        "with one shared feature network: --save-features on the synthetic run, --features on the others. For "
        "a refined set it also reports label consistency: a probe network trained on the synthetic set's labels "
        "(its source_file, or --source) is scored on held-out rows as simulated and as refined; a ratio of errors "
        "near 1 means the refinement kept the labels. "
        "--set eval.repeats=N trains the evaluation network and the domain classifier with seeds eval.seed .. "
        "eval.seed+N-1 and reports the means and each seed's result (one seed's accuracy moves by about half a "
        "point on the digits). Under mpirun (refine-pipeline-mpi) the seeds are spread over the ranks; each "
        "seed's result is the one a single process with the same --threads gives, and rank 0 writes the report.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc == 1) return 0;
    if (rc) return cmd_fail("eval", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("eval", rc);
    if (!train) return cmd_fail("eval", rp_err(RP_EARG, "--train is required (try 'refine-pipeline eval --help')"));
    if (features && save)
        return cmd_fail("eval", rp_err(RP_EARG, "give --features or --save-features, not both"));
    if (features && !real)
        return cmd_fail("eval", rp_err(RP_EARG, "--features is used for the Frechet distance, which needs --real"));

    eval_options o;
    eval_options_from_config(&o, &cfg);
    char defname[256];
    default_name(defname, sizeof defname, train);
    o.train = train, o.test = test, o.real = real, o.features = features, o.save_features = save;
    o.label = label ? label : cfg.run.label;
    o.predictions = pred;
    o.source = source;
    o.name = name ? name : defname;
    o.threads = common.threads, o.quiet = common.quiet;
    eval_result res;
    if ((rc = eval_run(&o, &res))) return cmd_fail("eval", rc);
    if (rp_dist_rank() != 0) return 0; /* under mpirun every rank holds the result; rank 0 writes it */
    if (!common.quiet) eval_print(stdout, &res);
    if ((rc = report_json_update(out, o.name, &res))) return cmd_fail("eval", rc);
    if (!common.quiet) printf("wrote %s (evaluations.%s)\n", out, o.name);
    return 0;
}
