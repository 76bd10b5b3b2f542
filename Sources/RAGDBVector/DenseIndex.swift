public import RAGDBStorage

/// A scored chunk from a dense stage. Higher scores are better.
public struct DenseHit: Sendable, Hashable {
    /// Chunk id.
    public var chunk: UInt64
    /// Score (exact similarity after verification; the code's estimate after a coarse stage).
    public var score: Float
    /// Creates a hit.
    public init(chunk: UInt64, score: Float) {
        self.chunk = chunk
        self.score = score
    }
}

/// The `k` best hits offered so far; ties go to the smaller chunk id.
///
/// - Complexity: O(log k) per offer that enters, O(1) per offer that does not.
public struct TopK: Sendable {
    private(set) var items: [DenseHit] = []
    /// Capacity.
    public let k: Int

    /// An empty selection of at most `k` hits.
    public init(_ k: Int) {
        self.k = max(k, 0)
        items.reserveCapacity(self.k)
    }

    @inline(__always)
    private static func worse(_ a: DenseHit, _ b: DenseHit) -> Bool {
        a.score < b.score || (a.score == b.score && a.chunk > b.chunk)
    }

    /// The score a new hit must beat once full.
    public var threshold: Float { items.count < k ? -.infinity : items[0].score }
    /// `threshold`, cached for the fast rejection of most offers.
    @usableFromInline var floor: Float = -.infinity

    /// Offers a hit.
    ///
    /// - Complexity: one comparison for most offers once full (inlined into callers in other
    ///   modules); O(log k) for one that enters.
    @inlinable @inline(__always)
    public mutating func offer(_ chunk: UInt64, _ score: Float) {
        if score < floor { return }
        insert(chunk, score)
    }

    @usableFromInline mutating func insert(_ chunk: UInt64, _ score: Float) {
        defer { if k > 0 && items.count == k { floor = items[0].score } }
        let h = DenseHit(chunk: chunk, score: score)
        if items.count < k {
            items.append(h)
            var i = items.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.worse(items[i], items[p]) else { break }
                items.swapAt(i, p)
                i = p
            }
        } else if k > 0, Self.worse(items[0], h) {
            items[0] = h
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && Self.worse(items[l], items[m]) { m = l }
                if r < n && Self.worse(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
    }

    /// The hits, best first.
    public func sorted() -> [DenseHit] { items.sorted { Self.worse($1, $0) } }
}

/// What a dense stage did: the figures a plan reports.
public struct DenseStageStatistics: Sendable, Hashable {
    /// IVF lists probed (0 for a scan of stored vectors).
    public var listsProbed = 0
    /// Codes or vectors scored.
    public var scored = 0
    /// Candidates the stage passed on.
    public var produced = 0
    /// Bytes of full-precision vectors read from the map.
    public var vectorBytesRead = 0
    /// Bytes of compact codes read from memory.
    public var codeBytesRead = 0
    /// Creates empty figures.
    public init() {}
}

/// A space's dense index held in memory: the model plus every code, grouped by IVF list into
/// contiguous arrays (compressed sparse rows). Immutable and `Sendable`; load a new one to see
/// later writes.
public final class DenseSnapshot: Sendable {
    /// The trained model.
    public let model: DenseModel
    /// `lists + 1` offsets into the rows: list `l` holds rows `start[l]..<start[l + 1]`.
    let start: [Int]
    /// Chunk id of each row.
    let ids: [UInt64]
    /// |decoded code|² of each row.
    let norms: [Float]
    /// 1/|decoded code| of each row (0 for a zero code): cosine scoring without a square
    /// root and a division per row.
    let inverseNorms: [Float]
    /// Scalar8 and PQ codes, `codeBytes` bytes a row. PCA8: the prefix plane: the first
    /// `prefixDimensions` bytes of each row's code cut to 4 bits (byte / 17, rounded: the
    /// same range in 16 steps), padded to a multiple of 8 and interleaved in blocks of 16
    /// rows (see `Kernels.u4s8DotsInterleaved`); each list starts a new block. On
    /// manpages-dev the 4-bit prefix ranks the true top 10 into the best 64 as well as the
    /// 8-bit one did (recall 0.993 either way) in half the bytes.
    let bytes: [UInt8]
    /// PCA8: `lists + 1` block offsets into the prefix plane (list `l` holds blocks
    /// `blockStart[l]..<blockStart[l + 1]`); empty for other kinds.
    let blockStart: [Int]
    /// PCA8: each row's whole 8-bit code, row-major, for rescoring the best rows of the
    /// prefix scan; empty for other kinds.
    let rowCodes: [UInt8]
    /// Binary codes, `codeBytes / 8` words a row.
    let words: [UInt64]

