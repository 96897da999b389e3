/* The MPI build (refine-pipeline-mpi) under `mpirun -np 2`: simulate and refine spread over two
 * ranks give the bytes of one process's run (with one thread per rank and the same
 * SOURCE_DATE_EPOCH); data-parallel training gives a P = 1 run's parameters within a stated
 * tolerance, the same bytes from run to run and across kill -9 or Ctrl-C and --resume, identical
 * states on both ranks, and checkpoints that resume with another P; eval gives one process's
 * report; run completes with every stage spread. Skipped, saying so, where Open MPI or the MPI
 * binary is missing (`make deps` installs it; .ci/run runs `make test`). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <math.h>
#include <unistd.h>
#include "refiner/checkpoint.h"
#include "tests/tmpdir.h"

static char cli[4096], mpi_cli[4096];
static char out[1 << 16];
static int have_mpi;

static int sh(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[17000];
    /* LeakSanitizer (make asan) would report Open MPI's own allocations at exit */
    snprintf(full, sizeof full, "cd %s && export SOURCE_DATE_EPOCH=1700000000 ASAN_OPTIONS=detect_leaks=0 && %s 2>&1",
             tmpdir, cmd);
    FILE *p = popen(full, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* mpirun as root needs its consent; --oversubscribe lets 2 ranks share fewer cores */
#define MPIRUN "mpirun --allow-run-as-root --oversubscribe -np 2 "

static int same_file(const char *a, const char *b) { return sh("cmp -s %s %s", a, b) == 0; }

/* One process trains a small refiner R(F,B) on syn and real to refine with: a step of each phase. */
static void train_small(const char *syn, const char *real, const char *dir, int F, int B) {
    if (sh("%s train -s %s -r %s -d %s --threads 1 --quiet --set refiner.filters=%d --set refiner.blocks=%d "
           "--set train.batch=8 --set train.iterations=1 --set train.pretrain_refiner_steps=2 "
           "--set train.pretrain_disc_steps=1 --set train.label_guard=0", cli, syn, real, dir, F, B))
        fail_msg("train -d %s:\n%s", dir, out);
}

/* The digits sets most tests share: 1,000 synthetic, 300 "real" (another seed). */
static void make_sets(void) {
    static int made;
    if (made++) return;
    assert_int_equal(sh("%s simulate -n 1000 -o syn.h5 --threads 1 --quiet", cli), 0);
    assert_int_equal(sh("%s simulate -n 300 --seed 7 -o real.h5 --threads 1 --quiet", cli), 0);
}

static void skip_without_mpi(void) {
    if (!have_mpi) {
        fprintf(stderr, "SKIP: mpirun or %s missing (apt-get install openmpi-bin libopenmpi-dev); MPI not tested\n",
                mpi_cli);
        skip();
    }
}

static void test_mpi_simulate_and_refine_same_bytes(void **state) {
    (void)state;
    skip_without_mpi();
    assert_int_equal(sh("%s simulate -n 2100 --chunk 256 -o one.h5 --threads 1 --quiet", cli), 0);
    if (sh(MPIRUN "%s simulate -n 2100 --chunk 256 -o two.h5 --threads 1 --quiet", mpi_cli))
        fail_msg("mpirun simulate:\n%s", out);
    assert_true(same_file("one.h5", "two.h5"));
    /* a small refiner to refine with */
    assert_int_equal(sh("%s simulate -n 300 --seed 7 -o real.h5 --threads 1 --quiet", cli), 0);
    train_small("one.h5", "real.h5", "run", 4, 1);
    assert_int_equal(sh("%s refine --checkpoint run/checkpoints/latest.h5 --in one.h5 -o r1.h5 --chunk 200 "
                        "--threads 1 --quiet", cli), 0);
    if (sh(MPIRUN "%s refine --checkpoint run/checkpoints/latest.h5 --in one.h5 -o r2.h5 --chunk 200 --threads 1 "
           "--quiet", mpi_cli))
        fail_msg("mpirun refine:\n%s", out);
    assert_true(same_file("r1.h5", "r2.h5"));
    assert_int_equal(sh("ls | grep -c -e parts -e rank-"), 1); /* grep -c prints 0 and fails: nothing left over */
}

/* refine whose input opens on rank 0 only (an MPMD launch: rank 1 is given a missing file):
 * both ranks stop, the job ends with a non-zero status (not a hang: timeout's 124) and the
 * message naming the missing file, and nothing is written. Refine used to return before the
 * ranks agreed, leaving rank 0 waiting for rank 1 forever. */
static void test_mpi_refine_input_fails_on_one_rank(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    train_small("syn.h5", "real.h5", "r1", 4, 1);
#define R1 " refine --checkpoint r1/checkpoints/latest.h5 --threads 1 --quiet -o bad.h5 --in "
    int rc = sh("timeout 120 mpirun --allow-run-as-root --oversubscribe -np 1 %s" R1 "syn.h5 : -np 1 %s" R1
                "missing.h5", mpi_cli, mpi_cli);
#undef R1
    if (rc == 124) fail_msg("refine hung when only one rank could not open its input:\n%s", out);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "missing.h5")) fail_msg("the error does not name the missing input:\n%s", out);
    assert_int_equal(sh("ls | grep -c -e '^bad'"), 1); /* no output, no parts folder */
}

