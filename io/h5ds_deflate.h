/* The dataset writer's deflate encoder: zlib streams (RFC 1950/1951) that any inflater, HDF5's
 * deflate filter included, reads. Simpler and several times faster than zlib's level 1 on our
 * chunks: runs of a repeated byte become distance-1 matches (zlib's Z_RLE), every other byte a
 * literal, and each block gets its own Huffman code (or is stored when that is smaller), one
 * block per 64 KB or per byte plane of shuffled data. Deterministic: the bytes depend only on
 * the input. */
#ifndef RP_H5DS_DEFLATE_H
#define RP_H5DS_DEFLATE_H
#include <stddef.h>
#include <stdint.h>

typedef struct h5ds_deflater h5ds_deflater; /* workspace (~200 KB); one per thread */

int h5ds_deflater_init(h5ds_deflater **d);
void h5ds_deflater_free(h5ds_deflater *d); /* NULL is a no-op */

/* Compresses src (n >= 1 bytes, `planes` equal byte planes, e.g. the element size of shuffled
 * data: each plane starts a block) into dst (room for limit bytes). Returns the stream length,
 * or 0 when it would be longer than limit bytes. Single-plane data over 32 KB is also refused
 * early when its first 16 KB take more than their share (16 KB * limit / n) of the limit. */
size_t h5ds_deflate(h5ds_deflater *d, uint8_t *dst, size_t limit, const uint8_t *src, size_t n, int planes);

#endif