    /// Vectors indexed.
    public var count: Int { ids.count }
    /// Bytes held in memory: codes, ids, norms, offsets and the model.
    public var residentBytes: Int {
        bytes.count + rowCodes.count + words.count * 8 + ids.count * 8 + norms.count * 8 + (start.count + blockStart.count) * 8
            + model.residentBytes
    }

    init(model: DenseModel, start: [Int], ids: [UInt64], norms: [Float], bytes: [UInt8], blockStart: [Int] = [], rowCodes: [UInt8] = [],
         words: [UInt64]) {
        self.blockStart = blockStart
        self.rowCodes = rowCodes
        self.model = model
        self.start = start
        self.ids = ids
        self.norms = norms
        self.inverseNorms = norms.map { $0 > 0 ? 1 / $0.squareRoot() : 0 }
        self.bytes = bytes
        self.words = words
    }

    /// The default number of lists to probe: about 1/32 of them, at least 8 (recall@10 0.986
    /// with int8 codes on 100,000 MiniLM-like vectors in 1,265 lists; docs/dense.md).
    public var defaultProbes: Int { model.lists == 1 ? 1 : min(model.lists, max(8, model.lists / 32)) }

    /// The default number of candidates to verify for `k` results: int8 codes rank so closely
    /// to the exact order that 3k suffice; 1-bit and PQ codes need about 20k (docs/dense.md).
    public func defaultCandidates(k: Int) -> Int {
        model.kind == .scalar8 || model.kind == .pca8 ? max(3 * k, 30) : max(20 * k, 200)
    }

    /// PCA8: the default number of rows the prefix scan passes to the full rescoring for
    /// `candidates` candidates: 4 × candidates, at least 64 (recall@10 0.993 with 12
    /// candidates on manpages-dev; docs/dense.md, "PCA codes").
    public static func defaultRescored(candidates: Int) -> Int { max(64, 4 * candidates) }

