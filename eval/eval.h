/* The evaluation step: train the fixed evaluation network (eval/evalnet.h) on a training
 * set T with a fixed seed and step budget and score it on a labeled real test set, then
 * measure how realistic T's images are against a real pool: (a) a domain classifier's held-out
 * accuracy, (b) the Fréchet distance in the penultimate features of a shared feature network,
 * (c) pixel-intensity histogram distances. `refine-pipeline eval` and `run` both call eval_run. */
#ifndef RP_EVAL_H
#define RP_EVAL_H
#include "io/config.h"
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#define EVAL_MAX_CLASSES 1000

typedef struct {
    const char *train;         /* T.h5 (or file.h5:/path) with /labels/<label> */
    const char *test;          /* labeled real test set; NULL = none (no accuracy, realism only) */
    const char *label;         /* "class", "gaze", ... */
    const char *real;          /* real pool for the realism metrics; NULL = skip them */
    const char *features;      /* load the Fréchet feature network from here; NULL = use the net trained on T */
    const char *save_features; /* save the net trained on T here (to share with later evaluations) */
    const char *name;          /* entry name in report.json ("synthetic", "refined"); for messages */
    const char *predictions;   /* CSV of the test set's predictions (row,target...,predicted...); NULL = none */
    long steps;                /* evaluation-network training steps */
    int batch;
    double lr;
    int lr_cosine;             /* 1: lr * (1 + cos(pi * step / steps)) / 2; 0: constant */
    uint64_t seed;
    int repeats;               /* task network trained with seeds seed .. seed+repeats-1 (0 = 1) */
    long domain_steps;         /* domain-classifier training steps */
    long domain_rows;          /* rows per side for the domain classifier (half train, half held out) */
    long frechet_rows;         /* rows per side for the Fréchet statistics */
    const char *source;        /* synthetic set T was refined from, for label consistency; NULL = T's
                                  source_file attribute when T is a refined set and that file exists */
    long consistency_steps;    /* label-consistency probe: training steps */
    long consistency_rows;     /* label-consistency probe: held-out rows scored */
    long cache_mb;             /* in-memory image cache per file; larger files are read row by row */
    int threads;               /* BLAS threads; 0 = default */
    int quiet;
    volatile sig_atomic_t *stop; /* may be NULL; when set, training steps stop (RP_EINTR) */
} eval_options;

typedef enum { EVAL_CLASSIFY = 0, EVAL_REGRESS = 1 } eval_task;

typedef struct {
    /* what was evaluated */
    char train[512], test[512], real[512], features[512], label[64], name[64];
    eval_task task;
    int has_test;              /* scored on a labeled real test set (else value and values are NaN) */
    int outputs;               /* K classes or D regression values */
    int C, H, W;
    long n_train, n_test;
    long steps, domain_steps, domain_rows, frechet_rows;
    int batch;
    double lr;
    int lr_cosine;
    uint64_t seed;
    double train_loss;         /* mean training loss over the last 10% of steps (mean over seeds) */
    /* test metric: "accuracy" (fraction), "angular_error_deg" or "mae" (label units) */
    char metric[32];
    double value;              /* mean over the repeats */
    int repeats;               /* task-network seeds: seed .. seed+repeats-1 */
    double values[EVAL_MAX_REPEATS]; /* each seed's value */
    long correct;              /* classification: test rows right (first seed; report.json only for 1 seed) */
    double class_accuracy[EVAL_MAX_CLASSES]; /* mean over seeds; NaN where the test set has no example */
    long class_count[EVAL_MAX_CLASSES];
    /* realism (has_real) */
    int has_real;
    double domain_accuracy;    /* held-out accuracy, mean of the real and T halves (0.5 = chance); mean over seeds */
    double domain_values[EVAL_MAX_REPEATS]; /* each seed's (its own held-out split and training) */
    long domain_heldout;       /* held-out rows per side */
    double frechet;
    long frechet_n_real, frechet_n_train;
    char feature_source[600];  /* "FILE.h5" or "trained on T (not shared)" */
    double hist_l1, hist_w1;   /* 256-bin intensity histograms: L1 of normalised, Wasserstein-1 */
    /* label consistency (refined sets; see consistency.h) */
    int has_consistency;
    char consistency_source[512]; /* the synthetic set */
    char consistency_metric[32];  /* "error", "angular_error_deg" or "mae" */
    long consistency_rows;
    double consistency_synthetic, consistency_refined, consistency_ratio, consistency_changed;
    double seconds;
} eval_result;

/* Options from the [eval] section of the config (files left NULL). */
void eval_options_from_config(eval_options *o, const rp_config *c);
/* The learning rate of training step `step` (0-based) of `steps`. */
double eval_lr_at(const eval_options *o, long step, long steps);
/* "cosine" or "constant" (eval.lr_schedule's values) for lr_cosine. */
const char *eval_lr_schedule_name(int lr_cosine);
/* The whole evaluation. 0 or RP_E* with a message naming file, dataset and expectation. */
int eval_run(const eval_options *o, eval_result *res);
/* The human-readable table. */
void eval_print(FILE *f, const eval_result *res);
/* "2.10% as simulated, 2.30% refined: ratio 1.10; class changed on 0.80% of rows" (has_consistency). */
void eval_consistency_text(char *buf, size_t n, const eval_result *res);

/* report.json: {"refine_report": 1, ..., "evaluations": {"<name>": {...}, ...}}.
 * Adds or replaces evaluations[name], keeps every other entry and top-level key verbatim, and
 * writes the file atomically (temp + rename). A missing file is created. */
int report_json_update(const char *path, const char *name, const eval_result *res);
/* Adds or replaces a top-level key with a JSON value given as text (validated), same rules. */
int report_json_set(const char *path, const char *key, const char *json_value);
/* Entry for one result as JSON text (malloc'd; caller frees); indent = spaces before keys. */
char *report_json_entry(const eval_result *res, int indent);

#endif
