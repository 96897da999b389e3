/* Table-driven configuration (see config.h): defaults, INI files via libinih, --set overrides. */
#include "io/config.h"
#include "base/fault.h"
#include "base/status.h"
#include <ini.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_INT, KEY_LONG, KEY_DOUBLE, KEY_STR } key_type;

typedef struct {
    const char *section, *key;
    key_type type;
    size_t offset, size;     /* size: buffer size for KEY_STR */
    double min, max;         /* numeric range; ignored for strings */
    const char *choices;     /* "a|b|c" for enumerated strings, NULL = free text */
    const char *def;
    const char *help;
} key_spec;

#define F(sec, field) offsetof(rp_config, sec.field), sizeof(((rp_config *)0)->sec.field)
static const key_spec keys[] = {
    {"simulate", "scene", KEY_STR, F(simulate, scene), 0, 0, "digits|eyes|eyes-target", "digits", "scene to render"},
    {"simulate", "n", KEY_LONG, F(simulate, n), 1, 1e12, NULL, "20000", "images to simulate"},
    {"simulate", "seed", KEY_LONG, F(simulate, seed), 0, 9.2e18, NULL, "1", "simulator seed"},
    {"simulate", "height", KEY_INT, F(simulate, height), 0, 4096, NULL, "0", "image height (0 = scene default)"},
    {"simulate", "width", KEY_INT, F(simulate, width), 0, 4096, NULL, "0", "image width (0 = scene default)"},
    {"simulate", "chunk", KEY_LONG, F(simulate, chunk), 1, 1 << 20, NULL, "1024", "images per chunk"},
    {"refiner", "filters", KEY_INT, F(refiner, filters), 1, 1024, NULL, "32", "feature maps F"},
    {"refiner", "blocks", KEY_INT, F(refiner, blocks), 0, 16, NULL, "3", "ResNet blocks B"},
    {"refiner", "output", KEY_STR, F(refiner, output), 0, 0, "tanh|clamp", "clamp", "output non-linearity: tanh (the paper's) or clamp to [-1, 1]"},
    {"discriminator", "stride", KEY_INT, F(discriminator, stride), 1, 2, NULL, "2", "stride of D's first convolution: 2 (the paper's) or 1 (D sees every pixel's neighbourhood: pixel-level patterns such as checkerboards cannot hide from it; 4x D's arithmetic)"},
    {"discriminator", "optimizer", KEY_STR, F(discriminator, optimizer), 0, 0, "same|adam|sgd", "same", "discriminator optimizer (same = train.optimizer; learning rate: train.lr_disc)"},
    {"train", "batch", KEY_INT, F(train, batch), 2, 65536, NULL, "32", "mini-batch size b (even)"},
    {"train", "iterations", KEY_LONG, F(train, iterations), 0, 1e9, NULL, "2000", "adversarial iterations T"},
    {"train", "k_g", KEY_INT, F(train, k_g), 0, 1000, NULL, "1", "refiner steps per iteration"},
    {"train", "k_d", KEY_INT, F(train, k_d), 0, 1000, NULL, "1", "discriminator steps per iteration"},
    {"train", "lambda", KEY_DOUBLE, F(train, lambda), 0, 1e9, NULL, "2.0", "self-regularization weight"},
    {"train", "psi", KEY_STR, F(train, psi), 0, 0, "identity|cellmean", "cellmean", "self-regularization feature map"},
    {"train", "psi_cell", KEY_INT, F(train, psi_cell), 1, 64, NULL, "2", "cell size k for psi = cellmean"},
    {"train", "history_size", KEY_LONG, F(train, history_size), 0, 1e8, NULL, "0", "history buffer images (0 = 100 * batch)"},
    {"train", "optimizer", KEY_STR, F(train, optimizer), 0, 0, "adam|sgd", "adam", "optimizer for both networks"},
    {"train", "lr_refiner", KEY_DOUBLE, F(train, lr_refiner), 0, 10, NULL, "0.0002", "refiner learning rate"},
    {"train", "lr_disc", KEY_DOUBLE, F(train, lr_disc), 0, 10, NULL, "0.001", "discriminator learning rate"},
    {"train", "momentum", KEY_DOUBLE, F(train, momentum), 0, 0.9999, NULL, "0.9", "SGD momentum"},
    {"train", "beta1", KEY_DOUBLE, F(train, beta1), 0, 0.9999, NULL, "0.5", "Adam beta1"},
    {"train", "beta2", KEY_DOUBLE, F(train, beta2), 0, 0.99999, NULL, "0.999", "Adam beta2"},
    {"train", "pretrain_refiner_steps", KEY_LONG, F(train, pretrain_refiner_steps), 0, 1e9, NULL, "200", "refiner steps on self-regularization only"},
    {"train", "pretrain_disc_steps", KEY_LONG, F(train, pretrain_disc_steps), 0, 1e9, NULL, "100", "discriminator pretraining steps"},
    {"train", "checkpoint_every", KEY_LONG, F(train, checkpoint_every), 1, 1e9, NULL, "300", "steps between checkpoints (pretraining steps count)"},
    {"train", "keep_checkpoints", KEY_INT, F(train, keep_checkpoints), 1, 1000, NULL, "3", "checkpoints kept"},
    {"train", "sample_every", KEY_LONG, F(train, sample_every), 0, 1e9, NULL, "250", "steps between sample sheets (0 = off)"},
    {"train", "clip_grad_norm", KEY_DOUBLE, F(train, clip_grad_norm), 0, 1e9, NULL, "0", "gradient-norm clip (0 = off)"},
    {"train", "seed", KEY_LONG, F(train, seed), 0, 9.2e18, NULL, "1", "training seed"},
    {"train", "cache_mb", KEY_LONG, F(train, cache_mb), 0, 1e7, NULL, "1024", "datasets up to this many MB are read into memory once; larger ones stream"},
    {"train", "sample_images", KEY_INT, F(train, sample_images), 1, 64, NULL, "8", "images per row of the sample sheets"},
    {"train", "label_guard", KEY_DOUBLE, F(train, label_guard), 0, 1e9, NULL, "1.5", "label guard: before each checkpoint, a probe network trained on the synthetic labels scores held-out rows as simulated and as refined; a checkpoint whose error ratio exceeds this is not written, and a second such check in a row stops training (0 = off)"},
    {"train", "guard_steps", KEY_LONG, F(train, guard_steps), 1, 1e9, NULL, "400", "label guard: training steps of its probe network"},
    {"train", "guard_rows", KEY_LONG, F(train, guard_rows), 1, 1e9, NULL, "500", "label guard: probe rows held out and scored"},
    {"refine", "batch", KEY_INT, F(refine, batch), 1, 65536, NULL, "256", "images per forward batch"},
    {"refine", "chunk", KEY_LONG, F(refine, chunk), 1, 1 << 20, NULL, "1024", "images per output chunk (resume unit)"},
    {"eval", "steps", KEY_LONG, F(eval, steps), 1, 1e9, NULL, "2000", "evaluation-network training steps"},
    {"eval", "batch", KEY_INT, F(eval, batch), 1, 65536, NULL, "64", "evaluation batch size"},
    {"eval", "lr", KEY_DOUBLE, F(eval, lr), 0, 10, NULL, "0.001", "evaluation learning rate (Adam)"},
    {"eval", "lr_schedule", KEY_STR, F(eval, lr_schedule), 0, 0, "cosine|constant", "cosine", "learning rate over the steps: cosine decays eval.lr to 0 (steadier scores), constant keeps it"},
    {"eval", "seed", KEY_LONG, F(eval, seed), 0, 9.2e18, NULL, "1", "evaluation seed"},
    {"eval", "repeats", KEY_INT, F(eval, repeats), 1, EVAL_MAX_REPEATS, NULL, "1", "train the task network and the domain classifier with seeds seed, seed+1, ... this many times and report the means and every seed's result"},
    {"eval", "domain_steps", KEY_LONG, F(eval, domain_steps), 1, 1e9, NULL, "500", "domain-classifier training steps"},
    {"eval", "domain_rows", KEY_LONG, F(eval, domain_rows), 4, 1e9, NULL, "5000", "rows per side for the domain classifier (half held out)"},
    {"eval", "frechet_rows", KEY_LONG, F(eval, frechet_rows), 2, 1e9, NULL, "5000", "rows per side for the Frechet statistics"},
    {"eval", "consistency_steps", KEY_LONG, F(eval, consistency_steps), 1, 1e9, NULL, "1000", "label consistency of a refined set: training steps of the probe network (trained on the synthetic labels, scored on held-out rows as simulated and as refined)"},
    {"eval", "consistency_rows", KEY_LONG, F(eval, consistency_rows), 1, 1e9, NULL, "2000", "label consistency: probe rows held out of training and scored"},
    {"eval", "cache_mb", KEY_LONG, F(eval, cache_mb), 0, 1e7, NULL, "1024", "in-memory image cache per dataset (MB)"},
    {"run", "synthetic", KEY_STR, F(run, synthetic), 0, 0, NULL, "", "your own labeled synthetic set (refine-dataset) to refine instead of simulating one; empty = simulate"},
    {"run", "real", KEY_STR, F(run, real), 0, 0, NULL, "data/mnist-real.h5", "real pool for the discriminator"},
    {"run", "test", KEY_STR, F(run, test), 0, 0, NULL, "data/mnist-test.h5", "labeled real test set (empty = none: no accuracy, realism only)"},
    {"run", "label", KEY_STR, F(run, label), 0, 0, NULL, "class", "label evaluated"},
};
#undef F
#define NKEYS (sizeof keys / sizeof keys[0])

