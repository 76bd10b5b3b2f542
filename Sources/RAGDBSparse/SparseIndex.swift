public import RAGDBStorage

/// The inverted index of one collection's chunks, persisted in LMDB and updated in the same
/// transaction as the chunks (Format.md §"sparse_terms", §"sparse_postings", §"sparse_stats").
///
/// - `sparse_terms`: `collection u32 BE ‖ field u8 ‖ term UTF-8` → bare 12 bytes: document
///   frequency u32 LE, collection frequency u64 LE.
/// - `sparse_postings`: `collection u32 BE ‖ field u8 ‖ term (terminated) ‖ last chunk id
///   u64 BE` → a `PostingBlock`. A term's blocks are contiguous and ordered by chunk id, and
///   the block that may hold chunk *c* is the first whose key is ≥ `… ‖ c`.
/// - `sparse_stats`: `collection u32 BE ‖ field u8` → bare 16 bytes: chunks indexed u64 LE,
///   total length u64 LE.
public struct SparseIndex: Sendable {
    /// The tables this index owns.
    public static let tableNames = ["sparse_terms", "sparse_postings", "sparse_stats"]
    let terms: Table
    let postings: Table
    let stats: Table

    /// An index over the tables opened by the caller.
    public init(tables: [String: Table]) {
        terms = tables["sparse_terms"]!
        postings = tables["sparse_postings"]!
        stats = tables["sparse_stats"]!
    }

    /// Index statistics of one field.
    public struct Statistics: Sendable, Hashable {
        /// Chunks indexed.
        public var documents: UInt64
        /// Sum of their lengths in terms.
        public var totalLength: UInt64
    }

    static func prefix(_ c: UInt32, _ field: UInt8) -> [UInt8] {
        var k = KeyBuilder(capacity: 5)
        k.append(c)
        k.append(field)
        return k.bytes
    }

    static func termKey(_ c: UInt32, _ field: UInt8, _ term: String) -> [UInt8] {
        var k = KeyBuilder(capacity: 5 + term.utf8.count)
        k.append(c)
        k.append(field)
        k.appendTail(term.utf8)
        return k.bytes
    }

    static func blockPrefix(_ c: UInt32, _ field: UInt8, _ term: String) -> [UInt8] {
        var k = KeyBuilder(capacity: 15 + term.utf8.count)
        k.append(c)
        k.append(field)
        k.appendTerminated(term)
        return k.bytes
    }

    static func blockKey(_ prefix: [UInt8], _ last: UInt64) -> [UInt8] {
        var k = KeyBuilder(capacity: prefix.count + 8)
        k.appendTail(prefix)
        k.append(last)
        return k.bytes
    }

