/* For the targets fed whole HDF5 files (fuzz_h5ds, fuzz_checkpoint, fuzz_evalnet). */
#ifndef RP_FUZZ_H5_H
#define RP_FUZZ_H5_H
#include "fuzz/fuzz.h"
#include "io/h5util.h"
#include <hdf5.h>

/* Before each input: HDF5's error printing off; the probe (h5u_probe, which runs each load
 * in a child first) gives up on a hung libhdf5 after 1 s instead of 60 (valid seeds load in
 * milliseconds; the fuzzer's own -timeout is 10 s). */
static inline void fuzz_h5_init(void) {
    h5u_silence();
    setenv("RP_H5_PROBE_SECONDS", "1", 0);
}

/* After a library call returns, success or not, it must have closed every HDF5 object it
 * opened: a leaked file id keeps the file open (and our temp file is reused by the next input). */
static inline void fuzz_h5_all_closed(const char *after) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    FUZZ_CHECK(n == 0, "%s left HDF5 objects open: %zd (files %zd, datasets %zd, groups %zd, types %zd, attributes %zd)",
               after, n, H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE), H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATASET),
               H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_GROUP), H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_DATATYPE),
               H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ATTR));
}

/* LeakSanitizer (make fuzz, make asan): libhdf5 1.10 leaks some of its own allocations on the
 * error paths of corrupt files; those are libhdf5's, not ours. Our HDF5 handles are checked by
 * fuzz_h5_all_closed instead. (A leak of memory that libhdf5 allocated for us, e.g. a
 * variable-length string we failed to reclaim, is hidden by this too.) */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5\n"; }

#endif
