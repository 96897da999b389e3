/* Replays inputs through a fuzz target without a fuzzer: `fuzz_NAME DIR_OR_FILE...` feeds
 * every regular file (names starting with '.' skipped; directories in name order) to
 * LLVMFuzzerTestOneInput and prints one line: the target, the number of inputs and the time.
 * A crash or a broken invariant aborts (exit status non-zero, with the input's name printed
 * first); a missing or empty directory is an error too. `make check` runs this over
 * tests/corpus/NAME/ for every target. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current; /* printed if the input crashes: stderr is unbuffered */

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            uint8_t *t = realloc(buf, cap *= 2);
            if (!t) free(buf);
            buf = t;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* an exact-size copy, so that ASan sees reads past the input's end */
    uint8_t *in = malloc(n ? n : 1);
    if (!in) {
        free(buf);
        return -1;
    }
    memcpy(in, buf, n);
    free(buf);
    current = path;
    if (getenv("RP_REPLAY_VERBOSE")) fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(in, n);
    current = NULL;
    free(in);
    return 0;
}

/* Names the input that crashed: from a signal handler (abort, or a crash without ASan), or
 * from ASan's death callback when the sanitizers are linked in (they handle SEGV themselves). */
static void name_current(void) {
    if (!current) return;
    static const char msg[] = "replay: the input was ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, current, strlen(current)) < 0 || write(2, "\n", 1) < 0) return;
}

static void on_signal(int sig) {
    name_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void name_inputs_on_crash(void) {
    signal(SIGABRT, on_signal);
    if (__sanitizer_set_death_callback) {
        __sanitizer_set_death_callback(name_current);
        return;
    }
    signal(SIGSEGV, on_signal), signal(SIGBUS, on_signal), signal(SIGFPE, on_signal), signal(SIGILL, on_signal);
}

static int skip_entry(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv) {
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", prog);
        return 2;
    }
    name_inputs_on_crash();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long count = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "%s: %s: no such file or directory\n", prog, argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[a])) return 1;
            count++;
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[a], &list, skip_entry, alphasort);
        if (n < 0) {
            fprintf(stderr, "%s: cannot list %s\n", prog, argv[a]);
            return 1;
        }
        long here = 0;
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], list[i]->d_name);
            free(list[i]);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (run_file(path)) return 1;
            here++;
        }
        free(list);
        if (!here) {
            fprintf(stderr, "%s: %s holds no inputs\n", prog, argv[a]);
            return 1;
        }
        count += here;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %ld inputs replayed, no crash, %.2f s\n", prog, count,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