    /// The statistics of `field` in `collection`.
    public func statistics(collection: UInt32, field: UInt8, _ txn: borrowing some TransactionReading & ~Copyable) throws -> Statistics {
        try txn.withValue(forKey: Self.prefix(collection, field), in: stats) { v in
            guard v.byteCount == 16 else { throw StorageError(.corruptValue, operation: "decode sparse stats", detail: "\(v.byteCount) bytes") }
            return Statistics(documents: UInt64(littleEndian: v.unsafeLoadUnaligned(as: UInt64.self)),
                              totalLength: UInt64(littleEndian: v.unsafeLoadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        } ?? Statistics(documents: 0, totalLength: 0)
    }

    private func setStatistics(_ s: Statistics, collection: UInt32, field: UInt8, _ txn: borrowing WriteTransaction) throws {
        var w = ByteWriter(capacity: 16)
        w.write(s.documents)
        w.write(s.totalLength)
        try txn.put(w.bytes, forKey: Self.prefix(collection, field), in: stats)
    }

    private func termStats(_ key: [UInt8], _ txn: borrowing some TransactionReading & ~Copyable) throws -> (df: UInt32, cf: UInt64) {
        try txn.withValue(forKey: key, in: terms) { v in
            guard v.byteCount == 12 else { throw StorageError(.corruptValue, operation: "decode sparse term", detail: "\(v.byteCount) bytes") }
            return (UInt32(littleEndian: v.unsafeLoadUnaligned(as: UInt32.self)),
                    UInt64(littleEndian: v.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self)))
        } ?? (0, 0)
    }

    private func setTermStats(_ key: [UInt8], _ df: UInt32, _ cf: UInt64, _ txn: borrowing WriteTransaction) throws {
        if df == 0 { try txn.delete(forKey: key, in: terms); return }
        var w = ByteWriter(capacity: 12)
        w.write(df)
        w.write(cf)
        try txn.put(w.bytes, forKey: key, in: terms)
    }

    /// Adds the postings of newly written chunks: `byTerm` maps each term to its postings in
    /// increasing chunk order, every chunk id above those already indexed (new chunks always
    /// get new, larger ids). `chunks` and `length` update the field's statistics.
    ///
    /// - Complexity: per term, one look-up of its last block (rewritten when it has room) and
    ///   one write per new block of 128 postings.
    public func add(
        _ byTerm: [String: [Posting]], chunks: Int, length: Int, collection: UInt32, field: UInt8,
        _ txn: borrowing WriteTransaction
    ) throws {
        // Terms in key order: the B-tree pages they touch are neighbours, and stay in cache.
        let terms = byTerm.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        try add(sortedTerms: terms.count, term: { terms[$0] }, postings: { i, out in out.append(contentsOf: byTerm[terms[i]]!) },
                chunks: chunks, length: length, collection: collection, field: field, txn)
    }

    /// Appends postings term by term: `term(i)` for `i` in `0..<count` are distinct terms in
    /// UTF-8 byte order (so the B-tree pages touched are neighbours), and `postings(i, &out)`
    /// appends term *i*'s new postings, in increasing chunk order and after every chunk the
    /// term already has, to `out` (given empty). `chunks` and `length` are added to the
    /// field's statistics.
    ///
    /// - Complexity: per term with postings, one statistics look-up, one seek for its last
    ///   block and one put per 128 postings; no allocation per term beyond the last block read.
    public func add(
        sortedTerms count: Int, term: (Int) -> String, postings fill: (Int, inout [Posting]) -> Void,
        chunks: Int, length: Int, collection: UInt32, field: UInt8, _ txn: borrowing WriteTransaction
    ) throws {
        var w = ByteWriter(capacity: 1024)
        var new: [Posting] = []
        var all: [Posting] = []
        for i in 0..<count {
            new.removeAll(keepingCapacity: true)
            fill(i, &new)
            guard !new.isEmpty else { continue }
            let term = term(i)
            let prefix = Self.blockPrefix(collection, field, term)
            let tk = Self.termKey(collection, field, term)
            let (df, cf) = try termStats(tk, txn)
            all.removeAll(keepingCapacity: true)
            // The term's last block, if it has room, is merged with the new postings (a new
            // term has no blocks: no look-up).
            if df > 0, let (key, last) = try lastBlock(prefix, txn), last.count < PostingBlock.capacity {
                all.append(contentsOf: last)
                try txn.delete(forKey: key, in: postings)
            }
            all.append(contentsOf: new)
            var start = 0
            while start < all.count {
                let end = min(start + PostingBlock.capacity, all.count)
                w.reset()
                PostingBlock.encode(all[start..<end], into: &w)
                try txn.put(w.bytes, forKey: Self.blockKey(prefix, all[end - 1].chunk), in: postings)
                start = end
            }
            var addedTF: UInt64 = 0
            for p in new { addedTF += UInt64(p.tf) }
            try setTermStats(tk, df + UInt32(new.count), cf + addedTF, txn)
        }
        var s = try statistics(collection: collection, field: field, txn)
        s.documents += UInt64(chunks)
        s.totalLength += UInt64(length)
        try setStatistics(s, collection: collection, field: field, txn)
    }

    /// Removes the postings of deleted chunks: `byTerm` maps each term to the chunk ids to
    /// remove from its list. `chunks` and `length` are subtracted from the statistics.
    ///
    /// - Complexity: per (term, chunk), one seek and one block rewrite.
    public func remove(
        _ byTerm: [String: [UInt64]], chunks: Int, length: Int, collection: UInt32, field: UInt8,
        _ txn: borrowing WriteTransaction
    ) throws {
        var w = ByteWriter(capacity: 1024)
        for (term, ids) in byTerm {
            let prefix = Self.blockPrefix(collection, field, term)
            var removedTF: UInt64 = 0
            var removed: UInt32 = 0
            for id in ids.sorted() {
                let found: ([UInt8], [Posting])? = try txn.withCursor(on: postings) { cursor in
                    guard try cursor.seek(atOrAfter: Self.blockKey(prefix, id)) else { return nil }
                    return try Self.block(at: cursor, prefix: prefix)
                }
                guard let (key, list) = found, let at = list.firstIndex(where: { $0.chunk == id }) else {
                    throw StorageError(.corruptValue, operation: "remove postings", detail: "chunk \(id) is not in the postings of a term it contains")
                }
                try txn.delete(forKey: key, in: postings)
                var rest = list
                removedTF += UInt64(rest.remove(at: at).tf)
                removed += 1
                if !rest.isEmpty {
                    w.reset()
                    PostingBlock.encode(rest[...], into: &w)
                    try txn.put(w.bytes, forKey: Self.blockKey(prefix, rest.last!.chunk), in: postings)
                }
            }
            let tk = Self.termKey(collection, field, term)
            let (df, cf) = try termStats(tk, txn)
            guard df >= removed, cf >= removedTF else {
                throw StorageError(.corruptValue, operation: "remove postings", detail: "term statistics below the postings removed")
            }
            try setTermStats(tk, df - removed, cf - removedTF, txn)
        }
        var s = try statistics(collection: collection, field: field, txn)
        s.documents -= UInt64(chunks)
        s.totalLength -= UInt64(length)
        try setStatistics(s, collection: collection, field: field, txn)
    }

    /// The last block of the term whose block keys start with `prefix`.
    private func lastBlock(_ prefix: [UInt8], _ txn: borrowing WriteTransaction) throws -> ([UInt8], [Posting])? {
        try txn.withCursor(on: postings) { cursor -> ([UInt8], [Posting])? in
            let positioned = try cursor.seek(atOrAfter: Self.blockKey(prefix, .max)) ? try cursor.previous() : try cursor.last()
            // seek landed past the term's blocks (or at a key equal to …‖max, impossible for a
            // real chunk id); the previous entry is the term's last block if it has the prefix.
            guard positioned else { return nil }
            return try Self.block(at: cursor, prefix: prefix)
        }
    }

    /// The key and postings of the block under `cursor`, if it belongs to the term whose
    /// block keys start with `prefix`.
    private static func block(at cursor: borrowing Cursor, prefix: [UInt8]) throws -> ([UInt8], [Posting])? {
        try cursor.withCurrent { key, value -> ([UInt8], [Posting])? in
            let k = key.withUnsafeBytes { Array($0) }
            guard k.count == prefix.count + 8, k.starts(with: prefix) else { return nil }
            var list: [Posting] = []
            try PostingBlock.decode(value, into: &list)
            return (k, list)
        }
    }

    /// Terms and postings of `field` (from the term dictionary, without reading postings), and
    /// the bytes `load` would hold in memory for them.
    ///
    /// - Complexity: one scan of the field's term dictionary.
    public func size(collection: UInt32, field: UInt8, _ txn: borrowing some TransactionReading & ~Copyable) throws -> (terms: Int, postings: Int, residentBytes: Int) {
        var terms = 0, postingCount = 0, bytes = 0
        try txn.scan(self.terms, range: .prefix(Self.prefix(collection, field))) { key, value in
            guard value.byteCount == 12 else { throw StorageError(.corruptValue, operation: "decode sparse term", detail: "\(value.byteCount) bytes") }
            let df = Int(UInt32(littleEndian: value.unsafeLoadUnaligned(as: UInt32.self)))
            terms += 1
            postingCount += df
            bytes += (key.byteCount - 5) + 64 + df * 20  // as SparseSnapshot.residentBytes counts, plus dense numbers
            return .next
        }
        return (terms, postingCount, bytes)
    }

    /// Every term of `field` with its stored (df, cf).
    ///
    /// - Complexity: one scan of the field's term dictionary.
    public func termStatistics(collection: UInt32, field: UInt8, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [String: (df: UInt32, cf: UInt64)] {
        var out: [String: (df: UInt32, cf: UInt64)] = [:]
        let p = Self.prefix(collection, field)
        try txn.scan(terms, range: .prefix(p)) { key, value in
            guard value.byteCount == 12 else { throw StorageError(.corruptValue, operation: "decode sparse term", detail: "\(value.byteCount) bytes") }
            let term = key.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[p.count...]), as: UTF8.self) }
            out[term] = (UInt32(littleEndian: value.unsafeLoadUnaligned(as: UInt32.self)),
                         UInt64(littleEndian: value.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self)))
            return .next
        }
        return out
    }

    /// Deletes everything `collection` has in these tables.
    public func drop(collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var k = KeyBuilder(capacity: 4)
        k.append(collection)
        for t in [terms, postings, stats] { try txn.deleteRange(.prefix(k.bytes), in: t) }
    }

    /// Loads `field` of `collection` into memory for searching.
    ///
    /// - Complexity: one scan of the field's postings; memory of about 12 bytes per posting.
    public func load(collection: UInt32, field: UInt8, _ txn: borrowing some TransactionReading & ~Copyable) throws -> SparseSnapshot {
        let s = try statistics(collection: collection, field: field, txn)
        var lists: [String: TermPostings] = [:]
        var currentTerm: String? = nil
        var current: [Posting] = []
        let p = Self.prefix(collection, field)
        try txn.scan(postings, range: .prefix(p)) { key, value in
            var r = KeyReader(key)
            _ = try r.readUInt32()
            _ = try r.readUInt8()
            let term = try r.readTerminated()
            if term != currentTerm {
                if let t = currentTerm { lists[t] = TermPostings(current) }
                currentTerm = term
                current.removeAll(keepingCapacity: true)
            }
            try PostingBlock.decode(value, into: &current)
            return .next
        }
        if let t = currentTerm { lists[t] = TermPostings(current) }
        return SparseSnapshot(terms: lists, documents: Int(s.documents), totalLength: Int(s.totalLength))
    }
}
