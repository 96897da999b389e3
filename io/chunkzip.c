/* Chunk compression pipeline (see chunkzip.h). A ring of slots: the caller fills one, submits
 * it, workers (or the caller itself) shuffle + deflate it, and the caller writes finished slots
 * strictly in submission order, waiting only when the ring is full.
 * Level 1 (the default) deflates with io/h5ds_deflate (runs and literals, a Huffman code per
 * block or byte plane: on simulated digits the ratio of zlib's Z_RLE, 4.7x, at half its CPU);
 * levels 2-9 use zlib. Either way deflate is tried on the first 16 KB of a large chunk, and a
 * chunk it shrinks by less than 1/CHUNKZIP_MIN_SAVING is stored as is with the deflate filter
 * marked skipped (noisy eye images: zlib level 1 saves ~16% at ~60 us per 35x55 image, more
 * than rendering one costs). */
#include "io/chunkzip.h"
#include "io/h5ds_deflate.h"
#include "base/fault.h"
#include "base/status.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNKZIP_TRIAL (16 << 10)
#define CHUNKZIP_MIN_SAVING 5 /* deflate must save at least 1/5 of the bytes */
#define CHUNKZIP_DEFLATE_SKIPPED (1u << 1) /* filter mask bit: pipeline filter 1 (deflate) not applied */

enum { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

typedef struct {
    uint8_t **raw, **z, **out; /* out[j]: what is written, z[j] or (stored as is) raw[j] */
    size_t *zlen;
    unsigned *mask;   /* per dataset: HDF5 filter mask of the stored bytes */
    uint8_t *scratch; /* shuffled bytes before deflate */
    h5ds_deflater *df; /* level 1 */
    z_stream zs;       /* levels 2-9, reused */
    int zinit;
    long rows;
    int state, err;
} slot;

struct chunkzip {
    int nds, level, nthreads, nslots;
    size_t *bytes, *esize; /* per dataset: bytes per full chunk, element size */
    long chunk;
    slot *slots;
    long filled;  /* chunks submitted; slots[filled % nslots] is being filled */
    long written; /* chunks written */
    chunkzip_write_fn write;
    void *ctx;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int stop;
};

void chunkzip_shuffle(uint8_t *dst, const uint8_t *src, size_t n, size_t esize) {
    size_t ne = n / esize;
    for (size_t b = 0; b < esize; b++)
        for (size_t i = 0; i < ne; i++) dst[b * ne + i] = src[i * esize + b];
    memcpy(dst + ne * esize, src + ne * esize, n - ne * esize); /* leftover bytes, as H5Z does */
}

/* Deflates src (n bytes) into dst (cap bytes) with zs; the compressed length, or 0 when the
 * bytes are better stored as they are (deflate saves too little, already on the trial prefix,
 * or the output would not fit). */
static size_t deflate_or_skip(z_stream *zs, uint8_t *dst, size_t cap, const uint8_t *src, size_t n) {
    if (deflateReset(zs) != Z_OK) return 0;
    zs->next_in = (Bytef *)src;
    zs->next_out = dst;
    zs->avail_out = (uInt)cap;
    if (n > 2 * CHUNKZIP_TRIAL) {
        zs->avail_in = CHUNKZIP_TRIAL;
        if (deflate(zs, Z_SYNC_FLUSH) != Z_OK || zs->avail_in ||
            zs->total_out > CHUNKZIP_TRIAL - CHUNKZIP_TRIAL / CHUNKZIP_MIN_SAVING)
            return 0;
        zs->avail_in = (uInt)(n - CHUNKZIP_TRIAL);
    } else
        zs->avail_in = (uInt)n;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END || zs->total_out > n - n / CHUNKZIP_MIN_SAVING) return 0;
    return zs->total_out;
}

