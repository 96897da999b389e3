/* Label columns from other tools' files for `import --labels` (see import_labels.h). */
#include "pipelines/import_labels.h"
#include "base/status.h"
#include "io/h5util.h"
#include "io/idx.h"
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_COLS 64

void import_label_free(import_label *L) {
    if (L->keys)
        for (long i = 0; i < L->n; i++) free(L->keys[i]);
    free(L->keys), free(L->by_key), free(L->values);
    memset(L, 0, sizeof *L);
}

/* Integers that fit int32 in a single column become classes; anything else float32 values. */
static int store_int64(import_label *L, const int64_t *v, long n, int k) {
    int classes = k == 1;
    for (long i = 0; classes && i < n; i++) classes = v[i] >= 0 && v[i] <= INT32_MAX;
    L->n = n, L->cols = k, L->dtype = classes ? H5DS_INT32 : H5DS_FLOAT32;
    L->values = malloc((size_t)n * k * 4);
    if (!L->values) return rp_err(RP_ENOMEM, "%s: out of memory for %ld labels", L->spec, n);
    for (size_t i = 0; i < (size_t)n * k; i++) {
        if (classes) ((int32_t *)L->values)[i] = (int32_t)v[i];
        else ((float *)L->values)[i] = (float)v[i];
    }
    return 0;
}

static int from_hdf5(import_label *L, const char *file, const char *dataset) {
    int is_int, k;
    long n;
    void *v;
    int rc = h5u_read_table(file, dataset, &is_int, &n, &k, &v);
    if (rc) return rc;
    if (is_int) rc = store_int64(L, v, n, k);
    else L->values = v, v = NULL, L->n = n, L->cols = k, L->dtype = H5DS_FLOAT32;
    for (size_t i = 0; !rc && !is_int && i < (size_t)n * k; i++)
        if (!isfinite(((float *)L->values)[i]))
            rc = rp_err(RP_EFORMAT, "%s: %s: row %zu is not finite", file, dataset, i / k);
    free(v);
    return rc;
}

static int from_idx(import_label *L, const char *file) {
    idx_file *f;
    int rc = idx_open(&f, file);
    if (rc) return rc;
    long n = idx_dims(f)[0], k = idx_item_size(f);
    uint8_t *raw = NULL;
    int64_t *v = NULL;
    if (idx_rank(f) > 2 || k > MAX_COLS)
        rc = rp_err(RP_EFORMAT, "%s: labels must have shape (N) or (N, k) with k <= %d, found rank %d", file, MAX_COLS,
                    idx_rank(f));
    else if (!(raw = malloc((size_t)n * k)) || !(v = malloc((size_t)n * k * sizeof *v)))
        rc = rp_err(RP_ENOMEM, "%s: out of memory for %ld labels", file, n);
    else if (!(rc = idx_read(f, n, raw))) {
        for (size_t i = 0; i < (size_t)n * k; i++) v[i] = raw[i];
        rc = store_int64(L, v, n, (int)k);
    }
    idx_close(f);
    free(raw), free(v);
    return rc;
}

/* ---------------------------------------------------------------- CSV */
/* Splits one line into fields (RFC 4180 quotes: "a,b" and "" inside quotes), in place. */
static int csv_fields(char *line, char **field, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return -1;
        if (*p == '"') {
            char *w = field[n++] = ++p;
            for (;;) {
                if (!*p) return -1; /* unterminated quote */
                if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
                else if (*p == '"') break;
                else *w++ = *p++;
            }
            p++;
            *w = 0;
            if (*p && *p != ',') return -1;
        } else {
            field[n++] = p;
            while (*p && *p != ',') p++;
        }
        if (!*p) return n;
        *p++ = 0;
    }
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n')) s[--l] = 0;
    return s;
}

static int cmp_key(const void *a, const void *b, void *keys) {
    char **k = keys;
    return strcmp(k[*(const long *)a], k[*(const long *)b]);
}

