// ragdb vector kernels. See include/ragdb_kernels.h for the contract and docs/dense.md for the
// measurements behind the choices. Three levels per kernel: a scalar reference (also the
// fallback on non-x86 machines), AVX2+FMA+F16C, and AVX-512 (F, BW, VL). Per-function target
// attributes keep the package free of unsafe compiler flags: one binary uses whatever the CPU
// has, chosen once at first use.
#include "ragdb_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define RAGDB_X86 1
#include <immintrin.h>
#else
#define RAGDB_X86 0
#endif

// MARK: scalar reference

static inline float load_f32(const void *v, size_t i) {
    float x;
    memcpy(&x, (const char *)v + 4 * i, 4);
    return x;
}

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: renormalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void f32_dot_norm_scalar(const float *q, const void *v, size_t n, float out[2]) {
    float d = 0, s = 0;
    for (size_t i = 0; i < n; i++) { float x = load_f32(v, i); d += q[i] * x; s += x * x; }
    out[0] = d; out[1] = s;
}

static float f32_dot_scalar(const float *q, const void *v, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) d += q[i] * load_f32(v, i);
    return d;
}

static void f16_dot_norm_scalar(const float *q, const void *v, size_t n, float out[2]) {
    float d = 0, s = 0;
    const unsigned char *p = v;
    for (size_t i = 0; i < n; i++) {
        float x = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        d += q[i] * x; s += x * x;
    }
    out[0] = d; out[1] = s;
}

static void i8_dot_norm_scalar(const float *q, const void *v, size_t n, float out[2]) {
    float d = 0, s = 0;
    const int8_t *p = v;
    for (size_t i = 0; i < n; i++) { float x = p[i]; d += q[i] * x; s += x * x; }
    out[0] = d; out[1] = s;
}

static void f32_dot_batch_scalar(const float *queries, size_t nq, const void *const *rows,
                                 size_t nrows, size_t n, float *out) {
    for (size_t r = 0; r < nrows; r++)
        for (size_t j = 0; j < nq; j++) out[j * nrows + r] = f32_dot_scalar(queries + j * n, rows[r], n);
}

static void u8_dot_many_scalar(const float *q, const uint8_t *codes, size_t n, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * n;
        float d = 0;
        for (size_t i = 0; i < n; i++) d += q[i] * (float)p[i];
        out[c] = d;
    }
}

static void hamming_many_scalar(const uint64_t *q, const uint64_t *codes, size_t words, size_t count,
                                uint32_t *out) {
    for (size_t c = 0; c < count; c++) {
        uint32_t h = 0;
        for (size_t w = 0; w < words; w++) {
            uint64_t x = q[w] ^ codes[c * words + w];
            while (x) { x &= x - 1; h++; } // no popcnt at the baseline target
        }
        out[c] = h;
    }
}

static void pq_adc_many_scalar(const float *table, const uint8_t *codes, size_t m, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * m;
        float d = 0;
        for (size_t s = 0; s < m; s++) d += table[s * 256 + p[s]];
        out[c] = d;
    }
}

static void bits_dot_many_scalar(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * stride;
        float d = 0;
        for (size_t i = 0; i < n; i++)
            if (p[i >> 3] >> (i & 7) & 1) d += q[i];
        out[c] = d;
    }
}

#if RAGDB_X86

// MARK: AVX2 + FMA + F16C

#define AVX2 __attribute__((target("avx2,fma,f16c,popcnt")))

AVX2 static inline float hsum256(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

AVX2 static void f32_dot_norm_avx2(const float *q, const void *v, size_t n, float out[2]) {
    const float *x = v;
    __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps(), s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_loadu_ps(x + i), a1 = _mm256_loadu_ps(x + i + 8);
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), a0, d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), a1, d1);
        s0 = _mm256_fmadd_ps(a0, a0, s0);
        s1 = _mm256_fmadd_ps(a1, a1, s1);
    }
    float d = hsum256(_mm256_add_ps(d0, d1)), s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) { float a = load_f32(v, i); d += q[i] * a; s += a * a; }
    out[0] = d; out[1] = s;
}

AVX2 static float f32_dot_avx2(const float *q, const void *v, size_t n) {
    const float *x = v;
    __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps(), d2 = _mm256_setzero_ps(), d3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(x + i + 8), d1);
        d2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), _mm256_loadu_ps(x + i + 16), d2);
        d3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), _mm256_loadu_ps(x + i + 24), d3);
    }
    for (; i + 8 <= n; i += 8) d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(x + i), d0);
    float d = hsum256(_mm256_add_ps(_mm256_add_ps(d0, d1), _mm256_add_ps(d2, d3)));
    for (; i < n; i++) d += q[i] * load_f32(v, i);
    return d;
}

AVX2 static void f16_dot_norm_avx2(const float *q, const void *v, size_t n, float out[2]) {
    const unsigned char *p = v;
    __m256 d0 = _mm256_setzero_ps(), s0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
        __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i + 16)));
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), a0, d0);
        d1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), a1, d1);
        s0 = _mm256_fmadd_ps(a0, a0, s0);
        s1 = _mm256_fmadd_ps(a1, a1, s1);
    }
    float d = hsum256(_mm256_add_ps(d0, d1)), s = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        float a = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        d += q[i] * a; s += a * a;
    }
    out[0] = d; out[1] = s;
}

