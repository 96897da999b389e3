/* Deflate encoder for the dataset writer (see h5ds_deflate.h). Per block: tokenise into literals
 * and distance-1 runs while counting symbols, build length-limited Huffman codes, work out the
 * exact size, then write the dynamic block or, when smaller, a stored one. */
#include "io/h5ds_deflate.h"
#include <stdlib.h>
#include <string.h>
#include <zlib.h> /* adler32 */

#define DF_BLOCK 65535      /* input bytes per block: what one stored block can hold */
#define DF_TRIAL (16 << 10) /* first block of large single-plane data, for the early decision */
#define DF_LITLEN 286       /* literal/length alphabet */
#define DF_CL 19            /* code-length alphabet */

struct h5ds_deflater {
    uint16_t tok[DF_BLOCK];       /* < 256: literal; else 256 + run length (3..258) */
    uint8_t lcode[259], lext[259]; /* run length -> length code - 257, its extra bit count */
};

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t cl_order[DF_CL] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

int h5ds_deflater_init(h5ds_deflater **out) {
    h5ds_deflater *d = malloc(sizeof *d);
    *out = d;
    if (!d) return -1;
    for (int c = 0; c < 29; c++)
        for (int l = len_base[c]; l < (c == 28 ? 259 : len_base[c + 1]); l++) d->lcode[l] = (uint8_t)c, d->lext[l] = len_extra[c];
    return 0;
}

void h5ds_deflater_free(h5ds_deflater *d) { free(d); }

/* ---------------------------------------------------------------- Huffman codes */
/* Sorts m keys (frequency << 9 | symbol, frequencies < 2^24) by frequency, stably: LSD passes
 * of 8 bits, as many as the largest frequency needs; cheaper than qsort for a few hundred keys. */
static void sort_keys(uint64_t *key, int m) {
    uint64_t tmp[DF_LITLEN], most = 0;
    uint64_t *a = key, *b = tmp;
    for (int i = 0; i < m; i++) most = key[i] > most ? key[i] : most;
    for (int shift = 9; shift < 9 + 24 && most >> shift; shift += 8) {
        int count[257] = {0};
        for (int i = 0; i < m; i++) count[(a[i] >> shift & 255) + 1]++;
        for (int k = 0; k < 256; k++) count[k + 1] += count[k];
        for (int i = 0; i < m; i++) b[count[a[i] >> shift & 255]++] = a[i];
        uint64_t *t = a;
        a = b, b = t;
    }
    if (a != key) memcpy(key, a, (size_t)m * sizeof *key);
}

/* Code lengths (<= limit) of a prefix code for freq[0..n): Huffman's tree by the two-queue
 * method over symbols sorted by (frequency, symbol); depths beyond the limit are folded back by
 * the Kraft-sum repair miniz uses (tdefl_huffman_enforce_max_code_size), and lengths are dealt
 * out in frequency order. A lone symbol gets a partner so that the code is complete. */