static int from_csv(import_label *L, const char *file, const char *columns) {
    FILE *f = fopen(file, "r");
    if (!f) return rp_err(RP_EIO, "%s: cannot open: %s", file, strerror(errno));
    char *line = NULL, *field[256], wanted[512];
    size_t cap = 0;
    int col[MAX_COLS], k = 0, key_col = -1, rc = 0;
    long lineno = 1, cap_rows = 0;
    double *vals = NULL;
    snprintf(wanted, sizeof wanted, "%s", columns);
    if (getline(&line, &cap, f) < 0) {
        rc = rp_err(RP_EFORMAT, "%s: empty file, expected a header row naming the columns", file);
        goto done;
    }
    int nf = csv_fields(line, field, 256);
    if (nf < 1) {
        rc = rp_err(RP_EFORMAT, "%s:1: cannot read the header row (at most 256 columns, quotes closed)", file);
        goto done;
    }
    for (int j = 0; j < nf; j++) field[j] = trim(field[j]);
    for (int j = 0; j < nf; j++)
        if (!strcasecmp(field[j], "filename")) key_col = j;
    for (char *tok = strtok(wanted, ","); tok && !rc; tok = strtok(NULL, ",")) {
        int at = -1;
        for (int j = 0; j < nf; j++)
            if (!strcmp(field[j], trim(tok))) at = j;
        if (at < 0) {
            char known[1024] = "";
            for (int j = 0, len = 0; j < nf && len < (int)sizeof known; j++)
                len += snprintf(known + len, sizeof known - len, "%s%s", j ? ", " : "", field[j]);
            rc = rp_err(RP_EFORMAT, "%s: no column \"%s\" in the header (columns: %s)", file, trim(tok), known);
        } else if (k == MAX_COLS) {
            rc = rp_err(RP_EARG, "%s: at most %d columns per label", file, MAX_COLS);
        } else {
            col[k++] = at;
        }
    }
    if (rc) goto done;
    int all_int = k == 1;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *t = trim(line);
        if (!*t) continue; /* blank lines */
        int m = csv_fields(t, field, 256);
        if (m != nf) {
            rc = rp_err(RP_EFORMAT, "%s:%ld: %d field(s), expected %d as in the header", file, lineno, m < 0 ? 0 : m,
                        nf);
            break;
        }
        if (L->n == cap_rows) {
            long grown = cap_rows ? 2 * cap_rows : 1024;
            double *nv = realloc(vals, (size_t)grown * k * sizeof *vals);
            if (nv) vals = nv;
            char **nk = nv && key_col >= 0 ? realloc(L->keys, grown * sizeof *nk) : NULL;
            if (nk) L->keys = nk;
            if (!nv || (key_col >= 0 && !nk)) {
                rc = rp_err(RP_ENOMEM, "%s: out of memory at line %ld", file, lineno);
                break;
            }
            cap_rows = grown;
        }
        for (int j = 0; j < k && !rc; j++) {
            char *s = trim(field[col[j]]), *end;
            errno = 0;
            double v = strtod(s, &end);
            if (!*s || *end || errno || !isfinite(v))
                rc = rp_err(RP_EFORMAT, "%s:%ld: column %s: expected a number, found \"%s\"", file, lineno, columns, s);
            else if (fabs(v) > FLT_MAX) /* stored as float32: it would become infinite (found by fuzz_csv) */
                rc = rp_err(RP_EFORMAT, "%s:%ld: column %s: %s is beyond float32's range", file, lineno, columns, s);
            vals[L->n * k + j] = v;
            all_int = all_int && v == floor(v) && v >= 0 && v <= INT32_MAX;
        }
        if (rc) break;
        if (key_col >= 0) {
            const char *key = trim(field[key_col]), *base = strrchr(key, '/');
            if (!(L->keys[L->n] = strdup(base ? base + 1 : key))) {
                rc = rp_err(RP_ENOMEM, "%s: out of memory", file);
                break;
            }
        }
        L->n++;
    }
    if (!rc && L->n == 0) rc = rp_err(RP_EFORMAT, "%s: no data rows after the header", file);
    if (!rc) {
        L->cols = k, L->dtype = all_int ? H5DS_INT32 : H5DS_FLOAT32;
        if (!(L->values = malloc((size_t)L->n * k * 4))) rc = rp_err(RP_ENOMEM, "%s: out of memory", file);
        for (size_t i = 0; !rc && i < (size_t)L->n * k; i++) {
            if (all_int) ((int32_t *)L->values)[i] = (int32_t)vals[i];
            else ((float *)L->values)[i] = (float)vals[i];
        }
    }
    if (!rc && key_col >= 0) { /* sorted index for the look-ups; a file name twice is an error */
        if (!(L->by_key = malloc(L->n * sizeof *L->by_key))) rc = rp_err(RP_ENOMEM, "%s: out of memory", file);
        for (long i = 0; !rc && i < L->n; i++) L->by_key[i] = i;
        if (!rc) qsort_r(L->by_key, L->n, sizeof *L->by_key, cmp_key, L->keys); /* glibc's; _GNU_SOURCE */
        for (long i = 1; !rc && i < L->n; i++)
            if (!strcmp(L->keys[L->by_key[i]], L->keys[L->by_key[i - 1]]))
                rc = rp_err(RP_EFORMAT, "%s: file name \"%s\" appears on two rows", file, L->keys[L->by_key[i]]);
    }
