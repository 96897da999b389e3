/* The PNG reader (io/png.h), as 1 and as 3 channels: either a w x h image whose every byte is
 * readable, or an error naming the file. */
#include "fuzz/fuzz.h"
#include "io/png.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_path("in.png");
    fuzz_write(path, data, size);
    for (int channels = 1; channels <= 3; channels += 2) {
        int w = -1, h = -1;
        uint8_t *px = (uint8_t *)1;
        int rc = pngio_read(path, channels, &w, &h, &px);
        if (rc) {
            FUZZ_CHECK_ERR(rc, path);
            FUZZ_CHECK(px == NULL, "pixels set on an error");
            continue;
        }
        FUZZ_CHECK(w >= 1 && h >= 1 && (long)w * h <= 1L << 28 && px, "%dx%d", w, h);
        unsigned sum = 0; /* every byte of the buffer: ASan reports an undersized one */
        for (size_t i = 0; i < (size_t)w * h * channels; i++) sum += px[i];
        (void)sum;
        free(px);
    }
    return 0;
}
