/* Streaming reader and writer for "refine-dataset" v1 HDF5 files (layout in docs/formats.md):
 * /images uint8 (N,H,W) or (N,H,W,C), /labels/<name>, /params/<name>, /index, root provenance.
 * Memory is independent of N both ways. Handles are not thread-safe: use each from one thread. */
#ifndef RP_H5DS_H
#define RP_H5DS_H
#include <stddef.h>
#include <stdint.h>

#define H5DS_FORMAT "refine-dataset"
#define H5DS_FORMAT_VERSION 1

typedef enum { H5DS_UINT8, H5DS_INT32, H5DS_INT64, H5DS_FLOAT32 } h5ds_dtype;

/* One per-sample column: a label or a simulator parameter. */
typedef struct {
    const char *path;  /* "labels/class", "labels/gaze", "params/slant" (groups created as needed) */
    h5ds_dtype dtype;  /* INT32 for classes, FLOAT32 for continuous values (INT64/UINT8 allowed) */
    int cols;          /* 1 -> shape (N), k -> shape (N, k) */
    const char *units; /* FLOAT32 labels: "radians", "pixels", ...; NULL = no units attribute */
} h5ds_column;

/* Root attributes. NULL strings / negative numbers are not written. */
typedef struct {
    const char *kind;   /* "synthetic" | "refined" | "real" */
    const char *scene;  /* "digits" | "eyes" | "external" */
    const char *config; /* full effective INI text */
    long seed;          /* synthetic files; < 0 = none */
    const char *source_file, *refiner_checkpoint; /* refined files */
    long refiner_step;  /* refined files; < 0 = none */
} h5ds_provenance;

typedef struct {
    long chunk;  /* rows per chunk along N; 0 = about 1 MB of pixels (capped to <= 1 MB either way) */
    int deflate; /* zlib level 1..9; 0 = default (H5DS_DEFAULT_DEFLATE) */
} h5ds_options;
/* Level 1 is the writer's own fast deflate (io/h5ds_deflate.h: runs and literals only, 4.9x on
 * the real digits where zlib's level 1 gives 4.4x, at a fraction of the CPU; compression is
 * most of the cost of writing); levels 2-9 are zlib's. At any level a chunk deflate shrinks by
 * less than a fifth is stored as is, its deflate filter marked skipped in the chunk's filter
 * mask (HDF5 readers pass it through). */
#define H5DS_DEFAULT_DEFLATE 1

/* ---------------------------------------------------------------- writer */
typedef struct h5ds_writer h5ds_writer;

/* Creates "<path>.tmp-<pid>" with the full layout (N = 0, growable) and root attributes
 * (refine_format, refine_format_version, created_by, created_at and prov's fields).
 * C == 1 gives /images (N,H,W), C > 1 gives (N,H,W,C). opt may be NULL. */
int h5ds_create(h5ds_writer **w, const char *path, int H, int W, int C, const h5ds_column *cols, int ncols,
                const h5ds_provenance *prov, const h5ds_options *opt);
/* Appends n rows. images: n*H*W*C uint8, NHWC. colvals[j]: n*cols[j].cols values of cols[j].dtype
 * (colvals may be NULL when ncols == 0). index: n source rows, NULL = this file's row numbers.
 * Buffers whole chunks internally; chunks are shuffled + deflated by this library and written
 * with H5Dwrite_chunk, so any HDF5 reader sees ordinary shuffle+deflate chunks (or, for data
 * deflate cannot shrink by a fifth, chunks with the deflate filter marked skipped). */
int h5ds_append(h5ds_writer *w, long n, const uint8_t *images, const void *const *colvals, const int64_t *index);
long h5ds_writer_rows(const h5ds_writer *w); /* rows appended so far */
/* Compression threads, before the first append: 0 (default) compresses on the caller's thread;
 * k > 0 runs k workers that compress whole chunks while the caller keeps appending (HDF5 calls
 * stay on the caller's thread). The file's bytes are the same either way. */
