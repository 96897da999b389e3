/* FNV-1a, 64 bits: a cheap fingerprint of bytes (parameters in a refine manifest, the training
 * state compared across MPI ranks). Not for adversaries. */
#ifndef RP_HASH_H
#define RP_HASH_H
#include <stddef.h>
#include <stdint.h>

#define RP_FNV1A_INIT 0xcbf29ce484222325ULL

/* h updated with n bytes at p; start from RP_FNV1A_INIT. */
static inline uint64_t rp_fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

#endif