/* ------------------------------------------------------------------------------------ */
/* data-parallel training */

/* A tiny SimGAN (R(4,1), batch 8: shares of 4 on two ranks) that runs all three phases. */
#define TINY "--threads 1 --quiet --set refiner.filters=4 --set refiner.blocks=1 --set train.batch=8 " \
             "--set train.pretrain_refiner_steps=5 --set train.pretrain_disc_steps=5 --set train.label_guard=0 "

static void train_ok(const char *launcher, const char *bin, const char *dir, const char *extra) {
    if (sh("%s%s train -s syn.h5 -r real.h5 -d %s " TINY "%s", launcher, bin, dir, extra))
        fail_msg("train -d %s %s under '%s':\n%s", dir, extra, launcher, out);
}

static void load_state(const char *path, train_state *s) {
    rp_config cfg;
    train_setup u;
    train_counters k;
    assert_int_equal(checkpoint_read_config(path, &cfg), 0);
    assert_int_equal(train_setup_from_config(&u, &cfg, 1, 28, 28), 0);
    assert_int_equal(train_state_init(s, &u), 0);
    if (checkpoint_load(path, s, &k)) fail_msg("%s: cannot load", path);
}

/* Largest |a - b| over both nets' parameters of two checkpoints. */
static double max_param_diff(const char *a, const char *b) {
    train_state x, y;
    load_state(tpath(a), &x);
    load_state(tpath(b), &y);
    double m = 0;
    const param_block *px[2] = {&x.R.p, &x.D.p}, *py[2] = {&y.R.p, &y.D.p};
    for (int j = 0; j < 2; j++) {
        assert_int_equal(px[j]->count, py[j]->count);
        for (size_t i = 0; i < px[j]->count; i++) {
            double d = fabs((double)px[j]->data[i] - py[j]->data[i]);
            if (!(d <= m)) m = d; /* NaN stays */
        }
    }
    train_state_free(&x);
    train_state_free(&y);
    return m;
}

/* Column col of metrics.csv's rows as numbers (empty fields skipped); returns how many. */
static int metric_column(const char *dir, int col, double *v, int max) {
    char path[256];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *text = slurp(tpath(path)), *save = NULL;
    assert_non_null(text);
    int n = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "step", 4)) continue;
        const char *f = line;
        for (int c = 0; c < col && f; c++) f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
        if (f && *f != ',' && *f && n < max) v[n++] = atof(f);
    }
    free(text);
    return n;
}

