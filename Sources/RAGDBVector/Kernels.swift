import CRAGDBKernels

/// Safe entry points to the SIMD kernels of `CRAGDBKernels` (AVX-512, AVX2+FMA+F16C or a
/// scalar reference, chosen once per process from the CPU).
///
/// This file is the only place in `RAGDBVector` that takes raw pointers: it borrows them from
/// `RawSpan`s (stored vectors read in place from the LMDB map) and `Array`s for the duration of
/// one kernel call. No kernel allocates.
public enum Kernels {
    /// The instruction-set level in use: 0 scalar, 1 AVX2+FMA, 2 AVX-512.
    public static var level: Int { Int(ragdb_kernels_level()) }
    /// The best level this CPU supports.
    public static var bestLevel: Int { Int(ragdb_kernels_best_level()) }
    /// Forces a level (clamped to `bestLevel`), for tests and benchmarks. Process-wide:
    /// kernel calls that start afterwards use it (every level computes the same results).
    public static func setLevel(_ level: Int) { ragdb_kernels_set_level(Int32(level)) }
    /// A name for `level`.
    public static func levelName(_ level: Int = Kernels.level) -> String {
        switch level { case 2: "avx512"; case 1: "avx2+fma"; default: "scalar" }
    }

    /// (q·v, v·v) for a stored vector `v` of `q.count` dimensions in `type`; for int8 the
    /// scale is applied (v = scale × bytes).
    ///
    /// - Precondition: `v.byteCount == type.byteCount(dimensions: q.count)`.
    /// - Complexity: one pass over `v`.
    @inline(__always)
    public static func dotNorm(_ q: [Float], _ v: RawSpan, _ type: StoredElementType) -> (dot: Float, norm2: Float) {
        precondition(v.byteCount == type.byteCount(dimensions: q.count))
        return q.withUnsafeBufferPointer { qp in
            v.withUnsafeBytes { vp -> (Float, Float) in
                var out: (Float, Float) = (0, 0)
                withUnsafeMutablePointer(to: &out) { o in
                    o.withMemoryRebound(to: Float.self, capacity: 2) { op in
                        switch type {
                        case .float32: ragdb_f32_dot_norm(qp.baseAddress, vp.baseAddress, qp.count, op)
                        case .float16: ragdb_f16_dot_norm(qp.baseAddress, vp.baseAddress, qp.count, op)
                        case .int8:
                            ragdb_i8_dot_norm(qp.baseAddress, vp.baseAddress! + 4, qp.count, op)
                            let scale = Float(bitPattern: UInt32(littleEndian: vp.loadUnaligned(as: UInt32.self)))
                            op[0] *= scale
                            op[1] *= scale * scale
                        }
                    }
                }
                return out
            }
        }
    }

    /// `dotNorm` for a sequential cursor scan: also prefetches the map 8 KiB ahead of `v`
    /// (the next values: LMDB pages are 4 KiB, where hardware prefetchers stop). Measured on
    /// 100,000 × 384 float32: 27 → 43 exact-scan queries/s (docs/dense.md).
    @inline(__always)
    public static func dotNormScanning(_ q: [Float], _ v: RawSpan, _ type: StoredElementType) -> (dot: Float, norm2: Float) {
        guard type == .float32 else {
            v.withUnsafeBytes { ragdb_prefetch_ahead($0.baseAddress, $0.count, 8192) }
            return dotNorm(q, v, type)
        }
        precondition(v.byteCount == 4 * q.count)
        return q.withUnsafeBufferPointer { qp in
            v.withUnsafeBytes { vp -> (Float, Float) in
                var out: (Float, Float) = (0, 0)
                withUnsafeMutablePointer(to: &out) { o in
                    o.withMemoryRebound(to: Float.self, capacity: 2) { ragdb_f32_dot_norm_stream(qp.baseAddress, vp.baseAddress, qp.count, $0) }
                }
                return out
            }
        }
    }

    /// Prefetches the map 8 KiB past `v` (see `dotNormScanning`).
    @inline(__always)
    public static func prefetch(after v: RawSpan) {
        v.withUnsafeBytes { ragdb_prefetch_ahead($0.baseAddress, $0.count, 8192) }
    }

