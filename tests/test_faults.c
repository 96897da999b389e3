/* Fault injection and a real full disk (docs/hardening.md, "Failures while writing"). For each of
 * simulate, import, refine, train (a resumed run writing its next checkpoint) and eval (updating a
 * report.json), the command is run once with RP_FAULT_LIST=1 to list its fault sites, then once
 * per site with RP_FAULT_AT=N, and every time: exit status 1 (no crash), the site fired, the last
 * line is the command's error and names the file, no file at the output path and no temporary
 * file left (refine keeps OUT.parts for --resume: only complete parts), the inputs unchanged, the
 * previous output (simulate), checkpoint (train) or report (eval) untouched and loadable. Refine's kept parts must then resume to the
 * bytes of a clean run. Which sites are walked: every one with RP_LONG_TESTS=1 or when a command
 * has at most 64 (train, eval); otherwise each site whose location follows a different location
 * than before, and the last pass of each location (a loop's first and last round).
 * The full-disk tests mount a small tmpfs (root only; skipped with a SKIP line otherwise), fill it
 * to leave 0, 8 KB, 16 KB, ... free and run refine, and a train writing its checkpoint, until one
 * succeeds; each failure must say "No space left on device", leave nothing half-written, and
 * resume (with the space back) to the bytes of a clean run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "io/png.h"
#include "refiner/checkpoint.h"
#include "refiner/refiner.h"
#include "tests/clirun.h"

static char dir[64], in[96], outd[96], ck[160], small[96];
static char out[1 << 17];
static int long_tests, mounted;
static uint64_t in_hash;

#define TRAIN_SETS "--threads 1 --quiet --set refiner.filters=4 --set refiner.blocks=1 --set train.batch=4 " \
                   "--set train.history_size=8 --set train.pretrain_disc_steps=0 --set train.checkpoint_every=2 " \
                   "--set train.sample_every=0 --set train.label_guard=0"


/* FNV-1a over every file's path and bytes under d: the inputs must never change. */
static uint64_t tree_hash(const char *d, uint64_t h) {
    DIR *dd = opendir(d);
    if (!dd) return h;
    char names[256][256];
    int n = 0;
    for (struct dirent *e; n < 256 && (e = readdir(dd));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(names[n++], 256, "%s", e->d_name);
    closedir(dd);
    qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%.700s/%.255s", d, names[i]);
        for (const char *c = p; *c; c++) h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
        struct stat st;
        if (lstat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            h = tree_hash(p, h);
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            char t[256] = "";
            ssize_t k = readlink(p, t, sizeof t - 1);
            for (ssize_t j = 0; j < k; j++) h = (h ^ (unsigned char)t[j]) * 0x100000001b3ULL;
            continue;
        }
        long len;
        unsigned char *b = clirun_read(p, &len);
        for (long j = 0; b && j < len; j++) h = (h ^ b[j]) * 0x100000001b3ULL;
        free(b);
    }
    return h;
}

/* ------------------------------------------------------------------------------------ */
/* fixtures: inputs in DIR/in (never written after setup), outputs in DIR/out */

