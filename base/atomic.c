/* Atomic output files (see atomic.h). */
#include "base/atomic.h"
#include "base/fault.h"
#include "base/status.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The folder holding path into dir; returns path's last component. */
static const char *split_dir(const char *path, char *dir, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, n, ".");
    else snprintf(dir, n, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

void rp_atomic_sweep(const char *path) {
    char dir[4096];
    const char *base = split_dir(path, dir, sizeof dir);
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char *end;
        if (strncmp(e->d_name, base, bl) || strncmp(e->d_name + bl, ".tmp-", 5)) continue;
        long pid = strtol(e->d_name + bl + 5, &end, 10);
        if (end == e->d_name + bl + 5 || *end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* running, or not ours to judge */
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
}

int rp_atomic_tmpname(char *buf, size_t n, const char *path) {
    if ((size_t)snprintf(buf, n, "%s.tmp-%ld", path, (long)getpid()) >= n)
        return rp_err(RP_EARG, "%s: path too long", path);
    rp_atomic_sweep(path);
    return 0;
}

/* fsync of the directory holding path, so that a rename into it survives a system crash. */
static void sync_dir(const char *path) {
    char dir[4096];
    split_dir(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    if (fsync(fd)) { /* some file systems refuse fsync on a directory: nothing more to do */ }
    close(fd);
}

int rp_atomic_publish(const char *tmp, const char *path, int rc) {
    if (!rc) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || rp_fault("fsync") || fsync(fd)) {
            int e = errno;
            rc = rp_err(RP_EIO, "cannot sync %s to disk: %s", tmp, strerror(e));
        }
        if (fd >= 0) close(fd);
    }
    if (!rc && (rp_fault("rename") || rename(tmp, path))) {
        int e = errno;
        rc = rp_err(RP_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    if (rc) {
        unlink(tmp);
        return rc;
    }
    sync_dir(path);
    return 0;
}

int rp_atomic_write(const char *path, const void *data, size_t n) {
    char tmp[4200];
    int rc = rp_atomic_tmpname(tmp, sizeof tmp, path);
    if (rc) return rc;
    FILE *f = rp_fault("fopen") ? NULL : fopen(tmp, "wb");
    if (!f) return rp_err(RP_EIO, "cannot create %s: %s", tmp, strerror(errno));
    int bad = rp_fault("write") || fwrite(data, 1, n, f) != n || fflush(f) != 0, e = errno;
    if (fclose(f) && !bad) bad = 1, e = errno;
    if (bad) rc = rp_err(RP_EIO, "cannot write %s: %s", tmp, strerror(e));
    return rp_atomic_publish(tmp, path, rc);
}
