public import RAGDBStorage

/// Token ids supplied with chunks (the caller's LLM tokenizer), kept so the token-id n-gram
/// index can be built and rebuilt from them and so export can give them back.
///
/// Table `chunk_tokens` (Format.md 5.23): collection u32 ‖ chunk id u64 (both BE) → framed
/// value: count u32 ‖ count × u32, little-endian. A chunk without tokens has no record.
public struct ChunkTokenStore: Sendable {
    /// The table this store owns.
    public static let tableNames = ["chunk_tokens"]
    let table: Table

    /// A store over the table opened by the caller.
    public init(tables: [String: Table]) { table = tables["chunk_tokens"]! }

    /// Stores `tokens` for `chunk`.
    ///
    /// - Complexity: one put; LZ4 when it pays.
    public func put(_ tokens: [UInt32], chunk: UInt64, collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var w = ByteWriter(capacity: 4 + 4 * tokens.count)
        w.write(UInt32(tokens.count))
        for t in tokens { w.write(t) }
        try txn.putAppending(try FramedValue.encode(w.bytes, policy: .whenItPays), forKey: NgramStore.key(collection, chunk), in: table)
    }

    /// Removes the tokens of `chunks` (those without are skipped).
    public func remove(chunks: [UInt64], collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        for c in chunks { _ = try txn.delete(forKey: NgramStore.key(collection, c), in: table) }
    }

    /// The tokens of `chunk`, or nil when it has none.
    ///
    /// - Throws: `.corruptValue` for a damaged record.
    public func tokens(chunk: UInt64, collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [UInt32]? {
        try txn.withValue(forKey: NgramStore.key(collection, chunk), in: table) { value in try Self.decode(value) }
    }

    /// Decodes a stored record.
    static func decode(_ value: RawSpan) throws(StorageError) -> [UInt32] {
        let raw = try FramedValue.decode(value, context: "chunk tokens")
        var r = ByteReader(raw, context: "chunk tokens")
        let count = Int(try r.readUInt32())
        guard count * 4 == raw.count - 4 else { throw r.corrupt("\(count) tokens in \(raw.count) bytes") }
        var out = [UInt32](repeating: 0, count: count)
        for i in 0..<count { out[i] = try r.readUInt32() }
        return out
    }

    /// Every chunk of `collection` with tokens, ascending, with them.
    public func scan(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable,
                     _ body: (UInt64, [UInt32]) throws -> Void) throws {
        try txn.scan(table, range: .prefix(NgramStore.prefix(collection))) { key, value in
            let chunk = UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self))
            try body(chunk, try Self.decode(value))
            return .next
        }
    }

    /// Deletes every record of `collection`.
    public func drop(collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        try txn.deleteRange(.prefix(NgramStore.prefix(collection)), in: table)
    }
}
