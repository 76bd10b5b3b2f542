public import RAGDBStorage

/// A collection's n-gram index in LMDB: static FM-index segments, chunks written since the
/// last segment (pending), and chunks deleted from a segment (dead, masked at load).
///
/// Tables (Format.md 5.13–5.15): `ngram_segments` (collection u32 ‖ segment u32 → framed
/// segment), `ngram_dead` (collection u32 ‖ chunk u64 → empty), `ngram_pending` (collection
/// u32 ‖ chunk u64 → empty). Every live chunk of an indexed collection is either pending or in
/// exactly one segment and not dead.
///
/// The token-id index of a collection (`FMSegment.Alphabet.tokens`) has the same three tables
/// under `ngram_token_*` (Format.md 5.23), over the token ids of `chunk_tokens`.
public struct NgramStore: Sendable {
    /// The byte index's tables.
    public static let tableNames = ["ngram_segments", "ngram_dead", "ngram_pending"]
    /// The token-id index's tables.
    public static let tokenTableNames = ["ngram_token_segments", "ngram_token_dead", "ngram_token_pending"]
    let segments: Table
    let dead: Table
    let pending: Table
    /// Which index this store keeps.
    public let kind: FMSegment.Alphabet

    /// A store over the tables opened by the caller: the byte index, or the token-id index.
    public init(tables: [String: Table], kind: FMSegment.Alphabet = .bytes) {
        let names = kind == .bytes ? Self.tableNames : Self.tokenTableNames
        segments = tables[names[0]]!
        dead = tables[names[1]]!
        pending = tables[names[2]]!
        self.kind = kind
    }

    static func key(_ collection: UInt32, _ chunk: UInt64) -> [UInt8] {
        var k = KeyBuilder(capacity: 12)
        k.append(collection)
        k.append(chunk)
        return k.bytes
    }

    static func segmentKey(_ collection: UInt32, _ segment: UInt32) -> [UInt8] {
        var k = KeyBuilder(capacity: 8)
        k.append(collection)
        k.append(segment)
        return k.bytes
    }

    static func prefix(_ collection: UInt32) -> [UInt8] {
        var k = KeyBuilder(capacity: 4)
        k.append(collection)
        return k.bytes
    }

    /// Records chunks written: they are pending until the next segment is built.
    public func add(chunks: [UInt64], collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        for c in chunks { try txn.putAppending([], forKey: Self.key(collection, c), in: pending) }
    }

    /// Records chunks removed: a pending chunk is forgotten, a chunk of a segment is marked dead.
    public func remove(chunks: [UInt64], collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        for c in chunks {
            let key = Self.key(collection, c)
            if try !txn.delete(forKey: key, in: pending) { try txn.put([], forKey: key, in: dead) }
        }
    }

    /// The pending chunk ids, ascending.
    public func pendingChunks(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [UInt64] {
        var out: [UInt64] = []
        try txn.scan(pending, range: .prefix(Self.prefix(collection))) { key, _ in
            out.append(UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self)))
            return .next
        }
        return out
    }

    /// Writes `segment` as the collection's next segment and clears the pending records of its
    /// chunks, in the caller's transaction. A chunk of the segment that is no longer pending
    /// (deleted while the segment was being built) is recorded dead.
    public func append(_ segment: FMSegment, collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var last: UInt32?
        try txn.scan(segments, range: .prefix(Self.prefix(collection)), reverse: true) { key, _ in
            last = UInt32(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt32.self))
            return .stop
        }
        let number = last.map { $0 + 1 } ?? 0
        try txn.put(try segment.serialized(), forKey: Self.segmentKey(collection, number), in: segments)
        for c in segment.chunkIDs {
            let key = Self.key(collection, c)
            if try !txn.delete(forKey: key, in: pending) { try txn.put([], forKey: key, in: dead) }
        }
    }

    /// Replaces every segment, dead and pending record of the collection by `segment`
    /// (compaction), given the chunks live now (ascending): live chunks the segment lacks
    /// become pending, chunks of the segment that are no longer live become dead.
    public func replaceAll(with segment: FMSegment?, live: [UInt64], collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        try drop(collection: collection, txn)
        let inSegment = segment?.chunkIDs ?? []
        if let segment { try txn.put(try segment.serialized(), forKey: Self.segmentKey(collection, 0), in: segments) }
        var i = 0, j = 0
        while i < live.count || j < inSegment.count {
            if j == inSegment.count || (i < live.count && live[i] < inSegment[j]) {
                try txn.put([], forKey: Self.key(collection, live[i]), in: pending); i += 1
            } else if i == live.count || inSegment[j] < live[i] {
                try txn.put([], forKey: Self.key(collection, inSegment[j]), in: dead); j += 1
            } else {
                i += 1; j += 1
            }
        }
    }

    /// Deletes the collection's n-gram index.
    public func drop(collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        let p = Self.prefix(collection)
        try txn.deleteRange(.prefix(p), in: segments)
        try txn.deleteRange(.prefix(p), in: dead)
        try txn.deleteRange(.prefix(p), in: pending)
    }

    /// The collection's segments with their dead chunks masked.
    ///
    /// - Complexity: decodes every segment (copying it into memory), then one LF walk over
    ///   each dead chunk.
    /// - Throws: `.corruptValue` for a damaged segment.
    ///
    /// With `inPlace`, each segment's bitvector and samples are read in place from the map
    /// (`FMSegment.deserialize(_:dead:inPlace:)`): the segments are then valid only while
    /// `txn` is open.
    public func load(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable, inPlace: Bool = false) throws -> [FMSegment] {
        var loaded: [FMSegment] = []
        try txn.scan(segments, range: .prefix(Self.prefix(collection))) { _, value in
            let segment = try FMSegment.deserialize(value, dead: [], inPlace: inPlace)
            guard segment.kind == kind else {
                throw StorageError(.corruptValue, operation: "load n-gram segment", detail: "a \(segment.kind) segment in the \(kind) index's table")
            }
            loaded.append(segment)
            return .next
        }
        try txn.scan(dead, range: .prefix(Self.prefix(collection))) { key, _ in
            let chunk = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self))
            for i in loaded.indices where loaded[i].delete(chunk: chunk) { break }
            return .next
        }
        return loaded
    }

    /// Bytes of the collection's stored segments.
    public func segmentBytes(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> Int {
        var total = 0
        try txn.scan(segments, range: .prefix(Self.prefix(collection))) { _, value in total += value.byteCount; return .next }
        return total
    }

    /// Counts: (segments, dead chunks, pending chunks).
    public func counts(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> (segments: Int, dead: Int, pending: Int) {
        let p = Self.prefix(collection)
        return (try txn.scan(segments, range: .prefix(p)) { _, _ in .next },
                try txn.scan(dead, range: .prefix(p)) { _, _ in .next },
                try txn.scan(pending, range: .prefix(p)) { _, _ in .next })
    }
}