static int setup(void **state) {
    (void)state;
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1); /* created_at: byte-comparable outputs */
    long_tests = getenv("RP_LONG_TESTS") && strcmp(getenv("RP_LONG_TESTS"), "0");
    strcpy(dir, "/tmp/rp-test-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(outd, sizeof outd, "%s/out", dir);
    snprintf(small, sizeof small, "%s/small", dir);
    snprintf(ck, sizeof ck, "%s/run.orig/checkpoints/step_000000002.h5", in);
    if (clirun_sh("mkdir -p %s/pngs %s/pngs2 %s", in, in, outd)) return -1;
    if (clirun(out, sizeof out, NULL, "simulate -n 40 --seed 1 --threads 1 -o %s/syn.h5 --quiet", in) ||
        clirun(out, sizeof out, NULL, "simulate -n 40 --seed 2 --threads 1 -o %s/real.h5 --quiet", in))
        return fprintf(stderr, "%s", out), -1;
    /* 12 PNGs in one folder, one in another, labels keyed by file name */
    char p[256];
    snprintf(p, sizeof p, "%s/labels.csv", in);
    FILE *f = fopen(p, "w");
    if (!f) return -1;
    fprintf(f, "filename,class,gaze\n");
    uint8_t px[8 * 10];
    for (int i = 0; i < 13; i++) {
        for (int k = 0; k < 80; k++) px[k] = (uint8_t)(k * 7 + i * 31);
        if (i < 12) snprintf(p, sizeof p, "%s/pngs/img%02d.png", in, i);
        else snprintf(p, sizeof p, "%s/pngs2/extra.png", in);
        if (pngio_write(p, 10, 8, 1, px)) return -1;
        fprintf(f, "%s,%d,%g\n", strrchr(p, '/') + 1, i % 3, 0.1 * i);
    }
    fclose(f);
    /* a run trained to step 2 (a checkpoint to resume from and to refine with) */
    if (clirun(out, sizeof out, NULL, "train -s %s/syn.h5 -r %s/real.h5 -d %s/run.orig " TRAIN_SETS
               " --set train.pretrain_refiner_steps=2 --set train.iterations=0", in, in, in))
        return fprintf(stderr, "%s", out), -1;
    /* the clean results the failed runs must resume to, and the report to keep */
    if (clirun(out, sizeof out, NULL, "refine --checkpoint %s --in %s/syn.h5 -o %s/ref.good --chunk 16 --batch 8 "
               "--threads 1 --quiet", ck, in, in) ||
        clirun_sh("cp -a %s/run.orig %s/run.ref", in, outd) ||
        clirun(out, sizeof out, NULL, "train --resume -d %s/run.ref -s %s/syn.h5 -r %s/real.h5 --threads 1 --quiet "
               "--set train.iterations=2", outd, in, in) ||
        clirun_sh("cp %s/run.ref/checkpoints/step_000000004.h5 %s/ck4.good && rm -rf %s/run.ref", outd, in, outd) ||
        clirun(out, sizeof out, NULL, "eval --train %s/syn.h5 --test %s/real.h5 -o %s/rep.orig --name x --threads 1 "
               "--quiet --set eval.steps=2 --set eval.batch=8", in, in, in))
        return fprintf(stderr, "%s", out), -1;
    in_hash = tree_hash(in, 0xcbf29ce484222325ULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (mounted) umount2(small, MNT_DETACH);
    if (getenv("RP_KEEP_TMP")) return fprintf(stderr, "RP_KEEP_TMP: kept %s\n", dir), 0;
    return clirun_sh("rm -rf '%s'", dir) ? -1 : 0;
}

/* ------------------------------------------------------------------------------------ */
/* the walk */

#define MAX_SITES 4096
static char sites[MAX_SITES][128]; /* "KIND at FILE:LINE" of site N-1 */

/* Failures are collected (up to a screenful) and reported together at the end of a walk. */
static char failures[8192];
static int nfail;
static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failure(const char *fmt, ...) {
    size_t len = strlen(failures);
    if (nfail++ < 12 && len < sizeof failures - 1) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(failures + len, sizeof failures - len, fmt, ap);
        va_end(ap);
        strncat(failures, "\n", sizeof failures - strlen(failures) - 1);
    }
}

typedef struct {
    const char *cmd;           /* the subcommand (its messages start "refine-pipeline CMD: ") */
    char args[2048];
    const char *names[3];      /* the message names one of these */
    void (*reset)(void);       /* the state before each run */
    void (*check)(long n);     /* the command-specific checks after a failed run */
} walk;

static int parse_sites(const char *text) {
    int k = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        long n;
        int at;
        if (sscanf(l, "rp-fault %ld: %n", &n, &at) != 1 || n != k + 1 || k == MAX_SITES) continue;
        const char *end = strchr(l, '\n');
        snprintf(sites[k++], sizeof sites[0], "%.*s", (int)(end ? end - l - at : (long)strlen(l + at)), l + at);
    }
    return k;
}

/* 1 for the N to run: all with RP_LONG_TESTS or when there are at most 64; else a location reached
 * from a location it was not reached from before, and the last pass of each location. (That misses
 * a shared helper's site reached again from another caller through the same helper: the walk of
 * eval, 17 sites, found such a bug only among sites this rule skips.) */
