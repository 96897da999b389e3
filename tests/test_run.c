/* End-to-end test of run_pipeline() on a tiny configuration with its own small "real" data
 * (simulated digits with another seed stand in for the real pool and test set): every stage's
 * output appears, re-running resumes without redoing finished stages, a changed configuration
 * is refused with the key named, and fresh starts over. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/h5ds.h"
#include "base/status.h"
#include "pipelines/run.h"
#include "pipelines/simulate.h"
#include "tests/tmpdir.h"

static char real[128], rundir[128];

static void tiny_config(rp_config *c) {
    config_defaults(c);
    const char *sets[] = {"simulate.n=240", "simulate.chunk=100", "refiner.filters=4", "refiner.blocks=1",
                          "train.batch=8", "train.iterations=3", "train.pretrain_refiner_steps=2",
                          "train.pretrain_disc_steps=2", "train.checkpoint_every=4", "train.sample_every=4",
                          "refine.batch=16", "refine.chunk=100", "eval.steps=20", "eval.batch=16",
                          "eval.domain_steps=10", "eval.domain_rows=100", "eval.frechet_rows=100"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) assert_int_equal(config_set_arg(c, sets[i]), 0);
    assert_int_equal(config_set(c, "run.real", real), 0);
    assert_int_equal(config_set(c, "run.test", real), 0);
    c->train.label_guard = 0; /* 3 iterations of a barely pretrained 4-filter refiner break labels (see below) */
}

static int setup(void **state) {
    if (tmpdir_setup(state)) return -1;
    snprintf(real, sizeof real, "%s/real.h5", tmpdir);
    snprintf(rundir, sizeof rundir, "%s/run", tmpdir);
    rp_config c;
    config_defaults(&c);
    config_set(&c, "simulate.n", "200");
    config_set(&c, "simulate.seed", "99");
    return simulate_run(&c, real, 1, 1);
}

static long mtime_ns(const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", rundir, name);
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

static char *slurp_rel(const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", rundir, name);
    return slurp(p);
}

static void test_run_end_to_end_and_resume(void **state) {
    (void)state;
    rp_config c;
    tiny_config(&c);
    run_options o = {rundir, 0, 1, 1, NULL};
    assert_int_equal(run_pipeline(&c, &o), 0);
    const char *outputs[] = {"config.ini", "synthetic.h5", "checkpoints/latest.h5", "metrics.csv", "refined.h5",
                             "features.h5", "report.json", "report.html", "samples/overview.png"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        if (mtime_ns(outputs[i]) < 0) fail_msg("run left no %s", outputs[i]);
    char p[256];
    snprintf(p, sizeof p, "%s/refined.h5.parts", rundir);
    assert_int_equal(access(p, F_OK), -1);

    /* refined set: same rows and labels as the synthetic one, provenance to the checkpoint */
    h5ds_reader *r;
    snprintf(p, sizeof p, "%s/refined.h5", rundir);
    assert_int_equal(h5ds_open(&r, p), 0);
    const h5ds_info *i = h5ds_get_info(r);
    assert_int_equal(i->N, 240);
    assert_string_equal(i->kind, "refined");
    assert_non_null(strstr(i->refiner_checkpoint, "checkpoints/step_"));
    assert_true(h5ds_find_column(r, "labels/class") >= 0);
    h5ds_close(r);

    char *json = slurp_rel("report.json");
    assert_non_null(json);
    assert_non_null(strstr(json, "\"synthetic\""));
    assert_non_null(strstr(json, "\"refined\""));
    free(json);
    char *html = slurp_rel("report.html");
    assert_non_null(html);
    assert_non_null(strstr(html, "<td>synthetic</td>"));
    assert_non_null(strstr(html, "<td>refined</td>"));
    assert_non_null(strstr(html, "data:image/png;base64,"));
    assert_non_null(strstr(html, "<polyline"));
    assert_non_null(strstr(html, "One evaluation seed: run again with --set eval.repeats=3"));
    free(html);
    long lines = 0;
    char *csv = slurp_rel("metrics.csv");
    for (char *q = csv; *q; q++) lines += *q == '\n';
    free(csv);
    assert_int_equal(lines, 1 + 2 + 2 + 3); /* header + pretraining + iterations */

    /* again: nothing finished is redone */
    long syn = mtime_ns("synthetic.h5"), ref = mtime_ns("refined.h5"), ck = mtime_ns("checkpoints/latest.h5");
    assert_int_equal(run_pipeline(&c, &o), 0);
    assert_int_equal(mtime_ns("synthetic.h5"), syn);
    assert_int_equal(mtime_ns("refined.h5"), ref);
    assert_int_equal(mtime_ns("checkpoints/latest.h5"), ck);

    /* train longer: only training continues, and the refined set follows the new checkpoint;
     * evaluated over two seeds, the report gives each seed's difference and the range */
    assert_int_equal(config_set(&c, "train.iterations", "5"), 0);
    assert_int_equal(config_set(&c, "eval.repeats", "2"), 0);
    assert_int_equal(run_pipeline(&c, &o), 0);
    html = slurp_rel("report.html");
    assert_non_null(html);
    assert_non_null(strstr(html, "means over evaluation seeds 1-2; real-test accuracy, refined minus synthetic, per seed:"));
    assert_non_null(strstr(html, ", 2 seeds)</td>"));
    assert_true(strstr(strstr(html, ", 2 seeds)</td>") + 1, ", 2 seeds)</td>") != NULL); /* accuracy and domain */
    free(html);
    assert_int_equal(mtime_ns("synthetic.h5"), syn);
    assert_true(mtime_ns("refined.h5") != ref);
    csv = slurp_rel("metrics.csv");
    lines = 0;
    for (char *q = csv; *q; q++) lines += *q == '\n';
    free(csv);
    assert_int_equal(lines, 1 + 2 + 2 + 5);

    /* another configuration in the same directory is refused, naming the key */
    assert_int_equal(config_set(&c, "refiner.filters", "6"), 0);
    assert_int_equal(run_pipeline(&c, &o), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "filters"));
    assert_non_null(strstr(rp_errmsg(), "--fresh"));
    /* fresh starts over with it */
    o.fresh = 1;
    assert_int_equal(run_pipeline(&c, &o), 0);
    assert_true(mtime_ns("synthetic.h5") != syn);
}

/* Regression labels end to end: the eyes scene evaluated on gaze reports the angular error (in
 * report.json and in report.html's table), and label consistency in degrees. */
static void test_run_eyes_gaze(void **state) {
    (void)state;
    char eyes_real[160], d[160];
    snprintf(eyes_real, sizeof eyes_real, "%s/eyes-real.h5", tmpdir);
    snprintf(d, sizeof d, "%s/eyes", tmpdir);
    rp_config c;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "simulate.scene", "eyes"), 0);
    assert_int_equal(config_set(&c, "simulate.n", "200"), 0);
    assert_int_equal(config_set(&c, "simulate.seed", "77"), 0);
    assert_int_equal(simulate_run(&c, eyes_real, 1, 1), 0);
    tiny_config(&c);
    const char *sets[] = {"simulate.scene=eyes", "run.label=gaze", "eval.consistency_steps=20"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) assert_int_equal(config_set_arg(&c, sets[i]), 0);
    assert_int_equal(config_set(&c, "run.real", eyes_real), 0);
    assert_int_equal(config_set(&c, "run.test", eyes_real), 0);
    run_options o = {d, 0, 1, 1, NULL};
    assert_int_equal(run_pipeline(&c, &o), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/report.json", d);
    char *json = slurp(p);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"metric\": \"angular_error_deg\""));
    assert_non_null(strstr(json, "\"label\": \"gaze\""));
    assert_non_null(strstr(json, "\"label_consistency\": {"));
    free(json);
    snprintf(p, sizeof p, "%s/report.html", d);
    char *html = slurp(p);
    assert_non_null(html);
    assert_non_null(strstr(html, "<th>real-test error</th>"));
    assert_non_null(strstr(html, " (angular_error_deg)</td>"));
    assert_non_null(strstr(html, " deg refined: ratio "));
    free(html);
}

