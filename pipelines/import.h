/* Importing images into a refine-dataset file: PNG folders or files, IDX / IDX.gz and HDF5
 * datasets (file.h5:/path; labels and params copied from a refine-dataset), with label columns
 * from other tools' files (import_labels.h). Images stream: memory is independent of their
 * number (label columns are held in memory, 4 bytes a value). */
#ifndef RP_IMPORT_H
#define RP_IMPORT_H
#include <stdint.h>

typedef struct {
    int H, W;            /* target size; 0 = the first image's size (others must match) */
    int crop;            /* centre-crop / zero-pad to H x W instead of resizing */
    int rgb;             /* read PNGs as RGB (3 channels) instead of gray */
    const char *const *labels; /* "NAME=SOURCE" label columns (import_labels.h) */
    int nlabels;
    const char *const *units;  /* "NAME=UNIT" for float labels */
    int nunits;
    int skip_bad;        /* report unreadable or odd files and continue */
    const char *kind;    /* root attribute kind (default "real") */
    const char *scene;   /* root attribute scene (default "external") */
    const char *command; /* recorded as the import_command attribute; may be NULL */
    long chunk;          /* rows per HDF5 chunk; 0 = default */
    int threads;         /* compression threads (h5ds_writer_set_threads); 0 = compress inline */
    int quiet;           /* no progress or warnings on stderr */
} import_options;

typedef struct {
    long images;  /* rows written */
    long bad;     /* unreadable or odd files skipped (--skip-bad) */
    long ignored; /* files in PNG folders that are not *.png */
    int H, W, C;
    int ncols;    /* label/param columns written */
    char hint[1024]; /* datasets of an HDF5 source with one row per image that were not imported, or "" */
} import_stats;

int import_files(const char *const *sources, int nsources, const char *out, const import_options *opt,
                 import_stats *stats);

/* Resampling of one uint8 image (HWC): area averaging when shrinking, bilinear when enlarging,
 * separately per axis. 0, or RP_ENOMEM (dst untouched) when its scratch rows cannot be allocated. */
int import_resize(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw, int dh);
/* Centre crop (or zero-pad where the source is smaller). */
void import_crop(const uint8_t *src, int sw, int sh, int C, uint8_t *dst, int dw, int dh);

#endif
