/* The dataset writer's chunk pipeline: fills whole chunks of several datasets at once, applies
 * HDF5's shuffle + deflate filters itself (shuffle exactly as H5Z does; deflate by our own
 * encoder at level 1, zlib above, either read by any inflater), optionally on worker threads,
 * and hands compressed chunks back in order to a write callback on the caller's thread (so
 * HDF5 is only ever called from one thread). */
#ifndef RP_CHUNKZIP_H
#define RP_CHUNKZIP_H
#include <stddef.h>
#include <stdint.h>

typedef struct chunkzip chunkzip;

/* Called in chunk order: chunk k holds rows [k*chunk, k*chunk + rows); z[j] / zlen[j] is the
 * filtered chunk of dataset j (always a full chunk, zero-padded past `rows`) and mask[j] its
 * HDF5 filter mask (for H5Dwrite_chunk): 0, or bit 1 set when deflate did not save enough and
 * the chunk is stored shuffled only (readers pass such chunks through deflate untouched). */
typedef int (*chunkzip_write_fn)(void *ctx, long k, long rows, uint8_t *const *z, const size_t *zlen,
                                 const unsigned *mask);

/* nds datasets; row_bytes[j] bytes per row of dataset j, esize[j] its element size (shuffle
 * granularity); chunk rows per chunk; level zlib 1..9; threads 0 = synchronous. */
int chunkzip_init(chunkzip **c, int nds, const size_t *row_bytes, const size_t *esize, long chunk, int level,
                  int threads, chunkzip_write_fn write, void *ctx);
/* Row buffers of the chunk being filled: buf[j] has room for `chunk` rows of dataset j. */
uint8_t *const *chunkzip_buffers(chunkzip *c);
/* The current chunk holds `rows` rows (rows < chunk only for the last one): compress and queue it.
 * May write earlier chunks (through the callback) to free a buffer. */
int chunkzip_submit(chunkzip *c, long rows);
/* Writes every queued chunk. */
int chunkzip_drain(chunkzip *c);
/* Stops the workers and frees everything (queued chunks are dropped). NULL is a no-op. */
void chunkzip_free(chunkzip *c);

/* HDF5's shuffle filter (H5Z_FILTER_SHUFFLE) on n bytes of esize-byte elements. */
void chunkzip_shuffle(uint8_t *dst, const uint8_t *src, size_t n, size_t esize);

#endif
