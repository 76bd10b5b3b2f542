// ragdb text kernels: the chunkers' token count (RAGDBText `countTokens`) and the JSONL
// parser's string scan (RAGDBImport `JSONParser`).
//
// A token is a run of word bytes (non-ASCII, ASCII letters and digits, '_') or one ASCII
// punctuation or symbol byte; whitespace (space, \t \n \v \f \r) separates tokens. A byte
// therefore starts a token when it is punctuation, or a word byte after a non-word byte.
// Sixteen bytes are classified at a time with SSE2 (baseline x86-64) into three bit masks,
// four such masks make one 64-bit word of token starts, and its bits are counted with the
// popcnt instruction where the CPU has it (chosen once).
#include "ragdb_kernels.h"

#include <pthread.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define RAGDB_X86 1
#include <immintrin.h>
#else
#define RAGDB_X86 0
#endif

// 0 whitespace, 1 word byte, 2 punctuation or symbol.
static inline int token_class(uint8_t b) {
    if (b == 0x20 || (b >= 0x09 && b <= 0x0D)) return 0;
    uint8_t l = b | 0x20;
    if (b >= 0x80 || (b >= 0x30 && b <= 0x39) || (l >= 0x61 && l <= 0x7A) || b == 0x5F) return 1;
    return 2;
}

static size_t count_tokens_scalar(const uint8_t *p, size_t n, int previous_word) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int c = token_class(p[i]);
        count += (c == 2) | (c == 1 && !previous_word);
        previous_word = c == 1;
    }
    return count;
}

#if RAGDB_X86
// Bit i set where byte i of the 16 is a word byte / whitespace.
static inline void classify16(const uint8_t *p, unsigned *word, unsigned *space) {
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m128i t = _mm_sub_epi8(b, _mm_set1_epi8(0x09));                       // \t..\r → 0..4
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t);
    __m128i sp = _mm_or_si128(ctl, _mm_cmpeq_epi8(b, _mm_set1_epi8(0x20)));
    __m128i d = _mm_sub_epi8(b, _mm_set1_epi8(0x30));                       // digits → 0..9
    __m128i dig = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
    __m128i l = _mm_sub_epi8(_mm_or_si128(b, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x61));
    __m128i let = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l);    // letters → 0..25
    __m128i und = _mm_cmpeq_epi8(b, _mm_set1_epi8(0x5F));
    __m128i w = _mm_or_si128(_mm_or_si128(dig, let), und);
    *word = (unsigned)_mm_movemask_epi8(w) | (unsigned)_mm_movemask_epi8(b);  // high bit: non-ASCII
    *space = (unsigned)_mm_movemask_epi8(sp);
}

#define COUNT_TOKENS_BODY(POPCOUNT)                                                            \
    size_t count = 0;                                                                          \
    uint64_t carry = 0; /* 1 when the byte before the block is a word byte */                  \
    size_t i = 0;                                                                              \
    for (; i + 64 <= n; i += 64) {                                                             \
        uint64_t word = 0, space = 0;                                                          \
        for (int k = 0; k < 4; k++) {                                                          \
            unsigned w, s;                                                                     \
            classify16(p + i + 16 * k, &w, &s);                                                \
            word |= (uint64_t)w << (16 * k);                                                   \
            space |= (uint64_t)s << (16 * k);                                                  \
        }                                                                                      \
        uint64_t punct = ~(word | space);                                                      \
        uint64_t starts = punct | (word & ~((word << 1) | carry));                             \
        count += (size_t)POPCOUNT(starts);                                                     \
        carry = word >> 63;                                                                    \
    }                                                                                          \
    return count + count_tokens_scalar(p + i, n - i, (int)carry);

static size_t count_tokens_sse2(const uint8_t *p, size_t n) { COUNT_TOKENS_BODY(__builtin_popcountll) }

__attribute__((target("popcnt"))) static size_t count_tokens_popcnt(const uint8_t *p, size_t n) {
    COUNT_TOKENS_BODY(__builtin_popcountll)
}

static size_t (*count_tokens_impl)(const uint8_t *, size_t) = count_tokens_sse2;
static pthread_once_t count_tokens_once = PTHREAD_ONCE_INIT;
static void count_tokens_choose(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) count_tokens_impl = count_tokens_popcnt;
}
#endif

size_t ragdb_count_tokens(const uint8_t *text, size_t n) {
#if RAGDB_X86
    // SSE2 is part of x86-64; the byte loop runs only when a test has chosen the scalar level
    // on a machine that has better.
    if (ragdb_kernels_level() == RAGDB_LEVEL_SCALAR && ragdb_kernels_best_level() > RAGDB_LEVEL_SCALAR)
        return count_tokens_scalar(text, n, 0);
    pthread_once(&count_tokens_once, count_tokens_choose);
    return count_tokens_impl(text, n);
#else
    return count_tokens_scalar(text, n, 0);
#endif
}

size_t ragdb_count_tokens_scalar(const uint8_t *text, size_t n) { return count_tokens_scalar(text, n, 0); }

size_t ragdb_json_string_scan(const uint8_t *p, size_t n) {
    size_t i = 0;
#if RAGDB_X86
    const __m128i quote = _mm_set1_epi8(0x22), backslash = _mm_set1_epi8(0x5C), control = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)),
                                    _mm_cmpeq_epi8(_mm_min_epu8(b, control), b));  // b <= 0x1F
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++) {
        uint8_t b = p[i];
        if (b == 0x22 || b == 0x5C || b < 0x20) return i;
    }
    return n;
}
