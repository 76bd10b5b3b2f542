// ragdb byte kernels: CRC-32C checksums and byte-plane shuffles for the chunk KV-cache store.
// See include/ragdb_kernels.h for the contract and docs/kvcache.md for the measurements.
//
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR
// 0xFFFFFFFF) is the standard iSCSI/ext4 checksum, so any third-party reader can verify a
// segment with an off-the-shelf library. On x86-64 with SSE4.2 the crc32 instruction does 8
// bytes per instruction, but one dependent chain waits 3 cycles per step; large buffers are
// therefore cut into three lanes computed in one loop and joined with the CRC combination rule
// (zlib's crc32_combine, shifting a CRC by n zero bytes through multiplication modulo P).
// Where the CPU has AVX-512 and VPCLMULQDQ, buffers of 1 KiB and more are instead folded 256
// bytes a round with carry-less multiplication (four 512-bit accumulators, the method of
// Gopal et al., "Fast CRC computation using PCLMULQDQ", Intel 2009), and the crc32 instruction
// reduces the last 64 bytes of state and the tail: about 6× the three-lane loop's rate.
#include "ragdb_kernels.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define RAGDB_X86 1
#include <immintrin.h>
#else
#define RAGDB_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

// Raw (not pre/post-inverted) CRC update, slicing by 8.
static uint32_t crc_raw_scalar(uint32_t c, const uint8_t *p, size_t n) {
    pthread_once(&crc_table_once, crc_make_table);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^ crc_table[5][(w >> 16) & 0xFF] ^
            crc_table[4][(w >> 24) & 0xFF] ^ crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
            crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8; n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return c;
}

// a·b modulo the CRC polynomial, in the reflected bit order (zlib's multmodp).
static uint32_t multmodp(uint32_t a, uint32_t b) {
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

// x^e modulo P, reflected (bit 31 is x^0).
static uint32_t xpow_mod(uint64_t e) {
    uint32_t result = 1u << 31;          // x^0
    uint32_t power = 1u << 30;           // x^1
    while (e) {
        if (e & 1) result = multmodp(power, result);
        power = multmodp(power, power);
        e >>= 1;
    }
    return result;
}

// x^(8·n) modulo P: the operator that appends n zero bytes to a raw CRC.
static uint32_t shift_bytes(uint64_t n) { return xpow_mod(n * 8); }

#if RAGDB_X86
__attribute__((target("sse4.2")))
static uint32_t crc_raw_hw1(uint32_t c, const uint8_t *p, size_t n) {
    uint64_t c64 = c;
    while (n >= 8) { uint64_t w; memcpy(&w, p, 8); c64 = _mm_crc32_u64(c64, w); p += 8; n -= 8; }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}

__attribute__((target("sse4.2")))
static uint32_t crc_raw_hw(uint32_t c, const uint8_t *p, size_t n) {
    if (n < 3 * 4096) return crc_raw_hw1(c, p, n);
    // Three lanes of `lane` bytes each (a multiple of 8), the rest by the single-lane loop.
    size_t lane = (n / 3) & ~(size_t)7;
    const uint8_t *p1 = p + lane, *p2 = p + 2 * lane;
    uint64_t a = c, b = 0, d = 0;
    for (size_t i = 0; i < lane; i += 8) {
        uint64_t w0, w1, w2;
        memcpy(&w0, p + i, 8); memcpy(&w1, p1 + i, 8); memcpy(&w2, p2 + i, 8);
        a = _mm_crc32_u64(a, w0); b = _mm_crc32_u64(b, w1); d = _mm_crc32_u64(d, w2);
    }
    // Raw CRCs are linear: crc(A‖B) = shift(|B|)·crc(A) ⊕ crc_from_zero(B).
    uint32_t s = shift_bytes(lane);
    uint32_t r = multmodp(s, (uint32_t)a) ^ (uint32_t)b;
    r = multmodp(s, r) ^ (uint32_t)d;
    return crc_raw_hw1(r, p + 3 * lane, n - 3 * lane);
}
#endif

#if RAGDB_X86
// Folding constants. A 128-bit block of state B (reflected: its low quadword holds the higher
// powers) stands for B·x^k where k is the number of message bits after it. Moving it D bits
// further along is multiplication by x^D; split into its quadwords, the high-power half times
// x^(D+64) and the low-power half times x^D, each reduced modulo P to 32 bits. The carry-less
// product of a reflected 64-bit and a reflected 32-bit value lands 33 bit positions below
// where a 128-bit reflected block reads it, so each constant carries x^-33:
// x^(D+31) mod P for the low quadword and x^(D−33) mod P for the high one.
static uint64_t crc_fold_k[4][2];      // D = 2048 (the main loop), 1536, 1024, 512 (the merge)
static pthread_once_t crc_fold_once = PTHREAD_ONCE_INIT;

static void crc_make_fold_constants(void) {
    const uint64_t distance[4] = {2048, 1536, 1024, 512};
    for (int i = 0; i < 4; i++) {
        crc_fold_k[i][0] = xpow_mod(distance[i] + 31);
        crc_fold_k[i][1] = xpow_mod(distance[i] - 33);
    }
}

__attribute__((target("avx512f,avx512bw,vpclmulqdq,sse4.2")))
static inline __m512i crc_fold512(__m512i x, __m512i k) {
    __m512i lo = _mm512_clmulepi64_epi128(x, k, 0x00);
    __m512i hi = _mm512_clmulepi64_epi128(x, k, 0x11);
    return _mm512_xor_si512(lo, hi);
}

// Raw CRC of n ≥ 256 bytes: four 512-bit accumulators fold 256 bytes a round; the remaining
// state (64 bytes) and the tail go through the crc32 instruction, which reduces them modulo P.
__attribute__((target("avx512f,avx512bw,vpclmulqdq,sse4.2")))
static uint32_t crc_raw_fold(uint32_t c, const uint8_t *p, size_t n) {
    pthread_once(&crc_fold_once, crc_make_fold_constants);
    __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)crc_fold_k[0][1], (long long)crc_fold_k[0][0]));
    __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)crc_fold_k[3][1], (long long)crc_fold_k[3][0]));
    // The running CRC joins the message: XOR it into the first four bytes.
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)p), _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)c)));
    __m512i x1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i x2 = _mm512_loadu_si512((const void *)(p + 128));
    __m512i x3 = _mm512_loadu_si512((const void *)(p + 192));
    p += 256; n -= 256;
    while (n >= 256) {
        x0 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x0, k2048, 0x00), _mm512_clmulepi64_epi128(x0, k2048, 0x11),
                                       _mm512_loadu_si512((const void *)p), 0x96);
        x1 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x1, k2048, 0x00), _mm512_clmulepi64_epi128(x1, k2048, 0x11),
                                       _mm512_loadu_si512((const void *)(p + 64)), 0x96);
        x2 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x2, k2048, 0x00), _mm512_clmulepi64_epi128(x2, k2048, 0x11),
                                       _mm512_loadu_si512((const void *)(p + 128)), 0x96);
        x3 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x3, k2048, 0x00), _mm512_clmulepi64_epi128(x3, k2048, 0x11),
                                       _mm512_loadu_si512((const void *)(p + 192)), 0x96);
        p += 256; n -= 256;
    }
    // Merge the four accumulators into the last one, each 512 bits on from the one before.
    x1 = _mm512_xor_si512(x1, crc_fold512(x0, k512));
    x2 = _mm512_xor_si512(x2, crc_fold512(x1, k512));
    x3 = _mm512_xor_si512(x3, crc_fold512(x2, k512));
    uint8_t state[64];
    _mm512_storeu_si512((void *)state, x3);
    return crc_raw_hw1(crc_raw_hw1(0, state, 64), p, n);
}
#endif