static void compress_slot(chunkzip *c, slot *s) {
    s->err = 0;
    for (int j = 0; j < c->nds; j++) {
        size_t n = c->bytes[j];
        if (s->rows < c->chunk) { /* edge chunk: HDF5 stores full chunks; pad deterministically */
            size_t used = n / c->chunk * s->rows;
            memset(s->raw[j] + used, 0, n - used);
        }
        const uint8_t *src = s->raw[j];
        if (c->esize[j] > 1) {
            chunkzip_shuffle(s->scratch, s->raw[j], n, c->esize[j]);
            src = s->scratch;
        }
        size_t zl;
        if (c->level == 1) {
            zl = h5ds_deflate(s->df, s->z[j], n - n / CHUNKZIP_MIN_SAVING, src, n, (int)c->esize[j]);
        } else {
            if (!s->zinit) {
                if (deflateInit2(&s->zs, c->level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
                    s->err = 1;
                    return;
                }
                s->zinit = 1;
            }
            zl = deflate_or_skip(&s->zs, s->z[j], compressBound(n), src, n);
        }
        s->mask[j] = zl ? 0 : CHUNKZIP_DEFLATE_SKIPPED;
        s->out[j] = s->z[j];
        if (!zl) { /* stored as is: bytes straight from the row buffer, shuffled ones copied */
            zl = n;
            if (src == s->raw[j]) s->out[j] = s->raw[j];
            else memcpy(s->z[j], src, n);
        }
        s->zlen[j] = zl;
    }
}

static void *worker(void *arg) {
    chunkzip *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        slot *s = NULL;
        /* oldest queued first, so the writer's next chunk is ready soonest */
        for (long k = c->written; k < c->filled && !s; k++)
            if (c->slots[k % c->nslots].state == SLOT_QUEUED) s = &c->slots[k % c->nslots];
        if (!s) {
            if (c->stop) break;
            pthread_cond_wait(&c->work, &c->mu);
            continue;
        }
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&c->mu);
        compress_slot(c, s);
        pthread_mutex_lock(&c->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Writes the oldest submitted chunk, waiting for its compression if needed. */
static int write_oldest(chunkzip *c) {
    slot *s = &c->slots[c->written % c->nslots];
    if (c->nthreads) {
        pthread_mutex_lock(&c->mu);
        while (s->state != SLOT_DONE) pthread_cond_wait(&c->done, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
    if (s->err) return rp_err(RP_ENOMEM, "compressing a chunk failed (out of memory?)");
    int rc = c->write(c->ctx, c->written, s->rows, s->out, s->zlen, s->mask);
    if (rc) return rc;
    if (c->nthreads) pthread_mutex_lock(&c->mu); /* workers scan states and `written` */
    s->state = SLOT_FREE;
    s->rows = 0;
    c->written++;
    if (c->nthreads) pthread_mutex_unlock(&c->mu);
    return 0;
}

int chunkzip_init(chunkzip **out, int nds, const size_t *row_bytes, const size_t *esize, long chunk, int level,
                  int threads, chunkzip_write_fn write, void *ctx) {
    *out = NULL;
    chunkzip *c = rp_calloc(1, sizeof *c);
    if (!c) return rp_err(RP_ENOMEM, "out of memory");
    c->nds = nds, c->chunk = chunk, c->level = level, c->write = write, c->ctx = ctx;
    c->nthreads = threads > 0 ? (threads > 64 ? 64 : threads) : 0;
    c->nslots = c->nthreads ? 2 * c->nthreads + 1 : 1;
    c->bytes = rp_malloc(nds * sizeof *c->bytes);
    c->esize = rp_malloc(nds * sizeof *c->esize);
    c->slots = rp_calloc(c->nslots, sizeof *c->slots);
    int ok = c->bytes && c->esize && c->slots;
    size_t maxb = 0;
    for (int j = 0; ok && j < nds; j++) {
        c->bytes[j] = row_bytes[j] * chunk, c->esize[j] = esize[j];
        if (c->bytes[j] > maxb) maxb = c->bytes[j];
    }
    for (int i = 0; ok && i < c->nslots; i++) {
        slot *s = &c->slots[i];
        s->raw = rp_calloc(nds, sizeof *s->raw);
        s->z = rp_calloc(nds, sizeof *s->z);
        s->out = rp_calloc(nds, sizeof *s->out);
        s->zlen = rp_calloc(nds, sizeof *s->zlen);
        s->mask = rp_calloc(nds, sizeof *s->mask);
        s->scratch = rp_malloc(maxb);
        ok = s->raw && s->z && s->out && s->zlen && s->mask && s->scratch && (level != 1 || !h5ds_deflater_init(&s->df));
        for (int j = 0; ok && j < nds; j++)
            ok = (s->raw[j] = rp_malloc(c->bytes[j])) && (s->z[j] = rp_malloc(compressBound(c->bytes[j])));
    }
    if (ok && c->nthreads) {
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->work, NULL);
        pthread_cond_init(&c->done, NULL);
        c->th = rp_calloc(c->nthreads, sizeof *c->th);
        ok = c->th != NULL;
        int started = 0;
        while (ok && started < c->nthreads) {
            if (pthread_create(&c->th[started], NULL, worker, c)) ok = 0;
            else started++;
        }
        c->nthreads = started; /* chunkzip_free joins exactly the threads that run */
    }
    if (!ok) {
        chunkzip_free(c);
        return rp_err(RP_ENOMEM, "out of memory for chunk buffers");
    }
    *out = c;
    return 0;
}

uint8_t *const *chunkzip_buffers(chunkzip *c) { return c->slots[c->filled % c->nslots].raw; }

int chunkzip_submit(chunkzip *c, long rows) {
    slot *s = &c->slots[c->filled % c->nslots];
    s->rows = rows;
    if (!c->nthreads) {
        compress_slot(c, s);
        s->state = SLOT_DONE;
        c->filled++;
        return write_oldest(c);
    }
    pthread_mutex_lock(&c->mu);
    s->state = SLOT_QUEUED;
    c->filled++;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    /* the next slot to fill must be free: write finished chunks until it is */
    while (c->filled - c->written >= c->nslots) {
        int rc = write_oldest(c);
        if (rc) return rc;
    }
    return 0;
}

int chunkzip_drain(chunkzip *c) {
    while (c->written < c->filled) {
        int rc = write_oldest(c);
        if (rc) return rc;
    }
    return 0;
}

void chunkzip_free(chunkzip *c) {
    if (!c) return;
    if (c->th) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_broadcast(&c->work);
        pthread_mutex_unlock(&c->mu);
        for (int i = 0; i < c->nthreads; i++) pthread_join(c->th[i], NULL);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->work);
        pthread_cond_destroy(&c->done);
        free(c->th);
    }
    for (int i = 0; c->slots && i < c->nslots; i++) {
        slot *s = &c->slots[i];
        for (int j = 0; j < c->nds; j++) {
            if (s->raw) free(s->raw[j]);
            if (s->z) free(s->z[j]);
        }
        if (s->zinit) deflateEnd(&s->zs);
        h5ds_deflater_free(s->df);
        free(s->raw), free(s->z), free(s->out), free(s->zlen), free(s->mask), free(s->scratch);
    }
    free(c->slots), free(c->bytes), free(c->esize), free(c);
}