static const key_spec *find_key(const char *section, const char *key) {
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key)) return &keys[i];
    return NULL;
}

static int section_known(const char *section) {
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section)) return 1;
    return 0;
}

static int choice_ok(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

/* Does "key = value" read back through libinih as exactly this value? It strips leading and
 * trailing spaces, ends the value at a ';' after a space (an inline comment), splits it at line
 * breaks and reads lines of at most 199 characters (INI_MAX_LINE): a value it would change
 * cannot be stored in the INI text that run directories, checkpoints and datasets keep. */
typedef struct {
    const char *key, *value;
    int calls, same;
} echo_ctx;

static int on_echo(void *user, const char *section, const char *name, const char *value) {
    (void)section;
    echo_ctx *e = user;
    e->same = ++e->calls == 1 && !strcmp(name, e->key) && !strcmp(value, e->value);
    return 1;
}

static int ini_storable(const key_spec *k, const char *value) {
    char line[512];
    if ((size_t)snprintf(line, sizeof line, "%s = %s\n", k->key, value) >= sizeof line) return 0;
    echo_ctx e = {k->key, value, 0, 0};
    return ini_parse_string(line, on_echo, &e) == 0 && e.calls == 1 && e.same;
}

static int set_key(rp_config *c, const key_spec *k, const char *value) {
    char *base = (char *)c + k->offset;
    if (k->type == KEY_STR) {
        if (k->choices && !choice_ok(k->choices, value))
            return rp_err(RP_EARG, "%s.%s: expected one of %s, got \"%s\"", k->section, k->key, k->choices, value);
        if (strlen(value) >= k->size)
            return rp_err(RP_EARG, "%s.%s: value longer than %zu characters", k->section, k->key, k->size - 1);
        if (!ini_storable(k, value))
            return rp_err(RP_EARG, "%s.%s: \"%s\" cannot be stored in the configuration's INI text (no line breaks, "
                          "no leading or trailing spaces, no ';' after a space, at most %zu characters)", k->section,
                          k->key, value, (size_t)196 - strlen(k->key));
        strcpy(base, value);
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (end == value || *end || errno || !isfinite(v))
        return rp_err(RP_EARG, "%s.%s: expected a number, got \"%s\"", k->section, k->key, value);
    if ((k->type == KEY_INT || k->type == KEY_LONG) && v != floor(v))
        return rp_err(RP_EARG, "%s.%s: expected a whole number, got \"%s\"", k->section, k->key, value);
    if (v < k->min || v > k->max)
        return rp_err(RP_EARG, "%s.%s: %s is out of range [%g, %g]", k->section, k->key, value, k->min, k->max);
    if (k->type == KEY_INT) *(int *)base = (int)v;
    else if (k->type == KEY_LONG) *(long *)base = (long)v;
    else *(double *)base = v;
    return 0;
}

void config_defaults(rp_config *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = set_key(c, &keys[i], keys[i].def);
        (void)rc;
    }
}

static int unknown_key(const char *section, const char *key, const char *where) {
    if (!section_known(section))
        return rp_err(RP_EARG, "%sunknown section [%s] (known: simulate, refiner, discriminator, train, refine, eval, run)",
                      where, section);
    char known[1024] = "";
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section)) {
            if (known[0]) strncat(known, ", ", sizeof known - strlen(known) - 1);
            strncat(known, keys[i].key, sizeof known - strlen(known) - 1);
        }
    return rp_err(RP_EARG, "%sunknown key %s.%s (known keys in [%s]: %s)", where, section, key, section, known);
}