    /// q·v over float32 arrays of equal length.
    public static func dot(_ q: [Float], _ v: [Float]) -> Float {
        precondition(q.count == v.count)
        return q.withUnsafeBufferPointer { a in v.withUnsafeBufferPointer { b in ragdb_f32_dot(a.baseAddress, b.baseAddress, a.count) } }
    }

    /// Scores every row of `rows` (contiguous, `q.count` floats each) against `q` into `out`.
    public static func dotMany(_ q: [Float], rows: [Float], into out: inout [Float]) {
        let d = q.count
        let n = rows.count / d
        if out.count < n { out = [Float](repeating: 0, count: n) }
        q.withUnsafeBufferPointer { qp in
            rows.withUnsafeBufferPointer { rp in
                out.withUnsafeMutableBufferPointer { op in
                    for r in 0..<n { op[r] = ragdb_f32_dot(qp.baseAddress, rp.baseAddress! + r * d, d) }
                }
            }
        }
    }

    /// `out[j * rowCount + r]` = queries[j]·rows[firstRow + r] (query-major) for `nq = queries.count / d`
    /// contiguous queries and `rowCount` contiguous rows of `rows` (`d` floats each): the
    /// batch kernel (AVX-512: 16 rows transposed, 8 queries broadcast, no horizontal sums),
    /// compute-bound where the single-query scan is memory-bound.
    public static func dotBatch(queries: [Float], dimensions d: Int, rows: [Float], firstRow: Int = 0, rowCount: Int, into out: inout [Float]) {
        let nq = queries.count / d
        precondition(rows.count >= (firstRow + rowCount) * d)
        if out.count < rowCount * nq { out = [Float](repeating: 0, count: rowCount * nq) }
        queries.withUnsafeBufferPointer { qp in
            rows.withUnsafeBufferPointer { rp in
                let base = UnsafeRawPointer(rp.baseAddress! + firstRow * d)
                withUnsafeTemporaryAllocation(of: UnsafeRawPointer?.self, capacity: rowCount) { pp in
                    for r in 0..<rowCount { pp[r] = base + r * d * 4 }
                    out.withUnsafeMutableBufferPointer { op in
                        ragdb_f32_dot_batch(qp.baseAddress, nq, pp.baseAddress, rowCount, d, op.baseAddress)
                    }
                }
            }
        }
    }

    /// Copies the float32 vector `v` (read in place from the map) into `rows` at float offset
    /// `offset`.
    @inline(__always)
    public static func copyFloat32(_ v: RawSpan, into rows: inout [Float], at offset: Int) {
        v.withUnsafeBytes { src in
            rows.withUnsafeMutableBytes { dst in
                dst.baseAddress!.advanced(by: offset * 4).copyMemory(from: src.baseAddress!, byteCount: src.count)
            }
        }
    }

    /// Whether int8 codes are scored in exact integer arithmetic on AVX-512 VNNI (64 byte
    /// products per instruction) rather than converted to float.
    static var integerCodeScoring: Bool { ragdb_kernels_have_vnni() != 0 }

