/* The JSON text code (io/json.h) and the report.json updater (eval/eval.h). The input is checked
 * with json_check; a top-level object is split with json_split_object (its members must be
 * whole, valid values inside the text). The input is then a report.json file to update:
 * report_json_set succeeds exactly when the file holds a valid JSON object, leaves valid JSON,
 * and a second identical set changes nothing; report_json_update (a fixed evaluation entry)
 * either fails cleanly or leaves valid JSON. */
#include "fuzz/fuzz.h"
#include "eval/eval.h"
#include "io/json.h"
#include <math.h>

static const char *VALUE = "{\"a\": [1, 2.5e-3, null, true], \"b\": \"\\u00e9\\n\"}";

static eval_result *fixed_result(void) {
    static eval_result r;
    static int done;
    if (done) return &r;
    done = 1;
    snprintf(r.train, sizeof r.train, "refined \"set\".h5");
    snprintf(r.test, sizeof r.test, "test.h5");
    snprintf(r.real, sizeof r.real, "real.h5");
    snprintf(r.label, sizeof r.label, "class");
    snprintf(r.metric, sizeof r.metric, "accuracy");
    snprintf(r.feature_source, sizeof r.feature_source, "features.h5");
    snprintf(r.consistency_source, sizeof r.consistency_source, "synthetic.h5");
    snprintf(r.consistency_metric, sizeof r.consistency_metric, "error");
    r.task = EVAL_CLASSIFY, r.has_test = 1, r.has_real = 1, r.has_consistency = 1;
    r.outputs = 3, r.C = 1, r.H = 28, r.W = 28, r.repeats = 2, r.steps = 10, r.batch = 4, r.lr = 1e-3;
    r.value = 0.5, r.values[0] = 0.25, r.values[1] = NAN, r.class_accuracy[0] = INFINITY, r.class_count[1] = 7;
    r.domain_accuracy = 0.75, r.frechet = 1e300, r.hist_l1 = -0.0;
    return &r;
}

static int is_object(const uint8_t *data, size_t size, size_t *start) {
    size_t i = 0;
    while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    *start = i;
    return i < size && data[i] == '{';
}

static void check_file_valid(const char *path, const char *after) {
    size_t len;
    char *s = fuzz_slurp(path, &len);
    FUZZ_CHECK(s, "%s: %s left no file", path, after);
    FUZZ_CHECK(json_check(s, len) == 0, "%s left invalid JSON (%s):\n%s", after, rp_errmsg(), s);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    int valid = json_check(text, size) == 0;
    if (!valid) FUZZ_CHECK_ERR(RP_EFORMAT, "invalid JSON at byte");
    size_t start;
    int object = is_object(data, size, &start);
    if (object) {
        json_member *m = NULL;
        int n = -1, rc = json_split_object(text, start, size, &m, &n);
        if (valid) {
            FUZZ_CHECK(rc == 0, "a valid object does not split: %s", rp_errmsg());
            for (int j = 0; j < n; j++) {
                FUZZ_CHECK(m[j].key <= m[j].key_end && m[j].key_end < m[j].val && m[j].val < m[j].val_end &&
                           m[j].val_end <= size, "member %d out of order", j);
                FUZZ_CHECK(json_check(text + m[j].val, m[j].val_end - m[j].val) == 0, "member %d's value: %s", j,
                           rp_errmsg());
                (void)json_key_is(text, &m[j], "evaluations");
            }
        }
        free(m);
    }

    const char *path = fuzz_path("report.json");
    fuzz_write(path, data, size);
    int rc = report_json_set(path, "fuzz", VALUE);
    FUZZ_CHECK(!rc == (valid && object), "report_json_set returned %d on %s input: %s", rc,
               valid && object ? "a valid object" : "an input that is not a valid object", rp_errmsg());
    if (!rc) {
        check_file_valid(path, "report_json_set");
        size_t n1, n2;
        char *once = fuzz_slurp(path, &n1);
        FUZZ_CHECK(once && report_json_set(path, "fuzz", VALUE) == 0, "a second set failed: %s", rp_errmsg());
        char *twice = fuzz_slurp(path, &n2);
        FUZZ_CHECK(twice && n1 == n2 && !memcmp(once, twice, n1), "a second identical set changed the file:\n%s\n---\n%s",
                   once, twice ? twice : "");
        free(once), free(twice);
    } else {
        FUZZ_CHECK_ERR(rc, path);
    }
    rc = report_json_update(path, "fuzz \"entry\"", fixed_result());
    if (!rc) check_file_valid(path, "report_json_update");
    else FUZZ_CHECK_ERR(rc, path);
    return 0;
}