int config_set(rp_config *c, const char *dotted_key, const char *value) {
    char section[64];
    const char *dot = strchr(dotted_key, '.');
    if (!dot || dot == dotted_key || (size_t)(dot - dotted_key) >= sizeof section)
        return rp_err(RP_EARG, "\"%s\": expected section.key", dotted_key);
    memcpy(section, dotted_key, dot - dotted_key);
    section[dot - dotted_key] = 0;
    const key_spec *k = find_key(section, dot + 1);
    if (!k) return unknown_key(section, dot + 1, "");
    return set_key(c, k, value);
}

int config_set_arg(rp_config *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return rp_err(RP_EARG, "--set %s: expected section.key=value", assignment);
    char key[128];
    if ((size_t)(eq - assignment) >= sizeof key) return rp_err(RP_EARG, "--set %s: key too long", assignment);
    memcpy(key, assignment, eq - assignment);
    key[eq - assignment] = 0;
    int rc = config_set(c, key, eq + 1);
    return rc ? rp_err_prefix(rc, "--set: ") : 0;
}

typedef struct {
    rp_config *c;
    const char *origin;
    int rc;
} ini_ctx;

/* Debian's inih passes no line number to the handler; ini_parse_* returns the line of the
 * first error, so finish_parse() adds "origin:line: " to the handler's message. */
