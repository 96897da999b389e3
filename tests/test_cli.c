/* Tests of the refine-pipeline binary as users' scripts see it: --help on every subcommand,
 * exit statuses (0 success, 1 failure, 2 usage), errors that name the file and what was
 * expected, and no output left behind on failure. The binary is found next to this test's
 * build directory (BUILD/tests/test_cli -> BUILD/refine-pipeline). */
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

static char cli[4096], dir[64];
static char out[1 << 16];

/* Runs "cli ARGS" with stdout+stderr captured into out; returns the exit status. */
static int run(const char *fmt, ...) {
    char args[2048], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", cli, args);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = 0;
    int st = p ? pclose(p) : -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_help_everywhere(void **state) {
    (void)state;
    const char *cmds[] = {"simulate", "import", "inspect", "preview", "train", "refine", "eval", "run"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        assert_int_equal(run("%s --help", cmds[i]), 0);
        char want[64];
        snprintf(want, sizeof want, "usage: refine-pipeline %s", cmds[i]);
        if (!strstr(out, want)) fail_msg("'%s --help' printed:\n%s", cmds[i], out);
        assert_non_null(strstr(out, "--set"));
    }
    assert_int_equal(run("--help"), 0);
    assert_non_null(strstr(out, "commands:"));
    assert_int_equal(run("frobnicate"), 2);
    assert_non_null(strstr(out, "unknown command \"frobnicate\""));
}

static void test_usage_errors_exit_2(void **state) {
    (void)state;
    assert_int_equal(run("simulate --bogus -o %s/x.h5", dir), 2);
    assert_non_null(strstr(out, "--bogus"));
    assert_int_equal(run("simulate -n many -o %s/x.h5", dir), 2);
    assert_non_null(strstr(out, "-n"));
    assert_int_equal(run("simulate -n 10 --set train.nosuch=1 -o %s/x.h5", dir), 2);
    assert_non_null(strstr(out, "train.nosuch"));
    assert_int_equal(run("simulate -n 10 --scene clouds -o %s/x.h5", dir), 2);
    assert_non_null(strstr(out, "digits|eyes"));
    assert_int_equal(run("refine --in a.h5"), 2);
    assert_non_null(strstr(out, "--checkpoint"));
    char path[128];
    snprintf(path, sizeof path, "%s/x.h5", dir);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_simulate_inspect_preview(void **state) {
    (void)state;
    assert_int_equal(run("simulate --scene digits -n 300 --seed 5 -o %s/d.h5 --quiet", dir), 0);
    assert_int_equal(run("inspect %s/d.h5", dir), 0);
    assert_non_null(strstr(out, "synthetic"));
    assert_non_null(strstr(out, "(300, 28, 28)"));
    assert_non_null(strstr(out, "labels/class"));
    assert_int_equal(run("preview %s/d.h5 -o %s/sheet.png -n 16 --labels", dir, dir), 0);
    char png[128];
    snprintf(png, sizeof png, "%s/sheet.png", dir);
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    /* same seed, same bytes of /images whatever the thread count */
    assert_int_equal(run("simulate -n 300 --seed 5 --threads 1 -o %s/d1.h5 --quiet", dir), 0);
    assert_int_equal(run("simulate -n 300 --seed 5 --threads 2 -o %s/d2.h5 --quiet", dir), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cmp -s %s/d1.h5 %s/d2.h5", dir, dir);
    /* created_at may differ by a second between the two runs: pin it */
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    assert_int_equal(run("simulate -n 300 --seed 5 --threads 1 -o %s/d1.h5 --quiet", dir), 0);
    assert_int_equal(run("simulate -n 300 --seed 5 --threads 2 -o %s/d2.h5 --quiet", dir), 0);
    unsetenv("SOURCE_DATE_EPOCH");
    assert_int_equal(system(cmd), 0);
}

static void test_bad_inputs_name_the_file(void **state) {
    (void)state;
    char bad[128];
    snprintf(bad, sizeof bad, "%s/not-hdf5.h5", dir);
    FILE *f = fopen(bad, "w");
    fputs("hello, I am not an HDF5 file\n", f);
    fclose(f);
    assert_int_equal(run("inspect %s", bad), 1);
    assert_non_null(strstr(out, bad));
    assert_int_equal(run("preview %s -o %s/p.png", bad, dir), 1);
    assert_non_null(strstr(out, bad));
    assert_int_equal(run("inspect %s/missing.h5", dir), 1);
    assert_non_null(strstr(out, "missing.h5"));
    assert_int_equal(run("refine --checkpoint %s --in %s/d.h5 -o %s/r.h5", bad, dir, dir), 1);
    assert_non_null(strstr(out, bad));
    char r[128];
    snprintf(r, sizeof r, "%s/r.h5", dir);
    assert_int_equal(access(r, F_OK), -1);
    /* the input was not modified */
    f = fopen(bad, "r");
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "hello, I am not an HDF5 file\n");
}

int main(int argc, char **argv) {
    (void)argc;
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(cli, sizeof cli, "%s/../refine-pipeline", dirname(self));
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "test_cli: %s not built\n", cli);
        return 1;
    }
    strcpy(dir, "/tmp/rp-test-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_everywhere),
        cmocka_unit_test(test_usage_errors_exit_2),
        cmocka_unit_test(test_simulate_inspect_preview),
        cmocka_unit_test(test_bad_inputs_name_the_file),
    };
    int rc = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return rc;
}
