/* The checkpoint folder of a run directory: numbered files step_NNNNNNNNN.h5, a latest.h5
 * symlink to the newest complete one, and pruning to the last K (see checkpoint.h). */
#include "refiner/checkpoint.h"
#include "base/fault.h"
#include "base/status.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LATEST "latest.h5"

void checkpoint_path(char *buf, size_t n, const char *dir, long step) {
    snprintf(buf, n, "%s/step_%09ld.h5", dir, step);
}

/* step of a "step_NNNNNNNNN.h5" name, or -1 (temp files and anything else). */
static long parse_step_name(const char *name) {
    long step;
    int end = 0;
    if (sscanf(name, "step_%ld.h5%n", &step, &end) != 1 || name[end] || step < 0) return -1;
    return step;
}

static int cmp_long_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Sorted (newest first) steps of the complete checkpoint files in dir; *out malloc'd. */
static int list_steps(const char *dir, long **out, int *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : rp_err(RP_EIO, "%s: cannot list: %s", dir, strerror(errno));
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long s = parse_step_name(e->d_name);
        if (s < 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            long *t = rp_realloc(*out, sizeof(long) * cap);
            if (!t) {
                closedir(d);
                free(*out);
                *out = NULL;
                return rp_err(RP_ENOMEM, "%s: out of memory listing checkpoints", dir);
            }
            *out = t;
        }
        (*out)[(*n)++] = s;
    }
    closedir(d);
    if (*n > 1) qsort(*out, *n, sizeof(long), cmp_long_desc);
    return 0;
}

int checkpoint_publish(const char *dir, long step, int keep) {
    char target[64], link[PATH_MAX], tmp[PATH_MAX];
    snprintf(target, sizeof target, "step_%09ld.h5", step);
    snprintf(link, sizeof link, "%s/" LATEST, dir);
    snprintf(tmp, sizeof tmp, "%s/.latest.tmp-%ld", dir, (long)getpid());
    unlink(tmp);
    /* rename() over the old link makes the switch atomic; a failed symlink() (file systems
     * without symlinks) is not fatal: checkpoint_find_latest falls back to the highest step file */
    if (symlink(target, tmp) == 0 && (rp_fault("rename") || rename(tmp, link))) {
        int err = errno;
        unlink(tmp);
        return rp_err(RP_EIO, "%s: cannot point it at %s: %s", link, target, strerror(err));
    }
    long *steps;
    int n, rc = list_steps(dir, &steps, &n);
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        if (i < keep || steps[i] == step) continue;
        char old[PATH_MAX];
        checkpoint_path(old, sizeof old, dir, steps[i]);
        if (unlink(old) && errno != ENOENT) {
            rc = rp_err(RP_EIO, "%s: cannot delete old checkpoint: %s", old, strerror(errno));
            break;
        }
    }
    free(steps);
    /* temp files of writers that crashed (ours have the pid; the current writer has renamed): a
     * checkpoint's, or the link's of a writer killed between symlink() and rename() */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (!rc && d && (e = readdir(d))) {
        if ((strncmp(e->d_name, "step_", 5) || !strstr(e->d_name, ".h5.tmp-")) &&
            strncmp(e->d_name, ".latest.tmp-", 12))
            continue;
        char old[PATH_MAX];
        snprintf(old, sizeof old, "%s/%s", dir, e->d_name);
        unlink(old);
    }
    if (d) closedir(d);
    return rc;
}

int checkpoint_find_latest(const char *dir, char *path, size_t n) {
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof link, "%s/" LATEST, dir);
    struct stat st;
    if (stat(link, &st) == 0 && S_ISREG(st.st_mode)) {
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = 0;
            if (target[0] == '/') snprintf(path, n, "%s", target);
            else snprintf(path, n, "%s/%s", dir, target);
        } else {
            snprintf(path, n, "%s", link); /* a plain file copied in place of the link */
        }
        return 0;
    }
    long *steps;
    int count, rc = list_steps(dir, &steps, &count);
    if (rc) return rc;
    if (count) checkpoint_path(path, n, dir, steps[0]);
    free(steps);
    return count ? 0 : 1;
}