static int picked(int k, int i) {
    if (long_tests || k <= 64) return 1;
    for (int j = i + 1; j < k; j++)
        if (!strcmp(sites[j], sites[i])) goto not_last;
    return 1;
not_last:
    for (int j = 0; j < i; j++)
        if (!strcmp(sites[j], sites[i]) && (j == 0 ? i == 0 : i > 0 && !strcmp(sites[j - 1], sites[i - 1]))) return 0;
    return 1;
}

/* The command's error: the last line that is not the fault module's. */
static const char *last_message(char *text) {
    char *end = text + strlen(text);
    while (end > text && end[-1] == '\n') *--end = 0;
    char *line = end;
    for (;;) {
        while (line > text && line[-1] != '\n') line--;
        if (strncmp(line, "rp-fault ", 9) || line == text) return line;
        line[-1] = 0;
        end = line - 1;
        line = end;
    }
}


static void run_walk(walk *w) {
    double t0 = clirun_now();
    failures[0] = 0, nfail = 0;
    w->reset();
    int st = clirun(out, sizeof out, "RP_FAULT_LIST=1", "%s", w->args);
    if (st) fail_msg("%s without a fault: status %d\n%s", w->cmd, st, out);
    int k = parse_sites(out), walked = 0;
    assert_true(k > 0);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "refine-pipeline %s: ", w->cmd);
    for (int i = 0; i < k; i++) {
        if (!picked(k, i)) continue;
        long n = i + 1;
        walked++;
        w->reset();
        char env[64];
        snprintf(env, sizeof env, "RP_FAULT_AT=%ld", n);
        st = clirun(out, sizeof out, env, "%s", w->args);
        char fired[64];
        snprintf(fired, sizeof fired, "rp-fault %ld: failing ", n);
        int did = strstr(out, fired) != NULL;
        const char *msg = last_message(out);
        if (st != 1) failure("site %ld (%s): exit status %d, not 1: %s", n, sites[i], st, msg);
        else if (!did) failure("site %ld (%s) was not reached: the site order changed", n, sites[i]);
        else if (strncmp(msg, prefix, strlen(prefix))) failure("site %ld (%s): last line is not the error: %s", n, sites[i], msg);
        else if (!(w->names[0] && strstr(msg, w->names[0])) && !(w->names[1] && strstr(msg, w->names[1])))
            failure("site %ld (%s): the message does not name the file: %s", n, sites[i], msg);
        if (tree_hash(in, 0xcbf29ce484222325ULL) != in_hash) {
            failure("site %ld (%s): an input changed", n, sites[i]);
            break;
        }
        w->check(n);
    }
    fprintf(stderr, "%s: %d fault sites, %d walked%s, %.1f s\n", w->cmd, k, walked, long_tests ? " (RP_LONG_TESTS)" : "",
            clirun_now() - t0);
    if (nfail) fail_msg("%s: %d of %d failed runs broke a promise:\n%s", w->cmd, nfail, walked, failures);
}

/* ------------------------------------------------------------------------------------ */
/* the commands */

/* DIR/in/name or DIR/out/name, in one of 8 rotating buffers */
static const char *path_in(const char *base, const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", base, name);
    return buf[k];
}

static char listing[4096];
static void clean_out(void) {
    if (clirun_sh("rm -rf %s && mkdir %s", outd, outd)) fail_msg("cannot reset %s", outd);
}

static void check_nothing_left(long n) {
    clirun_list(outd, listing, sizeof listing);
    if (listing[0]) failure("site %ld (%s): left in the output folder: %s", n, sites[n - 1], listing);
}

/* simulate overwrites an earlier file: it must stay as it was (import and refine start with none). */
static void reset_simulate(void) {
    clean_out();
    if (clirun_sh("echo previous > %s/s.h5", outd)) fail_msg("cannot write %s/s.h5", outd);
}

static void check_simulate(long n) {
    clirun_list(outd, listing, sizeof listing);
    long len;
    unsigned char *b = clirun_read(path_in(outd, "s.h5"), &len);
    if (strcmp(listing, "s.h5 ") || !b || len != 9 || memcmp(b, "previous\n", 9))
        failure("site %ld (%s): the earlier s.h5 was not kept as it was (the folder holds %s)", n, sites[n - 1], listing);
    free(b);
}

