// Suffix array construction by induced sorting (SA-IS: Nong, Zhang and Chan, "Two Efficient
// Algorithms for Linear Time Suffix Array Construction", 2011), for the n-gram FM-index.
// Written from the paper; the same algorithm as RAGDBNgram's reference tests check.
// Memory: the caller's SA, one type byte per symbol, two bucket arrays of k, and the reduced
// problem (at most n/2) in recursion.
#include "ragdb_kernels.h"

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

// Large work arrays are read and written at random: on 4 KiB pages most accesses miss the TLB.
// Ask for transparent huge pages (Linux, THP in "madvise" mode) before the memory is touched.
typedef struct { void *p; size_t n; int mapped; } big_buffer;

static big_buffer big_alloc(size_t n) {
    big_buffer b = {0, n, 0};
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n >= (8u << 20)) {
        void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            madvise(p, n, MADV_HUGEPAGE);
            b.p = p;
            b.mapped = 1;
            return b;
        }
    }
#endif
    b.p = malloc(n ? n : 1);
    return b;
}

static void big_free(big_buffer b) {
#if defined(__linux__)
    if (b.mapped) { munmap(b.p, b.n); return; }
#endif
    free(b.p);
}

// Suffix types, one bit each (1 = S): an eighth of the memory of a byte per symbol.
#define TYPE(i) ((s[(size_t)(i) >> 3] >> ((i) & 7)) & 1)
#define SET_TYPE(i, v) (s[(size_t)(i) >> 3] = (uint8_t)((s[(size_t)(i) >> 3] & ~(1u << ((i) & 7))) | ((unsigned)(v) << ((i) & 7))))
#define IS_LMS(i) ((i) > 0 && TYPE(i) && !TYPE((i) - 1))

static int sais_i32(const int32_t *t, int32_t *sa, int32_t n, int32_t k);

// One implementation for each text type: bytes at the top level (a quarter of the cache
// footprint of int32 for the random reads of induced sorting), int32 for the reduced problems.
#define SAIS_DEFINE(SUFFIX, TEXT) \
static void buckets_##SUFFIX(const TEXT *t, int32_t n, int32_t k, int32_t *b, int end) { \
    memset(b, 0, sizeof(int32_t) * (size_t)k); \
    for (int32_t i = 0; i < n; i++) b[t[i]]++; \
    int32_t sum = 0; \
    for (int32_t i = 0; i < k; i++) { \
        sum += b[i]; \
        b[i] = end ? sum : sum - b[i]; \
    } \
} \
 \
 \
static void induce_##SUFFIX(const TEXT *t, int32_t *sa, const uint8_t *s, int32_t n, int32_t k, int32_t *b) { \
    buckets_##SUFFIX(t, n, k, b, 0); \
    for (int32_t i = 0; i < n; i++) { \
        int32_t j = sa[i] - 1; \
        if (sa[i] > 0 && !TYPE(j)) sa[b[t[j]]++] = j; \
    } \
    buckets_##SUFFIX(t, n, k, b, 1); \
    for (int32_t i = n - 1; i >= 0; i--) { \
        int32_t j = sa[i] - 1; \
        if (sa[i] > 0 && TYPE(j)) sa[--b[t[j]]] = j; \
    } \
} \
 \
