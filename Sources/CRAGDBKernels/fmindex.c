// ragdb FM-index kernels: a Huffman-shaped wavelet tree over the BWT of an n-gram segment
// (build, rank, LF, backward search, and locate with interleaved LF walks). See
// include/ragdb_kernels.h for the contract, Format.md 5.13 for the stored layout and
// docs/ngram.md for the measurements.
//
// The tree's bits live in one ranked bitvector (lines of a count and 448 bits, as
// ragdb_rank1_lines reads them); node k covers bits [start_k, start_k + len_k) and stores the
// ones before its start, so a step down the tree costs one rank. A symbol's code is its path
// (0 = left, 1 = right); frequent symbols have short codes, so English text takes about 4.6
// steps per byte where a balanced wavelet matrix over ~100 symbols takes 7.
#include "ragdb_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#define RAGDB_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define RAGDB_PREFETCH(p) ((void)(p))
#endif

// The bit at position i of a line-layout bitvector.
static inline int line_bit(const uint64_t *lines, uint64_t i) {
    uint64_t k = i / 448, b = i - k * 448;
    return (int)((lines[k * 8 + 1 + (b >> 6)] >> (b & 63)) & 1);
}

// rank1 within the line, branch-free: all seven words are counted under a mask (a loop over
// the first b/64 words mispredicts on every call, since b is random). Compiled twice: with the
// popcnt instruction where the CPU has it, and portable.
#define FM_RANK_BODY                                                                          \
    uint64_t k = i / 448, b = i - k * 448;                                                    \
    const uint64_t *l = lines + k * 8;                                                        \
    uint64_t r = l[0];                                                                        \
    for (uint64_t w = 0; w < 7; w++) {                                                        \
        uint64_t lo = w * 64;                                                                 \
        uint64_t m = b >= lo + 64 ? ~0ULL : (b > lo ? (1ULL << (b - lo)) - 1 : 0);            \
        r += (uint64_t)__builtin_popcountll(l[1 + w] & m);                                    \
    }                                                                                         \
    return r;

static inline uint64_t fm_rank_portable(const uint64_t *lines, uint64_t i) { FM_RANK_BODY }
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
__attribute__((target("popcnt"))) static inline uint64_t fm_rank_popcnt(const uint64_t *lines, uint64_t i) { FM_RANK_BODY }
#define FM_HAVE_POPCNT 1
#else
#define FM_HAVE_POPCNT 0
#endif

// Bits of one node's subsequence: positions follow the symbols' order in the input. Each
// symbol walks its code down the tree from the root, appending one bit at each node it passes.
#define HWT_BUILD(TYPE)                                                                       \
    uint64_t *cursor = malloc(sizeof(uint64_t) * (size_t)(count ? count : 1));              \
    if (!cursor) return -1;                                                                   \
    for (int32_t k = 0; k < count; k++) cursor[k] = nodes[k].start;                          \
    for (int64_t i = 0; i < n; i++) {                                                         \
        TYPE s = symbols[i];                                                                  \
        int len = code_len[s];                                                                \
        uint64_t code = codes[s];                                                             \
        int32_t node = 0;                                                                     \
        for (int d = 0; d < len; d++) {                                                       \
            int bit = (int)((code >> (len - 1 - d)) & 1);                                     \
            uint64_t pos = cursor[node]++;                                                    \
            if (bit) words[pos >> 6] |= 1ULL << (pos & 63);                                   \
            node = nodes[node].child[bit];                                                    \
        }                                                                                     \
    }                                                                                         \
    free(cursor);                                                                             \
    return 0;

int ragdb_hwt_build_u8(const uint8_t *symbols, int64_t n, const uint64_t *codes, const uint8_t *code_len,
                       const ragdb_hwt_node *nodes, int32_t count, uint64_t *words) {
    HWT_BUILD(uint8_t)
}

int ragdb_hwt_build_u32(const uint32_t *symbols, int64_t n, const uint64_t *codes, const uint8_t *code_len,
                        const ragdb_hwt_node *nodes, int32_t count, uint64_t *words) {
    HWT_BUILD(uint32_t)
}

