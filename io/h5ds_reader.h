/* The reader's state, shared by the validating open (h5ds_read.c) and the row reads
 * (h5ds_rows.c). Internal to io/. */
#ifndef RP_H5DS_READER_H
#define RP_H5DS_READER_H
#include "io/h5ds.h"
#include <hdf5.h>

#define H5DS_MAX_COLS 256

typedef struct attr_cache {
    char *name, *value;
    struct attr_cache *next;
} attr_cache;

struct h5ds_reader {
    h5ds_info info;
    char *file, *images;
    char *strs[7]; /* kind, scene, created_by, created_at, config, source_file, refiner_checkpoint */
    hid_t fid, dimg, dindex;
    hid_t dcol[H5DS_MAX_COLS];
    h5ds_colinfo *cols;
    attr_cache *attrs;
};

#endif