AVX2 static void i8_dot_norm_avx2(const float *q, const void *v, size_t n, float out[2]) {
    const int8_t *p = v;
    __m256 d0 = _mm256_setzero_ps(), s0 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(p + i));
        __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
        d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), a, d0);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    float d = hsum256(d0), s = hsum256(s0);
    for (; i < n; i++) { float a = p[i]; d += q[i] * a; s += a * a; }
    out[0] = d; out[1] = s;
}

AVX2 static void u8_dot_many_avx2(const float *q, const uint8_t *codes, size_t n, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * n;
        __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            __m128i b = _mm_loadu_si128((const __m128i *)(p + i));
            __m256 a0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
            __m256 a1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
            d0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), a0, d0);
            d1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), a1, d1);
        }
        float d = hsum256(_mm256_add_ps(d0, d1));
        for (; i < n; i++) d += q[i] * (float)p[i];
        out[c] = d;
    }
}

AVX2 static void hamming_many_popcnt(const uint64_t *q, const uint64_t *codes, size_t words, size_t count,
                                     uint32_t *out) {
    for (size_t c = 0; c < count; c++) {
        const uint64_t *p = codes + c * words;
        uint64_t h = 0;
        for (size_t w = 0; w < words; w++) h += (uint64_t)_mm_popcnt_u64(q[w] ^ p[w]);
        out[c] = (uint32_t)h;
    }
}

AVX2 static void pq_adc_many_avx2(const float *table, const uint8_t *codes, size_t m, size_t count, float *out) {
    // Eight codes at a time: gather one table entry per code for each subspace.
    size_t c = 0;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i stride = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)m));
    // Each gather reads 4 bytes at base + s + m·lane, so stop while 3 bytes of slack remain.
    for (; (c + 8) * m + 3 <= count * m; c += 8) {
        const uint8_t *base = codes + c * m;
        __m256 acc = _mm256_setzero_ps();
        for (size_t s = 0; s < m; s++) {
            __m256i idx = _mm256_i32gather_epi32((const int *)(const void *)(base + s), stride, 1);
            idx = _mm256_and_si256(idx, _mm256_set1_epi32(0xFF));
            acc = _mm256_add_ps(acc, _mm256_i32gather_ps(table + s * 256, idx, 4));
        }
        _mm256_storeu_ps(out + c, acc);
    }
    if (c < count) pq_adc_many_scalar(table, codes + c * m, m, count - c, out + c);
}

AVX2 static void bits_dot_many_avx2(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out) {
    const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * stride;
        __m256 acc = _mm256_setzero_ps();
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256i b = _mm256_and_si256(_mm256_set1_epi32(p[i >> 3]), bits);
            __m256 mask = _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, bits));
            acc = _mm256_add_ps(acc, _mm256_and_ps(mask, _mm256_loadu_ps(q + i)));
        }
        float d = hsum256(acc);
        for (; i < n; i++)
            if (p[i >> 3] >> (i & 7) & 1) d += q[i];
        out[c] = d;
    }
}

static void f32_dot_batch_avx2(const float *queries, size_t nq, const void *const *rows, size_t nrows,
                               size_t n, float *out) {
    for (size_t r = 0; r < nrows; r++)
        for (size_t j = 0; j < nq; j++) out[j * nrows + r] = f32_dot_avx2(queries + j * n, rows[r], n);
}

// MARK: AVX-512

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c,popcnt")))

// `ahead`: prefetch 8 KiB ahead, interleaved with the loads, for sequential scans of the
// LMDB map, where the hardware prefetcher stops at each 4 KiB page (docs/dense.md). Inlined
// with a constant flag, so each caller gets its own loop.
AVX512 static inline __attribute__((always_inline)) void f32_dot_norm_avx512_body(const float *q, const void *v, size_t n, float out[2], int ahead) {
    const float *x = v;
    __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps(), s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if (ahead) {
            _mm_prefetch((const char *)(x + i) + 8192, _MM_HINT_T0);
            _mm_prefetch((const char *)(x + i) + 8192 + 64, _MM_HINT_T0);
        }
        __m512 a0 = _mm512_loadu_ps(x + i), a1 = _mm512_loadu_ps(x + i + 16);
        d0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), a0, d0);
        d1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), a1, d1);
        s0 = _mm512_fmadd_ps(a0, a0, s0);
        s1 = _mm512_fmadd_ps(a1, a1, s1);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 a = _mm512_maskz_loadu_ps(k, x + i);
        d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, q + i), a, d0);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

AVX512 static void f32_dot_norm_avx512(const float *q, const void *v, size_t n, float out[2]) {
    f32_dot_norm_avx512_body(q, v, n, out, 0);
}

AVX512 static void f32_dot_norm_stream_avx512(const float *q, const void *v, size_t n, float out[2]) {
    f32_dot_norm_avx512_body(q, v, n, out, 1);
}

AVX512 static float f32_dot_avx512(const float *q, const void *v, size_t n) {
    const float *x = v;
    __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps(), d2 = _mm512_setzero_ps(), d3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        d0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(x + i), d0);
        d1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(x + i + 16), d1);
        d2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 32), _mm512_loadu_ps(x + i + 32), d2);
        d3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 48), _mm512_loadu_ps(x + i + 48), d3);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, q + i), _mm512_maskz_loadu_ps(k, x + i), d0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(d0, d1), _mm512_add_ps(d2, d3)));
}

