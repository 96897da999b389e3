/* The IDX reader (io/idx.h), plain and gzip'd. The first input byte picks the way in: even, the
 * rest is the file as is (a plain IDX file, or whatever gzip stream the input holds); odd, the
 * rest is gzip'd here first, so that mutations of the IDX bytes reach the reader through zlib's
 * streaming path. Every item is read; a plain file that reads whole must have exactly the
 * length its header implies, and reading past the last item must fail. */
#include "fuzz/fuzz.h"
#include "io/idx.h"
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int gz = data[0] & 1;
    const char *path = fuzz_path(gz ? "in.idx.gz" : "in.idx");
    if (gz) {
        gzFile g = gzopen(path, "wb1");
        FUZZ_CHECK(g, "cannot create %s", path);
        FUZZ_CHECK(size == 1 || gzwrite(g, data + 1, (unsigned)(size - 1)) == (int)(size - 1), "gzwrite");
        FUZZ_CHECK(gzclose(g) == Z_OK, "gzclose");
    } else {
        fuzz_write(path, data + 1, size - 1);
    }
    idx_file *f;
    int rc = idx_open(&f, path);
    if (rc) {
        FUZZ_CHECK_ERR(rc, path);
        return 0;
    }
    int rank = idx_rank(f);
    long n = idx_dims(f)[0], item = idx_item_size(f);
    FUZZ_CHECK(rank >= 1 && rank <= IDX_MAX_RANK && n >= 1 && item >= 1 && item <= 1L << 28, "rank %d, N %ld, item %ld",
               rank, n, item);
    long prod = 1;
    for (int i = 1; i < rank; i++) prod *= idx_dims(f)[i];
    FUZZ_CHECK(prod == item, "item size %ld, dims give %ld", item, prod);
    if (item <= 1L << 20) { /* larger items are valid but not worth a fuzzer's memory */
        long per = item >= 1 << 16 ? 1 : (1 << 16) / item, done = 0;
        uint8_t *buf = malloc((size_t)(per * item));
        FUZZ_CHECK(buf, "out of memory");
        while (done < n && !(rc = idx_read(f, n - done < per ? n - done : per, buf)))
            done += n - done < per ? n - done : per;
        if (rc) {
            FUZZ_CHECK_ERR(rc, path);
        } else {
            FUZZ_CHECK(done == n, "read %ld of %ld items", done, n);
            if (!gz && !(size >= 3 && data[1] == 0x1f && data[2] == 0x8b)) { /* not a gzip stream */
                struct stat st;
                FUZZ_CHECK(stat(path, &st) == 0 && st.st_size == 4 + 4 * rank + (long long)n * item,
                           "a plain file of %lld bytes read whole; its header implies %lld", (long long)st.st_size,
                           4 + 4 * rank + (long long)n * item);
            }
            FUZZ_CHECK_ERR(idx_read(f, 1, buf), path);
        }
        free(buf);
    }
    idx_close(f);
    return 0;
}