    /// The `candidates` rows whose codes score best for `query` (raw, as the caller gives it),
    /// looking in the `probes` lists whose centroids are nearest.
    ///
    /// PCA8 codes scan the prefix plane of the probed lists, keep the best `rescored` rows
    /// (default `defaultRescored(candidates:)`), and rank those on their whole codes.
    ///
    /// - Complexity: lists dot products to rank the lists, then one code-kernel pass over the
    ///   probed lists; no LMDB access, no per-row allocation.
    public func search(
        _ query: [Float], candidates: Int, probes: Int? = nil, rescored: Int? = nil, allowed: ((UInt64) -> Bool)? = nil
    ) -> (hits: [DenseHit], statistics: DenseStageStatistics) {
        let d = model.dimensions
        precondition(query.count == d)
        let q = DenseModel.prepare(query, metric: model.metric)
        var stats = DenseStageStatistics()
        let probeCount = min(model.lists, max(1, probes ?? defaultProbes))
        var order: [Int]
        if model.lists == 1 {
            order = [0]
        } else {
            var scores = [Float](repeating: 0, count: model.lists)
            Kernels.dotMany(q, rows: model.centroids, into: &scores)
            // Nearest centroids first: |q − c|² ∝ |c|²/2 − q·c, so the best are the largest q·c − |c|²/2.
            var nearest = TopK(probeCount)
            for l in 0..<model.lists { nearest.offer(UInt64(l), scores[l] - model.centroidHalfNorms[l]) }
            order = nearest.sorted().map { Int($0.chunk) }
        }
        stats.listsProbed = order.count
        if model.kind == .pca8 {
            let hits = searchPCA(q, order: order, candidates: candidates, rescored: max(1, rescored ?? Self.defaultRescored(candidates: candidates)),
                                 allowed: allowed, stats: &stats)
            stats.produced = hits.count
            return (hits, stats)
        }
        var top = TopK(candidates)
        let block = 1024
        switch model.kind {
        case .pca8:
            preconditionFailure("handled above")
        case .scalar8:
            // q·x̂ = Σ q_j·min_j + Σ (q_j·step_j)·c_j.
            // Reductions through the SIMD dot kernel: a Swift loop adds serially (4 cycles a
            // term on baseline x86-64).
            let step = model.step
            let scaled = (0..<d).map { q[$0] * step[$0] }
            let constant = Kernels.dot(q, model.offset)
            let qq = Kernels.dot(q, q)
            var out = [Float](repeating: 0, count: block)
            // With VNNI the scaled query is itself quantized to signed bytes (max |q'| → 127)
            // and codes are scored in exact integers, 64 products an instruction; the coarse
            // ranking barely moves and verification is exact anyway.
            let integer = Kernels.integerCodeScoring
            var q8 = [Int8](repeating: 0, count: integer ? d : 0)
            var factor: Float = 0
            var ints = [Int32](repeating: 0, count: integer ? block : 0)
            if integer { factor = Kernels.quantizeS8(scaled, into: &q8) }
            for l in order {
                var row = start[l]
                let end = start[l + 1]
                while row < end {
                    let n = min(block, end - row)
                    if integer {
                        Kernels.u8s8DotMany(q8, codes: bytes, first: row, count: n, into: &ints)
                    } else {
                        Kernels.u8DotMany(scaled, codes: bytes, first: row, count: n, into: &out)
                    }
                    // One pass per block, without bounds checks: score a row and offer it to
                    // the heap only when it beats the current k-th best (the floor is read
                    // again only after an insert). The metric is fixed per index: one loop
                    // each, no switch per row.
                    let scale: Float = integer ? factor : 1
                    let first = row
                    ints.withUnsafeBufferPointer { ip in
                        out.withUnsafeBufferPointer { op in
                            ids.withUnsafeBufferPointer { idp in
                                @inline(__always) func raw(_ i: Int) -> Float { integer ? Float(ip[i]) * scale : op[i] }
                                var floor = top.floor
                                @inline(__always) func offer(_ i: Int, _ score: Float) {
                                    guard score >= floor else { return }
                                    let id = idp[first + i]
                                    if let allowed, !allowed(id) { return }
                                    top.insert(id, score)
                                    floor = top.floor
                                }
                                switch model.metric {
                                case .dot:
                                    for i in 0..<n { offer(i, raw(i) + constant) }
                                case .cosine:
                                    inverseNorms.withUnsafeBufferPointer { inv in
                                        for i in 0..<n { offer(i, (raw(i) + constant) * inv[first + i]) }
                                    }
                                case .l2:
                                    norms.withUnsafeBufferPointer { nb in
                                        for i in 0..<n { offer(i, -(qq - 2 * (raw(i) + constant) + nb[first + i])) }
                                    }
                                }
                            }
                        }
                    }
                    stats.scored += n
                    row += n
                }
            }
            stats.codeBytesRead = stats.scored * d
        case .pq:
            // Asymmetric distance: q·x̂ = Σ_s q_s·codebook_s[code_s], from a table per subspace.
            let sub = model.subDimensions, m = d / sub
            var table = [Float](repeating: 0, count: m * 256)
            for s in 0..<m {
                for c in 0..<256 {
                    var t: Float = 0
                    let base = (s * 256 + c) * sub
                    for j in 0..<sub { t += q[s * sub + j] * model.codebooks[base + j] }
                    table[s * 256 + c] = t
                }
            }
            let qq = Kernels.dot(q, q)
            var out = [Float](repeating: 0, count: block)
            for l in order {
                var row = start[l]
                let end = start[l + 1]
                while row < end {
                    let n = min(block, end - row)
                    Kernels.pqADCMany(table: table, codes: bytes, m: m, first: row, count: n, into: &out)
                    for i in 0..<n {
                        let id = ids[row + i]
                        if let allowed, !allowed(id) { continue }
                        top.offer(id, model.metric.score(dot: out[i], norm2: norms[row + i], queryNorm2: qq))
                    }
                    stats.scored += n
                    row += n
                }
            }
            stats.codeBytesRead = stats.scored * m
        case .binary:
            // Asymmetric: q·x̂ with x̂_j = mean_j ± σ_j is q·mean − Σ_j q_j·σ_j + 2·Σ_{set bits} q_j·σ_j;
            // the last sum is one masked-add kernel pass per code.
            let m = model.codeBytes
            var scaled = [Float](repeating: 0, count: d)
            var constant: Float = 0
            for j in 0..<d { scaled[j] = q[j] * model.step[j]; constant += q[j] * model.offset[j] - scaled[j] }
            let qq = Kernels.dot(q, q)
            var out = [Float](repeating: 0, count: block)
            for l in order {
                var row = start[l]
                let end = start[l + 1]
                while row < end {
                    let n = min(block, end - row)
                    Kernels.bitsDotMany(scaled, codes: words, stride: m, first: row, count: n, into: &out)
                    for i in 0..<n {
                        let id = ids[row + i]
                        if let allowed, !allowed(id) { continue }
                        top.offer(id, model.metric.score(dot: constant + 2 * out[i], norm2: norms[row + i], queryNorm2: qq))
                    }
                    stats.scored += n
                    row += n
                }
            }
            stats.codeBytesRead = stats.scored * m
        }
        let hits = top.sorted()
        stats.produced = hits.count
        return (hits, stats)
    }
}

extension DenseSnapshot {
    /// The PCA8 coarse stage for prepared query `q` over the lists in `order`: the query is
    /// rotated onto the model's axes; the 4-bit prefix plane of every probed row is scored
    /// and the best `rescored` rows kept (by row); those are rescored on their whole 8-bit
    /// codes and the best `candidates` returned by chunk id.
    ///
    /// - Complexity: one r × d rotation (VNNI integer kernel where the CPU has it), one
    ///   p/2-byte kernel pass per probed row, one r-byte pass per rescored row.
    fileprivate func searchPCA(
        _ q: [Float], order: [Int], candidates: Int, rescored: Int, allowed: ((UInt64) -> Bool)?, stats: inout DenseStageStatistics
    ) -> [DenseHit] {
        let d = model.dimensions, r = model.rotatedDimensions, p = model.prefixDimensions
        let integer = Kernels.integerCodeScoring
        // y = R̃ q, with R̃[a][j] = scale_a · (byte − 128).
        var y = [Float](repeating: 0, count: r)
        if integer {
            var q8 = [Int8](repeating: 0, count: d)
            var ints = [Int32](repeating: 0, count: r)
            let f = Kernels.quantizeS8(q, into: &q8)
            var total: Int32 = 0
            for x in q8 { total &+= Int32(x) }
            Kernels.u8s8DotMany(q8, codes: model.rotation, first: 0, count: r, into: &ints)
            for a in 0..<r { y[a] = model.rotationScales[a] * f * Float(ints[a] &- 128 &* total) }
        } else {
            var total: Float = 0
            for x in q { total += x }
            Kernels.u8DotMany(q, codes: model.rotation, first: 0, count: r, into: &y)
            for a in 0..<r { y[a] = model.rotationScales[a] * (y[a] - 128 * total) }
        }
        // q·x̂ = q·mean + Σ_a y_a·offset_a + Σ_a (y_a·step_a)·code_a. The prefix plane's
        // 4-bit codes step 17 times as far.
        let scaled = (0..<r).map { y[$0] * model.step[$0] }
        let constant = Kernels.dot(q, model.mean) + Kernels.dot(y, model.offset)
        let qq = Kernels.dot(q, q)
        let groups = (p + 7) / 8
        var head8: [Int8] = []
        let headFactor = Kernels.quantizeS8((0..<p).map { 17 * scaled[$0] }, into: &head8)
        head8 += [Int8](repeating: 0, count: groups * 8 - p)
        // Scores are affine in the code's dot product. Cosine vectors are unit length (their
        // stored norm is the prepared vector's), so the prefix stage ranks cosine as dot and
        // the rescoring applies the inverse norm (0 for a zero vector).
        let metric = model.metric
        // Prefix scan: rows keyed by their index, so the rescoring finds their codes.
        // Without a filter, dot and cosine rank rows by the integer product alone, and each
        // probed list's best rows come from one selection pass (a heap fed row by row spent
        // most of the stage in mispredicted sift-downs).
        var best = TopK(rescored)
        var products: [Int32] = []
        var scratch = Kernels.TopScratch()
        var single: [DenseHit]?
        let selectByProduct = allowed == nil && metric != .l2
        for l in order where start[l + 1] > start[l] {
            let first = start[l], count = start[l + 1] - start[l]
            Kernels.u4s8DotsInterleaved(head8, blocks: bytes, firstBlock: blockStart[l], blockCount: blockStart[l + 1] - blockStart[l], into: &products)
            if selectByProduct {
                let found = Kernels.topRows(products, count: count, m: rescored, scratch: &scratch)
                if order.count == 1 {
                    // One list: the selection is already the answer.
                    single = (0..<found).map { DenseHit(chunk: UInt64(first + Int(scratch.rows[$0])), score: 0) }
                } else {
                    for s in 0..<found { best.offer(UInt64(first + Int(scratch.rows[s])), Float(scratch.values[s]) * headFactor + constant) }
                }
            } else {
                for i in 0..<count {
                    let row = first + i
                    let raw = Float(products[i]) * headFactor + constant
                    let score = metric == .l2 ? -(qq - 2 * raw + norms[row]) : raw
                    guard score >= best.floor else { continue }
                    if let allowed, !allowed(ids[row]) { continue }
                    best.insert(UInt64(row), score)
                }
            }
            stats.scored += count
        }
        stats.codeBytesRead = stats.scored * groups * 4
        // Rescoring on the whole 8-bit code.
        let chosen = single ?? best.items
        var raw = [Float](repeating: 0, count: chosen.count)
        if !chosen.isEmpty {
            let rows = chosen.map { UInt32($0.chunk) }
            if integer {
                var full8: [Int8] = []
                let fullFactor = Kernels.quantizeS8(scaled, into: &full8)
                var ints: [Int32] = []
                Kernels.u8s8DotRows(full8, codes: rowCodes, rows: rows, into: &ints)
                for i in chosen.indices { raw[i] = Float(ints[i]) * fullFactor + constant }
            } else {
                var one = [Float](repeating: 0, count: 1)
                for (i, row) in rows.enumerated() {
                    Kernels.u8DotMany(scaled, codes: rowCodes, first: Int(row), count: 1, into: &one)
                    raw[i] = one[0] + constant
                }
            }
        }
        var top = TopK(candidates)
        for (i, hit) in chosen.enumerated() {
            let row = Int(hit.chunk)
            let score: Float = switch metric {
            case .dot: raw[i]
            case .cosine: raw[i] * inverseNorms[row]
            case .l2: -(qq - 2 * raw[i] + norms[row])
            }
            top.offer(ids[row], score)
        }
        stats.codeBytesRead += chosen.count * r
        return top.sorted()
    }
}

extension VectorStore {
    static func codeValue(_ encoded: (list: UInt32, norm2: Float, code: [UInt8])) -> [UInt8] {
        var w = ByteWriter(capacity: 8 + encoded.code.count)
        w.write(encoded.list)
        w.write(encoded.norm2.bitPattern)
        w.write(bytes: encoded.code)
        return w.bytes
    }

