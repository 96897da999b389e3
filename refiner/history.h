/* The history buffer of SimGAN: past refined images that feed half of each discriminator
 * fake batch, so D keeps rejecting what R produced earlier. Images are stored as float (the
 * nets' NCHW layout, values in [-1, 1]) so a checkpointed buffer resumes bit-exactly.
 * All randomness comes from the caller's rng_t, whose state the trainer checkpoints. */
#ifndef RP_HISTORY_H
#define RP_HISTORY_H
#include <stddef.h>
#include "base/rng.h"

typedef struct {
    long capacity;      /* images the buffer holds when full */
    long count;         /* images stored so far (<= capacity) */
    size_t image_size;  /* floats per image (C*H*W) */
    int max_n;          /* largest n passed to history_sample / history_push */
    float *data;        /* (capacity, image_size); rows [0, count) are valid */
    long *picks;        /* (max_n) scratch for distinct random indices: no allocation per step */
} history;

/* 0 or RP_ENOMEM / RP_EARG. max_n bounds the images sampled or pushed per call. */
int history_init(history *h, long capacity, size_t image_size, int max_n);
void history_free(history *h);
/* Copies n distinct random stored images into out (n * image_size floats).
 * Requires n <= h->count (asserted): callers check history_ready first. */
void history_sample(history *h, rng_t *rng, float *out, int n);
/* history_sample that draws all n picks (the same draws, so the rng moves alike on every rank)
 * but copies only picks [first, first + count) into out: a rank's slice of a shared sample. */
void history_sample_part(history *h, rng_t *rng, float *out, int n, int first, int count);
/* 1 if the buffer holds at least n images, i.e. a half batch can be drawn. */
int history_ready(const history *h, int n);
/* Adds n fresh images: appended while there is room, then each remaining one overwrites a
 * distinct entry chosen uniformly at random. */
void history_push(history *h, rng_t *rng, const float *images, int n);
/* Restores a saved buffer (checkpoints): count images of image_size floats. */
int history_restore(history *h, const float *images, long count);

#endif
