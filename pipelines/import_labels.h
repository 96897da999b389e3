/* Labels for `import --labels NAME=SOURCE`: one label column read from another tool's output.
 * SOURCE is an HDF5 dataset (file.h5:/path, shape (N) or (N, k)), an IDX or IDX.gz file (unsigned
 * bytes, (N) or (N, k)) or CSV columns (file.csv:column or file.csv:col1,col2, with a header row).
 * Integer values become classes (/labels/NAME int32), others regression labels (float32, with
 * --units). A CSV with a `filename` column is keyed by file name: its rows are matched to PNG
 * images by base name, in any order; otherwise rows are matched to the images in import order.
 * A column is held in memory (4 bytes a value: 8 MB for a million pairs); images still stream. */
#ifndef RP_IMPORT_LABELS_H
#define RP_IMPORT_LABELS_H
#include "io/h5ds.h"

typedef struct {
    char name[64];     /* NAME */
    char path[80];     /* "labels/NAME" */
    const char *spec;  /* SOURCE as given */
    h5ds_dtype dtype;  /* H5DS_INT32 (classes) or H5DS_FLOAT32 */
    int cols;          /* values per row */
    char units[32];    /* float labels; "" = none */
    long n;            /* rows */
    void *values;      /* n * cols int32_t or float */
    char **keys;       /* keyed CSV: each row's file name, and the rows sorted by it */
    long *by_key;
} import_label;

/* Parses "NAME=SOURCE" (units: the --units value for NAME, or NULL) and reads the column. */
int import_label_open(import_label *L, const char *assignment, const char *units);
void import_label_free(import_label *L);
/* The row of a keyed label for an image file (its base name is looked up), or -1. */
long import_label_row(const import_label *L, const char *file);

#endif
