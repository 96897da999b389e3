/* refine-pipeline run: the whole job on one run directory (see run.h). */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/run.h"

int cmd_run(int argc, char **argv) {
    const char *dir = "runs/default", *synthetic = NULL, *real = NULL, *test = NULL;
    int fresh = 0;
    const arg_spec specs[] = {
        {"--run-dir", NULL, ARG_STR, &dir, "DIR", "run directory (default runs/default)"},
        {"--fresh", NULL, ARG_FLAG, &fresh, NULL, "discard what an earlier run left in DIR and start over"},
        {"--synthetic", NULL, ARG_STR, &synthetic, "S.h5", "refine your own labeled set instead of simulating (run.synthetic)"},
        {"--real", NULL, ARG_STR, &real, "R.h5", "real pool for the discriminator and realism (run.real)"},
        {"--test", NULL, ARG_STR, &test, "T.h5", "labeled real test set, or \"\" for none (run.test)"},
        {0}};
    const arg_command cmd = {
        "run", "[--config pipeline.ini] [--run-dir DIR] [--synthetic S.h5] [--real R.h5] [--test T.h5] [--fresh]",
        "Runs the main job: simulate the synthetic set (DIR/synthetic.h5), train the refiner against the real "
        "pool (run.real) with checkpoints in DIR/checkpoints, refine the whole synthetic set (DIR/refined.h5, "
        "labels kept), train the fixed evaluation network on synthetic and on refined data and score both on the "
        "real test set (run.test), then write DIR/report.json and the self-contained DIR/report.html. Without a "
        "config it runs the built-in default: digits refined toward the MNIST sample of 'make data'. With "
        "--synthetic it refines your own labeled set instead of simulating one (import it with its labels "
        "first); without a labeled real test set (--test \"\") it reports realism and label consistency but no "
        "accuracy. Re-running with the same DIR resumes from what is complete.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("run", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("run", rc);
    const char *keys[3] = {"run.synthetic", "run.real", "run.test"}, *vals[3] = {synthetic, real, test};
    for (int i = 0; i < 3; i++)
        if (vals[i] && (rc = config_set(&cfg, keys[i], vals[i]))) return cmd_fail("run", rc);
    run_options o = {dir, fresh, common.threads, common.quiet, cmd_catch_stop_signals()};
    if ((rc = run_pipeline(&cfg, &o))) return cmd_fail("run", rc);
    return 0;
}