static void test_walk_simulate(void **state) {
    (void)state;
    walk w = {"simulate", "", {"s.h5"}, reset_simulate, check_simulate};
    snprintf(w.args, sizeof w.args, "simulate -n 40 --set simulate.chunk=16 --threads 1 -o %s/s.h5 --quiet", outd);
    run_walk(&w);
}

static void test_walk_import(void **state) {
    (void)state;
    /* --skip-bad: a failure of our own (out of memory) must still be fatal, not a skipped file */
    walk w = {"import", "", {"imp.h5", "/pngs"}, clean_out, check_nothing_left};
    snprintf(w.args, sizeof w.args, "import %s/pngs %s/pngs2 -o %s/imp.h5 --skip-bad --labels class=%s/labels.csv:class "
             "--labels gaze=%s/labels.csv:gaze --units gaze=radians --chunk 4 --threads 1 --quiet", in, in, outd, in, in);
    run_walk(&w);
}

static char refine_args[2048];

/* Only complete parts in OUT.parts (named chunk-NNNNNN.u8 or manifest, no temporary files). */
static int parts_complete(const char *parts, long n) {
    clirun_list(parts, listing, sizeof listing);
    for (char *tok = strtok(listing, " "); tok; tok = strtok(NULL, " ")) {
        int end = 0;
        long c;
        if (!strcmp(tok, "manifest") || (sscanf(tok, "chunk-%6ld.u8%n", &c, &end) == 1 && !tok[end])) continue;
        failure("site %ld (%s): %s holds %s", n, n > 0 ? sites[n - 1] : "full disk", parts, tok);
        return 0;
    }
    return 1;
}

/* The parts listings already resumed from: each distinct one is resumed once. */
static char resumed[64][512];
static int nresumed;

static void check_refine(long n) {
    char ref[256], parts[300];
    snprintf(ref, sizeof ref, "%s/ref.h5", outd);
    snprintf(parts, sizeof parts, "%s.parts", ref);
    clirun_list(outd, listing, sizeof listing);
    if (listing[0] && strcmp(listing, "ref.h5.parts ")) {
        failure("site %ld (%s): left in the output folder: %s", n, sites[n - 1], listing);
        return;
    }
    if (!parts_complete(parts, n)) return;
    /* what was kept resumes to the bytes of a clean run (once per distinct set of parts) */
    clirun_list(parts, listing, sizeof listing);
    for (int i = 0; i < nresumed; i++)
        if (!strcmp(resumed[i], listing)) return;
    if (nresumed < 64) snprintf(resumed[nresumed++], sizeof resumed[0], "%.511s", listing);
    int st = clirun(out, sizeof out, NULL, "%s --resume", refine_args);
    if (st || !clirun_same(ref, path_in(in, "ref.good")))
        failure("site %ld (%s): --resume after the failure: status %d, %s", n, sites[n - 1], st,
                st ? last_message(out) : "different bytes from a clean run");
}

static void test_walk_refine(void **state) {
    (void)state;
    walk w = {"refine", "", {"ref.h5"}, clean_out, check_refine};
    snprintf(refine_args, sizeof refine_args, "refine --checkpoint %s --in %s/syn.h5 -o %s/ref.h5 --chunk 16 --batch 8 "
             "--threads 1 --quiet", ck, in, outd);
    snprintf(w.args, sizeof w.args, "%s", refine_args);
    run_walk(&w);
}

static char rundir[256];

static void reset_train(void) {
    clean_out();
    if (clirun_sh("cp -a %s/run.orig %s", in, rundir)) fail_msg("cannot copy the run");
}