AVX512 static void f16_dot_norm_avx512(const float *q, const void *v, size_t n, float out[2]) {
    const unsigned char *p = v;
    __m512 d0 = _mm512_setzero_ps(), s0 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p + 2 * i));
        d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, q + i), a, d0);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    out[0] = _mm512_reduce_add_ps(d0);
    out[1] = _mm512_reduce_add_ps(s0);
}

AVX512 static void i8_dot_norm_avx512(const float *q, const void *v, size_t n, float out[2]) {
    const int8_t *p = v;
    __m512 d0 = _mm512_setzero_ps(), s0 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 a = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, p + i)));
        d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, q + i), a, d0);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    out[0] = _mm512_reduce_add_ps(d0);
    out[1] = _mm512_reduce_add_ps(s0);
}

AVX512 static void u8_dot_many_avx512(const float *q, const uint8_t *codes, size_t n, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * n;
        __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
            __m512 a0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i))));
            __m512 a1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + i + 16))));
            d0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), a0, d0);
            d1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), a1, d1);
        }
        for (; i < n; i += 16) {
            __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
            __m512 a = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, p + i)));
            d0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, q + i), a, d0);
        }
        out[c] = _mm512_reduce_add_ps(_mm512_add_ps(d0, d1));
    }
}

AVX512 static void bits_dot_many_avx512(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * stride;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        size_t i = 0;
        for (; i + 32 <= n; i += 32) {
            uint32_t m;
            memcpy(&m, p + (i >> 3), 4);
            a0 = _mm512_mask_add_ps(a0, (__mmask16)(m & 0xFFFF), a0, _mm512_loadu_ps(q + i));
            a1 = _mm512_mask_add_ps(a1, (__mmask16)(m >> 16), a1, _mm512_loadu_ps(q + i + 16));
        }
        for (; i < n; i += 16) {
            size_t left = n - i < 16 ? n - i : 16;
            uint16_t m = p[i >> 3];
            if (left > 8) m |= (uint16_t)(p[(i >> 3) + 1] << 8);
            __mmask16 k = left == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            a0 = _mm512_mask_add_ps(a0, (__mmask16)(m & k), a0, _mm512_maskz_loadu_ps(k, q + i));
        }
        out[c] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

// Stores the first rn of 32 row results (lo: rows 0-15, hi: rows 16-31) contiguously.
AVX512 static inline void store_rows(float *dst, size_t rn, __m512 lo, __m512 hi) {
    __mmask16 klo = rn >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rn) - 1);
    _mm512_mask_storeu_ps(dst, klo, lo);
    if (rn > 16) {
        __mmask16 khi = rn >= 32 ? (__mmask16)0xFFFF : (__mmask16)((1u << (rn - 16)) - 1);
        _mm512_mask_storeu_ps(dst + 16, khi, hi);
    }
}

// GEMM-style: 32 rows transposed into a dimension-major block, so that two vector loads hold
// dimension i of 32 rows; each of 8 queries broadcasts its value of dimension i into two FMAs
// (16 accumulators; 10 loads feed 16 FMAs, so the FMA units, not the load ports, set the pace).
// No horizontal sums: the 4×4 register tile spent a third of its time in them (57 GFLOP/s).
AVX512 static void f32_dot_batch_avx512(const float *queries, size_t nq, const void *const *rows,
                                        size_t nrows, size_t n, float *out) {
    float *block = aligned_alloc(64, ((sizeof(float) * 32 * n + 63) / 64) * 64);
    if (!block) { f32_dot_batch_scalar(queries, nq, rows, nrows, n, out); return; }
    for (size_t r0 = 0; r0 < nrows; r0 += 32) {
        size_t rn = nrows - r0 < 32 ? nrows - r0 : 32;
        for (size_t r = 0; r < 32; r++) {
            if (r < rn) {
                const float *x = rows[r0 + r];
                for (size_t i = 0; i < n; i++) block[i * 32 + r] = load_f32(x, i);
            } else {
                for (size_t i = 0; i < n; i++) block[i * 32 + r] = 0;
            }
        }
        size_t j = 0;
        for (; j + 8 <= nq; j += 8) {
            const float *q = queries + j * n;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
            __m512 a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
            const float *q0 = q, *q1 = q + n, *q2 = q + 2 * n, *q3 = q + 3 * n;
            const float *q4 = q + 4 * n, *q5 = q + 5 * n, *q6 = q + 6 * n, *q7 = q + 7 * n;
            for (size_t i = 0; i < n; i++) {
                __m512 lo = _mm512_load_ps(block + i * 32), hi = _mm512_load_ps(block + i * 32 + 16);
                __m512 b;
                b = _mm512_set1_ps(q0[i]); a0 = _mm512_fmadd_ps(lo, b, a0); a1 = _mm512_fmadd_ps(hi, b, a1);
                b = _mm512_set1_ps(q1[i]); a2 = _mm512_fmadd_ps(lo, b, a2); a3 = _mm512_fmadd_ps(hi, b, a3);
                b = _mm512_set1_ps(q2[i]); a4 = _mm512_fmadd_ps(lo, b, a4); a5 = _mm512_fmadd_ps(hi, b, a5);
                b = _mm512_set1_ps(q3[i]); a6 = _mm512_fmadd_ps(lo, b, a6); a7 = _mm512_fmadd_ps(hi, b, a7);
                b = _mm512_set1_ps(q4[i]); a8 = _mm512_fmadd_ps(lo, b, a8); a9 = _mm512_fmadd_ps(hi, b, a9);
                b = _mm512_set1_ps(q5[i]); a10 = _mm512_fmadd_ps(lo, b, a10); a11 = _mm512_fmadd_ps(hi, b, a11);
                b = _mm512_set1_ps(q6[i]); a12 = _mm512_fmadd_ps(lo, b, a12); a13 = _mm512_fmadd_ps(hi, b, a13);
                b = _mm512_set1_ps(q7[i]); a14 = _mm512_fmadd_ps(lo, b, a14); a15 = _mm512_fmadd_ps(hi, b, a15);
            }
            __m512 a[16] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15};
            for (size_t t = 0; t < 8; t++) store_rows(out + (j + t) * nrows + r0, rn, a[2 * t], a[2 * t + 1]);
        }
        for (; j < nq; j++) {
            const float *q = queries + j * n;
            __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
            for (size_t i = 0; i < n; i++) {
                __m512 b = _mm512_set1_ps(q[i]);
                lo = _mm512_fmadd_ps(_mm512_load_ps(block + i * 32), b, lo);
                hi = _mm512_fmadd_ps(_mm512_load_ps(block + i * 32 + 16), b, hi);
            }
            store_rows(out + j * nrows + r0, rn, lo, hi);
        }
    }
    free(block);
}

