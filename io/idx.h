/* IDX files (the MNIST family's format: big-endian header, unsigned-byte data), plain or gzip'd,
 * both read through zlib's gzopen. Items (images or labels) stream sequentially so memory stays
 * independent of the item count; header and length are validated against the file. */
#ifndef RP_IDX_H
#define RP_IDX_H
#include <stdint.h>

#define IDX_MAX_RANK 4

typedef struct idx_file idx_file;

/* Opens and validates the header: magic 0x0000 08 <rank> (unsigned bytes; 0x0803 = images
 * (N,H,W), 0x0801 = labels (N)), nonzero dims, and for uncompressed files the exact length. */
int idx_open(idx_file **f, const char *path);
int idx_rank(const idx_file *f);
const long *idx_dims(const idx_file *f); /* dims[0] = N items */
long idx_item_size(const idx_file *f);    /* product of dims[1..] (1 for labels) */
/* Reads the next n items (n * item_size bytes). A short file is an error naming it and the
 * item where it ended; after the last item, trailing bytes are an error too. */
int idx_read(idx_file *f, long n, uint8_t *out);
void idx_close(idx_file *f);

/* Writes an unsigned-byte IDX file (gzip'd if gz), atomically. */
int idx_write(const char *path, int rank, const long *dims, const uint8_t *data, int gz);

#endif
