/* Temporary directories for tests (see tmpdir.h). */
#include "tests/tmpdir.h"
#include <dirent.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char tmpdir[64];

int tmpdir_setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/rp-test-XXXXXX");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return mkdtemp(tmpdir) ? 0 : -1;
}

int dir_count(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

int tmpdir_teardown(void **state) {
    (void)state;
    if (getenv("RP_KEEP_TMP")) { /* for looking at what a failing test wrote */
        fprintf(stderr, "RP_KEEP_TMP: kept %s\n", tmpdir);
        return 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir); /* run directories nest */
    return system(cmd) == 0 ? 0 : -1;
}

char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc(n > 0 ? n + 1 : 1);
    size_t got = s && n > 0 ? fread(s, 1, n, f) : 0;
    if (s) s[got] = 0;
    fclose(f);
    return s;
}

const char *tpath(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}