#endif // RAGDB_X86

// MARK: u8 × s8 integer dot products (AVX-512 VNNI)

static void u8s8_dot_many_scalar(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out) {
    for (size_t c = 0; c < count; c++) {
        const uint8_t *p = codes + c * n;
        int32_t d = 0;
        for (size_t i = 0; i < n; i++) d += (int32_t)p[i] * (int32_t)q[i];
        out[c] = d;
    }
}

#if RAGDB_X86
// 64 products per instruction (vpdpbusd: unsigned bytes × signed bytes, summed in groups of
// four into 32-bit lanes). Four codes at a time: one accumulator chain per code would wait on
// vpdpbusd's latency at every step; four independent chains keep the unit busy.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline void u8s8_dot4_vnni(const int8_t *q, const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3,
                                  size_t n, int32_t *out) {
    const size_t full = n & ~(size_t)63;
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
    for (size_t i = 0; i < full; i += 64) {
        const __m512i qv = _mm512_loadu_si512((const void *)(q + i));
        a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512((const void *)(p0 + i)), qv);
        a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512((const void *)(p1 + i)), qv);
        a2 = _mm512_dpbusd_epi32(a2, _mm512_loadu_si512((const void *)(p2 + i)), qv);
        a3 = _mm512_dpbusd_epi32(a3, _mm512_loadu_si512((const void *)(p3 + i)), qv);
    }
    if (n > full) {
        const __mmask64 tail = (__mmask64)((1ULL << (n - full)) - 1);
        const __m512i qv = _mm512_maskz_loadu_epi8(tail, q + full);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_maskz_loadu_epi8(tail, p0 + full), qv);
        a1 = _mm512_dpbusd_epi32(a1, _mm512_maskz_loadu_epi8(tail, p1 + full), qv);
        a2 = _mm512_dpbusd_epi32(a2, _mm512_maskz_loadu_epi8(tail, p2 + full), qv);
        a3 = _mm512_dpbusd_epi32(a3, _mm512_maskz_loadu_epi8(tail, p3 + full), qv);
    }
    out[0] = _mm512_reduce_add_epi32(a0);
    out[1] = _mm512_reduce_add_epi32(a1);
    out[2] = _mm512_reduce_add_epi32(a2);
    out[3] = _mm512_reduce_add_epi32(a3);
}

// One code: a single chain, for the last codes of a call.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static inline int32_t u8s8_dot1_vnni(const int8_t *q, const uint8_t *p, size_t n) {
    const size_t full = n & ~(size_t)63;
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = 0; i < full; i += 64)
        acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512((const void *)(p + i)), _mm512_loadu_si512((const void *)(q + i)));
    if (n > full) {
        const __mmask64 tail = (__mmask64)((1ULL << (n - full)) - 1);
        acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(tail, p + full), _mm512_maskz_loadu_epi8(tail, q + full));
    }
    return _mm512_reduce_add_epi32(acc);
}

__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void u8s8_dot_many_vnni(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out) {
    size_t c = 0;
    for (; c + 4 <= count; c += 4) {
        const uint8_t *p = codes + c * n;
        u8s8_dot4_vnni(q, p, p + n, p + 2 * n, p + 3 * n, n, out + c);
    }
    for (; c < count; c++) out[c] = u8s8_dot1_vnni(q, codes + c * n, n);
}

// The same for codes picked by row index (the rescored rows of a PCA search).
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void u8s8_dot_rows_vnni(const int8_t *q, const uint8_t *codes, size_t n, const uint32_t *rows, size_t count, int32_t *out) {
    size_t c = 0;
    for (; c + 4 <= count; c += 4)
        u8s8_dot4_vnni(q, codes + (size_t)rows[c] * n, codes + (size_t)rows[c + 1] * n, codes + (size_t)rows[c + 2] * n,
                       codes + (size_t)rows[c + 3] * n, n, out + c);
    for (; c < count; c++) out[c] = u8s8_dot1_vnni(q, codes + (size_t)rows[c] * n, n);
}
#endif

static int has_vnni = -1;