/* P = 2 against P = 1 with the same global batch: the same computation summed in another order
 * (each rank adds its 4 images, then rank 0's sum + rank 1's, instead of 8 in one pass).
 * With SGD (both nets) each update is proportional to the gradient, so the runs stay a few float
 * roundings apart. Measured on 2026-12-05 after 30 steps (20 iterations), over both nets'
 * parameters (|p| up to 1.9): max |P2 - P1| = 6e-8 on the AVX-512 and AVX2 kernels, 2.1e-6 on
 * the reference kernels. 2e-5 leaves a margin of 10 over the worst; a normalisation error shows
 * as 0.03 (measured with D's loss weights set to a share's own mean: gradients x 2).
 * Not Adam: it divides each gradient by its own running magnitude, so it is blind to a constant
 * factor, and parameters whose gradient is rounding noise (about 1e-10 on D's third layer with
 * the fast kernels) take steps of a full learning rate in the direction of that noise: the same
 * runs with Adam differ by up to 0.015 (fast kernels) and 3e-7 (reference kernels). */
#define P2_VS_P1_TOL 2e-5
#define SGD "--set train.optimizer=sgd --set train.iterations=20"

static void test_mpi_train_matches_one_process(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    train_ok("", cli, "p1", SGD);
    train_ok(MPIRUN, mpi_cli, "p2", SGD);
    train_ok(MPIRUN, mpi_cli, "p2b", SGD);
    const char *ck = "checkpoints/step_000000030.h5";
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "p1/%s", ck), snprintf(b, sizeof b, "p2/%s", ck), snprintf(c, sizeof c, "p2b/%s", ck);
    /* the same P: the same bytes */
    assert_true(same_file(b, c));
    double d = max_param_diff(a, b);
    fprintf(stderr, "P=2 vs P=1 after 30 steps: max |parameter difference| = %.3g (tolerance %g)\n", d, P2_VS_P1_TOL);
    assert_true(d > 0 && d <= P2_VS_P1_TOL); /* > 0: the two runs did not fall back to one process */
    /* both ranks held the same state at the checkpoint (compared by checksum; a mismatch fails the run) */
    assert_int_equal(sh("grep -c 'the same on all 2 ranks' p2/train.log"), 0);
    assert_string_equal(out, "1\n");
    /* metrics.csv holds global values: per column, P = 2's rows follow P = 1's */
    for (int col = 2; col <= 8; col++) {
        double v1[64], v2[64];
        int n1 = metric_column("p1", col, v1, 64), n2 = metric_column("p2", col, v2, 64);
        assert_int_equal(n1, n2);
        assert_true(n1 > 0);
        for (int i = 0; i < n1; i++)
            if (!(fabs(v1[i] - v2[i]) <= 1e-4 * (1 + fabs(v1[i])))) /* a share's value would be half */
                fail_msg("metrics.csv column %d row %d: P=1 %g, P=2 %g", col, i + 1, v1[i], v2[i]);
    }
}

/* A checkpoint holds the global state: a P = 2 run resumes with P = 1 and the other way round,
 * and each continues as the same P would have (within the tolerance above). */
static void test_mpi_resume_with_other_ranks(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    if (access(tpath("p2/checkpoints/step_000000030.h5"), F_OK)) train_ok(MPIRUN, mpi_cli, "p2", SGD);
    if (access(tpath("p1/checkpoints/step_000000030.h5"), F_OK)) train_ok("", cli, "p1", SGD);
    const char *from[2] = {"p2", "p1"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(sh("cp -r %s %s-as1 && cp -r %s %s-as2", from[k], from[k], from[k], from[k]), 0);
        char d1[32], d2[32];
        snprintf(d1, sizeof d1, "%s-as1", from[k]), snprintf(d2, sizeof d2, "%s-as2", from[k]);
        train_ok("", cli, d1, "--resume --set train.iterations=25");
        train_ok(MPIRUN, mpi_cli, d2, "--resume --set train.iterations=25");
        char a[96], b[96];
        snprintf(a, sizeof a, "%s/checkpoints/step_000000035.h5", d1);
        snprintf(b, sizeof b, "%s/checkpoints/step_000000035.h5", d2);
        double d = max_param_diff(a, b);
        if (!(d > 0 && d <= P2_VS_P1_TOL)) fail_msg("resumed from %s with P=1 and P=2: max difference %g", from[k], d);
    }
}

