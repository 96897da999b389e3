/* The feature-network file (eval/evalnet.h, `eval --features`) on whole HDF5 files: evalnet_load
 * either gives a network that runs a forward pass on its declared input size, or fails with an
 * error naming the file; nothing stays open. */
#include "fuzz/fuzz_h5.h"
#include "eval/evalnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_h5_init();
    const char *path = fuzz_path("features.h5");
    fuzz_write(path, data, size);
    evalnet e;
    int rc = evalnet_load(&e, path, 2);
    fuzz_h5_all_closed("evalnet_load");
    if (rc) {
        FUZZ_CHECK_ERR(rc, path);
        return 0;
    }
    FUZZ_CHECK(e.C >= 1 && e.H >= 4 && e.W >= 4 && e.outputs >= 1 && e.p.count > 0, "C %d, %dx%d, %d outputs", e.C, e.H,
               e.W, e.outputs);
    size_t in = (size_t)2 * e.C * e.H * e.W;
    if (in <= 1 << 16) {
        float *x = calloc(in, sizeof *x);
        FUZZ_CHECK(x, "out of memory");
        const float *out = evalnet_forward(&e, x, 2);
        FUZZ_CHECK(out, "no output");
        free(x);
    }
    evalnet_free(&e);
    return 0;
}