int ragdb_kernels_have_vnni(void) {
    // Detected once; threads that race here compute the same answer and store it whole
    // (relaxed atomics: no torn or intermediate value is ever read).
    int known = __atomic_load_n(&has_vnni, __ATOMIC_RELAXED);
    if (known < 0) {
        known = 0;
#if RAGDB_X86
        __builtin_cpu_init();
        known = ragdb_kernels_best_level() >= RAGDB_LEVEL_AVX512 && __builtin_cpu_supports("avx512vnni");
#endif
        __atomic_store_n(&has_vnni, known, __ATOMIC_RELAXED);
    }
    return known && ragdb_kernels_level() >= RAGDB_LEVEL_AVX512;
}

void ragdb_u8s8_dot_many(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out) {
#if RAGDB_X86
    if (ragdb_kernels_have_vnni()) { u8s8_dot_many_vnni(q, codes, n, count, out); return; }
#endif
    u8s8_dot_many_scalar(q, codes, n, count, out);
}

// MARK: PCA prefix plane: 4-bit codes of 16 rows interleaved per block

static void u4s8_dots_interleaved_scalar(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out) {
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = blocks + b * groups * 64;
        for (size_t lane = 0; lane < 16; lane++) {
            int32_t d = 0;
            for (size_t g = 0; g < groups; g++)
                for (size_t t = 0; t < 4; t++) {
                    const uint8_t byte = blk[g * 64 + lane * 4 + t];
                    d += (int32_t)(byte & 15) * (int32_t)q[g * 8 + t] + (int32_t)(byte >> 4) * (int32_t)q[g * 8 + 4 + t];
                }
            out[b * 16 + lane] = d;
        }
    }
}

#if RAGDB_X86
// Half the bytes of the 8-bit plane for the same dimensions: each 64-byte run holds eight
// dimensions of 16 rows, the low nibbles four of them and the high nibbles the next four;
// a mask and a shift make two vpdpbusd operands of it.
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void u4s8_dots_interleaved_vnni(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out) {
    const size_t stride = groups * 64;
    const __m512i low = _mm512_set1_epi8(0x0F);
    size_t b = 0;
    for (; b + 4 <= nblocks; b += 4) {
        const uint8_t *p = blocks + b * stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
        for (size_t g = 0; g < groups; g++) {
            int32_t w0, w1;
            memcpy(&w0, q + 8 * g, 4);
            memcpy(&w1, q + 8 * g + 4, 4);
            const __m512i q0 = _mm512_set1_epi32(w0), q1 = _mm512_set1_epi32(w1);
            const __m512i x0 = _mm512_loadu_si512((const void *)(p + g * 64));
            const __m512i x1 = _mm512_loadu_si512((const void *)(p + stride + g * 64));
            const __m512i x2 = _mm512_loadu_si512((const void *)(p + 2 * stride + g * 64));
            const __m512i x3 = _mm512_loadu_si512((const void *)(p + 3 * stride + g * 64));
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(x0, low), q0);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(x1, low), q0);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(x2, low), q0);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(x3, low), q0);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(_mm512_srli_epi16(x0, 4), low), q1);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(x1, 4), low), q1);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(_mm512_srli_epi16(x2, 4), low), q1);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(_mm512_srli_epi16(x3, 4), low), q1);
        }
        _mm512_storeu_si512((void *)(out + b * 16), a0);
        _mm512_storeu_si512((void *)(out + b * 16 + 16), a1);
        _mm512_storeu_si512((void *)(out + b * 16 + 32), a2);
        _mm512_storeu_si512((void *)(out + b * 16 + 48), a3);
    }
    for (; b < nblocks; b++) {
        const uint8_t *p = blocks + b * stride;
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (size_t g = 0; g < groups; g++) {
            int32_t w0, w1;
            memcpy(&w0, q + 8 * g, 4);
            memcpy(&w1, q + 8 * g + 4, 4);
            const __m512i x = _mm512_loadu_si512((const void *)(p + g * 64));
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(x, low), _mm512_set1_epi32(w0));
            a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(x, 4), low), _mm512_set1_epi32(w1));
        }
        _mm512_storeu_si512((void *)(out + b * 16), _mm512_add_epi32(a0, a1));
    }
}
#endif

void ragdb_u4s8_dots_interleaved(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out) {
#if RAGDB_X86
    if (ragdb_kernels_have_vnni()) { u4s8_dots_interleaved_vnni(q, blocks, groups, nblocks, out); return; }
#endif
    u4s8_dots_interleaved_scalar(q, blocks, groups, nblocks, out);
}

void ragdb_u4s8_dots_interleaved_reference(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out) {
    u4s8_dots_interleaved_scalar(q, blocks, groups, nblocks, out);
}

// MARK: selecting the m largest products

static size_t count_at_least_scalar(const int32_t *v, size_t n, int32_t t) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += v[i] >= t;
    return c;
}

#if RAGDB_X86
__attribute__((target("avx512f")))
static size_t count_at_least_avx512(const int32_t *v, size_t n, int32_t t) {
    const __m512i f = _mm512_set1_epi32(t);
    size_t c = 0, i = 0;
    for (; i + 16 <= n; i += 16) c += (size_t)__builtin_popcount(_mm512_cmpge_epi32_mask(_mm512_loadu_si512((const void *)(v + i)), f));
    if (i < n) {
        const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
        c += (size_t)__builtin_popcount(_mm512_mask_cmpge_epi32_mask(tail, _mm512_maskz_loadu_epi32(tail, v + i), f));
    }
    return c;
}