static int on_ini_key(void *user, const char *section, const char *name, const char *value) {
    ini_ctx *ctx = user;
    if (ctx->rc) return 0;
    const key_spec *k = find_key(section, name);
    ctx->rc = k ? set_key(ctx->c, k, value) : unknown_key(section, name, "");
    return ctx->rc == 0;
}

static int finish_parse(ini_ctx *ctx, int r) {
    if (ctx->rc) return rp_err_prefix(ctx->rc, "%s:%d: ", ctx->origin, r);
    if (r < 0) return rp_err(RP_EIO, "%s: cannot read config file", ctx->origin);
    if (r > 0) return rp_err(RP_EARG, "%s:%d: syntax error (expected [section] or key = value)", ctx->origin, r);
    return 0;
}

int config_load_file(rp_config *c, const char *path) {
    ini_ctx ctx = {c, path, 0};
    FILE *f = fopen(path, "r");
    if (!f) return rp_err(RP_EIO, "%s: cannot open config file: %s", path, strerror(errno));
    int r = ini_parse_file(f, on_ini_key, &ctx);
    fclose(f);
    return finish_parse(&ctx, r);
}

int config_load_string(rp_config *c, const char *ini_text, const char *origin) {
    ini_ctx ctx = {c, origin, 0};
    return finish_parse(&ctx, ini_parse_string(ini_text, on_ini_key, &ctx));
}

/* "key = value" for one key, the value written so that it reads back exactly. */
static int format_key(char *line, size_t n, const key_spec *k, const rp_config *c) {
    const char *base = (const char *)c + k->offset;
    if (k->type == KEY_STR) return snprintf(line, n, "%s = %s\n", k->key, base);
    if (k->type == KEY_INT) return snprintf(line, n, "%s = %d\n", k->key, *(const int *)base);
    if (k->type == KEY_LONG) return snprintf(line, n, "%s = %ld\n", k->key, *(const long *)base);
    /* shortest of %.15g / %.17g that reads back to the same double */
    double v = *(const double *)base;
    char num[40];
    snprintf(num, sizeof num, "%.15g", v);
    if (strtod(num, NULL) != v) snprintf(num, sizeof num, "%.17g", v);
    return snprintf(line, n, "%s = %s\n", k->key, num);
}

/* A key's comment: what it means, its default and what it accepts, as "# " lines of at most
 * about 100 columns (INI readers limit line lengths: libinih's default is 200). */
static int describe_key(char *line, size_t n, const key_spec *k) {
    char text[600];
    if (k->type == KEY_STR)
        snprintf(text, sizeof text, "%s (default %s%s%s)", k->help, k->def[0] ? k->def : "\"\"",
                 k->choices ? "; one of " : "", k->choices ? k->choices : "");
    else
        snprintf(text, sizeof text, "%s (default %s; %s %.15g to %.15g)", k->help, k->def,
                 k->type == KEY_DOUBLE ? "from" : "an integer from", k->min, k->max);
    int m = 0;
    for (const char *p = text; *p && (size_t)m < n;) {
        size_t len = strlen(p), cut = len;
        if (len > 98) { /* break at the last space before column 98 */
            cut = 98;
            while (cut > 0 && p[cut] != ' ') cut--;
            if (cut == 0) cut = 98;
        }
        m += snprintf(line + m, n - m, "# %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ') p++;
    }
    return m;
}

static char *write_ini(const rp_config *c, int comments) {
    size_t cap = 8192, len = 0;
    char *s = rp_malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    const char *cur = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const key_spec *k = &keys[i];
        char line[1024];
        int n = 0;
        if (strcmp(cur, k->section)) {
            n += snprintf(line + n, sizeof line - n, "%s[%s]\n", len ? "\n" : "", k->section);
            cur = k->section;
        }
        if (comments) n += describe_key(line + n, sizeof line - n, k);
        n += format_key(line + n, sizeof line - n, k, c);
        if (len + n + 1 > cap) {
            char *t = rp_realloc(s, cap *= 2);
            if (!t) { free(s); return NULL; }
            s = t;
        }
        memcpy(s + len, line, n + 1);
        len += n;
    }
    return s;
}

char *config_to_ini(const rp_config *c) { return write_ini(c, 0); }

char *config_to_ini_commented(const rp_config *c) { return write_ini(c, 1); }