/* Starts a P = 2 training in the background; every rank writes its pid to pid.RANK first. */
static void start_background(const char *dir, const char *extra) {
    assert_int_equal(sh("rm -f pid.0 pid.1 && (" MPIRUN "sh -c 'echo $$ > pid.$OMPI_COMM_WORLD_RANK; exec %s train "
                        "-s syn.h5 -r real.h5 -d %s " TINY "%s' > %s.out 2>&1 & echo $! > mpirun.pid)",
                        mpi_cli, dir, extra, dir), 0);
}

/* Polls (10 ms) until `cond` (a shell test) holds; 0 on time-out after `seconds`. */
static int wait_for(const char *cond, double seconds) {
    for (int i = 0; i < seconds * 100; i++) {
        if (sh("%s", cond) == 0) return 1;
        usleep(10000);
    }
    return 0;
}

/* kill -9 of one rank mid-run: Open MPI ends the job, the last checkpoint (written to a temporary
 * name and renamed) stays whole, and --resume with P = 2 ends with the bytes (checkpoint and
 * metrics.csv but its step_time column) of a run that was never interrupted. The same after
 * Ctrl-C (SIGINT to mpirun), which checkpoints the step the ranks agreed to stop at. */
#define LONG "--set train.optimizer=adam --set train.iterations=300 --set train.checkpoint_every=10"
static void test_mpi_kill9_then_resume_is_exact(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    train_ok(MPIRUN, mpi_cli, "whole", LONG);
    start_background("killed", LONG);
    if (!wait_for("test -s pid.1 && test -e killed/checkpoints/step_000000040.h5", 60))
        fail_msg("no checkpoint at step 40 within 60 s:\n%s", (sh("cat killed.out"), out));
    assert_int_equal(sh("kill -9 $(cat pid.1)"), 0);
    if (!wait_for("kill -0 $(cat mpirun.pid) 2>/dev/null; test $? -ne 0", 60))
        fail_msg("mpirun did not end after kill -9 of a rank");
    if (!access(tpath("killed/checkpoints/step_000000310.h5"), F_OK))
        fail_msg("the run ended before the kill: make LONG longer");
    train_ok(MPIRUN, mpi_cli, "killed", "--resume " LONG);
    assert_true(same_file("whole/checkpoints/step_000000310.h5", "killed/checkpoints/step_000000310.h5"));
    if (sh("cut -d, -f1-9 whole/metrics.csv > w.csv && cut -d, -f1-9 killed/metrics.csv > k.csv && diff w.csv k.csv"))
        fail_msg("metrics.csv after kill -9 and --resume differs:\n%s", out);

    /* Ctrl-C: mpirun passes SIGINT on, the ranks agree on a step, rank 0 checkpoints it */
    start_background("stopped", LONG);
    if (!wait_for("test -s pid.1 && test -e stopped/checkpoints/step_000000040.h5", 60))
        fail_msg("no checkpoint at step 40 within 60 s:\n%s", (sh("cat stopped.out"), out));
    assert_int_equal(sh("kill -INT $(cat mpirun.pid)"), 0);
    if (!wait_for("kill -0 $(cat mpirun.pid) 2>/dev/null; test $? -ne 0", 60)) fail_msg("mpirun did not end after SIGINT");
    assert_int_equal(sh("grep -c 'interrupted at step' stopped.out"), 0);
    train_ok(MPIRUN, mpi_cli, "stopped", "--resume " LONG);
    assert_true(same_file("whole/checkpoints/step_000000310.h5", "stopped/checkpoints/step_000000310.h5"));
}

