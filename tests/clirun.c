/* Driving the refine-pipeline binary from a test (see clirun.h). */
#include "tests/clirun.h"
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char clirun_bin[4096];

int clirun_init(const char *argv0) {
    char self[4096];
    snprintf(self, sizeof self, "%s", argv0);
    snprintf(clirun_bin, sizeof clirun_bin, "%s/../refine-pipeline", dirname(self));
    if (access(clirun_bin, X_OK) == 0) return 0;
    fprintf(stderr, "%s not built\n", clirun_bin);
    return 1;
}

static int status_of(int st) {
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static void command(char *cmd, size_t n, const char *env, const char *fmt, va_list ap) {
    char args[8192];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, n, "exec env %.1024s %s %s", env ? env : "", clirun_bin, args);
}

int clirun(char *out, size_t n, const char *env, const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    command(cmd, sizeof cmd - 8, env, fmt, ap);
    va_end(ap);
    strcat(cmd, " 2>&1");
    FILE *p = popen(cmd, "r");
    size_t got = 0;
    if (p) {
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, p)) > 0) { /* read it all: the child must not block */
            size_t take = got + k < n ? k : n - 1 - got;
            memcpy(out + got, buf, take);
            got += take;
        }
    }
    out[got] = 0;
    return p ? status_of(pclose(p)) : -1;
}

pid_t clirun_spawn(const char *log, const char *env, const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    command(cmd, sizeof cmd, env, fmt, ap);
    va_end(ap);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int clirun_wait(pid_t pid) {
    int st;
    return waitpid(pid, &st, 0) == pid ? status_of(st) : -1;
}

unsigned char *clirun_read(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n > 0 ? *n : 1);
    if (b && *n > 0 && fread(b, 1, *n, f) != (size_t)*n) free(b), b = NULL;
    fclose(f);
    return b;
}

int clirun_same(const char *a, const char *b) {
    long na, nb;
    unsigned char *x = clirun_read(a, &na), *y = clirun_read(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void clirun_list(const char *dir, char *out, size_t n) {
    out[0] = 0;
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[512];
    int k = 0;
    for (struct dirent *e; k < 512 && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[k++] = strdup(e->d_name);
    closedir(d);
    qsort(names, k, sizeof *names, cmp_names);
    size_t len = 0;
    for (int i = 0; i < k; i++) {
        if (len < n) len += snprintf(out + len, n - len, "%s ", names[i]);
        free(names[i]);
    }
}

int clirun_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

double clirun_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
