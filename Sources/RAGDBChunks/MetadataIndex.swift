public import RAGDBStorage

/// A secondary index over chunk metadata, for filters: every (field, value, chunk) of a
/// chunk's effective metadata (its document's metadata overlaid by its own), plus per-field
/// statistics for selectivity estimates.
///
/// Tables (Format.md 5.21, 5.22):
/// - `metadata_index`: collection u32 ‖ field (terminated) ‖ type u8 ‖ value ‖ chunk u64 →
///   empty. Values sort in their natural order: strings terminated, ints as signed
///   big-endian, doubles in IEEE total order, bools as one byte. A string list gives one entry
///   per distinct element (type string).
/// - `metadata_stats`: collection u32 ‖ field (terminated) → 40 bytes: entries, chunks with
///   the field, distinct (type, value) pairs (all exact), and bounds of the numeric values
///   seen (min and max, never narrowed by deletes).
public struct MetadataIndex: Sendable {
    /// The tables this index owns.
    public static let tableNames = ["metadata_index", "metadata_stats"]
    let entries: Table
    let stats: Table

    /// An index over the tables opened by the caller.
    public init(tables: [String: Table]) {
        entries = tables["metadata_index"]!
        stats = tables["metadata_stats"]!
    }

    /// Type tags in keys.
    public enum Tag: UInt8, Sendable {
        case string = 1, int = 2, double = 3, bool = 4
    }

    /// One indexable (tag, encoded value) of a metadata value; lists give several.
    static func keys(of value: MetadataValue) -> [(Tag, [UInt8])] {
        var k = KeyBuilder(capacity: 16)
        switch value {
        case .string(let s): k.appendTerminated(s); return [(.string, k.bytes)]
        case .int(let i): k.append(i); return [(.int, k.bytes)]
        case .double(let d): k.append(d); return [(.double, k.bytes)]
        case .bool(let b): k.append(UInt8(b ? 1 : 0)); return [(.bool, k.bytes)]
        case .strings(let list):
            return Set(list).sorted().map { s in
                var k = KeyBuilder(capacity: s.utf8.count + 2)
                k.appendTerminated(s)
                return (.string, k.bytes)
            }
        }
    }

    /// The key prefix of (collection, field).
    public static func fieldPrefix(_ collection: UInt32, _ field: String) -> [UInt8] {
        var k = KeyBuilder(capacity: field.utf8.count + 8)
        k.append(collection)
        k.appendTerminated(field)
        return k.bytes
    }

    /// Per-field statistics.
    public struct FieldStatistics: Sendable, Equatable {
        /// (value, chunk) entries.
        public var entries: UInt64 = 0
        /// Chunks that have the field.
        public var chunks: UInt64 = 0
        /// Distinct (type, value) pairs.
        public var distinct: UInt64 = 0
        /// Smallest numeric value seen (+∞ when none).
        public var minimum: Double = .infinity
        /// Largest numeric value seen (−∞ when none).
        public var maximum: Double = -.infinity

        /// Empty statistics.
        public init() {}

        func encoded() -> [UInt8] {
            var w = ByteWriter(capacity: 40)
            w.write(entries); w.write(chunks); w.write(distinct); w.write(minimum); w.write(maximum)
            return w.bytes
        }

        static func decode(_ bytes: [UInt8]) throws(StorageError) -> FieldStatistics {
            var r = ByteReader(bytes, context: "metadata_stats")
            var s = FieldStatistics()
            s.entries = try r.readUInt64(); s.chunks = try r.readUInt64(); s.distinct = try r.readUInt64()
            s.minimum = try r.readDouble(); s.maximum = try r.readDouble()
            try r.expectEnd()
            return s
        }
    }

    /// The effective metadata of a chunk: its document's, overlaid by its own.
    public static func effective(document: Metadata, chunk: Metadata) -> Metadata {
        chunk.isEmpty ? document : document.merging(chunk) { _, own in own }
    }

    /// Adds (`add` true) or removes the entries of `chunk` with effective metadata
    /// `metadata`, keeping the statistics exact.
    ///
    /// - Complexity: per (field, value): one put or delete and one cursor seek (for the
    ///   distinct count).
    public func update(chunk: UInt64, metadata: Metadata, add: Bool, collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        for (field, value) in metadata {
            let prefix = Self.fieldPrefix(collection, field)
            var s = try txn.value(forKey: prefix, in: stats).map { try FieldStatistics.decode($0) } ?? FieldStatistics()
            for (tag, encoded) in Self.keys(of: value) {
                var valuePrefix = prefix
                valuePrefix.append(tag.rawValue)
                valuePrefix += encoded
                var key = valuePrefix
                withUnsafeBytes(of: chunk.bigEndian) { key += $0 }
                if add {
                    let fresh = try !hasAny(valuePrefix, txn)
                    guard try txn.insert([], forKey: key, in: entries) else { continue }
                    s.entries += 1
                    if fresh { s.distinct += 1 }
                    switch value {
                    case .int(let i): s.minimum = min(s.minimum, Double(i)); s.maximum = max(s.maximum, Double(i))
                    case .double(let d) where d.isFinite: s.minimum = min(s.minimum, d); s.maximum = max(s.maximum, d)
                    default: break
                    }
                } else {
                    guard try txn.delete(forKey: key, in: entries) else { continue }
                    s.entries -= 1
                    if try !hasAny(valuePrefix, txn) { s.distinct -= 1 }
                }
            }
            if add { s.chunks += 1 } else { s.chunks -= min(s.chunks, 1) }
            if s.entries == 0 && s.chunks == 0 {
                _ = try txn.delete(forKey: prefix, in: stats)
            } else {
                try txn.put(s.encoded(), forKey: prefix, in: stats)
            }
        }
    }

