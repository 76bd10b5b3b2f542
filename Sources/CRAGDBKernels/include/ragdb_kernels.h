// ragdb vector kernels: similarity, code-distance and batch kernels for the dense index.
//
// Every kernel exists as a portable scalar reference and, where the CPU has them, AVX2+FMA+F16C
// and AVX-512 versions. The best version is chosen once, at first use, with
// __builtin_cpu_supports; tests force each level with ragdb_kernels_set_level and compare it
// with the reference. Vector arguments may be unaligned (values are read in place from the
// LMDB map, which aligns them to 2 bytes only). Nothing here allocates.
#ifndef RAGDB_KERNELS_H
#define RAGDB_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels, in increasing order.
enum ragdb_kernel_level { RAGDB_LEVEL_SCALAR = 0, RAGDB_LEVEL_AVX2 = 1, RAGDB_LEVEL_AVX512 = 2 };

/// The best level this CPU supports.
int ragdb_kernels_best_level(void);
/// The level in use.
int ragdb_kernels_level(void);
/// Uses `level` (clamped to the best supported). For tests and benchmarks; not thread-safe
/// with concurrent kernel calls.
void ragdb_kernels_set_level(int level);

/// out[0] = q·v, out[1] = v·v over n float32 (v little-endian, unaligned).
void ragdb_f32_dot_norm(const float *q, const void *v, size_t n, float out[2]);
/// q·v over n float32.
float ragdb_f32_dot(const float *q, const void *v, size_t n);
/// out[0] = q·v, out[1] = v·v with v n IEEE binary16 values (little-endian, unaligned).
void ragdb_f16_dot_norm(const float *q, const void *v, size_t n, float out[2]);
/// out[0] = q·v, out[1] = v·v with v n signed bytes (unscaled: the caller multiplies by the
/// vector's scale and its square).
void ragdb_i8_dot_norm(const float *q, const void *v, size_t n, float out[2]);

/// out[j * nrows + r] = queries[j]·rows[r] (query-major) for nq contiguous queries of n floats and nrows rows
/// given by pointer (each unaligned). Register-tiled 4 rows × 4 queries.
void ragdb_f32_dot_batch(const float *queries, size_t nq, const void *const *rows, size_t nrows,
                         size_t n, float *out);

/// out[i] = q·codes[i] for count contiguous codes of n unsigned bytes each.
void ragdb_u8_dot_many(const float *q, const uint8_t *codes, size_t n, size_t count, float *out);
/// out[i] = popcount(q XOR codes[i]) for count contiguous codes of `words` 64-bit words each.
void ragdb_hamming_many(const uint64_t *q, const uint64_t *codes, size_t words, size_t count,
                        uint32_t *out);
/// Product-quantization asymmetric distance: out[i] = Σ_s table[s * 256 + codes[i * m + s]]
/// for count contiguous codes of m bytes.
void ragdb_pq_adc_many(const float *table, const uint8_t *codes, size_t m, size_t count,
                       float *out);

/// out[i] = Σ q[j] over the bits j < n that are set in code i (bit j: bit j mod 8 of byte j/8),
/// for count codes `stride` bytes apart: the asymmetric score of 1-bit codes.
void ragdb_bits_dot_many(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out);

/// Ones among the first i bits of a bitvector stored in lines of 8 words: word 0 of line k is
/// the number of ones before bit 448·k, words 1–7 hold bits 448·k … 448·k + 447 (bit j of the
/// line is bit j mod 64 of word 1 + j / 64). One cache line per rank; popcnt where available.
uint64_t ragdb_rank1_lines(const uint64_t *lines, uint64_t i);

/// The suffix array of t[0..n) over symbols 0..k-1, by SA-IS, into sa. t[n-1] must be 0 and
/// the only 0. Returns 0, or -1 for bad input or when memory runs out.
int ragdb_sais_i32(const int32_t *t, int32_t *sa, int32_t n, int32_t k);

/// The FM-index layout of a byte text r[0..n) (symbols < k ≤ 256, r[n-1] = 0 unique): its
/// suffix array by SA-IS (in huge pages, freed on return), and from it bwt[row], the SA-order
/// samples (samples[row / rate] = SA[row] for every row that is a multiple of rate; room for
/// ⌈n/rate⌉), and sep_rows[j], the row of the symbol 1 at position beginnings[j]. Returns 0 or -1.
int ragdb_fm_layout_u8(const uint8_t *r, int32_t n, int32_t k, int32_t rate,
                       const uint32_t *beginnings, int32_t chunks,
                       uint8_t *bwt, uint32_t *samples, uint32_t *sep_rows);

/// Deepest code a Huffman-shaped wavelet tree may have (n < 2^32 symbols keeps Huffman codes
/// below 47 bits).
#define RAGDB_HWT_MAX_DEPTH 64

/// One internal node of a Huffman-shaped wavelet tree (Format.md 5.13): its bits are
/// [start, start + length) of the tree's bitvector, `ones_before` = rank1(start), and each
/// child is an internal node index (≥ 0) or a leaf −(symbol + 1). Node 0 is the root.
typedef struct {
    uint64_t start;
    uint64_t ones_before;
    int32_t child[2];
} ragdb_hwt_node;

