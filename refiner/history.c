/* History buffer of past refined images (see history.h). Random picks use Robert Floyd's
 * algorithm for k distinct indices out of M: k draws, no shuffle array of size M, and the
 * scratch of k indices is allocated once at init. */
#include "refiner/history.h"
#include "base/status.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int history_init(history *h, long capacity, size_t image_size, int max_n) {
    memset(h, 0, sizeof *h);
    if (capacity < 1 || image_size < 1 || max_n < 1)
        return rp_err(RP_EARG, "history buffer: capacity %ld, image size %zu and batch %d must be positive", capacity,
                      image_size, max_n);
    if (capacity > (long)UINT32_MAX) return rp_err(RP_EARG, "history buffer: capacity %ld is too large", capacity);
    h->capacity = capacity;
    h->image_size = image_size;
    h->max_n = max_n;
    h->data = malloc((size_t)capacity * image_size * sizeof(float));
    h->picks = malloc((size_t)max_n * sizeof(long));
    if (!h->data || !h->picks) {
        history_free(h);
        return rp_err(RP_ENOMEM, "history buffer: cannot allocate %ld images of %zu floats", capacity, image_size);
    }
    return 0;
}

void history_free(history *h) {
    free(h->data);
    free(h->picks);
    memset(h, 0, sizeof *h);
}

int history_ready(const history *h, int n) { return h->count >= n; }

/* Floyd: for j in [M-k, M): t = uniform [0, j]; take t unless taken already, else take j.
 * Every k-subset is equally likely. Linear membership test: k is a half batch. */
static void pick_distinct(long *picks, int k, long M, rng_t *rng) {
    assert(k <= M);
    for (int i = 0; i < k; i++) {
        long j = M - k + i;
        long t = (long)rng_below(rng, (uint32_t)(j + 1));
        for (int q = 0; q < i; q++)
            if (picks[q] == t) {
                t = j;
                break;
            }
        picks[i] = t;
    }
}

void history_sample_part(history *h, rng_t *rng, float *out, int n, int first, int count) {
    assert(n >= 0 && n <= h->max_n && n <= h->count && first >= 0 && count >= 0 && first + count <= n);
    pick_distinct(h->picks, n, h->count, rng);
    for (int i = 0; i < count; i++)
        memcpy(out + (size_t)i * h->image_size, h->data + (size_t)h->picks[first + i] * h->image_size,
               h->image_size * sizeof(float));
}

void history_sample(history *h, rng_t *rng, float *out, int n) { history_sample_part(h, rng, out, n, 0, n); }

void history_push(history *h, rng_t *rng, const float *images, int n) {
    assert(n >= 0 && n <= h->max_n);
    int room = (int)(h->capacity - h->count < n ? h->capacity - h->count : n);
    memcpy(h->data + (size_t)h->count * h->image_size, images, (size_t)room * h->image_size * sizeof(float));
    h->count += room;
    int rest = n - room;
    if (rest <= 0) return;
    if (rest > h->capacity) rest = (int)h->capacity; /* a push larger than the buffer keeps the newest */
    pick_distinct(h->picks, rest, h->capacity, rng);
    const float *src = images + (size_t)(n - rest) * h->image_size;
    for (int i = 0; i < rest; i++)
        memcpy(h->data + (size_t)h->picks[i] * h->image_size, src + (size_t)i * h->image_size,
               h->image_size * sizeof(float));
}

int history_restore(history *h, const float *images, long count) {
    if (count < 0 || count > h->capacity)
        return rp_err(RP_EFORMAT, "history buffer: %ld saved images do not fit a buffer of %ld", count, h->capacity);
    memcpy(h->data, images, (size_t)count * h->image_size * sizeof(float));
    h->count = count;
    return 0;
}