// The query kernels, one copy per rank function (see FM_RANK_BODY).
// Locate: each row walks LF until it reaches a sampled row (a multiple of `rate`); the answer
// is that row's sample plus the steps taken. One walk is a chain of dependent cache misses, so
// eight walks advance together, one tree level per round, each prefetching its next rank line
// before the others use theirs.
#define LOCATE_LANES 8
#define FM_KERNELS(SUF, RANK, ATTR)                                                                           \
ATTR static int64_t hwt_rank_##SUF(const uint64_t *lines, const ragdb_hwt_node *nodes, uint64_t code, int32_t len, int64_t i) { \
    const ragdb_hwt_node *node = nodes;                                                                       \
    for (int d = 0; d < len; d++) {                                                                           \
        int64_t ones = (int64_t)(RANK(lines, node->start + (uint64_t)i) - node->ones_before);                 \
        int bit = (int)((code >> (len - 1 - d)) & 1);                                                         \
        i = bit ? ones : i - ones;                                                                            \
        int32_t child = node->child[bit];                                                                     \
        if (child < 0) break;                                                                                 \
        node = nodes + child;                                                                                 \
    }                                                                                                         \
    return i;                                                                                                 \
}                                                                                                             \
                                                                                                              \
ATTR static int64_t hwt_lf_##SUF(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t row, int32_t *symbol) { \
    const ragdb_hwt_node *node = nodes;                                                                       \
    int64_t i = row;                                                                                          \
    for (;;) {                                                                                                \
        uint64_t at = node->start + (uint64_t)i;                                                              \
        int bit = line_bit(lines, at);                                                                        \
        int64_t ones = (int64_t)(RANK(lines, at) - node->ones_before);                                        \
        i = bit ? ones : i - ones;                                                                            \
        int32_t child = node->child[bit];                                                                     \
        if (child < 0) {                                                                                      \
            int32_t s = -child - 1;                                                                           \
            if (symbol) *symbol = s;                                                                          \
            return c[s] + i;                                                                                  \
        }                                                                                                     \
        node = nodes + child;                                                                                 \
    }                                                                                                         \
}                                                                                                             \
                                                                                                              \
ATTR static int fm_backward_##SUF(const uint64_t *lines, const ragdb_hwt_node *nodes, const uint64_t *codes, const uint8_t *code_len, \
                      const int64_t *c, const uint32_t *pattern, size_t m, int64_t *lo, int64_t *hi) {        \
    int64_t l = *lo, h = *hi;                                                                                 \
    for (size_t k = 0; k < m; k++) {                                                                          \
        uint32_t s = pattern[k];                                                                              \
        int len = code_len[s];                                                                                \
        uint64_t code = codes[s];                                                                             \
        const ragdb_hwt_node *node = nodes;                                                                   \
        for (int d = 0; d < len; d++) {                                                                       \
            uint64_t base = node->ones_before;                                                                \
            int64_t ol = (int64_t)(RANK(lines, node->start + (uint64_t)l) - base);                            \
            int64_t oh = (int64_t)(RANK(lines, node->start + (uint64_t)h) - base);                            \
            int bit = (int)((code >> (len - 1 - d)) & 1);                                                     \
            if (bit) { l = ol; h = oh; } else { l -= ol; h -= oh; }                                           \
            if (l >= h) { *lo = l; *hi = h; return 0; }                                                       \
            int32_t child = node->child[bit];                                                                 \
            if (child < 0) break;                                                                             \
            node = nodes + child;                                                                             \
        }                                                                                                     \
        l += c[s];                                                                                            \
        h += c[s];                                                                                            \
    }                                                                                                         \
    *lo = l;                                                                                                  \
    *hi = h;                                                                                                  \
    return l < h;                                                                                             \
}                                                                                                             \
                                                                                                              \
