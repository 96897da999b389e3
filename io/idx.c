/* IDX reading and writing through zlib (see idx.h). gzread passes uncompressed files through
 * unchanged, so one code path serves .idx and .idx.gz. */
#include "io/idx.h"
#include "base/atomic.h"
#include "base/status.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct idx_file {
    gzFile gz;
    char *path;
    int rank;
    long dims[IDX_MAX_RANK];
    long item;  /* bytes per item */
    long done;  /* items read */
};

static int gz_fail(idx_file *f, const char *what) {
    int zerr = 0;
    const char *m = gzerror(f->gz, &zerr);
    if (zerr == Z_ERRNO) m = strerror(errno);
    return rp_err(RP_EIO, "%s: %s: %s", f->path, what, m && *m ? m : "read error");
}

int idx_open(idx_file **out, const char *path) {
    *out = NULL;
    idx_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return rp_err(RP_ENOMEM, "%s: out of memory", path);
    }
    int rc = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        rc = rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = rp_err(RP_EIO, "%s: is a directory, expected an IDX file", path);
        goto fail;
    }
    if (!(f->gz = gzopen(path, "rb"))) {
        rc = rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    gzbuffer(f->gz, 1 << 16);
    unsigned char h[4 + 4 * IDX_MAX_RANK];
    int got = gzread(f->gz, h, 4);
    if (got < 0) {
        rc = gz_fail(f, "reading the header");
        goto fail;
    }
    if (got < 4 || h[0] || h[1] || h[3] < 1 || h[3] > IDX_MAX_RANK) {
        rc = rp_err(RP_EFORMAT, "%s: not an IDX file (magic %02x%02x%02x%02x; expected 00000801 labels or "
                    "00000803 images)", path, got > 0 ? h[0] : 0, got > 1 ? h[1] : 0, got > 2 ? h[2] : 0,
                    got > 3 ? h[3] : 0);
        goto fail;
    }
    if (h[2] != 0x08) {
        rc = rp_err(RP_EFORMAT, "%s: IDX data type 0x%02x is not supported (expected 0x08, unsigned byte)", path, h[2]);
        goto fail;
    }
    f->rank = h[3];
    if (gzread(f->gz, h + 4, 4 * f->rank) != 4 * f->rank) {
        rc = rp_err(RP_EFORMAT, "%s: truncated IDX header", path);
        goto fail;
    }
    f->item = 1;
    for (int i = 0; i < f->rank; i++) {
        const unsigned char *p = h + 4 + 4 * i;
        f->dims[i] = (long)((unsigned long)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]);
        if (f->dims[i] <= 0 || f->dims[i] > (1L << 30)) {
            rc = rp_err(RP_EFORMAT, "%s: IDX dimension %d is %ld (expected 1..2^30)", path, i, f->dims[i]);
            goto fail;
        }
        if (i) f->item *= f->dims[i];
        if (f->item > (1L << 28)) {
            rc = rp_err(RP_EFORMAT, "%s: IDX items of %ld bytes are too large", path, f->item);
            goto fail;
        }
    }
    /* Uncompressed: the length is known now; gzip'd files are checked while streaming. */
    long long want = 4 + 4LL * f->rank + (long long)f->dims[0] * f->item;
    if (gzdirect(f->gz) && (long long)st.st_size != want) {
        rc = rp_err(RP_EFORMAT, "%s: %s IDX file: %lld bytes, the header %s implies %lld", path,
                    st.st_size < want ? "truncated" : "oversized", (long long)st.st_size,
                    f->rank == 1 ? "(N)" : f->rank == 3 ? "(N,H,W)" : "shape", want);
        goto fail;
    }
    *out = f;
    return 0;
fail:
    idx_close(f);
    return rc;
}

int idx_rank(const idx_file *f) { return f->rank; }
const long *idx_dims(const idx_file *f) { return f->dims; }
long idx_item_size(const idx_file *f) { return f->item; }

int idx_read(idx_file *f, long n, uint8_t *out) {
    if (n < 0 || f->done + n > f->dims[0])
        return rp_err(RP_EARG, "%s: reading items %ld..%ld of %ld", f->path, f->done, f->done + n - 1, f->dims[0]);
    long long bytes = (long long)n * f->item;
    while (bytes > 0) {
        unsigned part = bytes > (1 << 30) ? 1u << 30 : (unsigned)bytes;
        int got = gzread(f->gz, out, part);
        if (got < 0) return gz_fail(f, "reading");
        if ((unsigned)got < part) {
            long at = f->done + (long)(((long long)n * f->item - bytes + got) / f->item);
            return rp_err(RP_EFORMAT, "%s: truncated: data ends in item %ld of %ld", f->path, at, f->dims[0]);
        }
        out += got;
        bytes -= got;
    }
    f->done += n;
    if (f->done == f->dims[0]) {
        unsigned char extra;
        int got = gzread(f->gz, &extra, 1);
        if (got < 0) return gz_fail(f, "reading the end");
        if (got > 0) return rp_err(RP_EFORMAT, "%s: trailing bytes after the %ld items the header declares", f->path,
                                   f->dims[0]);
    }
    return 0;
}

void idx_close(idx_file *f) {
    if (!f) return;
    if (f->gz) gzclose(f->gz);
    free(f->path);
    free(f);
}

int idx_write(const char *path, int rank, const long *dims, const uint8_t *data, int gz) {
    if (rank < 1 || rank > IDX_MAX_RANK) return rp_err(RP_EARG, "%s: IDX rank %d", path, rank);
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    rp_atomic_tmpname(tmp, tl, path);
    unsigned char h[4 + 4 * IDX_MAX_RANK] = {0, 0, 0x08, (unsigned char)rank};
    long long n = 1;
    for (int i = 0; i < rank; i++) {
        unsigned long d = (unsigned long)dims[i];
        h[4 + 4 * i] = d >> 24, h[5 + 4 * i] = d >> 16, h[6 + 4 * i] = d >> 8, h[7 + 4 * i] = d;
        n *= dims[i];
    }
    int rc = 0;
    gzFile g = gzopen(tmp, gz ? "wb6" : "wbT");
    if (!g) rc = rp_err(RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    else {
        int ok = gzwrite(g, h, 4 + 4 * rank) == 4 + 4 * rank;
        for (long long off = 0; ok && off < n;) {
            unsigned part = n - off > (1 << 30) ? 1u << 30 : (unsigned)(n - off);
            ok = gzwrite(g, data + off, part) == (int)part;
            off += part;
        }
        if (gzclose(g) != Z_OK || !ok) rc = rp_err(RP_EIO, "%s: write failed", path);
    }
    rc = rp_atomic_publish(tmp, path, rc);
    free(tmp);
    return rc;
}
