/* Kill -9 at random moments (docs/hardening.md, "Kills"): refine and single-thread train are
 * killed with SIGKILL at 20 moments each (RP_LONG_TESTS=1: 100), drawn from a seeded generator
 * (RP_KILL_SEED, default 15) uniformly over the length of an uninterrupted run measured first.
 * The kills are chained: a fresh run is killed, then each --resume is killed again or, with
 * probability 1/2 (or when it ends before its moment), runs to the end; the finished result must
 * equal the uninterrupted run's bytes (refine: the output file; train: the final checkpoint, i.e.
 * parameters, optimizer state, history and RNGs), and nothing of the killed runs may be left
 * (no temporary files; refine's OUT.parts removed). Train starts fresh instead of resuming when a
 * run was killed before its first checkpoint. Only kills that hit a running process count. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/atomic.h"
#include "refiner/checkpoint.h"
#include "tests/clirun.h"

static char dir[64], out[1 << 16], listing[4096];
static int nkills = 20;
static uint64_t rng_state;



/* splitmix64: uniform in [0, 1) */
static double uniform(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return ((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

static int setup(void **state) {
    (void)state;
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    const char *l = getenv("RP_LONG_TESTS"), *s = getenv("RP_KILL_SEED");
    if (l && strcmp(l, "0")) nkills = 100;
    rng_state = s ? strtoull(s, NULL, 10) : 15;
    strcpy(dir, "/tmp/rp-test-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    if (clirun(out, sizeof out, NULL, "simulate -n 40 --seed 1 --threads 1 -o %s/syn.h5 --quiet", dir) ||
        clirun(out, sizeof out, NULL, "simulate -n 40 --seed 2 --threads 1 -o %s/real.h5 --quiet", dir) ||
        clirun(out, sizeof out, NULL, "simulate -n 2000 --seed 3 --threads 1 -o %s/big.h5 --quiet", dir))
        return fprintf(stderr, "%s", out), -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (getenv("RP_KEEP_TMP")) return fprintf(stderr, "RP_KEEP_TMP: kept %s\n", dir), 0;
    return clirun_sh("rm -rf '%s'", dir) ? -1 : 0;
}

/* One job killed and resumed until it completes. */
typedef struct {
    const char *what;
    char fresh[2048], resume[2100]; /* arguments of a fresh run and of a resumed one */
    int (*can_resume)(void);        /* 0: the next run must start fresh */
    void (*clean)(void);            /* before each chain */
    void (*check)(int chain);       /* after a chain completed */
} job;

static char log_path[128];

/* What the last run printed. */
static const char *log_text(void) {
    long n;
    unsigned char *b = clirun_read(log_path, &n);
    size_t k = b ? (size_t)n < sizeof out - 1 ? (size_t)n : sizeof out - 1 : 0;
    memcpy(out, b ? (char *)b : "", k);
    out[k] = 0;
    free(b);
    return out;
}

/* Starts args and kills it after `delay` seconds unless it ended first: 1 if the kill hit it,
 * 0 if it completed (status 0); fails the test on any other end. */
static int run_and_kill(const char *args, double delay) {
    pid_t pid = clirun_spawn(log_path, NULL, "%s", args);
    assert_true(pid > 0);
    usleep((useconds_t)(delay * 1e6));
    kill(pid, SIGKILL);
    int st = clirun_wait(pid);
    if (st == 128 + SIGKILL) return 1;
    if (st != 0) fail_msg("%s ended with status %d:\n%s", args, st, log_text());
    return 0;
}

static void run_job(job *j) {
    snprintf(log_path, sizeof log_path, "%s/log", dir);
    /* the uninterrupted run: its length scales the moments, its result is the reference */
    j->clean();
    double t0 = clirun_now();
    if (clirun(out, sizeof out, NULL, "%s", j->fresh)) fail_msg("%s: %s", j->fresh, out);
    double T = clirun_now() - t0;
    j->check(-1);
    int kills = 0, chains = 0, resumes = 0;
    while (kills < nkills) {
        j->clean();
        int killed = run_and_kill(j->fresh, uniform() * T); /* a fresh run, killed at a random moment */
        kills += killed;
        while (killed) { /* resume until a run completes; each may be killed again */
            const char *args = j->can_resume() ? j->resume : j->fresh;
            resumes += args == j->resume;
            if (kills < nkills && uniform() < 0.5) {
                killed = run_and_kill(args, uniform() * T);
                kills += killed;
            } else {
                if (clirun(out, sizeof out, NULL, "%s", args)) fail_msg("%s after %d kills: %s", args, kills, out);
                killed = 0;
            }
        }
        j->check(chains++);
    }
    fprintf(stderr, "%s: %d kills in %d chains (%d resumes), uninterrupted run %.2f s, all results identical, %.1f s\n",
            j->what, kills, chains, resumes, T, clirun_now() - t0);
}

/* ---------------------------------------------------------------- refine */
static char ck[256], ref_out[256], ref_good[256];

static void refine_clean(void) { clirun_sh("rm -rf %s %s.parts %s.tmp-*", ref_out, ref_out, ref_out); }
static int refine_can_resume(void) { return 1; } /* --resume without parts starts over */

static void refine_check(int chain) {
    if (chain < 0) { /* the reference */
        assert_int_equal(rename(ref_out, ref_good), 0);
        return;
    }
    if (!clirun_same(ref_out, ref_good)) fail_msg("chain %d: the resumed output differs from the uninterrupted run", chain);
    clirun_list(dir, listing, sizeof listing);
    if (strcmp(listing, "big.h5 ck log real.h5 ref.good ref.h5 syn.h5 "))
        fail_msg("chain %d: left beside the output: %s", chain, listing);
}

static void test_kill_refine(void **state) {
    (void)state;
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(ref_out, sizeof ref_out, "%s/ref.h5", dir);
    snprintf(ref_good, sizeof ref_good, "%s/ref.good", dir);
    /* a checkpoint to refine with: 2 pretraining steps of a small refiner */
    if (clirun(out, sizeof out, NULL, "train -s %s/syn.h5 -r %s/real.h5 -d %s --threads 1 --quiet --set refiner.filters=4 "
               "--set refiner.blocks=1 --set train.batch=4 --set train.history_size=8 --set train.pretrain_refiner_steps=2 "
               "--set train.pretrain_disc_steps=0 --set train.iterations=0 --set train.sample_every=0 "
               "--set train.label_guard=0", dir, dir, ck))
        fail_msg("%s", out);
    clirun_sh("cp %s/checkpoints/step_000000002.h5 %s.h5 && rm -rf %s && mv %s.h5 %s", ck, ck, ck, ck, ck);
    job j = {"refine", "", "", refine_can_resume, refine_clean, refine_check};
    snprintf(j.fresh, sizeof j.fresh, "refine --checkpoint %s --in %s/big.h5 -o %s --chunk 100 --batch 50 --threads 1 "
             "--quiet", ck, dir, ref_out);
    snprintf(j.resume, sizeof j.resume, "%s --resume", j.fresh);
    run_job(&j);
}

/* ---------------------------------------------------------------- train */
static char run_dir[256], ck_good[256];
#define FINAL "checkpoints/step_000000030.h5" /* 10 + 4 + 16 steps */

static void train_clean(void) { clirun_sh("rm -rf %s", run_dir); }

static int train_can_resume(void) {
    char ckdir[300], p[400];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", run_dir);
    return checkpoint_find_latest(ckdir, p, sizeof p) == 0;
}

static void train_check(int chain) {
    char final[400];
    snprintf(final, sizeof final, "%s/" FINAL, run_dir);
    if (chain < 0) {
        assert_int_equal(rename(final, ck_good), 0);
        return;
    }
    if (!clirun_same(final, ck_good)) fail_msg("chain %d: the final checkpoint differs from the uninterrupted run", chain);
    clirun_list(run_dir, listing, sizeof listing);
    if (strcmp(listing, "checkpoints config.ini metrics.csv samples train.log "))
        fail_msg("chain %d: the run directory holds %s", chain, listing);
    char ckdir[300];
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", run_dir);
    clirun_list(ckdir, listing, sizeof listing);
    if (strstr(listing, "tmp")) fail_msg("chain %d: checkpoints/ holds %s", chain, listing);
}

static void test_kill_train(void **state) {
    (void)state;
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    snprintf(ck_good, sizeof ck_good, "%s/final.good", dir);
    job j = {"train", "", "", train_can_resume, train_clean, train_check};
    snprintf(j.fresh, sizeof j.fresh, "train -s %s/syn.h5 -r %s/real.h5 -d %s --threads 1 --quiet --set refiner.filters=4 "
             "--set refiner.blocks=1 --set train.batch=4 --set train.history_size=8 --set train.pretrain_refiner_steps=10 "
             "--set train.pretrain_disc_steps=4 --set train.iterations=16 --set train.checkpoint_every=3 "
             "--set train.sample_every=0 --set train.label_guard=0", dir, dir, run_dir);
    snprintf(j.resume, sizeof j.resume, "train --resume -s %s/syn.h5 -r %s/real.h5 -d %s --threads 1 --quiet", dir, dir,
             run_dir);
    run_job(&j);
}

/* What a killed writer leaves, removed by the next writer of the same place (the random kills
 * found each; this checks them deterministically): a checkpoint's temporary file and the link's
 * (.latest.tmp-PID, left by a kill between symlink() and rename()), and an output's PATH.tmp-PID
 * of a process that no longer runs, while a running process's is kept. */
static void test_killed_writers_leftovers_removed(void **state) {
    (void)state;
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    assert_int_equal(clirun_wait(dead), 0);
    char d[128], p[256];
    snprintf(d, sizeof d, "%s/leftovers", dir);
    assert_int_equal(clirun_sh("mkdir -p %s && touch %s/step_000000001.h5 %s/step_000000002.h5.tmp-%d && "
                               "ln -s step_000000001.h5 %s/.latest.tmp-%d && touch %s/x.json.tmp-%d %s/x.json.tmp-%d",
                               d, d, d, (int)dead, d, (int)dead, d, (int)dead, d, (int)getppid()), 0);
    assert_int_equal(checkpoint_publish(d, 1, 5), 0);
    snprintf(p, sizeof p, "%s/x.json", d);
    assert_int_equal(rp_atomic_write(p, "{}\n", 3), 0);
    clirun_list(d, listing, sizeof listing);
    char want[256];
    snprintf(want, sizeof want, "latest.h5 step_000000001.h5 x.json x.json.tmp-%d ", (int)getppid());
    assert_string_equal(listing, want);
}

int main(int argc, char **argv) {
    if (clirun_init(argv[0])) return 1;
    if (argc > 1) cmocka_set_test_filter(argv[1]); /* e.g. 'test_kill_t*' */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_refine),
        cmocka_unit_test(test_kill_train),
        cmocka_unit_test(test_killed_writers_leftovers_removed),
    };
    return cmocka_run_group_tests_name("kills", tests, setup, teardown);
}