/* Every step_*.h5 a complete checkpoint, latest.h5 one of them, step 2 untouched, no temp files. */
static void check_run(long n, const char *run) {
    const char *why = n > 0 ? sites[n - 1] : "full disk";
    char ckdir[300], p[400];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", run);
    if (!clirun_same(path_in(ckdir, "step_000000002.h5"), ck)) failure("site %ld (%s): step 2's checkpoint changed", n, why);
    clirun_list(run, listing, sizeof listing);
    if (strcmp(listing, "checkpoints config.ini metrics.csv samples train.log "))
        failure("site %ld (%s): the run directory holds %s", n, why, listing);
    clirun_list(ckdir, listing, sizeof listing);
    if (strcmp(listing, "latest.h5 step_000000002.h5 ") && strcmp(listing, "latest.h5 step_000000002.h5 step_000000004.h5 "))
        failure("site %ld (%s): checkpoints/ holds %s", n, why, listing);
    if (strstr(listing, "step_000000004.h5")) { /* a new checkpoint is a complete one */
        refiner r;
        long step;
        snprintf(p, sizeof p, "%s/step_000000004.h5", ckdir);
        if (checkpoint_load_refiner(p, &r, NULL, &step) || step != 4) failure("site %ld (%s): %s does not load", n, why, p);
        else refiner_free(&r);
    }
    if (checkpoint_find_latest(ckdir, p, sizeof p)) failure("site %ld (%s): no latest checkpoint", n, why);
}

static void check_train(long n) { check_run(n, rundir); }

static void test_walk_train_checkpoint(void **state) {
    (void)state;
    snprintf(rundir, sizeof rundir, "%s/run", outd);
    walk w = {"train", "", {rundir}, reset_train, check_train};
    snprintf(w.args, sizeof w.args, "train --resume -d %s -s %s/syn.h5 -r %s/real.h5 --threads 1 --quiet "
             "--set train.iterations=2", rundir, in, in);
    run_walk(&w);
}

static void reset_eval(void) {
    clean_out();
    if (clirun_sh("cp %s/rep.orig %s/rep.json", in, outd)) fail_msg("cannot copy the report");
}

static void check_eval(long n) {
    if (!clirun_same(path_in(outd, "rep.json"), path_in(in, "rep.orig")))
        failure("site %ld (%s): report.json changed", n, sites[n - 1]);
    clirun_list(outd, listing, sizeof listing);
    if (strcmp(listing, "rep.json ")) failure("site %ld (%s): the output folder holds %s", n, sites[n - 1], listing);
}

static void test_walk_eval_report(void **state) {
    (void)state;
    walk w = {"eval", "", {"rep.json"}, reset_eval, check_eval};
    snprintf(w.args, sizeof w.args, "eval --train %s/syn.h5 --test %s/real.h5 -o %s/rep.json --name y --threads 1 "
             "--quiet --set eval.steps=2 --set eval.batch=8", in, in, outd);
    run_walk(&w);
}

/* ------------------------------------------------------------------------------------ */
/* a real full disk */

/* A tmpfs of `size` at DIR/small, or skip (visibly) where it cannot be mounted. */
static void mount_small(const char *size) {
    if (mounted) umount2(small, MNT_DETACH), mounted = 0;
    mkdir(small, 0777);
    char opt[64];
    snprintf(opt, sizeof opt, "size=%s", size);
    if (mount("tmpfs", small, "tmpfs", 0, opt)) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs at %s (%s; needs root): the full-disk test did not run\n", small,
                strerror(errno));
        skip();
    }
    mounted = 1;
}

/* Fills the tmpfs, then gives back `keep` bytes (whole pages). */
static void fill(long keep) {
    char p[256];
    snprintf(p, sizeof p, "%s/fill", small);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static char zeros[65536];
    long size = 0;
    for (ssize_t k; (k = write(fd, zeros, sizeof zeros)) > 0;) size += k;
    for (ssize_t k; (k = write(fd, zeros, 4096)) > 0;) size += k;
    for (ssize_t k; (k = write(fd, zeros, 1)) > 0;) size += k;
    assert_int_equal(ftruncate(fd, size > keep ? size - keep : 0), 0);
    close(fd);
}

static void unfill(void) {
    char p[256];
    snprintf(p, sizeof p, "%s/fill", small);
    unlink(p);
}

/* One failed run on the full disk: status 1, the error says so and names the file. */
static int full_disk_failed(int st, long keep, const char *name) {
    const char *msg = last_message(out);
    if (st != 1 || !strstr(msg, "No space left on device") || !strstr(msg, name)) {
        failure("%ld bytes free: status %d, last line: %s", keep, st, msg);
        return 0;
    }
    return 1;
}

