/* Status codes and the last error message, in the style of sqlite3_errmsg().
 * Library functions return 0 on success or a negative RP_E* code, and leave a message
 * (thread-local) that only main prints. Messages name the file, dataset and what was expected. */
#ifndef RP_STATUS_H
#define RP_STATUS_H

enum rp_status {
    RP_OK = 0,
    RP_EIO = -1,      /* file system or HDF5/PNG/zlib failure */
    RP_EFORMAT = -2,  /* input present but malformed: wrong rank, dtype, size, attribute */
    RP_EARG = -3,     /* bad argument or configuration value from the user */
    RP_ENOMEM = -4,   /* allocation failed */
    RP_ENUM = -5,     /* NaN/Inf in a loss or gradient */
    RP_EINTERNAL = -6, /* unsupported or not implemented */
    RP_EINTR = -7,     /* stopped by a signal (Ctrl-C, SIGTERM) at a safe point; the job can resume */
    RP_ELABEL = -8     /* refined images no longer carry their labels (the label guard or check) */
};

/* Formats a message into the thread's error buffer and returns `code`, so that
 * `return rp_err(RP_EFORMAT, "%s: /images: expected rank 3 or 4, found %d", path, rank);` works. */
int rp_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends context ("loading checkpoint x.h5: ") to the current message; returns `code`. */
int rp_err_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rp_errmsg(void);
void rp_err_clear(void);

#endif