static int sais_##SUFFIX(const TEXT *t, int32_t *sa, int32_t n, int32_t k) { \
    if (n == 1) { sa[0] = 0; return 0; } \
    big_buffer sb = big_alloc(((size_t)n + 7) / 8); uint8_t *s = sb.p; \
    int32_t *b = malloc(sizeof(int32_t) * (size_t)k); \
    if (!s || !b) { big_free(sb); free(b); return -1; } \
    memset(s, 0, ((size_t)n + 7) / 8); \
    SET_TYPE(n - 1, 1); \
    for (int32_t i = n - 2; i >= 0; i--) SET_TYPE(i, t[i] < t[i + 1] || (t[i] == t[i + 1] && TYPE(i + 1))); \
 \
 \
    for (int32_t i = 0; i < n; i++) sa[i] = -1; \
    buckets_##SUFFIX(t, n, k, b, 1); \
    for (int32_t i = 1; i < n; i++) if (IS_LMS(i)) sa[--b[t[i]]] = i; \
    induce_##SUFFIX(t, sa, s, n, k, b); \
 \
 \
    int32_t m = 0; \
    for (int32_t i = 0; i < n; i++) if (IS_LMS(sa[i])) sa[m++] = sa[i]; \
    for (int32_t i = m; i < n; i++) sa[i] = -1; \
    int32_t name = 0, prev = -1; \
    for (int32_t i = 0; i < m; i++) { \
        int32_t pos = sa[i]; \
        int differ = 0; \
        if (prev < 0) { \
            differ = 1; \
        } else { \
            for (int32_t d = 0;; d++) { \
                if (t[pos + d] != t[prev + d] || TYPE(pos + d) != TYPE(prev + d)) { differ = 1; break; } \
                if (d > 0 && (IS_LMS(pos + d) || IS_LMS(prev + d))) break; \
            } \
        } \
        if (differ) { name++; prev = pos; } \
        sa[m + pos / 2] = name - 1; \
    } \
    for (int32_t i = n - 1, j = n - 1; i >= m; i--) if (sa[i] >= 0) sa[j--] = sa[i]; \
 \
 \
    int32_t *reduced = sa + n - m; \
    int32_t *rsa = sa; \
    if (name < m) { \
        if (sais_i32(reduced, rsa, m, name) != 0) { big_free(sb); free(b); return -1; } \
    } else { \
        for (int32_t i = 0; i < m; i++) rsa[reduced[i]] = i; \
    } \
 \
    for (int32_t i = 1, j = 0; i < n; i++) if (IS_LMS(i)) reduced[j++] = i; \
    for (int32_t i = 0; i < m; i++) rsa[i] = reduced[rsa[i]]; \
    for (int32_t i = m; i < n; i++) sa[i] = -1; \
 \
 \
    buckets_##SUFFIX(t, n, k, b, 1); \
    for (int32_t i = m - 1; i >= 0; i--) { \
        int32_t j = sa[i]; \
        sa[i] = -1; \
        sa[--b[t[j]]] = j; \
    } \
    induce_##SUFFIX(t, sa, s, n, k, b); \
    big_free(sb); \
    free(b); \
    return 0; \
}

SAIS_DEFINE(i32, int32_t)
SAIS_DEFINE(u8, uint8_t)

int ragdb_sais_i32(const int32_t *t, int32_t *sa, int32_t n, int32_t k) {
    if (n <= 0 || t[n - 1] != 0) return -1;
    return sais_i32(t, sa, n, k);
}

int ragdb_fm_layout_u8(const uint8_t *r, int32_t n, int32_t k, int32_t rate,
                       const uint32_t *beginnings, int32_t chunks,
                       uint8_t *bwt, uint32_t *samples, uint32_t *sep_rows) {
    if (n <= 0 || r[n - 1] != 0 || k > 256 || rate < 1) return -1;
    // Work on copies in huge pages: the text is read at random by induced sorting.
    big_buffer tb = big_alloc((size_t)n), sab = big_alloc(sizeof(int32_t) * (size_t)n);
    if (!tb.p || !sab.p) { big_free(tb); big_free(sab); return -1; }
    uint8_t *t = tb.p;
    int32_t *sa = sab.p;
    memcpy(t, r, (size_t)n);
    int rc = sais_u8(t, sa, n, k);
    if (rc == 0) {
        for (int32_t row = 0; row < n; row++) {
            int32_t pos = sa[row];
            bwt[row] = pos == 0 ? t[n - 1] : t[pos - 1];
            if (row % rate == 0) samples[row / rate] = (uint32_t)pos;
            if (t[pos] == 1) {
                int32_t lo = 0, hi = chunks;       // the chunk whose SEP is at pos
                while (lo < hi) {
                    int32_t mid = lo + (hi - lo) / 2;
                    if (beginnings[mid] < (uint32_t)pos) lo = mid + 1; else hi = mid;
                }
                if (lo < chunks && beginnings[lo] == (uint32_t)pos) sep_rows[lo] = (uint32_t)row;
            }
        }
    }
    big_free(tb);
    big_free(sab);
    return rc;
}