ATTR static void fm_locate_##SUF(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t n, int64_t rate, \
                     const uint32_t *samples, const int64_t *rows, size_t count, int64_t *positions) {        \
    int64_t i[LOCATE_LANES], steps[LOCATE_LANES];                                                             \
    const ragdb_hwt_node *node[LOCATE_LANES];                                                                 \
    size_t slot[LOCATE_LANES];                                                                                \
    int active = 0;                                                                                           \
    size_t next = 0;                                                                                          \
    for (;;) {                                                                                                \
        /* Fill free lanes with the next rows; rows already sampled are answered at once. */                  \
        while (active < LOCATE_LANES && next < count) {                                                       \
            int64_t r = rows[next];                                                                           \
            if (r % rate == 0) { positions[next] = samples[r / rate]; next++; continue; }                     \
            i[active] = r; steps[active] = 0; node[active] = nodes; slot[active] = next++;                    \
            uint64_t at = nodes->start + (uint64_t)r;                                                         \
            RAGDB_PREFETCH(lines + (at / 448) * 8);                                                           \
            active++;                                                                                         \
        }                                                                                                     \
        if (active == 0) return;                                                                              \
        for (int k = 0; k < active; k++) {                                                                    \
            uint64_t at = node[k]->start + (uint64_t)i[k];                                                    \
            int bit = line_bit(lines, at);                                                                    \
            int64_t ones = (int64_t)(RANK(lines, at) - node[k]->ones_before);                                 \
            i[k] = bit ? ones : i[k] - ones;                                                                  \
            int32_t child = node[k]->child[bit];                                                              \
            if (child >= 0) {                                                                                 \
                node[k] = nodes + child;                                                                      \
            } else {                                                                                          \
                /* One LF step done: the new row. */                                                          \
                int64_t r = c[-child - 1] + i[k];                                                             \
                steps[k]++;                                                                                   \
                /* A sound index reaches a sample within n steps; a damaged one that still passed */          \
                /* validation may cycle without one, so the walk gives up there (answer -1). */               \
                if (r % rate == 0 || steps[k] > n) {                                                          \
                    /* The walk may pass the text's start (the terminator row 0): positions are cyclic. */    \
                    positions[slot[k]] = steps[k] > n ? -1 : ((int64_t)samples[r / rate] + steps[k]) % n;     \
                    /* Retire lane k: move the last lane into its place. */                                   \
                    active--;                                                                                 \
                    i[k] = i[active]; steps[k] = steps[active];                                               \
                    node[k] = node[active]; slot[k] = slot[active];                                           \
                    k--;                                                                                      \
                    continue;                                                                                 \
                }                                                                                             \
                i[k] = r; node[k] = nodes;                                                                    \
            }                                                                                                 \
            RAGDB_PREFETCH(lines + ((node[k]->start + (uint64_t)i[k]) / 448) * 8);                            \
        }                                                                                                     \
    }                                                                                                         \
}                                                                                                             \

FM_KERNELS(portable, fm_rank_portable, )
#if FM_HAVE_POPCNT
FM_KERNELS(popcnt, fm_rank_popcnt, __attribute__((target("popcnt"))))
#endif

// The popcnt copies run where the CPU has popcnt and the kernel level is not forced to scalar.
static inline int fm_use_popcnt(void) {
#if FM_HAVE_POPCNT
    return ragdb_kernels_level() > RAGDB_LEVEL_SCALAR && __builtin_cpu_supports("popcnt");
#else
    return 0;
#endif
}

int64_t ragdb_hwt_rank(const uint64_t *lines, const ragdb_hwt_node *nodes, uint64_t code, int32_t len, int64_t i) {
#if FM_HAVE_POPCNT
    if (fm_use_popcnt()) return hwt_rank_popcnt(lines, nodes, code, len, i);
#endif
    return hwt_rank_portable(lines, nodes, code, len, i);
}

int64_t ragdb_hwt_lf(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t row, int32_t *symbol) {
#if FM_HAVE_POPCNT
    if (fm_use_popcnt()) return hwt_lf_popcnt(lines, nodes, c, row, symbol);
#endif
    return hwt_lf_portable(lines, nodes, c, row, symbol);
}

int ragdb_fm_backward(const uint64_t *lines, const ragdb_hwt_node *nodes, const uint64_t *codes, const uint8_t *code_len,
                      const int64_t *c, const uint32_t *pattern, size_t m, int64_t *lo, int64_t *hi) {
#if FM_HAVE_POPCNT
    if (fm_use_popcnt()) return fm_backward_popcnt(lines, nodes, codes, code_len, c, pattern, m, lo, hi);
#endif
    return fm_backward_portable(lines, nodes, codes, code_len, c, pattern, m, lo, hi);
}

void ragdb_fm_locate(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t n, int64_t rate,
                     const uint32_t *samples, const int64_t *rows, size_t count, int64_t *positions) {
#if FM_HAVE_POPCNT
    if (fm_use_popcnt()) { fm_locate_popcnt(lines, nodes, c, n, rate, samples, rows, count, positions); return; }
#endif
    fm_locate_portable(lines, nodes, c, n, rate, samples, rows, count, positions);
}
