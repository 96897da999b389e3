/* report.json (see eval.h): a small JSON writer for evaluation entries, and an updater that
 * keeps whatever the file already holds. Rather than parsing JSON into a tree, the updater
 * validates the file and splits its top-level object (and the "evaluations" object) into
 * members whose raw text is copied verbatim; only the member being set is rewritten. The file
 * is replaced atomically (temp + rename), so readers never see half a report. */
#include "eval/eval.h"
#include "base/status.h"
#include "eval/evalnet.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- growable string */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + k < b->cap) {
            b->n += k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 256) + k;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

static void sb_raw(sbuf *b, const char *s, size_t n) { sb_printf(b, "%.*s", (int)n, s); }

/* JSON string literal with escapes (input taken as UTF-8 bytes). */
static void sb_str(sbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(b, "\\%c", *p);
        else if (*p == '\n') sb_printf(b, "\\n");
        else if (*p == '\t') sb_printf(b, "\\t");
        else if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
        else sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

static void sb_num(sbuf *b, double v) {
    if (isfinite(v)) sb_printf(b, "%.9g", v);
    else sb_printf(b, "null"); /* JSON has no NaN/Inf */
}

/* "[v0, v1, ...]" */
static void sb_nums(sbuf *b, const double *v, int n) {
    sb_printf(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) sb_printf(b, ", ");
        sb_num(b, v[i]);
    }
    sb_printf(b, "]");
}

/* ---------------------------------------------------------------- the entry */
char *report_json_entry(const eval_result *r, int indent) {
    sbuf b = {0};
    int in = indent + 2;
#define KEY(k) sb_printf(&b, ",\n%*s\"%s\": ", in, "", k)
    sb_printf(&b, "{\n%*s\"train\": ", in, "");
    sb_str(&b, r->train);
    KEY("test"), sb_str(&b, r->test);
    KEY("label"), sb_str(&b, r->label);
    KEY("task"), sb_str(&b, r->task == EVAL_CLASSIFY ? "classification" : "regression");
    KEY("images"), sb_printf(&b, "{\"channels\": %d, \"height\": %d, \"width\": %d}", r->C, r->H, r->W);
    KEY("n_train"), sb_printf(&b, "%ld", r->n_train);
    KEY("n_test"), sb_printf(&b, "%ld", r->n_test);
    KEY("recipe"), sb_printf(&b, "{\"network\": \"%s\", \"steps\": %ld, \"batch\": %d, \"optimizer\": \"adam\", "
                                 "\"lr\": ", EVALNET_ARCH, r->steps, r->batch);
    sb_num(&b, r->lr);
    sb_printf(&b, ", \"lr_schedule\": \"%s\", \"seed\": %llu, \"repeats\": %d}", eval_lr_schedule_name(r->lr_cosine),
              (unsigned long long)r->seed, r->repeats);
    KEY("train_loss"), sb_num(&b, r->train_loss);
    KEY("metric"), sb_str(&b, r->metric);
    KEY("value"), sb_num(&b, r->value);
    KEY(r->metric), sb_num(&b, r->value);
    KEY("values"), sb_nums(&b, r->values, r->repeats);
    if (r->task == EVAL_CLASSIFY) {
        if (r->repeats <= 1) KEY("correct"), sb_printf(&b, "%ld", r->correct); /* a count of one seed's hits */
        KEY("classes"), sb_printf(&b, "%d", r->outputs);
        KEY("class_accuracy"), sb_nums(&b, r->class_accuracy, r->outputs);
        KEY("class_count"), sb_printf(&b, "[");
        for (int k = 0; k < r->outputs; k++) sb_printf(&b, "%s%ld", k ? ", " : "", r->class_count[k]);
        sb_printf(&b, "]");
    } else {
        KEY("outputs"), sb_printf(&b, "%d", r->outputs);
    }
    KEY("realism");
    if (!r->has_real) {
        sb_printf(&b, "null");
    } else {
        int in2 = in + 2;
        sb_printf(&b, "{\n%*s\"real\": ", in2, "");
        sb_str(&b, r->real);
        sb_printf(&b, ",\n%*s\"domain_accuracy\": ", in2, ""), sb_num(&b, r->domain_accuracy);
        sb_printf(&b, ",\n%*s\"domain_values\": ", in2, ""), sb_nums(&b, r->domain_values, r->repeats);
        sb_printf(&b, ",\n%*s\"domain_heldout_per_side\": %ld", in2, "", r->domain_heldout);
        sb_printf(&b, ",\n%*s\"domain_steps\": %ld", in2, "", r->domain_steps);
        sb_printf(&b, ",\n%*s\"frechet_distance\": ", in2, ""), sb_num(&b, r->frechet);
        sb_printf(&b, ",\n%*s\"frechet_rows_real\": %ld", in2, "", r->frechet_n_real);
        sb_printf(&b, ",\n%*s\"frechet_rows_train\": %ld", in2, "", r->frechet_n_train);
        sb_printf(&b, ",\n%*s\"features\": ", in2, ""), sb_str(&b, r->feature_source);
        sb_printf(&b, ",\n%*s\"histogram_l1\": ", in2, ""), sb_num(&b, r->hist_l1);
        sb_printf(&b, ",\n%*s\"histogram_w1\": ", in2, ""), sb_num(&b, r->hist_w1);
        sb_printf(&b, ",\n%*s\"histogram\": \"256-bin pixel intensities; l1: L1 distance of the normalised histograms "
                      "(0..2); w1: Wasserstein-1 in intensity units (0..1)\"", in2, "");
        sb_printf(&b, "\n%*s}", in, "");
    }
    KEY("seconds"), sb_num(&b, r->seconds);
    sb_printf(&b, "\n%*s}", indent, "");
#undef KEY
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- JSON syntax check / split */
typedef struct {
    const char *s;
    size_t n, i;
} jp;

typedef struct {
    size_t key, key_end; /* raw key content, without the quotes */
    size_t val, val_end;
} jmember;

static void jws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int jfail(jp *p, const char *what) {
    return rp_err(RP_EFORMAT, "invalid JSON at byte %zu: %s", p->i, what);
}

static int jstring(jp *p) {
    if (p->i >= p->n || p->s[p->i] != '"') return jfail(p, "expected a string");
    for (p->i++; p->i < p->n; p->i++) {
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return 0;
        }
        if (c < 0x20) return jfail(p, "control character in a string");
        if (c != '\\') continue;
        if (++p->i >= p->n) break;
        c = p->s[p->i];
        if (c == 'u') {
            for (int k = 0; k < 4; k++)
                if (++p->i >= p->n || !strchr("0123456789abcdefABCDEF", p->s[p->i]) || !p->s[p->i])
                    return jfail(p, "bad \\u escape");
        } else if (!strchr("\"\\/bfnrt", c) || !c) {
            return jfail(p, "bad escape");
        }
    }
    return jfail(p, "unterminated string");
}