__attribute__((target("avx512f")))
static void block_maxima_avx512(const int32_t *values, size_t blocks, int32_t *out) {
    for (size_t b = 0; b < blocks; b++) out[b] = _mm512_reduce_max_epi32(_mm512_loadu_si512((const void *)(values + 16 * b)));
}

// The values ≥ floor and their indices, in index order, compressed in registers and stored
// whole (a compressing store to memory is microcoded on AMD Zen 4): `vals` and `idx` need
// `capacity` + 16 entries. Returns SIZE_MAX when more than `capacity` values qualify.
__attribute__((target("avx512f")))
static size_t collect_avx512(const int32_t *values, size_t count, int32_t floor, int32_t *vals, uint32_t *idx, size_t capacity) {
    size_t n = 0, i = 0;
    const __m512i f = _mm512_set1_epi32(floor);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i + 16 <= count; i += 16) {
        const __m512i v = _mm512_loadu_si512((const void *)(values + i));
        const __mmask16 keep = _mm512_cmpge_epi32_mask(v, f);
        if (!keep) continue;
        const size_t c = (size_t)__builtin_popcount(keep);
        if (n + c > capacity) return SIZE_MAX;
        _mm512_storeu_si512((void *)(vals + n), _mm512_maskz_compress_epi32(keep, v));
        _mm512_storeu_si512((void *)(idx + n), _mm512_maskz_compress_epi32(keep, _mm512_add_epi32(iota, _mm512_set1_epi32((int)i))));
        n += c;
    }
    for (; i < count; i++)
        if (values[i] >= floor) {
            if (n == capacity) return SIZE_MAX;
            vals[n] = values[i];
            idx[n++] = (uint32_t)i;
        }
    return n;
}
#endif

static size_t count_at_least(const int32_t *v, size_t n, int32_t t) {
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX512) return count_at_least_avx512(v, n, t);
#endif
    return count_at_least_scalar(v, n, t);
}

// The k-th largest of n values (1 ≤ k ≤ n): the largest t that at least k values reach,
// by bisection over [min, max] with a vector count per step (about 20 counting passes over
// n values, without the mispredicted swaps of a quickselect).
static int32_t kth_largest(const int32_t *v, size_t n, size_t k) {
    int32_t lo = v[0], hi = v[0];
    for (size_t i = 1; i < n; i++) { lo = v[i] < lo ? v[i] : lo; hi = v[i] > hi ? v[i] : hi; }
    while (lo < hi) {
        const int32_t mid = (int32_t)((int64_t)lo + ((int64_t)hi - (int64_t)lo + 1) / 2);
        if (count_at_least(v, n, mid) >= k) lo = mid; else hi = mid - 1;
    }
    return lo;
}

static size_t collect_scalar(const int32_t *values, size_t count, int32_t floor, int32_t *vals, uint32_t *idx, size_t capacity) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (values[i] >= floor) {
            if (n == capacity) return SIZE_MAX;
            vals[n] = values[i];
            idx[n++] = (uint32_t)i;
        }
    return n;
}

size_t ragdb_top_rows(const int32_t *values, size_t count, size_t m, uint32_t *rows, int32_t *best) {
    if (count == 0 || m == 0) return 0;
    if (m >= count) {
        for (size_t i = 0; i < count; i++) { rows[i] = (uint32_t)i; best[i] = values[i]; }
        return count;
    }
    // A floor below which no row can be among the m best, and above which few others are:
    // the m-th largest of the maxima of 16-row blocks (at least m blocks reach it, so at
    // least m rows do; about 1.1·m on unordered data). Too few blocks: the m-th value itself.
    const size_t blocks = count / 16;
    int32_t floor;
    if (blocks >= m) {
        // On the stack up to 2,048 blocks (32,768 rows: every one-list index, which ragdb
        // builds below 20,000 vectors).
        int32_t stack[2048];
        int32_t *maxima = blocks <= 2048 ? stack : (int32_t *)malloc(blocks * sizeof(int32_t));
        if (!maxima) return 0;
#if RAGDB_X86
        if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX512) block_maxima_avx512(values, blocks, maxima);
        else
#endif
        for (size_t b = 0; b < blocks; b++) {
            int32_t x = values[16 * b];
            for (size_t t = 1; t < 16; t++) x = values[16 * b + t] > x ? values[16 * b + t] : x;
            maxima[b] = x;
        }
        floor = kth_largest(maxima, blocks, m);
        if (maxima != stack) free(maxima);
    } else {
        floor = kth_largest(values, count, m);
    }
    // The rows at or above the floor, on the stack while at most 512.
    int32_t local_vals[528];
    uint32_t local_idx[528];
    int32_t *vals = local_vals;
    uint32_t *idx = local_idx;
    size_t (*collect)(const int32_t *, size_t, int32_t, int32_t *, uint32_t *, size_t) = collect_scalar;
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX512) collect = collect_avx512;
#endif
    size_t n = collect(values, count, floor, vals, idx, 512);
    if (n == SIZE_MAX) {
        vals = (int32_t *)malloc((count + 16) * sizeof(int32_t));
        idx = (uint32_t *)malloc((count + 16) * sizeof(uint32_t));
        if (!vals || !idx) { free(vals); free(idx); return 0; }
        n = collect(values, count, floor, vals, idx, count);
    }
    // Exactly m of them: every row above the m-th largest value, then rows equal to it in
    // index order (ties to the smaller index).
    size_t out = 0;
    if (n <= m) {
        for (; out < n; out++) { rows[out] = idx[out]; best[out] = vals[out]; }
    } else {
        const int32_t t = kth_largest(vals, n, m);
        for (size_t i = 0; i < n; i++)
            if (vals[i] > t) { rows[out] = idx[i]; best[out++] = vals[i]; }
        for (size_t i = 0; i < n && out < m; i++)
            if (vals[i] == t) { rows[out] = idx[i]; best[out++] = vals[i]; }
    }
    if (vals != local_vals) { free(vals); free(idx); }
    return out;
}