    static func modelKey(_ collection: UInt32, _ space: UInt16) -> [UInt8] {
        var k = KeyBuilder(capacity: 6)
        k.append(collection)
        k.append(space)
        return k.bytes
    }

    /// The number of codes of `space`.
    ///
    /// - Complexity: one cursor step per code.
    public func codeCount(collection: UInt32, space: UInt16, _ txn: borrowing some TransactionReading & ~Copyable) throws -> Int {
        try txn.scan(codes, range: .prefix(Self.modelKey(collection, space))) { _, _ in .next }
    }

    /// The dense model of `space`, or `nil` when it has no index.
    ///
    /// - Complexity: one look-up and one decode of the model (its centroids).
    public func model(collection: UInt32, space: UInt16, _ txn: borrowing some TransactionReading & ~Copyable) throws -> DenseModel? {
        try txn.withValue(forKey: Self.modelKey(collection, space), in: models) { try DenseModel.deserialize($0) }
    }

    /// Trains a dense index for `space` on its stored vectors and writes the model and a code
    /// for every vector, replacing any previous index of the space.
    ///
    /// - Returns: the model, or `nil` when the space holds no vectors.
    /// - Complexity: two scans of the space's vectors, k-means on a sample of at most
    ///   `options.sampleLimit`, and one code write per vector, all in the caller's transaction.
    public func buildIndex(collection: UInt32, space: StoredSpace, options: DenseModel.Options, _ txn: borrowing WriteTransaction) throws -> DenseModel? {
        let prefix = Self.modelKey(collection, space.number)
        try txn.deleteRange(.prefix(prefix), in: codes)
        try txn.delete(forKey: prefix, in: models)
        let total = try count(collection: collection, space: space.number, txn)
        guard total > 0 else { return nil }
        let d = space.dimensions
        let stride = max(1, (total + options.sampleLimit - 1) / options.sampleLimit)
        var sample: [Float] = []
        sample.reserveCapacity(min(total, options.sampleLimit) * d)
        var i = 0
        try txn.scan(vectors, range: .prefix(prefix)) { _, value in
            if i % stride == 0 { sample += DenseModel.prepare(try Self.decode(value, space: space), metric: space.metric) }
            i += 1
            return .next
        }
        let model = DenseModel.train(sample: sample, dimensions: d, metric: space.metric, total: total, options: options)
        try txn.put(try model.serialized(), forKey: prefix, in: models)
        // Codes, in blocks so list assignment runs in the batch kernel on all cores.
        var keys: [[UInt8]] = []
        var raws: [[Float]] = []
        var prepared: [Float] = []
        func flush(_ txn: borrowing WriteTransaction) throws {
            let lists = model.lists(of: prepared)
            for (j, raw) in raws.enumerated() {
                try txn.putAppending(Self.codeValue(model.encode(raw, list: Int(lists[j]))), forKey: keys[j], in: codes)
            }
            keys.removeAll(keepingCapacity: true)
            raws.removeAll(keepingCapacity: true)
            prepared.removeAll(keepingCapacity: true)
        }
        try txn.scan(vectors, range: .prefix(prefix)) { key, value in
            let raw = try Self.decode(value, space: space)
            keys.append(key.withUnsafeBytes { Array($0) })
            raws.append(raw)
            prepared += DenseModel.prepare(raw, metric: space.metric)
            if keys.count == 4096 { try flush(txn) }
            return .next
        }
        if !keys.isEmpty { try flush(txn) }
        return model
    }