static int jdigits(jp *p) {
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    return p->i > start ? 0 : jfail(p, "expected a digit");
}

static int jnumber(jp *p) {
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i < p->n && p->s[p->i] == '0') p->i++;
    else if (jdigits(p)) return RP_EFORMAT;
    if (p->i < p->n && p->s[p->i] == '.' && (p->i++, jdigits(p))) return RP_EFORMAT;
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (jdigits(p)) return RP_EFORMAT;
    }
    return 0;
}

static int jvalue(jp *p, int depth);

/* Object at p->i; members recorded into *m (grown with realloc) when m != NULL. */
static int jobject(jp *p, int depth, jmember **m, int *count) {
    if (p->i >= p->n || p->s[p->i] != '{') return jfail(p, "expected an object");
    p->i++;
    jws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 0;
    }
    for (;;) {
        jws(p);
        jmember mb;
        mb.key = p->i + 1;
        if (jstring(p)) return RP_EFORMAT;
        mb.key_end = p->i - 1;
        jws(p);
        if (p->i >= p->n || p->s[p->i] != ':') return jfail(p, "expected ':'");
        p->i++;
        jws(p);
        mb.val = p->i;
        if (jvalue(p, depth + 1)) return RP_EFORMAT;
        mb.val_end = p->i;
        if (m) {
            jmember *g = realloc(*m, (*count + 1) * sizeof *g);
            if (!g) return rp_err(RP_ENOMEM, "out of memory reading JSON");
            *m = g;
            g[(*count)++] = mb;
        }
        jws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return 0;
        }
        return jfail(p, "expected ',' or '}'");
    }
}

static int jvalue(jp *p, int depth) {
    if (depth > 64) return jfail(p, "nested too deeply");
    jws(p);
    if (p->i >= p->n) return jfail(p, "unexpected end");
    char c = p->s[p->i];
    if (c == '{') return jobject(p, depth, NULL, NULL);
    if (c == '"') return jstring(p);
    if (c == '[') {
        p->i++;
        jws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return 0;
        }
        for (;;) {
            if (jvalue(p, depth + 1)) return RP_EFORMAT;
            jws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
                return 0;
            }
            return jfail(p, "expected ',' or ']'");
        }
    }
    static const char *lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (p->n - p->i >= l && !strncmp(p->s + p->i, lits[k], l)) {
            p->i += l;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p);
    return jfail(p, "unexpected character");
}

int report_json_check(const char *text, size_t len) {
    jp p = {text, len, 0};
    if (jvalue(&p, 0)) return RP_EFORMAT;
    jws(&p);
    return p.i == p.n ? 0 : jfail(&p, "trailing characters after the value");
}

/* Splits the object spanning text[start, end) into members. */
static int split_object(const char *text, size_t start, size_t end, jmember **m, int *count) {
    jp p = {text, end, start};
    *m = NULL, *count = 0;
    return jobject(&p, 0, m, count);
}

