/* Small HDF5 helpers shared by the dataset and checkpoint code: silencing HDF5's own error
 * stack, string/integer attributes h5py reads as str/int, describing types for error messages,
 * and a pre-open check that tells "not HDF5" from "truncated" precisely. */
#ifndef RP_H5UTIL_H
#define RP_H5UTIL_H
#include <hdf5.h>

/* HDF5's automatic error printing off for this thread (its stack is per thread). */
void h5u_silence(void);

/* Scalar variable-length UTF-8 string attribute (replaced if present). */
int h5u_write_attr_str(hid_t obj, const char *name, const char *value);
/* Scalar int32 / int64 attribute (replaced if present). */
int h5u_write_attr_int(hid_t obj, const char *name, int value);
int h5u_write_attr_i64(hid_t obj, const char *name, long long value);
/* Reads a scalar string attribute (fixed or variable length): *out is malloc'd.
 * Returns 0, 1 if absent, or RP_EFORMAT (not a string / not scalar). */
int h5u_read_attr_str(hid_t obj, const char *name, char **out);
/* Reads a scalar integer attribute: 0, 1 if absent, RP_EFORMAT otherwise. */
int h5u_read_attr_i64(hid_t obj, const char *name, long long *out);

/* Whole-dataset I/O for small files (checkpoints, feature networks): contiguous, unfiltered.
 * h5u_write_ds creates `name` under loc with file type ftype and writes buf (memory type mtype).
 * h5u_read_ds checks that `name` exists, that its type class is cls and its shape exactly want
 * (rank `rank`), then reads it as mtype; messages name the dataset ("params: expected shape
 * (12,), found (3, 4)"); the caller prefixes the file. */
int h5u_write_ds(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                 const void *buf);
int h5u_read_ds(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, int rank, const hsize_t *want,
                void *buf);
/* A whole numeric dataset of rank 1 (N) or 2 (N, k) of any file (written by any tool): integers
 * are read as int64 (*is_int = 1), floats as float32; *values is malloc'd (n * k of them).
 * Errors name the file and dataset and say what was found. */
int h5u_read_table(const char *file, const char *dataset, int *is_int, long *n, int *k, void **values);
/* Describes, into out, the numeric datasets of `file` (anywhere in it) whose first dimension is
 * N, except `skip`: "/labels int64 (N), /gaze float32 (N, 2)". "" when there are none. */
int h5u_row_datasets(const char *file, long N, const char *skip, char *out, size_t n);

/* A scalar integer attribute that must be present: 0, or RP_EFORMAT ("attribute step missing"). */
int h5u_require_attr_long(hid_t obj, const char *name, long *out);

/* "uint8", "int16", "float64", "string", "compound", ... for messages. */
const char *h5u_type_name(hid_t type, char *buf, size_t n);
/* "(5000, 28, 28)" */
const char *h5u_shape_str(const hsize_t *dims, int rank, char *buf, size_t n);

/* Checks that `file` exists, is readable, carries the HDF5 signature and is not shorter than
 * its superblock's end-of-file address. Returns 0 or an error naming the file. */
int h5u_check_file(const char *file);
/* libhdf5 1.10 trusts much of what a file says: some corrupt files crash it (out-of-bounds
 * reads in the global heap that holds variable-length strings, in attribute messages) or make
 * it loop forever (docs/hardening.md). h5u_probe runs fn(arg), the same read the caller is
 * about to make, in a forked child first: 0 when the child finished (whatever fn returned; the
 * caller then reads for real and reports ordinary errors itself), RP_EFORMAT naming `file`
 * when libhdf5 crashed or did not finish within RP_H5_PROBE_SECONDS (default 60) there.
 * Inside the child, with RP_H5_PROBE=0, or when fork fails, it returns 0 at once, so fn may
 * call the guarded function itself. The child writes nothing (stdout and stderr go to
 * /dev/null) and ends with _exit: it flushes nothing the parent has open. A file that passed is
 * remembered (per fn, by device, inode, size and modification time) and not probed again. */
int h5u_probe(const char *file, void (*fn)(void *), void *arg);

/* Files written whole, atomically: h5u_create_temp creates "<path>.tmp-<pid>" (its name in tmp);
 * h5u_publish closes f and, if rc is 0, syncs the temp file and renames it to path
 * (rp_atomic_publish); on any failure the temp file is deleted. Returns rc or the
 * close/sync/rename error, with the file named. */
int h5u_create_temp(const char *path, char *tmp, size_t n, hid_t *f);
int h5u_publish(hid_t f, const char *tmp, const char *path, int rc);
/* H5Fclose of a file being written: nonzero if it failed (the file may be incomplete). */
int h5u_close_file(hid_t f);
/* After a failed HDF5 write, flush or close: " (No space left on device)" when errno says why
 * (a full disk, a quota, an I/O error), else "". libhdf5 reports the failing write() only on its
 * error stack, which is silenced; errno is what it leaves. */
const char *h5u_errno_hint(void);

/* Current UTC time as ISO 8601 "2024-05-01T12:00:00Z". */
void h5u_utc_now(char *buf, size_t n);

#endif
