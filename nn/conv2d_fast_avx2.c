/* conv2d_fast's kernels for AVX2 + FMA (8 floats per vector), compiled with -mavx2 -mfma
 * -mno-avx512f (Makefile), so they are what an AVX2-only CPU runs even in a -march=native build
 * made on an AVX-512 machine. */
#include <immintrin.h>
#include "nn/conv2d_fast_impl.h"

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define KSUF avx2
#define KSTR "avx2"
#define V __m256
#define VL 8
#define NBMAX 2
#define ACCMAX 12
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VFNMA(a, b, c) _mm256_fnmadd_ps((a), (b), (c))
#define VMAX0(a) _mm256_max_ps((a), _mm256_setzero_ps())
#define VMASKPOS(v, m) _mm256_and_ps((v), _mm256_cmp_ps((m), _mm256_setzero_ps(), _CMP_GT_OQ))
#define VKEEP(b, v) _mm256_and_ps((v), _mm256_castsi256_ps(_mm256_set1_epi32(-(b))))
#define VLOADM(b, p) _mm256_maskload_ps((p), _mm256_set1_epi32(-(int)(b)))
#define VHSUM(v) hsum256(v)

#include "nn/conv2d_fast_kern.h"
