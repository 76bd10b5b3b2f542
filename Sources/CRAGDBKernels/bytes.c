// ragdb byte kernels: CRC-32C checksums and byte-plane shuffles for the chunk KV-cache store.
// See include/ragdb_kernels.h for the contract and docs/kvcache.md for the measurements.
//
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR
// 0xFFFFFFFF) is the standard iSCSI/ext4 checksum, so any third-party reader can verify a
// segment with an off-the-shelf library. On x86-64 with SSE4.2 the crc32 instruction does 8
// bytes per instruction, but one dependent chain waits 3 cycles per step; large buffers are
// therefore cut into three lanes computed in one loop and joined with the CRC combination rule
// (zlib's crc32_combine, shifting a CRC by n zero bytes through multiplication modulo P).
#include "ragdb_kernels.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define RAGDB_X86 1
#include <immintrin.h>
#else
#define RAGDB_X86 0
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static int crc_table_ready = 0;

static void crc_make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
    __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

// Raw (not pre/post-inverted) CRC update, slicing by 8.
static uint32_t crc_raw_scalar(uint32_t c, const uint8_t *p, size_t n) {
    if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE)) crc_make_table();
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

// x^(8·n) modulo P: the operator that appends n zero bytes to a raw CRC.
static uint32_t shift_bytes(uint64_t n) {
    uint32_t result = 1u << 31;          // x^0
    uint32_t power = 1u << 30;           // x^1
    uint64_t bits = n * 8;
    while (bits) {
        if (bits & 1) result = multmodp(power, result);
        power = multmodp(power, power);
        bits >>= 1;
    }
    return result;
}

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

static int crc_use_hw = -1;

uint32_t ragdb_crc32c(uint32_t crc, const void *data, size_t n) {
    uint32_t c = ~crc;
#if RAGDB_X86
    if (crc_use_hw < 0) crc_use_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (crc_use_hw && ragdb_kernels_level() > RAGDB_LEVEL_SCALAR) return ~crc_raw_hw(c, (const uint8_t *)data, n);
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
