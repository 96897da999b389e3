/* refine-pipeline train: SimGAN training of the refiner against the local discriminator
 * (refiner/trainer.h), with checkpoints and exact --resume. Ctrl-C checkpoints and stops. */
#include "cli/commands.h"
#include "cli/args.h"
#include "pipelines/guard.h"
#include "refiner/trainer.h"
#include "nn/gemm.h"
#include "base/dist.h"
#include "base/status.h"
#include <stdio.h>
#include <string.h>

/* --resume: the checkpoint's config, then --config, then --set (so a resumed run keeps its
 * settings unless told otherwise, e.g. --set train.iterations=5000 to extend it). */
static int resume_config(const args_common *c, const char *run_dir, rp_config *cfg) {
    int rc = trainer_resume_config(run_dir, cfg);
    if (rc) return rc;
    if (c->config_path && (rc = config_load_file(cfg, c->config_path))) return rc;
    for (int i = 0; i < c->nsets; i++)
        if ((rc = config_set_arg(cfg, c->sets[i]))) return rc;
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *synthetic = NULL, *real = NULL, *run_dir = NULL;
    int resume = 0;
    const arg_spec specs[] = {
        {"--synthetic", "-s", ARG_STR, &synthetic, "S.h5", "synthetic images (refine-dataset or file.h5:/path)"},
        {"--real", "-r", ARG_STR, &real, "R.h5", "real images for the discriminator (labels unused)"},
        {"--run-dir", "-d", ARG_STR, &run_dir, "DIR", "run directory: config.ini, checkpoints/, metrics.csv, samples/"},
        {"--resume", NULL, ARG_FLAG, &resume, NULL, "continue DIR's run from its latest checkpoint, exactly"},
        {0}};
    const arg_command cmd = {
        "train", "--synthetic S.h5 --real R.h5 --run-dir DIR [--resume]",
        "Trains the SimGAN refiner R against the local patch discriminator D (Algorithm 1: refiner "
        "pretraining on self-regularization, discriminator pretraining, then train.iterations iterations of "
        "train.k_g refiner steps and train.k_d discriminator steps, with a history buffer of refined images). "
        "Both datasets must have the same image size and channels. Writes DIR/config.ini, "
        "DIR/checkpoints/step_N.h5 (+ latest.h5), DIR/metrics.csv (one row per step), "
        "DIR/samples/step_N.png (synthetic | refined | difference x4 | real) and DIR/train.log. "
        "--resume continues bit-exactly from the latest checkpoint, using its stored config unless "
        "--config/--set override it (a larger train.iterations extends the run). Ctrl-C writes a "
        "checkpoint and stops. Under mpirun (refine-pipeline-mpi) each of P ranks computes on train.batch / P "
        "images of every batch (train.batch a multiple of 2P) and rank 0 writes the run directory.",
        specs, 0, 0};
    args_common common;
    int rc = args_parse(&cmd, &common, argc, argv);
    if (rc) return rc > 0 ? 0 : cmd_fail("train", rc);
    if (!synthetic || !real || !run_dir)
        return cmd_fail("train", rp_err(RP_EARG, "--synthetic, --real and --run-dir are required (try "
                                                 "'refine-pipeline train --help')"));
    rp_config cfg;
    rc = resume ? resume_config(&common, run_dir, &cfg) : args_load_config(&common, &cfg);
    if (rc) return cmd_fail("train", rc);
    nn_set_threads(common.threads);
    trainer *t;
    if ((rc = trainer_open(&t, &cfg, synthetic, real, run_dir, resume, common.quiet))) return cmd_fail("train", rc);
    guard *g = NULL;
    /* under mpirun rank 0 alone measures the guard and tells the others (trainer.h) */
    if (rp_dist_rank() == 0 && trainer_total_steps(t) > trainer_step(t))
        rc = guard_open(&g, &cfg, synthetic, common.quiet);
    if ((rc = rp_dist_agree(rc))) {
        trainer_close(t);
        return cmd_fail("train", rc);
    }
    guard_attach(g, t);
    trainer_set_stop_flag(t, cmd_catch_stop_signals()); /* Ctrl-C: checkpoint, then stop */
    rc = trainer_run(t); /* it reports its own end (train.log and stderr) */
    trainer_close(t);
    guard_close(g);
    return rc ? cmd_fail("train", rc) : 0;
}
