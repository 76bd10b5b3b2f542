public import RAGDBStorage

/// Learned sparse vectors (SPLADE-style term → weight) as stored per chunk and space, so that
/// deleting or replacing a chunk can remove exactly its postings from the space's impact index.
///
/// Table `sparse_vectors` (Format.md 5.16): key `collection u32 BE ‖ space u16 BE ‖ chunk u64
/// BE`; value framed: `count u32`, then per entry, terms in byte order, `term` as string16 and
/// the quantized impact `u16`. The space's postings live in the sparse index under field
/// 1 + space number, with the impact in place of the term frequency and length 0.
public struct SparseVectorStore: Sendable {
    /// The tables this store owns.
    public static let tableNames = ["sparse_vectors"]
    let vectors: Table

    /// A store over the tables opened by the caller.
    public init(tables: [String: Table]) { vectors = tables["sparse_vectors"]! }

    /// Quantization: impact = round(weight × 256), at most 65,535 (weights up to 256 keep 1/256
    /// precision); weights that round to 0 are dropped.
    public static let scale: Double = 256

    /// The impact of `weight`, or nil when it rounds to 0.
    ///
    /// - Precondition: `weight` is finite and not negative (callers validate input).
    public static func quantize(_ weight: Float) -> UInt16? {
        let q = (Double(weight) * scale).rounded()
        return q < 1 ? nil : UInt16(min(q, 65_535))
    }

    /// The sparse index field of sparse space `space`.
    public static func field(ofSpace space: UInt16) -> UInt8 { UInt8(1 + space) }

    static func key(_ collection: UInt32, _ space: UInt16, _ chunk: UInt64) -> [UInt8] {
        var k = KeyBuilder(capacity: 14)
        k.append(collection)
        k.append(space)
        k.append(chunk)
        return k.bytes
    }

    /// Stores the entries (term, impact) of `chunk` in `space`, terms in byte order.
    public func put(_ entries: [(term: String, impact: UInt16)], collection: UInt32, space: UInt16, chunk: UInt64, _ txn: borrowing WriteTransaction) throws {
        var w = ByteWriter(capacity: 16 + entries.count * 12)
        w.write(UInt32(entries.count))
        for e in entries {
            w.writeString16(e.term)
            w.write(e.impact)
        }
        try txn.put(try FramedValue.encode(w.bytes, policy: .whenItPays), forKey: Self.key(collection, space, chunk), in: vectors)
    }

    /// The entries of `chunk` in `space`, or nil.
    ///
    /// - Throws: `.corruptValue` for a damaged value.
    public func entries(collection: UInt32, space: UInt16, chunk: UInt64, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [(term: String, impact: UInt16)]? {
        guard let raw = try txn.withValue(forKey: Self.key(collection, space, chunk), in: vectors, { try FramedValue.decode($0, context: "sparse vector") }) else { return nil }
        var r = ByteReader(raw, context: "sparse vector")
        let n = Int(try r.readUInt32())
        var out: [(term: String, impact: UInt16)] = []
        out.reserveCapacity(min(n, 1 << 16))
        for _ in 0..<n { out.append((try r.readString16(), try r.readUInt16())) }
        try r.expectEnd()
        return out
    }

    /// Deletes the entries of `chunk` in `space`.
    public func delete(collection: UInt32, space: UInt16, chunk: UInt64, _ txn: borrowing WriteTransaction) throws {
        try txn.delete(forKey: Self.key(collection, space, chunk), in: vectors)
    }

    /// Deletes every sparse vector of `collection`.
    public func drop(collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var k = KeyBuilder(capacity: 4)
        k.append(collection)
        try txn.deleteRange(.prefix(k.bytes), in: vectors)
    }
}

extension SparseSnapshot {
    /// The exact top `k` by Σ query weight × impact / 256 over the query's terms, term at a
    /// time into dense accumulators (terms summed in byte order, as `searchImpactsExhaustive`).
    ///
    /// - Complexity: O(postings of the query terms), then O(touched · log k).
    public func searchImpacts(_ query: [(term: String, weight: Double)], k: Int) -> [SparseHit] {
        guard k > 0 else { return [] }
        var acc = [Double](repeating: 0, count: chunkIDs.count)
        var touched: [Int32] = []
        for (term, weight) in Self.canonical(query) {
            guard let list = terms[term] else { continue }
            let w = weight / SparseVectorStore.scale
            for i in 0..<list.count {
                let d = Int(list.docs[i])
                if acc[d] == 0 { touched.append(list.docs[i]) }
                acc[d] += w * Double(list.tfs[i])
            }
        }
        var heap = MinHeap(capacity: k)
        for d in touched where acc[Int(d)] > 0 { heap.offer(SparseHit(chunk: chunkIDs[Int(d)], score: acc[Int(d)])) }
        return Self.top(heap.items, k)
    }

    /// The same ranking by scoring every posting into a dictionary (the reference).
    public func searchImpactsExhaustive(_ query: [(term: String, weight: Double)], k: Int) -> [SparseHit] {
        var scores: [UInt64: Double] = [:]
        for (term, weight) in Self.canonical(query) {
            guard let list = terms[term] else { continue }
            for i in 0..<list.count { scores[list.chunks[i], default: 0] += weight / SparseVectorStore.scale * Double(list.tfs[i]) }
        }
        return Self.top(scores.filter { $0.value > 0 }.map { SparseHit(chunk: $0.key, score: $0.value) }, k)
    }

    /// Distinct terms (weights of repeated terms added), positive weights only, in byte order.
    static func canonical(_ query: [(term: String, weight: Double)]) -> [(String, Double)] {
        var merged: [String: Double] = [:]
        for (t, w) in query where w > 0 && w.isFinite { merged[t, default: 0] += w }
        return merged.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }
}