/* ---------------------------------------------------------------- update in place */
/* 0 with *text malloc'd, 1 if the file does not exist, or an error. */
static int read_all(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 1;
        return rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    sbuf b = {0};
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) sb_raw(&b, buf, k);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        free(b.s);
        return rp_err(bad ? RP_EIO : RP_ENOMEM, "%s: cannot read", path);
    }
    *text = b.s ? b.s : calloc(1, 1);
    *len = b.n;
    return *text ? 0 : rp_err(RP_ENOMEM, "%s: out of memory", path);
}

static int write_atomic(const char *path, const char *text, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return rp_err(RP_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int bad = fwrite(text, 1, len, f) != len;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return rp_err(RP_EIO, "%s: writing failed: %s", path, strerror(e));
    }
    return 0;
}

/* Does member m's raw key equal `key` (compared in escaped form)? */
static int key_is(const char *text, const jmember *m, const char *key) {
    sbuf e = {0};
    sb_str(&e, key);
    int same = !e.oom && e.n - 2 == m->key_end - m->key && !memcmp(e.s + 1, text + m->key, e.n - 2);
    free(e.s);
    return same;
}

static void put_member(sbuf *b, int indent, const char *text, const jmember *m, const char *key, const char *value) {
    sb_printf(b, "%*s", indent, "");
    if (m) sb_printf(b, "\"%.*s\": ", (int)(m->key_end - m->key), text + m->key);
    else sb_str(b, key), sb_printf(b, ": ");
    if (value) sb_printf(b, "%s", value);
    else sb_raw(b, text + m->val, m->val_end - m->val);
}

/* Sets key (inside the object member `section` when non-NULL) to the JSON text value. */
static int update(const char *path, const char *section, const char *key, const char *value) {
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(path, &text, &len);
    if (rc < 0) return rc;
    jmember *top = NULL, *sec = NULL;
    int ntop = 0, nsec = 0;
    if (rc == 0) {
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", text[i]) && text[i]) i++;
        if ((rc = report_json_check(text, len))) rc = rp_err_prefix(RP_EFORMAT, "%s: ", path);
        else if (i >= len || text[i] != '{')
            rc = rp_err(RP_EFORMAT, "%s: expected a JSON object at the top level (a report written by eval)", path);
        else rc = split_object(text, i, len, &top, &ntop);
    } else {
        rc = 0;
    }
    sbuf b = {0};
    sb_printf(&b, "{\n");
    if (!text) sb_printf(&b, "  \"refine_report\": 1");
    int found = 0, any = !text;
    const char *target = section ? section : key;
    for (int t = 0; !rc && t <= ntop; t++) {
        const jmember *m = t < ntop ? &top[t] : NULL;
        if (!m && found) break;
        int hit = !m || key_is(text, m, target);
        if (any) sb_printf(&b, ",\n");
        any = 1;
        if (!hit) {
            put_member(&b, 2, text, m, NULL, NULL);
            continue;
        }
        found = 1;
        if (!section) {
            put_member(&b, 2, text, NULL, key, value);
            continue;
        }
        /* merge into the section object */
        if (m && (text[m->val] != '{' || (rc = split_object(text, m->val, m->val_end, &sec, &nsec)))) {
            rc = rp_err(RP_EFORMAT, "%s: \"%s\": expected an object", path, section);
            break;
        }
        sb_printf(&b, "  ");
        sb_str(&b, section);
        sb_printf(&b, ": {\n");
        int sfound = 0;
        for (int j = 0; j < nsec; j++) {
            int shit = key_is(text, &sec[j], key);
            sfound |= shit;
            put_member(&b, 4, text, &sec[j], NULL, shit ? value : NULL);
            sb_printf(&b, j + 1 < nsec || !sfound ? ",\n" : "\n");
        }
        if (!sfound) put_member(&b, 4, text, NULL, key, value), sb_printf(&b, "\n");
        sb_printf(&b, "  }");
    }
    sb_printf(&b, "\n}\n");
    if (!rc && b.oom) rc = rp_err(RP_ENOMEM, "%s: out of memory", path);
    if (!rc && report_json_check(b.s, b.n)) rc = rp_err(RP_EINTERNAL, "%s: produced invalid JSON", path);
    if (!rc) rc = write_atomic(path, b.s, b.n);
    free(b.s), free(text), free(top), free(sec);
    return rc;
}

int report_json_update(const char *path, const char *name, const eval_result *res) {
    char *entry = report_json_entry(res, 4);
    if (!entry) return rp_err(RP_ENOMEM, "%s: out of memory", path);
    int rc = update(path, "evaluations", name && name[0] ? name : "default", entry);
    free(entry);
    return rc;
}

int report_json_set(const char *path, const char *key, const char *json_value) {
    if (report_json_check(json_value, strlen(json_value)))
        return rp_err_prefix(RP_EARG, "%s: value for \"%s\": ", path, key);
    return update(path, NULL, key, json_value);
}