/* refine under mpirun, kill -9 of one rank once some chunks are written: Open MPI ends the job,
 * the chunks already renamed into OUT.parts stay, and --resume (again with P = 2) ends with the
 * bytes of one process's uninterrupted run. R(32,3) on 12,000 digits in chunks of 200 keeps the
 * job running for seconds, long enough to kill it in the middle. */
static void test_mpi_refine_kill9_then_resume_is_exact(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    assert_int_equal(sh("%s simulate -n 12000 --seed 3 -o big.h5 --threads 1 --quiet", cli), 0);
    train_small("syn.h5", "real.h5", "rk", 32, 3);
#define RK "refine --checkpoint rk/checkpoints/latest.h5 --in big.h5 --chunk 200 --threads 1 --quiet -o "
    assert_int_equal(sh("%s " RK "rk1.h5", cli), 0);
    assert_int_equal(sh("rm -f pid.0 pid.1 && (" MPIRUN "sh -c 'echo $$ > pid.$OMPI_COMM_WORLD_RANK; exec %s " RK
                        "rk2.h5' > rk.out 2>&1 & echo $! > mpirun.pid)", mpi_cli), 0);
    if (!wait_for("test -s pid.1 && test $(ls rk2.h5.parts 2>/dev/null | grep -c '^chunk-') -ge 4", 60))
        fail_msg("no parts within 60 s:\n%s", (sh("cat rk.out"), out));
    assert_int_equal(sh("kill -9 $(cat pid.1)"), 0);
    if (!wait_for("kill -0 $(cat mpirun.pid) 2>/dev/null; test $? -ne 0", 60))
        fail_msg("mpirun did not end after kill -9 of a rank");
    if (!access(tpath("rk2.h5"), F_OK)) fail_msg("the job finished before the kill: make the input larger");
    assert_int_equal(sh("test $(ls rk2.h5.parts | grep -c '^chunk-') -ge 4"), 0);
    if (sh(MPIRUN "%s " RK "rk2.h5 --resume", mpi_cli)) fail_msg("mpirun refine --resume:\n%s", out);
#undef RK
    assert_true(same_file("rk1.h5", "rk2.h5"));
    assert_int_equal(sh("test -e rk2.h5.parts"), 1);
}

/* eval with eval.repeats = 3 over two ranks: each seed's numbers, their means, the predictions and
 * the saved feature network are those of one process with the same --threads (report.json but its
 * "seconds"), written once by rank 0. */
static void test_mpi_eval_same_results(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    if (access(tpath("p1/checkpoints/step_000000030.h5"), F_OK)) train_ok("", cli, "p1", SGD);
    assert_int_equal(sh("%s refine --checkpoint p1/checkpoints/step_000000030.h5 --in syn.h5 -o refd.h5 --threads 1 "
                        "--quiet", cli), 0);
    const char *E = "eval --train refd.h5 --test real.h5 --real real.h5 --threads 1 --quiet --set eval.repeats=3 "
                    "--set eval.steps=20 --set eval.batch=16 --set eval.domain_steps=10 --set eval.domain_rows=100 "
                    "--set eval.frechet_rows=100 --set eval.consistency_steps=20";
    /* the report names the feature file: the same name for both, moved aside in between */
    if (sh("%s %s -o e1.json --predictions p1.csv --save-features f.h5 && mv f.h5 f1.h5", cli, E))
        fail_msg("eval:\n%s", out);
    if (sh(MPIRUN "%s %s -o e2.json --predictions p2.csv --save-features f.h5 && mv f.h5 f2.h5", mpi_cli, E))
        fail_msg("mpirun eval:\n%s", out);
    assert_int_equal(sh("grep -v '\"seconds\"' e1.json > e1.txt && grep -v '\"seconds\"' e2.json > e2.txt"), 0);
    if (sh("diff e1.txt e2.txt")) fail_msg("report.json differs:\n%s", out);
    assert_int_equal(sh("grep -c '\"values\": \\[' e2.json"), 0); /* the three seeds are there */
    assert_true(same_file("p1.csv", "p2.csv"));
    assert_true(same_file("f1.h5", "f2.h5"));
    assert_int_equal(sh("grep -c label_consistency e2.json"), 0);
}