/// Fills the tree's bits (plain words, bit j in word j/64, zeroed by the caller) for n symbols:
/// symbol s has code `codes[s]` of `code_len[s]` bits (first bit most significant) and walks
/// it down `nodes` (`count` of them, `start` set, children as in the tree) from node 0.
/// Returns 0, or -1 when memory runs out. O(n · mean code length).
int ragdb_hwt_build_u8(const uint8_t *symbols, int64_t n, const uint64_t *codes, const uint8_t *code_len,
                       const ragdb_hwt_node *nodes, int32_t count, uint64_t *words);
/// The same for 32-bit symbols.
int ragdb_hwt_build_u32(const uint32_t *symbols, int64_t n, const uint64_t *codes, const uint8_t *code_len,
                        const ragdb_hwt_node *nodes, int32_t count, uint64_t *words);
/// Occurrences of the symbol with `code` (`len` bits) among the first i symbols. One rank per
/// code bit. `lines` is the tree's bitvector in the line layout of ragdb_rank1_lines.
int64_t ragdb_hwt_rank(const uint64_t *lines, const ragdb_hwt_node *nodes, uint64_t code, int32_t len, int64_t i);
/// One LF step of an FM-index whose BWT is the tree: C[s] + rank(s, row) with s = BWT[row]
/// (stored in *symbol when not NULL). One rank per level of s's code.
int64_t ragdb_hwt_lf(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t row, int32_t *symbol);
/// Backward search: narrows the row range [*lo, *hi) by pattern[0], pattern[1], … (compact
/// symbols, each with a code). Returns 1 when the final range is not empty (and leaves it in
/// *lo, *hi), else 0. Two ranks per code bit per pattern symbol.
int ragdb_fm_backward(const uint64_t *lines, const ragdb_hwt_node *nodes, const uint64_t *codes, const uint8_t *code_len,
                      const int64_t *c, const uint32_t *pattern, size_t m, int64_t *lo, int64_t *hi);
/// positions[j] = SA[rows[j]] for `count` rows of a text of n symbols, from SA samples kept at every row that is a
/// multiple of `rate` (samples[r / rate] = SA[r]): LF walks to the nearest sampled row, eight
/// at a time with their rank lines prefetched. Expected `rate` LF steps per row; a walk longer
/// than n steps (possible only in a damaged index) answers -1.
void ragdb_fm_locate(const uint64_t *lines, const ragdb_hwt_node *nodes, const int64_t *c, int64_t n, int64_t rate,
                     const uint32_t *samples, const int64_t *rows, size_t count, int64_t *positions);

/// Whether the integer u8 × s8 kernel runs on AVX-512 VNNI here (else it runs scalar and
/// callers should prefer ragdb_u8_dot_many).
int ragdb_kernels_have_vnni(void);
/// out[i] = Σ codes[i][j] · q[j] in exact 32-bit integers, for count contiguous codes of n
/// unsigned bytes and a query of n signed bytes (|q[j]| ≤ 127, n ≤ 2^16).
void ragdb_u8s8_dot_many(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out);
/// The mean (n doubles) and covariance (n × n doubles, row-major, divided by count) of
/// count vectors of n floats, row-major. O(count · n²/2) multiply-adds; one n-double buffer.
void ragdb_covariance(const float *x, size_t count, size_t n, double *mean, double *out);
/// Eigen-decomposition of the symmetric n × n matrix `a` (row-major, destroyed) by cyclic
/// Jacobi rotations: values[k] is an eigenvalue and row k of `vectors` (n × n) its unit
/// eigenvector, in no particular order. Returns the number of sweeps (at most 60; about
/// 8 for n = 384). O(n³) per sweep.
int ragdb_symmetric_eigen(double *a, size_t n, double *values, double *vectors);
/// Exact integer dot products of the signed-byte query q (8·groups bytes) with the 4-bit
/// codes of `nblocks` interleaved blocks of 16 rows: run g (64 bytes) of a block holds
/// dimensions 8g … 8g+7 of its 16 rows, four bytes a row: byte t's low nibble is dimension
/// 8g+t, its high nibble dimension 8g+4+t. out[16b + r] is row r of block b (room for
/// 16·nblocks). Two vpdpbusd per run with AVX-512 VNNI and no horizontal sums; the scalar
/// reference elsewhere.
void ragdb_u4s8_dots_interleaved(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out);
/// The scalar reference of ragdb_u4s8_dots_interleaved (for tests).
void ragdb_u4s8_dots_interleaved_reference(const int8_t *q, const uint8_t *blocks, size_t groups, size_t nblocks, int32_t *out);
/// The m largest of `count` values (ties: the smaller index), in no particular order: their
/// indices in `rows` and values in `best` (room for m each); returns min(m, count). The
/// floor is the m-th largest maximum of the 16-value blocks (so at least m values reach it,
/// and on unordered data only about 10 % more); the values at or above it are collected (AVX-512
/// compress), on the stack up to 512 of them, and cut at their m-th largest. Both order
/// statistics come from bisection with vector counts, not from swaps.
size_t ragdb_top_rows(const int32_t *values, size_t count, size_t m, uint32_t *rows, int32_t *best);
/// out[i] = Σ codes[rows[i]][j] · q[j] in exact 32-bit integers, for `count` codes of n
/// unsigned bytes picked by row index (the whole PCA codes of the rescored rows); four rows
/// per step with AVX-512 VNNI.
void ragdb_u8s8_dot_rows(const int8_t *q, const uint8_t *codes, size_t n, const uint32_t *rows, size_t count, int32_t *out);
/// Quantizes n floats to signed bytes: returns f = max|x| / 127 and writes out[j] =
/// x[j] / f rounded half away from zero (all zeros, f = 0, when x is zero). One pass to find
/// the maximum, one to convert; no libm call.
float ragdb_quantize_s8(const float *x, size_t n, int8_t *out);
/// The scalar reference of ragdb_quantize_s8 (for tests; AVX-512 does 16 values a step).
float ragdb_quantize_s8_reference(const float *x, size_t n, int8_t *out);
/// The scalar reference of ragdb_u8s8_dot_many (for tests).
void ragdb_u8s8_dot_many_reference(const int8_t *q, const uint8_t *codes, size_t n, size_t count, int32_t *out);

