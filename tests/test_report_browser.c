/* Loads a generated report.html in headless Chromium (Debian's chromium) and checks that the
 * evaluation table, the SVG curves and the embedded PNG sheets are present and that every
 * image actually decoded. Skipped, with a message, when chromium is not installed
 * (.ci/run installs it). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/png.h"
#include "pipelines/report_html.h"
#include "tests/browser.h"

static void test_report_renders_in_chromium(void **state) {
    (void)state;
    const char *chromium = browser_find();
    if (!chromium) {
        fprintf(stderr, "SKIP: chromium not installed (apt-get install chromium); report not checked in a browser\n");
        skip();
    }
    char dir[] = "/tmp/rp-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char png1[128], png2[128], csv[128], html[128], cmd[1024];
    snprintf(png1, sizeof png1, "%s/a.png", dir);
    snprintf(png2, sizeof png2, "%s/b.png", dir);
    snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    uint8_t px[30 * 20 * 3];
    for (int i = 0; i < 30 * 20 * 3; i++) px[i] = (uint8_t)(i * 7);
    assert_int_equal(pngio_write(png1, 30, 20, 1, px), 0);
    assert_int_equal(pngio_write(png2, 20, 10, 3, px), 0);
    FILE *f = fopen(csv, "w");
    fprintf(f, "step,d_loss,acc_real\n");
    for (int i = 0; i < 10; i++) fprintf(f, "%d,%g,%g\n", i, 1.0 / (i + 1), 0.5 + 0.04 * i);
    fclose(f);
    report_html_input in = {0};
    in.title = "browser check";
    in.ncols = 2;
    in.header[0] = "training set";
    in.header[1] = "accuracy";
    in.nrows = 2;
    in.cells[0][0] = "synthetic";
    in.cells[0][1] = "0.812";
    in.cells[1][0] = "refined";
    in.cells[1][1] = "0.853";
    in.metrics_csv = csv;
    in.nimages = 2;
    in.image_caption[0] = "gray sheet";
    in.image_path[0] = png1;
    in.image_caption[1] = "rgb sheet";
    in.image_path[1] = png2;
    assert_int_equal(report_html_write(html, &in), 0);
    char *dom = browser_dump_dom(chromium, html);
    assert_non_null(dom);
    assert_non_null(strstr(dom, "id=\"evaluation\""));
    assert_non_null(strstr(dom, "<td>refined</td><td>0.853</td>"));
    assert_non_null(strstr(dom, "<svg"));
    assert_non_null(strstr(dom, "<polyline"));
    /* both embedded PNGs decoded in the browser (set by the page's load handler) */
    assert_non_null(strstr(dom, "data-images-decoded=\"2\""));
    free(dom);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_report_renders_in_chromium)};
    return cmocka_run_group_tests_name("report_browser", tests, NULL, NULL);
}
