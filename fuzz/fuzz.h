/* Shared by the fuzz targets (fuzz/fuzz_*.c; docs/hardening.md). Each target is one translation
 * unit defining LLVMFuzzerTestOneInput, linked either with libFuzzer (`make fuzz`, clang with
 * ASan + UBSan) or with fuzz/replay.c (`make check` replays tests/corpus/NAME/ with the normal
 * compiler). The library reads files by path, so inputs go to a per-process temporary file
 * reused between inputs (in /dev/shm when there is one). A broken invariant aborts with a
 * message: to the fuzzer that is a crash like any other. */
#ifndef RP_FUZZ_H
#define RP_FUZZ_H
#include "base/status.h"
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz invariant broken: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An error return must leave a message naming what failed (base/status.h). */
#define FUZZ_CHECK_ERR(rc, must_contain)                                                           \
    FUZZ_CHECK((rc) < 0 && rp_errmsg()[0] && (!(must_contain) || strstr(rp_errmsg(), (must_contain))), \
               "rc %d, message \"%s\" (expected a negative code and a message naming \"%s\")", (rc),  \
               rp_errmsg(), (must_contain) ? (must_contain) : "")

#define FUZZ_MAX_PATHS 4
static char fuzz_names[FUZZ_MAX_PATHS][32], fuzz_paths[FUZZ_MAX_PATHS][128];
static int fuzz_npaths;

static void fuzz_cleanup(void) {
    for (int i = 0; i < fuzz_npaths; i++) {
        char tmp[160];
        unlink(fuzz_paths[i]);
        snprintf(tmp, sizeof tmp, "%.127s.new", fuzz_paths[i]);
        unlink(tmp);
        /* atomic writers (json_write_file, h5u_create_temp) leave "<path>.tmp-<pid>" only on a crash */
        snprintf(tmp, sizeof tmp, "%.127s.tmp-%ld", fuzz_paths[i], (long)getpid());
        unlink(tmp);
    }
}

/* "/dev/shm/rp-fuzz-<pid>-<name>" (or under /tmp): the same path for a name on every call,
 * deleted at exit. */
static inline const char *fuzz_path(const char *name) {
    for (int i = 0; i < fuzz_npaths; i++)
        if (!strcmp(fuzz_names[i], name)) return fuzz_paths[i];
    FUZZ_CHECK(fuzz_npaths < FUZZ_MAX_PATHS && strlen(name) < sizeof fuzz_names[0], "temporary file %s", name);
    struct stat st;
    int shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0;
    int i = fuzz_npaths++;
    snprintf(fuzz_names[i], sizeof fuzz_names[i], "%s", name);
    snprintf(fuzz_paths[i], sizeof fuzz_paths[i], "%s/rp-fuzz-%ld-%s", shm ? "/dev/shm" : "/tmp", (long)getpid(), name);
    if (i == 0) atexit(fuzz_cleanup);
    return fuzz_paths[i];
}

/* Replaces the file with one holding data[0, n): written aside and renamed over it, a new
 * inode each time as our own writers do (h5u_probe remembers files by inode, size and time). */
static inline void fuzz_write(const char *path, const void *data, size_t n) {
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%.127s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0, "cannot create %s", tmp);
    for (size_t off = 0; off < n;) {
        ssize_t k = write(fd, (const char *)data + off, n - off);
        FUZZ_CHECK(k > 0, "cannot write %s", tmp);
        off += (size_t)k;
    }
    FUZZ_CHECK(close(fd) == 0 && rename(tmp, path) == 0, "cannot write %s", path);
}

/* The whole file, NUL-terminated (malloc'd; NULL if it cannot be read). */
static inline char *fuzz_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    for (size_t k; s && (k = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += k;
        if (n + 1 == cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) free(s);
            s = t;
        }
    }
    fclose(f);
    if (s) s[n] = 0;
    if (len) *len = n;
    return s;
}

#endif
