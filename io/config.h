/* The effective configuration: every key of every section in one plain struct, described by
 * one table (section, key, type, range, default, help). Values come from the table's defaults,
 * then an INI file (libinih), then --set section.key=value overrides, all through one setter
 * that rejects unknown keys and out-of-range values by name. config_to_ini() writes the
 * effective config back (stored in run dirs, checkpoints and dataset provenance).
 * To add a key: add a field here and one row to the table in config.c. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H
#include <stddef.h>

#define EVAL_MAX_REPEATS 64 /* eval.repeats: task-network seeds per evaluation */

typedef struct {
    struct {
        char scene[16];        /* digits | eyes | eyes-target */
        long n;                /* images to simulate */
        long seed;
        int height, width;     /* 0 = the scene's native size */
        long chunk;            /* images per HDF5 chunk / write batch */
    } simulate;
    struct {
        int filters;           /* F */
        int blocks;            /* B */
        char output[8];        /* tanh | clamp */
    } refiner;
    struct {
        char optimizer[8];     /* same | adam | sgd: D's optimizer ("same" = train.optimizer) */
        int stride;            /* stride of D's first convolution: 2 (the paper's) or 1 */
    } discriminator;
    struct {
        int batch;             /* b */
        long iterations;       /* T */
        int k_g, k_d;
        double lambda;         /* self-regularization weight; see docs/training.md for the reduction */
        char psi[16];          /* identity | cellmean */
        int psi_cell;          /* k for psi = cellmean */
        long history_size;     /* B images; 0 = 100 * batch */
        char optimizer[8];     /* adam | sgd */
        double lr_refiner, lr_disc;
        double momentum;       /* sgd */
        double beta1, beta2;   /* adam */
        long pretrain_refiner_steps, pretrain_disc_steps;
        long checkpoint_every;
        int keep_checkpoints;
        long sample_every;
        double clip_grad_norm; /* 0 = off */
        long seed;
        long cache_mb;         /* datasets up to this size are held in memory; larger ones stream */
        int sample_images;     /* columns of the sample sheets */
        double label_guard;    /* stop when label consistency's ratio exceeds this (0 = off) */
        long guard_steps;      /* the guard's probe network: training steps */
        long guard_rows;       /* the guard's probe rows */
    } train;
    struct {
        int batch;             /* images per forward batch */
        long chunk;            /* images per output chunk (the resume unit) */
    } refine;
    struct {
        long steps;            /* evaluation-network training steps */
        int batch;
        double lr;
        char lr_schedule[16];  /* "cosine" (decays to 0 over the steps) or "constant" */
        long seed;
        int repeats;           /* task network trained with seeds seed .. seed+repeats-1; mean reported */
        long domain_steps;     /* domain-classifier training steps */
        long domain_rows;      /* rows per side for the domain classifier (half train, half held out) */
        long frechet_rows;     /* rows per side for the Fréchet feature statistics */
        long consistency_steps; /* label-consistency probe network's training steps */
        long consistency_rows;  /* probe rows held out of its training and scored as simulated and refined */
        long cache_mb;         /* in-memory image cache per dataset (MB); larger files stream */
    } eval;
    struct {
        char synthetic[256];   /* the user's synthetic set; "" = simulate one into the run directory */
        char real[256];        /* real pool (unlabeled) for D */
        char test[256];        /* labeled real test set; "" = none (realism and label consistency only) */
        char label[32];        /* label used by eval */
    } run;
} rp_config;

void config_defaults(rp_config *c);
/* "section.key", "value" -> 0, or RP_EARG with a message naming the key and the valid range. */
int config_set(rp_config *c, const char *dotted_key, const char *value);
/* "section.key=value" (as given to --set). */
int config_set_arg(rp_config *c, const char *assignment);
/* Reads an INI file; unknown sections/keys and bad values are errors naming file:line and key. */
int config_load_file(rp_config *c, const char *path);
/* Loads the INI text stored in a file's provenance or a checkpoint. */
int config_load_string(rp_config *c, const char *ini_text, const char *origin);
/* Writes the full effective config as INI text into a malloc'd string (caller frees). */
char *config_to_ini(const rp_config *c);
/* The same with a comment above every key: its meaning, default and accepted values. */
char *config_to_ini_commented(const rp_config *c);

#endif