/* A run whose refiner breaks the labels stops and says so: here a refiner pretrained for 2 steps
 * has not learned to copy its input, and the label guard stops it at the end of training. */
static void test_run_stops_when_labels_break(void **state) {
    (void)state;
    rp_config c;
    tiny_config(&c);
    c.train.label_guard = 1.5;
    assert_int_equal(config_set_arg(&c, "train.guard_steps=60"), 0);
    char d[160];
    snprintf(d, sizeof d, "%s/broken", tmpdir);
    run_options o = {d, 0, 1, 1, NULL};
    assert_int_equal(run_pipeline(&c, &o), RP_ELABEL);
    assert_non_null(strstr(rp_errmsg(), "labels not kept"));
    assert_non_null(strstr(rp_errmsg(), "train.label_guard = 1.5"));
    char p[256];
    snprintf(p, sizeof p, "%s/refined.h5", d);
    assert_int_equal(access(p, F_OK), -1); /* nothing refined with it */
}

static void test_missing_real_data(void **state) {
    (void)state;
    rp_config c;
    tiny_config(&c);
    assert_int_equal(config_set(&c, "run.real", "/nonexistent/mnist-real.h5"), 0);
    char d[160];
    snprintf(d, sizeof d, "%s/other", tmpdir);
    run_options o = {d, 0, 1, 1, NULL};
    assert_int_equal(run_pipeline(&c, &o), RP_EARG);
    assert_non_null(strstr(rp_errmsg(), "/nonexistent/mnist-real.h5"));
    assert_non_null(strstr(rp_errmsg(), "make data"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_end_to_end_and_resume),
        cmocka_unit_test(test_run_eyes_gaze),
        cmocka_unit_test(test_run_stops_when_labels_break),
        cmocka_unit_test(test_missing_real_data),
    };
    return cmocka_run_group_tests_name("run", tests, setup, tmpdir_teardown);
}
