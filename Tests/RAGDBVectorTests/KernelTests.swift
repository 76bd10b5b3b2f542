import CRAGDBKernels
import RAGDBTestSupport
import RAGDBVector
import Testing

/// Each SIMD level of every kernel against the scalar reference, on random inputs of sizes
/// that exercise every tail path (1…67 and 384 dimensions), within float tolerance.
@Suite struct KernelTests {
    static let sizes = [1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 67, 384]
    static var levels: [Int32] { Array(1...max(1, ragdb_kernels_best_level())).filter { $0 <= ragdb_kernels_best_level() } }

    static func floats(_ n: Int, _ rng: inout SeededGenerator) -> [Float] {
        (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 5000 }
    }

    static func close(_ a: Float, _ b: Float, scale: Float) -> Bool { abs(a - b) <= 1e-4 * max(1, scale) }

    @Test("signed-byte quantization: within half a step of the input, ±127 at the largest magnitude, zero for zero")
    func quantizeS8() {
        var rng = SeededGenerator(seed: 13)
        for n in Self.sizes {
            let x = Self.floats(n, &rng)
            var q = [Int8](repeating: 0, count: n)
            let f = x.withUnsafeBufferPointer { xp in q.withUnsafeMutableBufferPointer { ragdb_quantize_s8(xp.baseAddress, n, $0.baseAddress) } }
            let m = x.map(abs).max()!
            #expect(abs(f - m / 127) <= 1e-6 * max(1, m))
            for j in 0..<n where f > 0 {
                #expect(abs(Float(q[j]) * f - x[j]) <= f / 2 * 1.0001, "n \(n), j \(j)")
                if abs(x[j]) == m { #expect(abs(Int(q[j])) == 127) }
            }
            // The vector path (AVX-512 where present) equals the scalar reference bit for bit.
            var r = [Int8](repeating: 0, count: n)
            let g = x.withUnsafeBufferPointer { xp in r.withUnsafeMutableBufferPointer { ragdb_quantize_s8_reference(xp.baseAddress, n, $0.baseAddress) } }
            #expect(f == g && q == r, "n \(n)")
        }
        var q = [Int8](repeating: 5, count: 4)
        let zero: [Float] = [0, -0, 0, 0]
        let f = zero.withUnsafeBufferPointer { xp in q.withUnsafeMutableBufferPointer { ragdb_quantize_s8(xp.baseAddress, 4, $0.baseAddress) } }
        #expect(f == 0 && q == [0, 0, 0, 0])
    }

    @Test("the CPU's best level is detected and in use")
    func detection() {
        #expect(ragdb_kernels_level() == ragdb_kernels_best_level())
        #if arch(x86_64)
        // Every x86-64 machine this project runs on has at least AVX2 (checked in CI by this test).
        #expect(ragdb_kernels_best_level() >= 1, "no AVX2+FMA: the kernels would run scalar")
        #endif
    }

    @Test("f32, f16 and i8 dot/norm at every level equal the scalar reference")
    func dotNorm() {
        var rng = SeededGenerator(seed: 7)
        let reference = ragdb_kernels_for_level(0)!.pointee
        for level in Self.levels {
            let t = ragdb_kernels_for_level(level)!.pointee
            for n in Self.sizes {
                let q = Self.floats(n, &rng), v = Self.floats(n, &rng)
                let halves = v.map { Float16($0).bitPattern }
                let bytes = v.map { UInt8(bitPattern: Int8(max(-127, min(127, $0 * 60)))) }
                var want: (Float, Float) = (0, 0), got: (Float, Float) = (0, 0)
                func run(_ f: @convention(c) (UnsafePointer<Float>?, UnsafeRawPointer?, Int, UnsafeMutablePointer<Float>?) -> Void,
                         _ g: @convention(c) (UnsafePointer<Float>?, UnsafeRawPointer?, Int, UnsafeMutablePointer<Float>?) -> Void,
                         _ data: UnsafeRawPointer) -> ((Float, Float), (Float, Float)) {
                    var a: [Float] = [0, 0], b: [Float] = [0, 0]
                    f(q, data, n, &a)
                    g(q, data, n, &b)
                    return ((a[0], a[1]), (b[0], b[1]))
                }
                (want, got) = v.withUnsafeBytes { run(reference.f32_dot_norm, t.f32_dot_norm, $0.baseAddress!) }
                #expect(Self.close(want.0, got.0, scale: Float(n)) && Self.close(want.1, got.1, scale: Float(n)), "f32 level \(level) n \(n)")
                let dotWant = v.withUnsafeBytes { reference.f32_dot(q, $0.baseAddress, n) }
                let dotGot = v.withUnsafeBytes { t.f32_dot(q, $0.baseAddress, n) }
                #expect(Self.close(dotWant, dotGot, scale: Float(n)), "f32 dot level \(level) n \(n)")
                (want, got) = halves.withUnsafeBytes { run(reference.f16_dot_norm, t.f16_dot_norm, $0.baseAddress!) }
                #expect(Self.close(want.0, got.0, scale: Float(n)) && Self.close(want.1, got.1, scale: Float(n)), "f16 level \(level) n \(n)")
                (want, got) = bytes.withUnsafeBytes { run(reference.i8_dot_norm, t.i8_dot_norm, $0.baseAddress!) }
                #expect(Self.close(want.0, got.0, scale: 200 * Float(n)) && Self.close(want.1, got.1, scale: 4000 * Float(n)), "i8 level \(level) n \(n)")
            }
        }
    }

    @Test("the half-precision conversion matches Swift's Float16 on special values")
    func halfConversion() {
        let reference = ragdb_kernels_for_level(0)!.pointee
        let values: [Float] = [0, -0.0, 1, -2.5, 65504, 6.1e-5, 5.96e-8, 1e-6, .infinity]
        for x in values {
            let h = [Float16(x).bitPattern]
            var out: [Float] = [0, 0]
            h.withUnsafeBytes { reference.f16_dot_norm([1], $0.baseAddress, 1, &out) }
            #expect(out[0] == Float(Float16(x)), "\(x)")
        }
    }

    @Test("batch, int8-code, Hamming and PQ kernels at every level equal the reference")
    func manyKernels() {
        var rng = SeededGenerator(seed: 11)
        let reference = ragdb_kernels_for_level(0)!.pointee
        for level in Self.levels {
            let t = ragdb_kernels_for_level(level)!.pointee
            for n in [5, 16, 33, 384] {
                for (nq, rows) in [(1, 1), (3, 5), (4, 4), (7, 9), (9, 33), (17, 70)] {
                    let queries = Self.floats(nq * n, &rng)
                    let data = (0..<rows).map { _ in Self.floats(n, &rng) }
                    var want = [Float](repeating: 0, count: nq * rows), got = want
                    withRowPointers(data) { ptrs in
                        reference.f32_dot_batch(queries, nq, ptrs, rows, n, &want)
                        t.f32_dot_batch(queries, nq, ptrs, rows, n, &got)
                    }
                    for i in want.indices { #expect(Self.close(want[i], got[i], scale: Float(n)), "batch level \(level) n \(n) \(nq)×\(rows) at \(i)") }
                    // Query-major: out[j · rows + r] = query j · row r.
                    let (j, r) = (nq - 1, rows - 1)
                    let direct = (0..<n).reduce(Float(0)) { $0 + queries[j * n + $1] * data[r][$1] }
                    #expect(Self.close(got[j * rows + r], direct, scale: Float(n)))
                }
                let count = 13
                let q = Self.floats(n, &rng)
                let codes = (0..<(count * n)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                var a = [Float](repeating: 0, count: count), b = a
                reference.u8_dot_many(q, codes, n, count, &a)
                t.u8_dot_many(q, codes, n, count, &b)
                for i in 0..<count { #expect(Self.close(a[i], b[i], scale: 255 * Float(n)), "u8 level \(level) n \(n)") }
                let words = (n + 63) / 64
                let qw = (0..<words).map { _ in rng.next() }
                let cw = (0..<(count * words)).map { _ in rng.next() }
                var ha = [UInt32](repeating: 0, count: count), hb = ha
                reference.hamming_many(qw, cw, words, count, &ha)
                t.hamming_many(qw, cw, words, count, &hb)
                #expect(ha == hb)
                #expect(ha[0] == UInt32(zip(qw, cw.prefix(words)).map { ($0 ^ $1).nonzeroBitCount }.reduce(0, +)))
                let m = max(1, n / 4)
                let table = Self.floats(m * 256, &rng)
                for pqCount in [1, 8, 9, 17] {
                    let pq = (0..<(pqCount * m)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    var pa = [Float](repeating: 0, count: pqCount), pb = pa
                    reference.pq_adc_many(table, pq, m, pqCount, &pa)
                    t.pq_adc_many(table, pq, m, pqCount, &pb)
                    for i in 0..<pqCount { #expect(Self.close(pa[i], pb[i], scale: Float(m)), "pq level \(level) m \(m)") }
                }
            }
        }
    }

    func withRowPointers(_ rows: [[Float]], _ body: ([UnsafeRawPointer?]) -> Void) {
        // Copies into one buffer so the pointers stay valid for the whole call.
        let n = rows.first?.count ?? 0
        let flat = rows.flatMap { $0 }
        flat.withUnsafeBytes { p in
            body((0..<rows.count).map { UnsafeRawPointer(p.baseAddress! + $0 * n * 4) })
        }
    }

    @Test("the integer u8 × s8 kernel equals its scalar reference exactly")
    func integerCodes() {
        var rng = SeededGenerator(seed: 13)
        for n in [1, 3, 63, 64, 65, 127, 384, 1000] {
            let count = 9
            let q = (0..<n).map { _ in Int8(Int(rng.next() % 255) - 127) }
            let codes = (0..<(n * count)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var got = [Int32](repeating: 0, count: count), want = got
            ragdb_u8s8_dot_many(q, codes, n, count, &got)
            ragdb_u8s8_dot_many_reference(q, codes, n, count, &want)
            #expect(got == want, "n \(n)")
            // Rows picked by index (repeats and any order) equal the same rows of the batch.
            let rows: [UInt32] = [8, 0, 3, 3, 7, 1, 5]
            var picked = [Int32](repeating: 0, count: rows.count)
            ragdb_u8s8_dot_rows(q, codes, n, rows, rows.count, &picked)
            #expect(picked == rows.map { want[Int($0)] }, "n \(n)")
            #expect(want[0] == (0..<n).reduce(Int32(0)) { $0 + Int32(codes[$1]) * Int32(q[$1]) })
        }
    }

    @Test("the 4-bit interleaved kernel equals its scalar reference and a direct nibble-by-nibble sum")
    func interleavedNibbles() {
        var rng = SeededGenerator(seed: 29)
        for (groups, blocks) in [(1, 1), (2, 3), (12, 4), (12, 7), (13, 9)] {
            let q = (0..<(8 * groups)).map { _ in Int8(Int(rng.next() % 255) - 127) }
            let plane = (0..<(blocks * groups * 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var got = [Int32](repeating: 0, count: 16 * blocks), want = got
            ragdb_u4s8_dots_interleaved(q, plane, groups, blocks, &got)
            ragdb_u4s8_dots_interleaved_reference(q, plane, groups, blocks, &want)
            #expect(got == want, "\(groups) groups, \(blocks) blocks")
            // Row r of block b: dimension j is a nibble of byte j%4 of run j/8.
            let b = blocks - 1, r = 6
            var direct: Int32 = 0
            for j in 0..<(8 * groups) {
                let byte = Int(plane[b * groups * 64 + (j / 8) * 64 + 4 * r + j % 4])
                let nibble = j % 8 >= 4 ? byte >> 4 : byte & 15
                direct += Int32(nibble) * Int32(q[j])
            }
            #expect(want[16 * b + r] == direct)
        }
    }

    @Test("top-rows selection returns exactly the m largest (ties to the smaller index) for any input")
    func topRows() {
        var rng = SeededGenerator(seed: 19)
        for count in [1, 5, 15, 16, 17, 48, 100, 700, 2908, 5000] {
            for m in [1, 12, 48, 600] {
                for spread in [3, 1000, 1 << 30] {
                    let values = (0..<count).map { _ in Int32(Int(rng.next() % UInt64(2 * spread + 1)) - spread) }
                    var rows = [UInt32](repeating: 0, count: m), best = [Int32](repeating: 0, count: m)
                    let n = ragdb_top_rows(values, count, m, &rows, &best)
                    let want = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(m)
                    #expect(n == min(m, count))
                    #expect(Set(rows.prefix(n).map(Int.init)) == Set(want), "count \(count), m \(m), spread \(spread)")
                    #expect(zip(rows.prefix(n), best.prefix(n)).allSatisfy { values[Int($0)] == $1 })
                }
            }
        }
    }

    @Test("the Jacobi eigen-solver: A·v = λ·v, orthonormal vectors, on random symmetric matrices")
    func symmetricEigen() {
        var rng = SeededGenerator(seed: 23)
        for n in [1, 2, 5, 24, 64] {
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in i..<n {
                    let x = Double(Int(rng.next() % 2001) - 1000) / 100
                    a[i * n + j] = x
                    a[j * n + i] = x
                }
            }
            var work = a
            var values = [Double](repeating: 0, count: n), vectors = [Double](repeating: 0, count: n * n)
            let sweeps = ragdb_symmetric_eigen(&work, n, &values, &vectors)
            #expect(sweeps < 60)
            for k in 0..<n {
                for i in 0..<n {
                    let av = (0..<n).reduce(0.0) { $0 + a[i * n + $1] * vectors[k * n + $1] }
                    #expect(abs(av - values[k] * vectors[k * n + i]) < 1e-8 * max(1, abs(values[k])), "n \(n), pair \(k)")
                }
                for l in 0..<n {
                    let d = (0..<n).reduce(0.0) { $0 + vectors[k * n + $1] * vectors[l * n + $1] }
                    #expect(abs(d - (k == l ? 1 : 0)) < 1e-10)
                }
            }
        }
    }

    @Test("Kernels.hamming counts differing bits against each code")
    func hammingAPI() {
        let q: [UInt64] = [0b1011, 0]
        let codes: [UInt64] = [0b1011, 0, 0b0000, 1, .max, .max]
        #expect(Kernels.hamming(q, codes: codes) == [0, 4, 125])
    }

    @Test("TopK keeps the k best, ties to the smaller chunk id, best first")
    func topK() {
        var top = TopK(3)
        for (c, s) in [(5, 1.0), (2, 3.0), (9, 3.0), (1, 0.5), (7, 2.0), (3, 3.0)] as [(UInt64, Float)] { top.offer(c, s) }
        #expect(top.sorted() == [DenseHit(chunk: 2, score: 3), DenseHit(chunk: 3, score: 3), DenseHit(chunk: 9, score: 3)])
        var zero = TopK(0)
        zero.offer(1, 1)
        #expect(zero.sorted().isEmpty)
    }
}