/* run over two ranks: every stage spreads its work; rank 0 writes the run directory. The simulated
 * set and its evaluation are those of one process (the refined set is not: training with P = 2 is
 * not bit-identical to P = 1); each run in its own folder so the reports name the same paths. */
static void test_mpi_run(void **state) {
    (void)state;
    skip_without_mpi();
    make_sets();
    const char *S = "run --run-dir R --threads 1 --quiet --real ../real.h5 --test ../real.h5 --set simulate.n=240 "
                    "--set simulate.chunk=100 --set refiner.filters=4 --set refiner.blocks=1 --set train.batch=8 "
                    "--set train.iterations=3 --set train.pretrain_refiner_steps=2 --set train.pretrain_disc_steps=2 "
                    "--set train.checkpoint_every=4 --set train.sample_every=4 --set refine.chunk=100 "
                    "--set eval.steps=20 --set eval.batch=16 --set eval.domain_steps=10 --set eval.domain_rows=100 "
                    "--set eval.frechet_rows=100 --set eval.consistency_steps=20 --set eval.repeats=2 "
                    "--set train.label_guard=0";
    if (sh("mkdir -p one two && cd one && %s %s", cli, S)) fail_msg("run:\n%s", out);
    if (sh("cd two && " MPIRUN "%s %s", mpi_cli, S)) fail_msg("mpirun run:\n%s", out);
    assert_true(same_file("one/R/synthetic.h5", "two/R/synthetic.h5"));
    assert_int_equal(sh("test -s two/R/report.html && test -s two/R/refined.h5 && test -s two/R/samples/overview.png"),
                     0);
    const char *syn = "sed -n '/\"synthetic\": {/,/\"seconds\"/p' %s/R/report.json | grep -v '\"seconds\"' > %s.syn";
    assert_int_equal(sh(syn, "one", "one"), 0);
    assert_int_equal(sh(syn, "two", "two"), 0);
    if (sh("test $(wc -l < one.syn) -gt 20 && diff one.syn two.syn")) fail_msg("the synthetic set's evaluation:\n%s", out);
    assert_int_equal(sh("grep -c label_consistency two/R/report.json"), 0); /* the refined set's, from the last rank */
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    char *d = dirname(self), abs[4096];
    snprintf(cli, sizeof cli, "%s/../refine-pipeline", d);
    snprintf(mpi_cli, sizeof mpi_cli, "%s/../refine-pipeline-mpi", d);
    if (realpath(cli, abs)) snprintf(cli, sizeof cli, "%s", abs);
    if (realpath(mpi_cli, abs)) snprintf(mpi_cli, sizeof mpi_cli, "%s", abs);
    have_mpi = access(mpi_cli, X_OK) == 0 && system("command -v mpirun >/dev/null 2>&1") == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpi_simulate_and_refine_same_bytes),
        cmocka_unit_test(test_mpi_refine_input_fails_on_one_rank),
        cmocka_unit_test(test_mpi_train_matches_one_process),
        cmocka_unit_test(test_mpi_resume_with_other_ranks),
        cmocka_unit_test(test_mpi_kill9_then_resume_is_exact),
        cmocka_unit_test(test_mpi_refine_kill9_then_resume_is_exact),
        cmocka_unit_test(test_mpi_eval_same_results),
        cmocka_unit_test(test_mpi_run),
    };
    return cmocka_run_group_tests_name("mpi", tests, tmpdir_setup, tmpdir_teardown);
}