void ragdb_u8s8_dot_rows(const int8_t *q, const uint8_t *codes, size_t n, const uint32_t *rows, size_t count, int32_t *out) {
#if RAGDB_X86
    if (ragdb_kernels_have_vnni()) { u8s8_dot_rows_vnni(q, codes, n, rows, count, out); return; }
#endif
    for (size_t c = 0; c < count; c++) u8s8_dot_many_scalar(q, codes + (size_t)rows[c] * n, n, 1, out + c);
}

void ragdb_u8s8_dot_many_reference(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out) {
    u8s8_dot_many_scalar(q, codes, n, count, out);
}

// MARK: dispatch

static const ragdb_kernel_table scalar_table = {
    f32_dot_norm_scalar, f32_dot_scalar, f16_dot_norm_scalar, i8_dot_norm_scalar,
    f32_dot_batch_scalar, u8_dot_many_scalar, hamming_many_scalar, pq_adc_many_scalar, bits_dot_many_scalar,
};
#if RAGDB_X86
static const ragdb_kernel_table avx2_table = {
    f32_dot_norm_avx2, f32_dot_avx2, f16_dot_norm_avx2, i8_dot_norm_avx2,
    f32_dot_batch_avx2, u8_dot_many_avx2, hamming_many_popcnt, pq_adc_many_avx2, bits_dot_many_avx2,
};
static const ragdb_kernel_table avx512_table = {
    f32_dot_norm_avx512, f32_dot_avx512, f16_dot_norm_avx512, i8_dot_norm_avx512,
    f32_dot_batch_avx512, u8_dot_many_avx512, hamming_many_popcnt, pq_adc_many_avx2, bits_dot_many_avx512,
};
#endif


static int detected = -1;
static int current = -1;

int ragdb_kernels_best_level(void) {
    int level = __atomic_load_n(&detected, __ATOMIC_RELAXED);
    if (level < 0) {
        level = RAGDB_LEVEL_SCALAR;
#if RAGDB_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
            __builtin_cpu_supports("popcnt"))
            level = RAGDB_LEVEL_AVX2;
        if (level == RAGDB_LEVEL_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl"))
            level = RAGDB_LEVEL_AVX512;
#endif
        __atomic_store_n(&detected, level, __ATOMIC_RELAXED);
    }
    return level;
}

// The level is read by every kernel call and may be set by a test on another thread: relaxed
// atomic loads and stores, so that a change is seen whole (calls already running finish at
// the level they read; every level computes the same results).
int ragdb_kernels_level(void) {
    int level = __atomic_load_n(&current, __ATOMIC_RELAXED);
    if (level < 0) {
        level = ragdb_kernels_best_level();
        __atomic_store_n(&current, level, __ATOMIC_RELAXED);
    }
    return level;
}

void ragdb_kernels_set_level(int level) {
    int best = ragdb_kernels_best_level();
    __atomic_store_n(&current, level < 0 ? 0 : (level > best ? best : level), __ATOMIC_RELAXED);
}

void ragdb_prefetch_ahead(const void *p, size_t bytes, size_t ahead) {
    // Prefetch never faults, so an address past the end of the map is harmless.
    const char *c = (const char *)p + ahead;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
}

void ragdb_f32_dot_norm_stream(const float *q, const void *v, size_t n, float out[2]) {
#if RAGDB_X86
    if (ragdb_kernels_level() == RAGDB_LEVEL_AVX512) { f32_dot_norm_stream_avx512(q, v, n, out); return; }
#endif
    ragdb_prefetch_ahead(v, 4 * n, 8192);
    ragdb_f32_dot_norm(q, v, n, out);
}

const ragdb_kernel_table *ragdb_kernels_for_level(int level) {
    int best = ragdb_kernels_best_level();
    if (level > best) level = best;
#if RAGDB_X86
    if (level >= RAGDB_LEVEL_AVX512) return &avx512_table;
    if (level == RAGDB_LEVEL_AVX2) return &avx2_table;
#endif
    return &scalar_table;
}

void ragdb_f32_dot_norm(const float *q, const void *v, size_t n, float out[2]) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: f32_dot_norm_avx512(q, v, n, out); return;
    case RAGDB_LEVEL_AVX2: f32_dot_norm_avx2(q, v, n, out); return;
    }
#endif
    f32_dot_norm_scalar(q, v, n, out);
}

float ragdb_f32_dot(const float *q, const void *v, size_t n) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: return f32_dot_avx512(q, v, n);
    case RAGDB_LEVEL_AVX2: return f32_dot_avx2(q, v, n);
    }
#endif
    return f32_dot_scalar(q, v, n);
}

void ragdb_f16_dot_norm(const float *q, const void *v, size_t n, float out[2]) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: f16_dot_norm_avx512(q, v, n, out); return;
    case RAGDB_LEVEL_AVX2: f16_dot_norm_avx2(q, v, n, out); return;
    }