done:
    free(line), free(vals);
    fclose(f);
    return rc;
}

long import_label_row(const import_label *L, const char *file) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    long lo = 0, hi = L->n - 1;
    while (lo <= hi) {
        long mid = (lo + hi) / 2;
        int c = strcmp(L->keys[L->by_key[mid]], base);
        if (!c) return L->by_key[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* ---------------------------------------------------------------- NAME=SOURCE */
static int is_hdf5(const char *file) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(file, "rb");
    int yes = f && fread(b, 1, 8, f) == 8 && !memcmp(b, sig, 8);
    if (f) fclose(f);
    return yes;
}

int import_label_open(import_label *L, const char *assignment, const char *units) {
    memset(L, 0, sizeof *L);
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof L->name || !eq[1])
        return rp_err(RP_EARG, "--labels expects NAME=SOURCE (e.g. class=labels.csv:digit), got \"%s\"", assignment);
    memcpy(L->name, assignment, eq - assignment);
    for (const char *p = L->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return rp_err(RP_EARG, "--labels %s: a label name is letters, digits and _", L->name);
    snprintf(L->path, sizeof L->path, "labels/%s", L->name);
    L->spec = eq + 1;
    char file[4096];
    const char *sel = strrchr(L->spec, ':');
    struct stat st;
    /* "file:selector" unless the whole spec names a file (an IDX path may not contain ':') */
    if (sel && stat(L->spec, &st) != 0) snprintf(file, sizeof file, "%.*s", (int)(sel - L->spec), L->spec), sel++;
    else snprintf(file, sizeof file, "%s", L->spec), sel = NULL;
    if (stat(file, &st) != 0) return rp_err(RP_EIO, "--labels %s: %s: no such file", L->name, file);
    int rc;
    if (is_hdf5(file)) {
        if (!sel) return rp_err(RP_EARG, "--labels %s: give the dataset inside %s as %s:/path", L->name, file, file);
        char ds[512];
        snprintf(ds, sizeof ds, "%s%s", sel[0] == '/' ? "" : "/", sel);
        rc = from_hdf5(L, file, ds);
    } else if (sel) {
        rc = from_csv(L, file, sel);
    } else {
        rc = from_idx(L, file);
    }
    if (!rc && units) {
        if (L->dtype != H5DS_FLOAT32)
            rc = rp_err(RP_EARG, "--units %s: the label has integer classes; units are for float values", L->name);
        else snprintf(L->units, sizeof L->units, "%s", units);
    }
    if (rc) {
        import_label_free(L);
        return rp_err_prefix(rc, "--labels %s: ", assignment);
    }
    return 0;
}