int h5ds_writer_set_threads(h5ds_writer *w, int threads);
/* Adds or replaces a string / integer root attribute (e.g. extra provenance) before finish. */
int h5ds_writer_set_attr_str(h5ds_writer *w, const char *name, const char *value);
int h5ds_writer_set_attr_long(h5ds_writer *w, const char *name, long value);
/* Flushes, closes and renames the temp file to path. Frees w whatever happens; on failure
 * the temp file is deleted, so no complete-looking file is left. */
int h5ds_finish(h5ds_writer *w);
/* Closes and deletes the temp file; frees w. NULL is a no-op. */
void h5ds_abort(h5ds_writer *w);

/* ---------------------------------------------------------------- reader */
typedef struct h5ds_reader h5ds_reader;

typedef struct {
    char path[128];  /* "labels/class", "params/slant" (no leading slash) */
    h5ds_dtype dtype;
    int cols;        /* 1 for shape (N), k for (N,k) */
    char units[32];  /* "" if none */
} h5ds_colinfo;

typedef struct {
    const char *file;     /* file name as given */
    const char *images;   /* dataset path, "/images" by default */
    long N;
    int H, W, C;          /* C = 1 for rank-3 images */
    h5ds_dtype dtype;     /* H5DS_UINT8 or H5DS_FLOAT32 (values in [0,1]) */
    int format_version;   /* 1 for refine-dataset files, 0 for external ones */
    /* root attributes (NULL / -1 if absent; NULL for external datasets) */
    const char *kind, *scene, *created_by, *created_at, *config, *source_file, *refiner_checkpoint;
    long seed, refiner_step;
    int ncols;            /* labels/... then params/..., sorted by name; only for /images of a refine-dataset */
    const h5ds_colinfo *cols;
    int has_index;        /* /index present (read it as column "index") */
} h5ds_info;

/* spec: "file.h5" (-> /images) or "file.h5:/path/to/images". Opens read-only and validates:
 * HDF5 signature, truncation, images present, rank 3/4, dtype uint8/float32, N, H, W, C > 0,
 * every label/param/index first dimension == N. Errors name file, dataset, expected and found. */
int h5ds_open(h5ds_reader **r, const char *spec);
const h5ds_info *h5ds_get_info(const h5ds_reader *r);
/* Index into info->cols of "labels/class" etc., or -1. */
int h5ds_find_column(const h5ds_reader *r, const char *path);

/* Rows [start, start+n): uint8 NHWC (float32 images are scaled by 255 and rounded). */
int h5ds_read_images_u8(h5ds_reader *r, long start, long n, uint8_t *out);
/* Rows [start, start+n) as float NCHW (the nets' layout), pixel range mapped to [lo, hi]
 * (uint8 0..255 or float 0..1 -> lo..hi). */
int h5ds_read_images_f32(h5ds_reader *r, long start, long n, float *out, float lo, float hi);
/* Arbitrary rows in any order (random mini-batches), without loading the dataset; each
 * chunk involved is read once per call. out[i] is row rows[i]. */
int h5ds_read_rows_u8(h5ds_reader *r, const long *rows, int n, uint8_t *out);
int h5ds_read_rows_f32(h5ds_reader *r, const long *rows, int n, float *out, float lo, float hi);
/* Column values (path as in info->cols, or "index"), rows [start, start+n), converted to `as`:
 * out holds n*cols values. */
int h5ds_read_column(h5ds_reader *r, const char *path, long start, long n, void *out, h5ds_dtype as);
int h5ds_read_column_rows(h5ds_reader *r, const char *path, const long *rows, int n, void *out, h5ds_dtype as);
/* Any root string attribute (NULL if absent); valid until close. */
const char *h5ds_attr_str(h5ds_reader *r, const char *name);
/* An integer root attribute: 0 (*out set), 1 if absent, or an error naming the file. */
int h5ds_attr_long(h5ds_reader *r, const char *name, long *out);
void h5ds_close(h5ds_reader *r);

/* ---------------------------------------------------------------- helpers */
/* Converts n images from float NCHW in [lo, hi] to uint8 NHWC (rounded, clamped), the inverse
 * of h5ds_read_images_f32; used by writers of refined images. */
void h5ds_pack_u8(uint8_t *out, const float *in, long n, int C, int H, int W, float lo, float hi);
size_t h5ds_dtype_size(h5ds_dtype t);
const char *h5ds_dtype_name(h5ds_dtype t);

#endif