    /// Loads `space`'s dense index into memory, or `nil` when it has none.
    ///
    /// - Complexity: one scan of the space's codes; memory: the codes plus 12 bytes a vector.
    /// - Throws: `.corruptValue` for a code of the wrong size or an unknown list.
    public func loadIndex(collection: UInt32, space: UInt16, _ txn: borrowing some TransactionReading & ~Copyable) throws -> DenseSnapshot? {
        guard let model = try model(collection: collection, space: space, txn) else { return nil }
        let prefix = Self.modelKey(collection, space)
        // Pass 1: list sizes.
        var sizes = [Int](repeating: 0, count: model.lists)
        let expected = 8 + model.codeBytes
        try txn.scan(codes, range: .prefix(prefix)) { _, value in
            guard value.byteCount == expected else {
                throw StorageError(.corruptValue, operation: "load dense index", detail: "code of \(value.byteCount) bytes, expected \(expected)")
            }
            let list = Int(UInt32(littleEndian: value.unsafeLoadUnaligned(as: UInt32.self)))
            guard list < model.lists else {
                throw StorageError(.corruptValue, operation: "load dense index", detail: "list \(list) of \(model.lists)")
            }
            sizes[list] += 1
            return .next
        }
        var start = [Int](repeating: 0, count: model.lists + 1)
        for l in 0..<model.lists { start[l + 1] = start[l] + sizes[l] }
        let n = start[model.lists]
        var fill = Array(start.dropLast())
        var ids = [UInt64](repeating: 0, count: n)
        var norms = [Float](repeating: 0, count: n)
        let cb = model.codeBytes
        // PCA8 codes are kept twice: a 4-bit prefix plane (`bytes`, interleaved in blocks of
        // 16 rows per list) and the whole 8-bit codes, row-major.
        let pca = model.kind == .pca8
        let head = model.prefixDimensions
        let groups = (head + 7) / 8
        var blockStart = [Int](repeating: 0, count: pca ? model.lists + 1 : 0)
        if pca { for l in 0..<model.lists { blockStart[l + 1] = blockStart[l] + (sizes[l] + 15) / 16 } }
        var bytes = [UInt8](repeating: 0, count: pca ? blockStart[model.lists] * groups * 64 : (model.kind != .binary ? n * cb : 0))
        var rowCodes = [UInt8](repeating: 0, count: pca ? n * cb : 0)
        var words = [UInt64](repeating: 0, count: model.kind == .binary ? n * cb / 8 : 0)
        // Pass 2: place each row in its list.
        try txn.scan(codes, range: .prefix(prefix)) { key, value in
            let list = Int(UInt32(littleEndian: value.unsafeLoadUnaligned(as: UInt32.self)))
            let row = fill[list]
            fill[list] += 1
            ids[row] = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
            norms[row] = Float(bitPattern: UInt32(littleEndian: value.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            if pca {
                let index = row - start[list]
                let base = (blockStart[list] + index / 16) * groups * 64 + (index % 16) * 4
                for j in 0..<cb { rowCodes[row * cb + j] = value.unsafeLoadUnaligned(fromByteOffset: 8 + j, as: UInt8.self) }
                for j in 0..<head {
                    // Dimension j sits in run j/8; of its four bytes, byte j%4, high nibble
                    // for the second four dimensions of the run.
                    let nibble = (UInt16(rowCodes[row * cb + j]) + 8) / 17
                    bytes[base + (j / 8) * 64 + j % 4] |= UInt8(nibble) << (j % 8 >= 4 ? 4 : 0)
                }
            } else if model.kind != .binary {
                for j in 0..<cb { bytes[row * cb + j] = value.unsafeLoadUnaligned(fromByteOffset: 8 + j, as: UInt8.self) }
            } else {
                for w in 0..<(cb / 8) {
                    words[row * cb / 8 + w] = UInt64(littleEndian: value.unsafeLoadUnaligned(fromByteOffset: 8 + 8 * w, as: UInt64.self))
                }
            }
            return .next
        }
        return DenseSnapshot(model: model, start: start, ids: ids, norms: norms, bytes: bytes, blockStart: blockStart, rowCodes: rowCodes, words: words)
    }

    /// Verifies the dense index of every space of `collection` (Format.md §6, "Dense
    /// index"): a model that decodes and matches its space, one code per vector of an indexed
    /// space and none for other spaces, each of the right size with a list below the model's
    /// count. Calls `report` with (entry, detail).
    ///
    /// - Returns: the number of codes checked.
    /// - Complexity: one scan of the collection's codes and one of its vectors.
    public func checkDenseIndex(
        collection: UInt32, spaces: [StoredSpace], _ txn: borrowing some TransactionReading & ~Copyable,
        report: (String, String) -> Void
    ) throws -> Int {
        var checked = 0
        for space in spaces {
            let prefix = Self.modelKey(collection, space.number)
            let entry = "collection \(collection), space \(space.number)"
            var model: DenseModel?
            do {
                model = try self.model(collection: collection, space: space.number, txn)
            } catch {
                report(entry, "dense model: \((error as? StorageError)?.detail ?? "\(error)")")
                continue
            }
            if let m = model, m.dimensions != space.dimensions {
                report(entry, "dense model has \(m.dimensions) dimensions, the space \(space.dimensions)")
                continue
            }
            var codeCount = 0
            try txn.scan(codes, range: .prefix(prefix)) { key, value in
                codeCount += 1
                let chunk = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
                guard let m = model else { report(entry, "code of chunk \(chunk) in a space without a dense model"); return .next }
                if value.byteCount != 8 + m.codeBytes {
                    report(entry, "code of chunk \(chunk) has \(value.byteCount) bytes, expected \(8 + m.codeBytes)")
                } else if Int(UInt32(littleEndian: value.unsafeLoadUnaligned(as: UInt32.self))) >= m.lists {
                    report(entry, "code of chunk \(chunk) names a list beyond the model's \(m.lists)")
                }
                if try !txn.contains(Self.key(collection, space.number, chunk), in: vectors) {
                    report(entry, "code of chunk \(chunk), which has no vector")
                }
                return .next
            }
            checked += codeCount
            if model != nil {
                let vectorCount = try count(collection: collection, space: space.number, txn)
                if vectorCount != codeCount { report(entry, "\(vectorCount) vectors but \(codeCount) codes") }
            }
        }
        return checked
    }

    /// Exact similarity of `query` to the stored vectors of `chunks`, best `k` first: the
    /// verification stage, reading each vector in place from the map.
    ///
    /// - Complexity: one B-tree descent and one SIMD pass per candidate.
    public func verify(
        _ query: [Float], chunks: [UInt64], k: Int, collection: UInt32, space: StoredSpace,
        _ txn: borrowing some TransactionReading & ~Copyable
    ) throws -> (hits: [DenseHit], statistics: DenseStageStatistics) {
        let q = DenseModel.prepare(query, metric: space.metric)
        let qq = Kernels.dot(q, q)
        var top = TopK(k)
        var stats = DenseStageStatistics()
        var key = KeyBuilder(capacity: 14)
        // In key order: neighbouring look-ups share B-tree pages already in cache.
        for c in chunks.sorted() {
            key.reset()
            key.append(collection)
            key.append(space.number)
            key.append(c)
            let s: Float? = try txn.withValue(forKey: key.bytes, in: vectors) { v in
                guard v.byteCount == space.vectorBytes else {
                    throw StorageError(.corruptValue, operation: "verify", detail: "vector of chunk \(c) has \(v.byteCount) bytes")
                }
                let (dot, n2) = Kernels.dotNorm(q, v, space.elementType)
                return space.metric.score(dot: dot, norm2: n2, queryNorm2: qq)
            }
            guard let s else { continue }
            stats.scored += 1
            stats.vectorBytesRead += space.vectorBytes
            top.offer(c, s)
        }
        let hits = top.sorted()
        stats.produced = hits.count
        return (hits, stats)
    }

    /// The chunk ids of the first and last stored vectors of `space`, or nil when it has none
    /// (for splitting a scan between threads).
    public func chunkRange(collection: UInt32, space: UInt16, _ txn: borrowing some TransactionReading & ~Copyable) throws -> ClosedRange<UInt64>? {
        let prefix = Self.modelKey(collection, space)
        var first: UInt64?, last: UInt64?
        try txn.scan(vectors, range: .prefix(prefix)) { key, _ in
            first = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
            return .stop
        }
        try txn.scan(vectors, range: .prefix(prefix), reverse: true) { key, _ in
            last = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
            return .stop
        }
        guard let first, let last else { return nil }
        return first...last
    }

    /// Exact search: scores every stored vector of `space` in place and keeps the best `k`
    /// (the ground truth for every approximate plan). `chunks` limits the scan to a range of
    /// chunk ids (one thread's share).
    ///
    /// - Complexity: one cursor pass over the space's vectors, one SIMD pass per vector;
    ///   memory-bound.
    public func exactSearch(
        _ query: [Float], k: Int, collection: UInt32, space: StoredSpace, allowed: ((UInt64) -> Bool)? = nil,
        chunks: ClosedRange<UInt64>? = nil, _ txn: borrowing some TransactionReading & ~Copyable
    ) throws -> (hits: [DenseHit], statistics: DenseStageStatistics) {
        let q = DenseModel.prepare(query, metric: space.metric)
        let qq = Kernels.dot(q, q)
        var top = TopK(k)
        var stats = DenseStageStatistics()
        let size = space.vectorBytes
        var range = KeyRange.prefix(Self.modelKey(collection, space.number))
        if let chunks {
            range.lower = Self.key(collection, space.number, chunks.lowerBound)
            if chunks.upperBound < UInt64.max { range.upper = Self.key(collection, space.number, chunks.upperBound + 1) }
        }
        try txn.scan(vectors, range: range) { key, v in
            let chunk = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
            if let allowed, !allowed(chunk) { return .next }
            guard v.byteCount == size else {
                throw StorageError(.corruptValue, operation: "exact search", detail: "vector of chunk \(chunk) has \(v.byteCount) bytes")
            }
            let (dot, n2) = Kernels.dotNormScanning(q, v, space.elementType)
            top.offer(chunk, space.metric.score(dot: dot, norm2: n2, queryNorm2: qq))
            stats.scored += 1
            return .next
        }
        stats.vectorBytesRead = stats.scored * size
        let hits = top.sorted()
        stats.produced = hits.count
        return (hits, stats)
    }

    /// Exact search for many queries in one pass over the vectors: rows are copied in blocks
    /// of 256 and scored against all queries with the register-tiled batch kernel, so the
    /// pass is compute-bound instead of memory-bound. Float32 spaces only; other element
    /// types fall back to one `exactSearch` per query.
    ///
    /// - Complexity: one cursor pass; queries × vectors × d multiply-adds.
    public func exactSearchBatch(
        _ queries: [[Float]], k: Int, collection: UInt32, space: StoredSpace,
        _ txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [[DenseHit]] {
        guard space.elementType == .float32 else {
            return try queries.map { try exactSearch($0, k: k, collection: collection, space: space, txn).hits }
        }
        let d = space.dimensions
        let nq = queries.count
        guard nq > 0 else { return [] }
        var flat: [Float] = []
        flat.reserveCapacity(nq * d)
        var qnorms: [Float] = []
        for q in queries {
            let p = DenseModel.prepare(q, metric: space.metric)
            flat += p
            var s: Float = 0
            for x in p { s += x * x }
            qnorms.append(s)
        }
        var tops = (0..<nq).map { _ in TopK(k) }
        let block = 256
        var rows = [Float](repeating: 0, count: block * d)
        var rowNorms = [Float](repeating: 0, count: block)
        var rowIDs = [UInt64](repeating: 0, count: block)
        var out = [Float](repeating: 0, count: block * nq)
        var filled = 0
        func flush() {
            Kernels.dotBatch(queries: flat, dimensions: d, rows: rows, rowCount: filled, into: &out)
            for j in 0..<nq {
                // Take the selection out of the array while filling it (no copy-on-write checks).
                var top = TopK(0)
                swap(&top, &tops[j])
                for r in 0..<filled {
                    top.offer(rowIDs[r], space.metric.score(dot: out[j * filled + r], norm2: rowNorms[r], queryNorm2: qnorms[j]))
                }
                swap(&top, &tops[j])
            }
            filled = 0
        }
        let needsNorms = space.metric != .dot
        let zero = [Float](repeating: 0, count: d)
        try txn.scan(vectors, range: .prefix(Self.modelKey(collection, space.number))) { key, v in
            guard v.byteCount == 4 * d else {
                throw StorageError(.corruptValue, operation: "exact search", detail: "vector of \(v.byteCount) bytes")
            }
            rowIDs[filled] = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt64.self))
            Kernels.prefetch(after: v)
            Kernels.copyFloat32(v, into: &rows, at: filled * d)
            rowNorms[filled] = needsNorms ? Kernels.dotNorm(zero, v, .float32).norm2 : 0
            filled += 1
            if filled == block { flush() }
            return .next
        }
        if filled > 0 { flush() }
        return tops.map { $0.sorted() }
    }
}

extension Comparable {
    fileprivate func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}