#if RAGDB_X86
// What the CPU can run, detected once; pthread_once makes both flags visible together.
static int crc_use_hw, crc_use_fold;
static pthread_once_t crc_detect_once = PTHREAD_ONCE_INIT;

static void crc_detect(void) {
    crc_use_fold = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("sse4.2");
    crc_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}
#endif

uint32_t ragdb_crc32c(uint32_t crc, const void *data, size_t n) {
    uint32_t c = ~crc;
#if RAGDB_X86
    pthread_once(&crc_detect_once, crc_detect);
    int level = ragdb_kernels_level();
    if (crc_use_fold && level >= RAGDB_LEVEL_AVX512 && n >= 1024) return ~crc_raw_fold(c, (const uint8_t *)data, n);
    if (crc_use_hw && level > RAGDB_LEVEL_SCALAR) return ~crc_raw_hw(c, (const uint8_t *)data, n);
#endif
    return ~crc_raw_scalar(c, (const uint8_t *)data, n);
}

void ragdb_shuffle_bytes(const void *src, void *dst, size_t count, size_t width) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    if (width == 2) {
        uint8_t *lo = d, *hi = d + count;
        for (size_t i = 0; i < count; i++) { lo[i] = s[2 * i]; hi[i] = s[2 * i + 1]; }
        return;
    }
    for (size_t b = 0; b < width; b++) {
        uint8_t *plane = d + b * count;
        for (size_t i = 0; i < count; i++) plane[i] = s[i * width + b];
    }
}

void ragdb_unshuffle_bytes(const void *src, void *dst, size_t count, size_t width) {
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *d = (uint8_t *)dst;
    if (width == 2) {
        const uint8_t *lo = s, *hi = s + count;
        for (size_t i = 0; i < count; i++) { d[2 * i] = lo[i]; d[2 * i + 1] = hi[i]; }
        return;
    }
    for (size_t b = 0; b < width; b++) {
        const uint8_t *plane = s + b * count;
        for (size_t i = 0; i < count; i++) d[i * width + b] = plane[i];
    }
}