    /// Quantizes `x` to signed bytes in `out` (resized to `x.count`); returns the factor f
    /// with x ≈ f · out (f = max|x| / 127; 0 for a zero vector).
    ///
    /// - Complexity: two passes in C, no allocation once `out` has the size.
    @inline(__always)
    static func quantizeS8(_ x: [Float], into out: inout [Int8]) -> Float {
        if out.count != x.count { out = [Int8](repeating: 0, count: x.count) }
        return x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { ragdb_quantize_s8(xp.baseAddress, xp.count, $0.baseAddress) } }
    }

    /// `out[i]` = Σ_j codes[first + i][j] · q[j] in exact integers (`q.count` bytes a code).
    @inline(__always)
    static func u8s8DotMany(_ q: [Int8], codes: [UInt8], first: Int, count: Int, into out: inout [Int32]) {
        let n = q.count
        q.withUnsafeBufferPointer { qp in
            codes.withUnsafeBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_u8s8_dot_many(qp.baseAddress, cp.baseAddress! + first * n, n, count, op.baseAddress)
                }
            }
        }
    }

    /// Exact integer dot products of `q` with the 16 rows of each of `blockCount` blocks of
    /// a 4-bit interleaved plane from `firstBlock` (`ragdb_u4s8_dots_interleaved`: `q.count
    /// / 8` runs of 64 bytes a block, each holding 8 dimensions of 16 rows as nibbles): row r
    /// of block b lands in `out[16b + r]`, `out` grown as needed.
    ///
    /// - Complexity: two vpdpbusd per 16 rows and 8 dimensions with VNNI; scalar elsewhere.
    static func u4s8DotsInterleaved(_ q: [Int8], blocks: [UInt8], firstBlock: Int, blockCount: Int, into out: inout [Int32]) {
        let groups = q.count / 8
        precondition(q.count % 8 == 0 && (firstBlock + blockCount) * groups * 64 <= blocks.count)
        if out.count < blockCount * 16 {
            // Every entry is written by the kernel below.
            out = [Int32](unsafeUninitializedCapacity: blockCount * 16) { _, initialized in initialized = blockCount * 16 }
        }
        q.withUnsafeBufferPointer { qp in
            blocks.withUnsafeBufferPointer { bp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_u4s8_dots_interleaved(qp.baseAddress, bp.baseAddress! + firstBlock * groups * 64, groups, blockCount, op.baseAddress)
                }
            }
        }
    }

    /// `out[i]` = Σ_j codes[rows[i]][j] · q[j] in exact integers (`q.count` bytes a code),
    /// for codes picked by row; `out` grown as needed.
    ///
    /// - Complexity: one kernel call, four rows per step with VNNI.
    static func u8s8DotRows(_ q: [Int8], codes: [UInt8], rows: [UInt32], into out: inout [Int32]) {
        let n = q.count
        precondition(rows.allSatisfy { (Int($0) + 1) * n <= codes.count })
        if out.count < rows.count { out = [Int32](repeating: 0, count: rows.count) }
        q.withUnsafeBufferPointer { qp in
            codes.withUnsafeBufferPointer { cp in
                rows.withUnsafeBufferPointer { rp in
                    out.withUnsafeMutableBufferPointer { ragdb_u8s8_dot_rows(qp.baseAddress, cp.baseAddress, n, rp.baseAddress, rows.count, $0.baseAddress) }
                }
            }
        }
    }

    /// Working memory of `topRows`, reused across calls.
    struct TopScratch {
        var rows: [UInt32] = []
        var values: [Int32] = []
    }

    /// The `m` largest of `values[0..<count]` (ties: the smaller index), in no particular
    /// order: their indices in `scratch.rows[0..<result]`, values in `scratch.values`.
    ///
    /// - Complexity: two passes (block maxima, then collecting those above the m-th largest
    ///   maximum) and two bisections by vector counts (over the maxima, then about 1.1·m
    ///   values); no heap, no allocation once the scratch has grown.
    static func topRows(_ values: [Int32], count: Int, m: Int, scratch: inout TopScratch) -> Int {
        precondition(count <= values.count && m >= 0)
        if scratch.rows.count < m { scratch.rows = [UInt32](repeating: 0, count: m); scratch.values = [Int32](repeating: 0, count: m) }
        return values.withUnsafeBufferPointer { vp in
            scratch.rows.withUnsafeMutableBufferPointer { rp in
                scratch.values.withUnsafeMutableBufferPointer { bp in
                    ragdb_top_rows(vp.baseAddress, count, m, rp.baseAddress, bp.baseAddress)
                }
            }
        }
    }

    /// `out[i]` = q·codes[i] for `count` contiguous byte codes of `q.count` bytes each
    /// (scalar-quantized vectors), starting at code `first`.
    @inline(__always)
    static func u8DotMany(_ q: [Float], codes: [UInt8], first: Int, count: Int, into out: inout [Float]) {
        let n = q.count
        q.withUnsafeBufferPointer { qp in
            codes.withUnsafeBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_u8_dot_many(qp.baseAddress, cp.baseAddress! + first * n, n, count, op.baseAddress)
                }
            }
        }
    }

    /// The mean and the covariance matrix (d × d, row-major, divided by the count) of
    /// `points` (`points.count / d` vectors of `d` floats), in double precision.
    ///
    /// - Complexity: count · d²/2 multiply-adds in C.
    static func covariance(_ points: [Float], dimensions d: Int) -> (mean: [Double], covariance: [Double]) {
        var mean = [Double](repeating: 0, count: d)
        var cov = [Double](repeating: 0, count: d * d)
        points.withUnsafeBufferPointer { xp in
            mean.withUnsafeMutableBufferPointer { mp in
                cov.withUnsafeMutableBufferPointer { ragdb_covariance(xp.baseAddress, points.count / d, d, mp.baseAddress, $0.baseAddress) }
            }
        }
        return (mean, cov)
    }

    /// The eigenvalues and unit eigenvectors of the symmetric `d × d` matrix `matrix`
    /// (row-major), largest eigenvalue first: `vectors` holds one eigenvector per row.
    ///
    /// - Complexity: cyclic Jacobi in C, O(d³) per sweep, about 8 sweeps at d = 384.
    static func symmetricEigen(_ matrix: [Double], dimensions d: Int) -> (values: [Double], vectors: [Double]) {
        precondition(matrix.count == d * d)
        var a = matrix
        var values = [Double](repeating: 0, count: d)
        var vectors = [Double](repeating: 0, count: d * d)
        _ = a.withUnsafeMutableBufferPointer { ap in
            values.withUnsafeMutableBufferPointer { vp in
                vectors.withUnsafeMutableBufferPointer { ragdb_symmetric_eigen(ap.baseAddress, d, vp.baseAddress, $0.baseAddress) }
            }
        }
        let order = (0..<d).sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        var sortedVectors = [Double](repeating: 0, count: d * d)
        for (k, i) in order.enumerated() { for j in 0..<d { sortedVectors[k * d + j] = vectors[i * d + j] } }
        return (order.map { values[$0] }, sortedVectors)
    }

    /// Hamming distances between the 1-bit code `q` (`q.count` words) and each of the codes
    /// in `codes` (contiguous, `q.count` words each): the symmetric comparison of two binary
    /// codes, e.g. to find near-duplicate vectors without their floats.
    ///
    /// - Complexity: one popcount per word (popcnt where the CPU has it).
    public static func hamming(_ q: [UInt64], codes: [UInt64]) -> [UInt32] {
        let w = q.count
        guard w > 0 else { return [] }
        var out = [UInt32](repeating: 0, count: codes.count / w)
        q.withUnsafeBufferPointer { qp in
            codes.withUnsafeBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_hamming_many(qp.baseAddress, cp.baseAddress, w, op.count, op.baseAddress)
                }
            }
        }
        return out
    }

    /// `out[i]` = Σ q[j] over the set bits j of binary code `first + i` (`stride` bytes each,
    /// held as little-endian 64-bit words).
    @inline(__always)
    static func bitsDotMany(_ q: [Float], codes: [UInt64], stride: Int, first: Int, count: Int, into out: inout [Float]) {
        q.withUnsafeBufferPointer { qp in
            codes.withUnsafeBytes { cp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_bits_dot_many(qp.baseAddress, cp.baseAddress!.assumingMemoryBound(to: UInt8.self) + first * stride, qp.count, stride, count, op.baseAddress)
                }
            }
        }
    }

    /// `out[i]` = Σ_s table[s·256 + code_i[s]] for `count` PQ codes of `m` bytes from code `first`.
    @inline(__always)
    static func pqADCMany(table: [Float], codes: [UInt8], m: Int, first: Int, count: Int, into out: inout [Float]) {
        table.withUnsafeBufferPointer { tp in
            codes.withUnsafeBufferPointer { cp in
                out.withUnsafeMutableBufferPointer { op in
                    ragdb_pq_adc_many(tp.baseAddress, cp.baseAddress! + first * m, m, count, op.baseAddress)
                }
            }
        }
    }
}
