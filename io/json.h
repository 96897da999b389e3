/* JSON text for report files: a growable string buffer with JSON literals, an RFC 8259 syntax
 * check, an object splitter that keeps each member's raw text, and whole-file read and atomic
 * write. No tree: callers that update a file rewrite one member and copy the others verbatim. */
#ifndef RP_JSON_H
#define RP_JSON_H
#include <stddef.h>

/* ---------------------------------------------------------------- writing */
/* Zero-initialise ({0}); s is malloc'd and NUL-terminated once anything was written. oom is set
 * (and further writes ignored) when an allocation fails: check it once at the end. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} json_buf;

void json_printf(json_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void json_raw(json_buf *b, const char *s, size_t n);
/* A string literal with escapes (s taken as UTF-8 bytes). */
void json_str(json_buf *b, const char *s);
/* A number with 9 significant digits, or null for NaN and infinities (JSON has neither). */
void json_num(json_buf *b, double v);
/* "[v0, v1, ...]" */
void json_nums(json_buf *b, const double *v, int n);

/* ---------------------------------------------------------------- reading */
/* 0 if text[0, len) is one complete JSON value, else RP_EFORMAT ("invalid JSON at byte 12: ..."). */
int json_check(const char *text, size_t len);

/* One member of an object, as offsets into the text. */
typedef struct {
    size_t key, key_end; /* raw key content, without the quotes */
    size_t val, val_end;
} json_member;

/* Splits the object spanning text[start, end) into members (*m malloc'd, *count of them). */
int json_split_object(const char *text, size_t start, size_t end, json_member **m, int *count);
/* Does member m's raw key equal `key` (compared in escaped form)? 1 or 0, or RP_ENOMEM. */
int json_key_is(const char *text, const json_member *m, const char *key);

/* ---------------------------------------------------------------- files */
/* 0 with *text malloc'd (NUL-terminated) and its length, 1 if the file does not exist, or an error. */
int json_read_file(const char *path, char **text, size_t *len);
/* Writes text to "<path>.tmp-<pid>", fsyncs it and renames it over path. */
int json_write_file(const char *path, const char *text, size_t len);

#endif
