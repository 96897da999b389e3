/* conv2d_fast's kernels for AVX-512 (16 floats per vector), compiled with -mavx512f -mavx512bw
 * -mavx512dq -mavx512vl (Makefile): only called after conv2d_fast checked the CPU supports them. */
#include <immintrin.h>
#include "nn/conv2d_fast_impl.h"

#define KSUF avx512
#define KSTR "avx512"
#define V __m512
#define VL 16
#define NBMAX 4
#define ACCMAX 24
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VFNMA(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define VMAX0(a) _mm512_max_ps((a), _mm512_setzero_ps())
#define VMASKPOS(v, m) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((m), _mm512_setzero_ps(), _CMP_GT_OQ), (v))
#define VKEEP(b, v) _mm512_maskz_mov_ps((__mmask16)-(b), (v))
#define VLOADM(b, p) _mm512_maskz_loadu_ps((__mmask16) - (b), (p))
#define VHSUM(v) _mm512_reduce_add_ps(v)

#include "nn/conv2d_fast_kern.h"