static void huff_lengths(const uint32_t *freq, int n, int limit, uint8_t *len) {
    uint64_t key[DF_LITLEN], w[2 * DF_LITLEN];
    int parent[2 * DF_LITLEN], depth[2 * DF_LITLEN], m = 0;
    memset(len, 0, (size_t)n);
    for (int s = 0; s < n; s++)
        if (freq[s]) key[m++] = (uint64_t)freq[s] << 9 | (uint64_t)s;
    if (m == 0) return;
    if (m == 1) {
        int s = (int)(key[0] & 511);
        len[s] = 1, len[s ? 0 : 1] = 1;
        return;
    }
    sort_keys(key, m);
    for (int i = 0; i < m; i++) w[i] = key[i] >> 9;
    int leaf = 0, node = m; /* heads of the leaf and internal-node queues */
    for (int k = m; k < 2 * m - 1; k++) {
        int a = leaf < m && (node >= k || w[leaf] <= w[node]) ? leaf++ : node++;
        int b = leaf < m && (node >= k || w[leaf] <= w[node]) ? leaf++ : node++;
        w[k] = w[a] + w[b];
        parent[a] = parent[b] = k;
    }
    depth[2 * m - 2] = 0;
    for (int i = 2 * m - 3; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
    int count[16] = {0};
    for (int i = 0; i < m; i++) count[depth[i] > limit ? limit : depth[i]]++;
    uint32_t total = 0;
    for (int l = 1; l <= limit; l++) total += (uint32_t)count[l] << (limit - l);
    while (total != 1u << limit) { /* only ever > 2^limit: folding lengthens nothing */
        count[limit]--;
        for (int l = limit - 1; l > 0; l--)
            if (count[l]) {
                count[l]--;
                count[l + 1] += 2;
                break;
            }
        total--;
    }
    for (int l = limit, i = 0; l >= 1; l--) /* the rarest symbols get the longest codes */
        for (int c = 0; c < count[l]; c++) len[key[i++] & 511] = (uint8_t)l;
}

/* Canonical codes (RFC 1951 3.2.2), bit-reversed for the LSB-first bit writer. */
static void huff_codes(const uint8_t *len, int n, uint16_t *code) {
    int count[16] = {0}, next[16] = {0};
    for (int s = 0; s < n; s++) count[len[s]]++;
    count[0] = 0;
    for (int l = 1, c = 0; l < 16; l++) next[l] = c = (c + count[l - 1]) << 1;
    for (int s = 0; s < n; s++) {
        if (!len[s]) continue;
        unsigned v = (unsigned)next[len[s]]++, r = 0;
        for (int b = 0; b < len[s]; b++) r = r << 1 | (v >> b & 1);
        code[s] = (uint16_t)r;
    }
}

/* ---------------------------------------------------------------- bit output */
typedef struct {
    uint8_t *p;
    uint64_t acc;
    int n;
} bitw;

static inline void put(bitw *w, uint32_t v, int n) {
    w->acc |= (uint64_t)v << w->n;
    w->n += n;
    if (w->n >= 32) {
        uint32_t lo = (uint32_t)w->acc;
        w->p[0] = (uint8_t)lo, w->p[1] = (uint8_t)(lo >> 8), w->p[2] = (uint8_t)(lo >> 16), w->p[3] = (uint8_t)(lo >> 24);
        w->p += 4;
        w->acc >>= 32;
        w->n -= 32;
    }
}

static void align(bitw *w) { /* to a byte boundary, zero-padded */
    for (; w->n > 0; w->n -= 8) *w->p++ = (uint8_t)w->acc, w->acc >>= 8;
    w->n = 0, w->acc = 0;
}

/* ---------------------------------------------------------------- blocks */
/* Length of the run of src[i-1] starting at src[i], at most max. */
static inline size_t run_length(const uint8_t *src, size_t i, size_t max) {
    uint8_t prev = src[i - 1];
    size_t r = 0;
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t pat = prev * 0x0101010101010101ull;
    for (; r + 8 <= max; r += 8) {
        uint64_t v;
        memcpy(&v, src + i + r, 8);
        if (v != pat) return r + (size_t)(__builtin_ctzll(v ^ pat) >> 3);
    }
#endif
    while (r < max && src[i + r] == prev) r++;
    return r;
}

/* Writes src[a, b) as one block (runs may refer back to src[a - 1]); returns the bits written,
 * or 0 (nothing written) when that would exceed `room` bits. */
static uint64_t block(h5ds_deflater *d, bitw *w, const uint8_t *src, size_t a, size_t b, int last, uint64_t room) {
    uint32_t lf[DF_LITLEN] = {0}, nrun = 0;
    int nt = 0;
    size_t i = a;
    if (i == 0) d->tok[nt++] = src[0], lf[src[0]]++, i = 1;
    while (i < b) {
        size_t max = b - i < 258 ? b - i : 258, r = run_length(src, i, max);
        if (r >= 3) {
            d->tok[nt++] = (uint16_t)(256 + r);
            lf[257 + d->lcode[r]]++;
            nrun++;
            i += r;
        } else {
            d->tok[nt++] = src[i];
            lf[src[i]]++;
            i++;
        }
    }
    lf[256] = 1; /* end of block */

    /* the literal/length code, one distance code (distance 1, a 1-bit code as RFC 1951 allows) */
    uint8_t ll[DF_LITLEN], seq[DF_LITLEN + 1];
    uint16_t lc[DF_LITLEN];
    huff_lengths(lf, DF_LITLEN, 15, ll);
    int hlit = DF_LITLEN;
    while (hlit > 257 && !ll[hlit - 1]) hlit--;
    memcpy(seq, ll, (size_t)hlit);
    seq[hlit] = 1; /* the distance code's length follows the literal/length ones */
    /* code lengths, run-length coded with symbols 16 (repeat previous 3-6), 17 (zeros 3-10),
     * 18 (zeros 11-138) */
    uint8_t cs[DF_LITLEN + 1], cx[DF_LITLEN + 1];
    uint32_t cf[DF_CL] = {0};
    int nc = 0;
    for (int k = 0, tot = hlit + 1; k < tot;) {
        int v = seq[k], r = 1;
        while (k + r < tot && seq[k + r] == v) r++;
        k += r;
        if (v == 0) {
            while (r >= 11) {
                int q = r < 138 ? r : 138;
                cs[nc] = 18, cx[nc++] = (uint8_t)(q - 11), r -= q;
            }
            if (r >= 3) cs[nc] = 17, cx[nc++] = (uint8_t)(r - 3), r = 0;
        } else {
            cs[nc] = (uint8_t)v, cx[nc++] = 0, r--;
            while (r >= 3) {
                int q = r < 6 ? r : 6;
                cs[nc] = 16, cx[nc++] = (uint8_t)(q - 3), r -= q;
            }
        }
        while (r-- > 0) cs[nc] = (uint8_t)v, cx[nc++] = 0;
    }
    for (int k = 0; k < nc; k++) cf[cs[k]]++;
    uint8_t cl[DF_CL];
    uint16_t cc[DF_CL];
    huff_lengths(cf, DF_CL, 7, cl);
    int hclen = DF_CL;
    while (hclen > 4 && !cl[cl_order[hclen - 1]]) hclen--;

    /* exact sizes of the dynamic and the stored block */
    uint64_t dyn = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen + nrun;
    for (int k = 0; k < nc; k++) dyn += cl[cs[k]] + (cs[k] == 16 ? 2 : cs[k] == 17 ? 3 : cs[k] == 18 ? 7 : 0);
    for (int s = 0; s < DF_LITLEN; s++) dyn += (uint64_t)lf[s] * ll[s];
    for (int c = 0; c < 29; c++) dyn += (uint64_t)lf[257 + c] * len_extra[c];
    uint64_t sto = 3 + (uint64_t)((8 - (w->n + 3) % 8) % 8) + 32 + 8 * (uint64_t)(b - a);
    if ((dyn < sto ? dyn : sto) > room) return 0; /* room is whole bytes: padding fits too */

    if (sto <= dyn) {
        put(w, (uint32_t)last, 1);
        put(w, 0, 2);
        align(w);
        uint16_t len = (uint16_t)(b - a);
        w->p[0] = (uint8_t)len, w->p[1] = (uint8_t)(len >> 8), w->p[2] = (uint8_t)~len, w->p[3] = (uint8_t)(~len >> 8);
        memcpy(w->p + 4, src + a, b - a);
        w->p += 4 + (b - a);
        return sto;
    }
    huff_codes(ll, DF_LITLEN, lc);
    huff_codes(cl, DF_CL, cc);
    put(w, (uint32_t)last, 1);
    put(w, 2, 2);
    put(w, (uint32_t)(hlit - 257), 5);
    put(w, 0, 5); /* one distance code */
    put(w, (uint32_t)(hclen - 4), 4);
    for (int k = 0; k < hclen; k++) put(w, cl[cl_order[k]], 3);
    for (int k = 0; k < nc; k++) {
        put(w, cc[cs[k]], cl[cs[k]]);
        if (cs[k] >= 16) put(w, cx[k], cs[k] == 16 ? 2 : cs[k] == 17 ? 3 : 7);
    }
    for (int k = 0; k < nt; k++) {
        unsigned t = d->tok[k];
        if (t < 256) {
            put(w, lc[t], ll[t]);
        } else {
            unsigned r = t - 256, c = d->lcode[r];
            put(w, lc[257 + c], ll[257 + c]);
            if (d->lext[r]) put(w, r - len_base[c], d->lext[r]);
            put(w, 0, 1); /* distance 1 */
        }
    }
    put(w, lc[256], ll[256]);
    return dyn;
}

size_t h5ds_deflate(h5ds_deflater *d, uint8_t *dst, size_t limit, const uint8_t *src, size_t n, int planes) {
    if (n == 0 || limit < 8) return 0;
    if (planes < 1 || n % (size_t)planes) planes = 1;
    size_t plane = n / (size_t)planes, pos = 0;
    uint64_t used = 0, budget = 8 * (uint64_t)(limit - 6); /* 2 header and 4 checksum bytes */
    bitw w = {dst + 2, 0, 0};
    dst[0] = 0x78, dst[1] = 0x01; /* deflate, 32 KB window, "fastest"; (0x7801 % 31) == 0 */
    int trial = planes == 1 && n > 2 * DF_TRIAL;
    while (pos < n) {
        size_t end = pos + (trial && pos == 0 ? DF_TRIAL : DF_BLOCK);
        size_t pend = (pos / plane + 1) * plane; /* blocks do not straddle planes */
        end = end < pend ? end : pend;
        uint64_t bits = block(d, &w, src, pos, end, end == n, budget - used);
        if (!bits) return 0;
        used += bits;
        /* large single-plane data: give up after the first block if it compressed too little */
        if (trial && pos == 0 && used > 8 * (uint64_t)DF_TRIAL * limit / n) return 0;
        pos = end;
    }
    align(&w);
    uint32_t ad = (uint32_t)adler32(adler32(0, NULL, 0), src, (uInt)n);
    w.p[0] = (uint8_t)(ad >> 24), w.p[1] = (uint8_t)(ad >> 16), w.p[2] = (uint8_t)(ad >> 8), w.p[3] = (uint8_t)ad;
    return (size_t)(w.p + 4 - dst);
}