    private func hasAny(_ prefix: [UInt8], _ txn: borrowing some TransactionReading & ~Copyable) throws -> Bool {
        var found = false
        try txn.scan(entries, range: .prefix(prefix)) { _, _ in found = true; return .stop }
        return found
    }

    /// The statistics of `field`, or nil when no chunk has it.
    public func statistics(field: String, collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> FieldStatistics? {
        try txn.value(forKey: Self.fieldPrefix(collection, field), in: stats).map { try FieldStatistics.decode($0) }
    }

    /// Every field of the collection with its statistics.
    public func fields(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [(field: String, statistics: FieldStatistics)] {
        var out: [(String, FieldStatistics)] = []
        var p = KeyBuilder(capacity: 4)
        p.append(collection)
        try txn.scan(stats, range: .prefix(p.bytes)) { key, value in
            var r = KeyReader(key)
            _ = try r.readUInt32()
            let field = try r.readTerminated()
            out.append((field, try FieldStatistics.decode(value.withUnsafeBytes { Array($0) })))
            return .next
        }
        return out
    }

    /// A bound of a range scan over one field and type.
    public struct Bound: Sendable {
        /// The encoded value (as `keys(of:)` encodes it).
        public var encoded: [UInt8]
        /// Whether the bound itself is included.
        public var inclusive: Bool

        /// A bound on `value`, which must encode to one key (not a string list).
        public init(_ value: MetadataValue, inclusive: Bool) {
            encoded = MetadataIndex.keys(of: value).first?.1 ?? []
            self.inclusive = inclusive
        }
    }

    /// Calls `body` with the chunk of every entry of `field` with type `tag` whose value lies
    /// between `lower` and `upper` (nil: unbounded), in value order then chunk order.
    ///
    /// - Complexity: one descent, then one cursor step per entry in range.
    public func scan(field: String, tag: Tag, lower: Bound?, upper: Bound?, collection: UInt32,
                     _ txn: borrowing some TransactionReading & ~Copyable, _ body: (UInt64) throws -> Void) throws {
        var base = Self.fieldPrefix(collection, field)
        base.append(tag.rawValue)
        var start = base
        if let lower { start += lower.encoded; if !lower.inclusive { start += [UInt8](repeating: 0xFF, count: 9) } }
        var end: [UInt8]
        if let upper {
            end = base + upper.encoded
            if upper.inclusive { end += [UInt8](repeating: 0xFF, count: 9) }
        } else {
            end = KeyRange.prefix(base).upper ?? base + [0xFF]
        }
        try txn.scan(entries, range: KeyRange(lower: start, upper: end)) { key, _ in
            let chunk = key.withUnsafeBytes { b in (b.count - 8..<b.count).reduce(UInt64(0)) { $0 << 8 | UInt64(b[$1]) } }
            try body(chunk)
            return .next
        }
    }

    /// Calls `body` with the chunk of every entry of `field` whose string value starts with
    /// `prefix`.
    public func scanPrefix(field: String, prefix: String, collection: UInt32,
                           _ txn: borrowing some TransactionReading & ~Copyable, _ body: (UInt64) throws -> Void) throws {
        var base = Self.fieldPrefix(collection, field)
        base.append(Tag.string.rawValue)
        var k = KeyBuilder(capacity: prefix.utf8.count + 2)
        k.appendTerminated(prefix)
        let p = base + k.bytes.dropLast(2)  // without the terminator: every continuation
        try txn.scan(entries, range: .prefix(Array(p))) { key, _ in
            let chunk = key.withUnsafeBytes { b in (b.count - 8..<b.count).reduce(UInt64(0)) { $0 << 8 | UInt64(b[$1]) } }
            try body(chunk)
            return .next
        }
    }

    /// Deletes everything `collection` owns in these tables.
    public func drop(_ collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var p = KeyBuilder(capacity: 4)
        p.append(collection)
        for t in [entries, stats] { _ = try txn.deleteRange(.prefix(p.bytes), in: t) }
    }

    /// Every entry of `collection` as (field, tag, encoded value, chunk), for the checker.
    public func allEntries(collection: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var p = KeyBuilder(capacity: 4)
        p.append(collection)
        try txn.scan(entries, range: .prefix(p.bytes)) { key, _ in out.append(key.withUnsafeBytes { Array($0) }); return .next }
        return out
    }

    /// The keys `update(add: true)` writes for a chunk, for the checker.
    public static func expectedKeys(chunk: UInt64, metadata: Metadata, collection: UInt32) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for (field, value) in metadata {
            for (tag, encoded) in keys(of: value) {
                var key = fieldPrefix(collection, field)
                key.append(tag.rawValue)
                key += encoded
                withUnsafeBytes(of: chunk.bigEndian) { key += $0 }
                out.append(key)
            }
        }
        return out
    }
}