#endif
    f16_dot_norm_scalar(q, v, n, out);
}

void ragdb_i8_dot_norm(const float *q, const void *v, size_t n, float out[2]) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: i8_dot_norm_avx512(q, v, n, out); return;
    case RAGDB_LEVEL_AVX2: i8_dot_norm_avx2(q, v, n, out); return;
    }
#endif
    i8_dot_norm_scalar(q, v, n, out);
}

void ragdb_f32_dot_batch(const float *queries, size_t nq, const void *const *rows, size_t nrows, size_t n,
                         float *out) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: f32_dot_batch_avx512(queries, nq, rows, nrows, n, out); return;
    case RAGDB_LEVEL_AVX2: f32_dot_batch_avx2(queries, nq, rows, nrows, n, out); return;
    }
#endif
    f32_dot_batch_scalar(queries, nq, rows, nrows, n, out);
}

void ragdb_u8_dot_many(const float *q, const uint8_t *codes, size_t n, size_t count, float *out) {
#if RAGDB_X86
    switch (ragdb_kernels_level()) {
    case RAGDB_LEVEL_AVX512: u8_dot_many_avx512(q, codes, n, count, out); return;
    case RAGDB_LEVEL_AVX2: u8_dot_many_avx2(q, codes, n, count, out); return;
    }
#endif
    u8_dot_many_scalar(q, codes, n, count, out);
}

void ragdb_hamming_many(const uint64_t *q, const uint64_t *codes, size_t words, size_t count, uint32_t *out) {
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX2) { hamming_many_popcnt(q, codes, words, count, out); return; }
#endif
    hamming_many_scalar(q, codes, words, count, out);
}

void ragdb_pq_adc_many(const float *table, const uint8_t *codes, size_t m, size_t count, float *out) {
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX2) { pq_adc_many_avx2(table, codes, m, count, out); return; }
#endif
    pq_adc_many_scalar(table, codes, m, count, out);
}

void ragdb_bits_dot_many(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out) {
    ragdb_kernels_for_level(ragdb_kernels_level())->bits_dot_many(q, codes, n, stride, count, out);
}

// MARK: bitvector rank (FM-index)

// Lines of 8 words: the ones before the line, then 448 bits in 7 words. One cache line a rank.
#define RANK_LINES_BODY \
    uint64_t k = i / 448, b = i - k * 448; \
    const uint64_t *l = lines + k * 8; \
    uint64_t r = l[0], full = b >> 6; \
    for (uint64_t w = 0; w < full; w++) r += (uint64_t)__builtin_popcountll(l[1 + w]); \
    if (b & 63) r += (uint64_t)__builtin_popcountll(l[1 + full] & ((1ULL << (b & 63)) - 1)); \
    return r;

static uint64_t rank1_lines_generic(const uint64_t *lines, uint64_t i) { RANK_LINES_BODY }

#if RAGDB_X86
__attribute__((target("popcnt"))) static uint64_t rank1_lines_popcnt(const uint64_t *lines, uint64_t i) { RANK_LINES_BODY }
#endif

uint64_t ragdb_rank1_lines(const uint64_t *lines, uint64_t i) {
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX2) return rank1_lines_popcnt(lines, i);
#endif
    return rank1_lines_generic(lines, i);
}

#if RAGDB_X86
// The same arithmetic as the scalar loop below, 16 values a step: |x| by clearing the sign
// bit, ±0.5 by copying x's sign onto 0.5, truncation, a clamp to ±127, a saturating narrow.
__attribute__((target("avx512f")))
static float quantize_s8_avx512(const float *x, size_t n, int8_t *out) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    __m512 top = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512i bits = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, x + j));
        top = _mm512_max_ps(top, _mm512_castsi512_ps(_mm512_andnot_si512(sign, bits)));
    }
    const float m = _mm512_reduce_max_ps(top);
    if (!(m > 0)) { memset(out, 0, n); return 0; }
    const __m512 inv = _mm512_set1_ps(127 / m);
    const __m512i half = _mm512_castps_si512(_mm512_set1_ps(0.5f));
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 k = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), inv);
        const __m512 h = _mm512_castsi512_ps(_mm512_or_si512(half, _mm512_and_si512(sign, _mm512_castps_si512(v))));
        __m512i r = _mm512_cvttps_epi32(_mm512_add_ps(v, h));
        r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
        _mm512_mask_cvtsepi32_storeu_epi8(out + j, k, r);
    }
    return m / 127;
}
#endif

float ragdb_quantize_s8(const float *x, size_t n, int8_t *out) {
#if RAGDB_X86
    if (ragdb_kernels_level() >= RAGDB_LEVEL_AVX512) return quantize_s8_avx512(x, n, out);
#endif
    return ragdb_quantize_s8_reference(x, n, out);
}

float ragdb_quantize_s8_reference(const float *x, size_t n, int8_t *out) {
    float m = 0;
    for (size_t j = 0; j < n; j++) { float a = x[j] < 0 ? -x[j] : x[j]; m = a > m ? a : m; }
    if (!(m > 0)) { memset(out, 0, n); return 0; }
    float f = m / 127, inv = 127 / m;
    for (size_t j = 0; j < n; j++) {
        float v = x[j] * inv;
        int32_t r = (int32_t)(v + (v < 0 ? -0.5f : 0.5f));   /* truncation: half away from zero */
        out[j] = (int8_t)(r > 127 ? 127 : (r < -127 ? -127 : r));
    }
    return f;
}