static void test_full_disk_refine(void **state) {
    (void)state;
    failures[0] = 0, nfail = 0;
    double t0 = clirun_now();
    mount_small("1m");
    char ref[256], parts[300];
    snprintf(ref, sizeof ref, "%s/ref.h5", small);
    snprintf(parts, sizeof parts, "%s.parts", ref);
    int runs = 0, st = 1;
    for (long keep = 0; st && keep <= 512 * 1024; keep += 8192, runs++) {
        clirun_sh("rm -rf %s/*", small);
        fill(keep);
        st = clirun(out, sizeof out, NULL, "refine --checkpoint %s --in %s/syn.h5 -o %s --chunk 16 --batch 8 --threads 1 "
                    "--quiet", ck, in, ref);
        if (!st) break;
        if (!full_disk_failed(st, keep, "ref.h5")) continue;
        clirun_list(small, listing, sizeof listing);
        if (strcmp(listing, "fill ") && strcmp(listing, "fill ref.h5.parts "))
            failure("%ld bytes free: left on the disk: %s", keep, listing);
        parts_complete(parts, 0);
        unfill(); /* the space is back: resume */
        st = clirun(out, sizeof out, NULL, "refine --checkpoint %s --in %s/syn.h5 -o %s --chunk 16 --batch 8 --threads 1 "
                    "--quiet --resume", ck, in, ref);
        if (st || !clirun_same(ref, path_in(in, "ref.good")))
            failure("%ld bytes free: --resume with the space back: status %d, %s", keep, st,
                    st ? last_message(out) : "different bytes from a clean run");
        st = 1;
    }
    if (st) failure("refine never succeeded, even with 512 KB free");
    else if (!clirun_same(ref, path_in(in, "ref.good"))) failure("the first run that fitted wrote different bytes");
    fprintf(stderr, "full disk, refine: %d runs failed cleanly before one fitted, %.1f s\n", runs, clirun_now() - t0);
    if (nfail) fail_msg("%d failures:\n%s", nfail, failures);
}

static void test_full_disk_checkpoint(void **state) {
    (void)state;
    failures[0] = 0, nfail = 0;
    double t0 = clirun_now();
    mount_small("3m");
    char run[256];
    snprintf(run, sizeof run, "%s/run", small);
    int runs = 0, st = 1;
    for (long keep = 0; st && keep <= 2560 * 1024; keep += 96 * 1024, runs++) {
        clirun_sh("rm -rf %s/* && cp -a %s/run.orig %s", small, in, run);
        fill(keep);
        st = clirun(out, sizeof out, NULL, "train --resume -d %s -s %s/syn.h5 -r %s/real.h5 --threads 1 --quiet "
                    "--set train.iterations=2", run, in, in);
        if (!st) break;
        if (!full_disk_failed(st, keep, run)) continue;
        check_run(-keep, run);
        unfill();
        st = clirun(out, sizeof out, NULL, "train --resume -d %s -s %s/syn.h5 -r %s/real.h5 --threads 1 --quiet "
                    "--set train.iterations=2", run, in, in);
        if (st || !clirun_same(path_in(run, "checkpoints/step_000000004.h5"), path_in(in, "ck4.good")))
            failure("%ld bytes free: --resume with the space back: status %d, %s", keep, st,
                    st ? last_message(out) : "a different checkpoint from a clean run");
        st = 1;
    }
    if (st) failure("train never succeeded, even with 2.5 MB free");
    else if (!clirun_same(path_in(run, "checkpoints/step_000000004.h5"), path_in(in, "ck4.good")))
        failure("the first run that fitted wrote a different checkpoint");
    fprintf(stderr, "full disk, checkpoint: %d runs failed cleanly before one fitted, %.1f s\n", runs, clirun_now() - t0);
    if (nfail) fail_msg("%d failures:\n%s", nfail, failures);
}

int main(int argc, char **argv) {
    if (clirun_init(argv[0])) return 1;
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. 'test_walk_r*' */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_simulate),
        cmocka_unit_test(test_walk_import),
        cmocka_unit_test(test_walk_refine),
        cmocka_unit_test(test_walk_train_checkpoint),
        cmocka_unit_test(test_walk_eval_report),
        cmocka_unit_test(test_full_disk_refine),
        cmocka_unit_test(test_full_disk_checkpoint),
    };
    return cmocka_run_group_tests_name("faults", tests, setup, teardown);
}
