/* A fresh temporary directory per test group (or test), shared by the tests that write files:
 * tmpdir_setup / tmpdir_teardown as cmocka group fixtures, tpath(name) for paths in it.
 * HDF5's own error printing is silenced (the tests check our messages instead). */
#ifndef RP_TEST_TMPDIR_H
#define RP_TEST_TMPDIR_H

extern char tmpdir[64];
int tmpdir_setup(void **state);
int tmpdir_teardown(void **state); /* removes the directory and everything in it (RP_KEEP_TMP=1: keeps it) */
/* tmpdir/name in one of 8 rotating static buffers (so a few can be used in one call). */
const char *tpath(const char *name);
int dir_count(const char *dir);    /* entries not starting with '.' */
/* The whole file, NUL-terminated, malloc'd (caller frees); NULL if it cannot be opened. */
char *slurp(const char *path);

#endif
