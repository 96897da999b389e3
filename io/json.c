/* JSON text for report files (see json.h): a growable string buffer with JSON literals, an RFC 8259
 * syntax check, an object splitter that keeps each member's raw text (so an updater can rewrite
 * one member and copy the rest verbatim), and whole-file read / atomic write. */
#include "io/json.h"
#include "base/atomic.h"
#include "base/fault.h"
#include "base/status.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- growable string */
void json_printf(json_buf *b, const char *fmt, ...) {
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
        char *s = rp_realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
}

/* Byte for byte, NULs included: "%.*s" would stop at a NUL, and a file read through it would
 * lose everything after one (found by fuzz_json). */
void json_raw(json_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (!b->s || b->n + n >= b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + n;
        char *t = rp_realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t, b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

/* JSON string literal with escapes (input taken as UTF-8 bytes). */
void json_str(json_buf *b, const char *s) {
    json_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') json_printf(b, "\\%c", *p);
        else if (*p == '\n') json_printf(b, "\\n");
        else if (*p == '\t') json_printf(b, "\\t");
        else if (*p < 0x20) json_printf(b, "\\u%04x", *p);
        else json_printf(b, "%c", *p);
    }
    json_printf(b, "\"");
}

void json_num(json_buf *b, double v) {
    if (isfinite(v)) json_printf(b, "%.9g", v);
    else json_printf(b, "null"); /* JSON has no NaN/Inf */
}

/* "[v0, v1, ...]" */
void json_nums(json_buf *b, const double *v, int n) {
    json_printf(b, "[");
    for (int i = 0; i < n; i++) {
        if (i) json_printf(b, ", ");
        json_num(b, v[i]);
    }
    json_printf(b, "]");
}

/* ---------------------------------------------------------------- JSON syntax check / split */
typedef struct {
    const char *s;
    size_t n, i;
} jp;

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
static int jobject(jp *p, int depth, json_member **m, int *count) {
    if (p->i >= p->n || p->s[p->i] != '{') return jfail(p, "expected an object");
    p->i++;
    jws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 0;
    }
    for (;;) {
        jws(p);
        json_member mb;
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
            json_member *g = rp_realloc(*m, (*count + 1) * sizeof *g);
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

int json_check(const char *text, size_t len) {
    jp p = {text, len, 0};
    if (jvalue(&p, 0)) return RP_EFORMAT;
    jws(&p);
    return p.i == p.n ? 0 : jfail(&p, "trailing characters after the value");
}

int json_split_object(const char *text, size_t start, size_t end, json_member **m, int *count) {
    jp p = {text, end, start};
    *m = NULL, *count = 0;
    return jobject(&p, 0, m, count);
}

/* ---------------------------------------------------------------- files */
int json_read_file(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 1;
        return rp_err(RP_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    json_buf b = {0};
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) json_raw(&b, buf, k);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        free(b.s);
        return bad ? rp_err(RP_EIO, "%s: cannot read", path) : rp_err(RP_ENOMEM, "%s: out of memory reading it", path);
    }
    *text = b.s ? b.s : calloc(1, 1);
    *len = b.n;
    return *text ? 0 : rp_err(RP_ENOMEM, "%s: out of memory", path);
}

int json_write_file(const char *path, const char *text, size_t len) { return rp_atomic_write(path, text, len); }

int json_key_is(const char *text, const json_member *m, const char *key) {
    json_buf e = {0};
    json_str(&e, key);
    if (e.oom) {
        free(e.s);
        return rp_err(RP_ENOMEM, "out of memory comparing JSON keys");
    }
    int same = e.n - 2 == m->key_end - m->key && !memcmp(e.s + 1, text + m->key, e.n - 2);
    free(e.s);
    return same;
}

