/* refine-pipeline run: the whole job on one run directory (see run.h). */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/run.h"

int cmd_run(int argc, char **argv) {
    const char *dir = "runs/default";
    int fresh = 0;
    const arg_spec specs[] = {
        {"--run-dir", NULL, ARG_STR, &dir, "DIR", "run directory (default runs/default)"},
        {"--fresh", NULL, ARG_FLAG, &fresh, NULL, "discard what an earlier run left in DIR and start over"},
        {0}};
    const arg_command cmd = {
        "run", "[--config pipeline.ini] [--run-dir DIR] [--fresh]",
        "Runs the main job: simulate the synthetic set (DIR/synthetic.h5), train the refiner against the real "
        "pool (run.real) with checkpoints in DIR/checkpoints, refine the whole synthetic set (DIR/refined.h5, "
        "labels kept), train the fixed evaluation network on synthetic and on refined data and score both on the "
        "real test set (run.test), then write DIR/report.json and the self-contained DIR/report.html. Without a "
        "config it runs the built-in default: digits refined toward the MNIST sample of 'make data'. Re-running "
        "with the same DIR resumes from what is complete.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("run", rc);
    rp_config cfg;
    if ((rc = args_load_config(&common, &cfg))) return cmd_fail("run", rc);
    run_options o = {dir, fresh, common.threads, common.quiet, cmd_catch_stop_signals()};
    if ((rc = run_pipeline(&cfg, &o))) return cmd_fail("run", rc);
    return 0;
}
