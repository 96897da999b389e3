/* The MPI build (refine-pipeline-mpi) under `mpirun -np 2`: simulate and refine spread over two
 * ranks give the bytes of one process's run (with one thread per rank and the same
 * SOURCE_DATE_EPOCH). Skipped, saying so, where Open MPI or the MPI binary is missing (`make deps`
 * installs it; .ci/run runs `make test`). */
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
#include <unistd.h>
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
    snprintf(full, sizeof full, "cd %s && SOURCE_DATE_EPOCH=1700000000 ASAN_OPTIONS=detect_leaks=0 %s 2>&1", tmpdir, cmd);
    FILE *p = popen(full, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* mpirun as root needs its consent; --oversubscribe lets 2 ranks share fewer cores */
#define MPIRUN "mpirun --allow-run-as-root --oversubscribe -np 2 "

static int same_file(const char *a, const char *b) { return sh("cmp -s %s %s", a, b) == 0; }

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
    if (sh("%s train -s one.h5 -r real.h5 -d run --threads 1 --quiet --set refiner.filters=4 --set refiner.blocks=1 "
           "--set train.batch=8 --set train.iterations=3 --set train.pretrain_refiner_steps=2 "
           "--set train.pretrain_disc_steps=2 --set train.label_guard=0", cli))
        fail_msg("train:\n%s", out);
    assert_int_equal(sh("%s refine --checkpoint run/checkpoints/latest.h5 --in one.h5 -o r1.h5 --chunk 200 "
                        "--threads 1 --quiet", cli), 0);
    if (sh(MPIRUN "%s refine --checkpoint run/checkpoints/latest.h5 --in one.h5 -o r2.h5 --chunk 200 --threads 1 "
           "--quiet", mpi_cli))
        fail_msg("mpirun refine:\n%s", out);
    assert_true(same_file("r1.h5", "r2.h5"));
    assert_int_equal(sh("ls | grep -c -e parts -e rank-"), 1); /* grep -c prints 0 and fails: nothing left over */
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
    };
    return cmocka_run_group_tests_name("mpi", tests, tmpdir_setup, tmpdir_teardown);
}
