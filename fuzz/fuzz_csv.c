/* The CSV label reader of `import --labels` (pipelines/import_labels.h), as NAME=FILE.csv:col,
 * NAME=FILE.csv:a,b and with --units. A column read is n >= 1 rows of int32 classes or finite
 * float32 values; a CSV keyed by a filename column finds each row by its own key. */
#include "fuzz/fuzz.h"
#include "pipelines/import_labels.h"
#include <math.h>

static void one(const char *path, const char *columns, const char *units, int want_cols) {
    char spec[256];
    snprintf(spec, sizeof spec, "x=%s:%s", path, columns);
    import_label L;
    int rc = import_label_open(&L, spec, units);
    if (rc) {
        FUZZ_CHECK_ERR(rc, "--labels");
        return;
    }
    FUZZ_CHECK(L.n >= 1 && L.cols == want_cols && L.values, "n %ld, cols %d", L.n, L.cols);
    FUZZ_CHECK(L.dtype == H5DS_INT32 || L.dtype == H5DS_FLOAT32, "dtype %d", (int)L.dtype);
    FUZZ_CHECK(!units || L.dtype == H5DS_FLOAT32, "units on integer classes");
    for (size_t i = 0; i < (size_t)L.n * L.cols; i++) {
        if (L.dtype == H5DS_INT32) FUZZ_CHECK(((int32_t *)L.values)[i] >= 0, "negative class at %zu", i);
        else FUZZ_CHECK(isfinite(((float *)L.values)[i]), "value %zu is %g", i, ((float *)L.values)[i]);
    }
    if (L.keys) {
        for (long i = 0; i < L.n; i++) {
            char file[4096];
            snprintf(file, sizeof file, "some/dir/%s", L.keys[i]);
            FUZZ_CHECK(import_label_row(&L, file) == i, "row %ld (\"%s\") not found by its key", i, L.keys[i]);
        }
        (void)import_label_row(&L, "");
    }
    import_label_free(&L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("labels.csv");
    fuzz_write(path, data, size);
    one(path, "col", NULL, 1);
    one(path, "a,b", NULL, 2);
    one(path, "b", "pixels", 1);
    return 0;
}