/// Hints the CPU to load `bytes` bytes starting `ahead` bytes after `p` (for sequential scans
/// of the LMDB map, where the hardware prefetcher stops at each 4 KiB page). Never faults.
void ragdb_prefetch_ahead(const void *p, size_t bytes, size_t ahead);

/// ragdb_f32_dot_norm for sequential scans: also prefetches 8 KiB ahead of `v`.
void ragdb_f32_dot_norm_stream(const float *q, const void *v, size_t n, float out[2]);

/// Every kernel of one level, for tests that compare levels side by side (the functions
/// above always use the current level).
typedef struct ragdb_kernel_table {
    void (*f32_dot_norm)(const float *q, const void *v, size_t n, float out[2]);
    float (*f32_dot)(const float *q, const void *v, size_t n);
    void (*f16_dot_norm)(const float *q, const void *v, size_t n, float out[2]);
    void (*i8_dot_norm)(const float *q, const void *v, size_t n, float out[2]);
    void (*f32_dot_batch)(const float *queries, size_t nq, const void *const *rows, size_t nrows, size_t n, float *out);
    void (*u8_dot_many)(const float *q, const uint8_t *codes, size_t n, size_t count, float *out);
    void (*hamming_many)(const uint64_t *q, const uint64_t *codes, size_t words, size_t count, uint32_t *out);
    void (*pq_adc_many)(const float *table, const uint8_t *codes, size_t m, size_t count, float *out);
    void (*bits_dot_many)(const float *q, const uint8_t *codes, size_t n, size_t stride, size_t count, float *out);
} ragdb_kernel_table;

/// The kernels of `level` (clamped to the best supported level).
const ragdb_kernel_table *ragdb_kernels_for_level(int level);


/// CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF) of
/// n bytes, continuing from `crc` (0 to start). ragdb_crc32c(0, "123456789", 9) = 0xE3069283.
/// A carry-less fold (VPCLMULQDQ, 256 bytes a round) where AVX-512 has it and n ≥ 1 KiB; else
/// hardware crc32 in three interleaved lanes where SSE4.2 exists; else slicing-by-8.
uint32_t ragdb_crc32c(uint32_t crc, const void *data, size_t n);
/// Byte-plane shuffle of `count` elements of `width` bytes: dst[b·count + i] = src[i·width + b]
/// (all bytes 0 of the elements, then all bytes 1, …), which groups the slowly varying
/// sign/exponent bytes of floats so that LZ4 finds repeats. src and dst must not overlap.
void ragdb_shuffle_bytes(const void *src, void *dst, size_t count, size_t width);
/// The inverse of ragdb_shuffle_bytes.
void ragdb_unshuffle_bytes(const void *src, void *dst, size_t count, size_t width);

/// Tokens in n bytes of UTF-8 as RAGDBText's chunkers count them: runs of word bytes
/// (non-ASCII, ASCII letters and digits, '_') and single ASCII punctuation or symbol bytes;
/// whitespace (space, \t \n \v \f \r) separates them. SSE2 classification of 16 bytes at a
/// time and popcnt where the CPU has it; the byte-at-a-time loop at the scalar level.
size_t ragdb_count_tokens(const uint8_t *text, size_t n);
/// The byte-at-a-time reference of ragdb_count_tokens, for tests.
size_t ragdb_count_tokens_scalar(const uint8_t *text, size_t n);
/// The index of the first byte among n that ends a run of plain JSON string bytes: a quote,
/// a backslash or a control byte (below 0x20); n when there is none. SSE2, 16 bytes a step.
size_t ragdb_json_string_scan(const uint8_t *p, size_t n);

#ifdef __cplusplus
}
#endif
#endif
