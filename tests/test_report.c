/* Tests of report.html: base64 vectors, table escaping, inline SVG curves from metrics.csv,
 * embedded images, atomic write and error on a missing image. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pipelines/report_html.h"
#include "base/status.h"
#include "tests/tmpdir.h"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

static void test_base64_vectors(void **state) {
    (void)state;
    char out[64];
    report_base64(out, (const unsigned char *)"Man", 3);
    assert_string_equal(out, "TWFu");
    report_base64(out, (const unsigned char *)"Ma", 2);
    assert_string_equal(out, "TWE=");
    report_base64(out, (const unsigned char *)"M", 1);
    assert_string_equal(out, "TQ==");
    report_base64(out, (const unsigned char *)"foobar", 6);
    assert_string_equal(out, "Zm9vYmFy");
    const unsigned char bin[] = {0xff, 0xfe, 0x00};
    report_base64(out, bin, 3);
    assert_string_equal(out, "//4A");
}

static void test_report_contents(void **state) {
    (void)state;
    char csv[256], png[256], html[256];
    snprintf(csv, sizeof csv, "%s/metrics.csv", tmpdir);
    snprintf(png, sizeof png, "%s/sheet.png", tmpdir);
    snprintf(html, sizeof html, "%s/report.html", tmpdir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "step,phase,r_adv,r_reg,d_acc_real,d_acc_refined,time\n");
    for (int i = 0; i < 50; i++) fprintf(f, "%d,adv,%g,%g,%g,%g,0.01\n", i, 1.0 / (i + 1), 0.1, 0.5 + i / 100.0, 0.6);
    fclose(f);
    f = fopen(png, "wb");
    fwrite("\x89PNG\r\n\x1a\nabc", 1, 11, f);
    fclose(f);
    report_html_input in = {0};
    in.title = "refine <run>";
    in.ncols = 3;
    in.header[0] = "training set";
    in.header[1] = "real-test accuracy";
    in.header[2] = "Frechet";
    in.nrows = 2;
    in.cells[0][0] = "synthetic";
    in.cells[0][1] = "81.0%";
    in.cells[0][2] = "12.5";
    in.cells[1][0] = "refined & co";
    in.cells[1][1] = "85.0%";
    in.cells[1][2] = "7.5";
    in.metrics_csv = csv;
    in.nimages = 1;
    in.image_caption[0] = "synthetic | refined | real";
    in.image_path[0] = png;
    in.nkv = 1;
    in.kv_key[0] = "seed";
    in.kv_value[0] = "1";
    in.config_ini = "[train]\nbatch = 64\n";
    assert_int_equal(report_html_write(html, &in), 0);
    char *s = slurp(html);
    assert_non_null(s);
    assert_non_null(strstr(s, "<title>refine &lt;run&gt;</title>"));
    assert_non_null(strstr(s, "<td>refined &amp; co</td><td>85.0%</td><td>7.5</td>"));
    assert_int_equal(count(s, "<tr>"), 3 + 1); /* header + 2 rows + provenance row */
    /* two charts: losses (r_adv, r_reg) and accuracies (d_acc_real, d_acc_refined) */
    assert_int_equal(count(s, "<svg"), 2);
    assert_int_equal(count(s, "<polyline"), 4);
    assert_non_null(strstr(s, ">r_adv</text>"));
    assert_non_null(strstr(s, ">d_acc_refined</text>"));
    assert_null(strstr(s, ">time</text>"));
    /* the loss polyline has one point per row */
    const char *pl = strstr(s, "points=\"");
    assert_non_null(pl);
    const char *end = strchr(pl + 8, '"');
    int pts = 0;
    for (const char *p = pl + 8; p < end; p++) pts += *p == ',';
    assert_int_equal(pts, 50);
    /* losses on a log scale from 0.01 (r_adv's smallest decade) to 1: r_reg = 0.1 runs through
     * the middle of the 210 px plot (y = 20 + 105), and the axis is labelled in decades */
    const char *reg = strstr(end, "points=\"");
    assert_non_null(reg);
    assert_true(strncmp(reg + 8, "50.0,125.0 ", 11) == 0);
    assert_non_null(strstr(s, "text-anchor=\"end\">0.01</text>"));
    assert_non_null(strstr(s, "text-anchor=\"end\">0.1</text>"));
    assert_non_null(strstr(s, "text-anchor=\"end\">1</text>"));
    assert_null(strstr(s, ">0.0316</text>")); /* grid lines on whole decades only */
    assert_non_null(strstr(s, "src=\"data:image/png;base64,iVBORw0KGgphYmM=\""));
    assert_non_null(strstr(s, "batch = 64"));
    free(s);
    /* nothing but the report and inputs left behind */
    assert_int_equal(dir_count(tmpdir), 3);
}

static void test_missing_image_fails_cleanly(void **state) {
    (void)state;
    char html[256];
    snprintf(html, sizeof html, "%s/bad.html", tmpdir);
    report_html_input in = {0};
    in.title = "x";
    in.nimages = 1;
    in.image_caption[0] = "missing";
    in.image_path[0] = "/nonexistent/sheet.png";
    assert_int_equal(report_html_write(html, &in), RP_EIO);
    assert_non_null(strstr(rp_errmsg(), "/nonexistent/sheet.png"));
    assert_int_equal(access(html, F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_report_contents),
        cmocka_unit_test(test_missing_image_fails_cleanly),
    };
    return cmocka_run_group_tests_name("report", tests, tmpdir_setup, tmpdir_teardown);
}
