import RAGDBStorage
internal import CRAGDBKernels

/// The key of one stored cache: (profile, chunk, context variant).
public struct KVCacheKey: Sendable, Hashable, CustomStringConvertible {
    /// The profile id.
    public var profile: UInt32
    /// The chunk id (the chunk store's global id).
    public var chunk: UInt64
    /// The context variant: 0 for a standalone cache, else `KVCacheKey.variant(prefix:)`.
    public var variant: UInt64

    /// A key.
    public init(profile: UInt32, chunk: UInt64, variant: UInt64) {
        self.profile = profile
        self.chunk = chunk
        self.variant = variant
    }

    /// The variant id of a cache computed after the ordered chunks `prefix`: 0 when `prefix`
    /// is empty (standalone), else XXH64 (seed 0) of the ids as little-endian u64, with 0
    /// mapped to 1.
    ///
    /// - Complexity: O(prefix count).
    public static func variant(prefix: [UInt64]) -> UInt64 {
        guard !prefix.isEmpty else { return 0 }
        var w = ByteWriter(capacity: prefix.count * 8)
        for id in prefix { w.write(id) }
        let h = w.bytes.withUnsafeBytes { XXHash.xxh64($0) }
        return h == 0 ? 1 : h
    }

    public var description: String { "profile \(profile), chunk \(chunk), variant \(variant == 0 ? "standalone" : String(variant, radix: 16))" }

    var bytes: [UInt8] {
        var k = KeyBuilder(capacity: 20)
        k.append(profile)
        k.append(chunk)
        k.append(variant)
        return k.bytes
    }

    /// Decodes the first 20 bytes of an entry or segment key.
    init(key: RawSpan) {
        (profile, chunk, variant) = key.withUnsafeBytes { b in
            func be(_ at: Int, _ n: Int) -> UInt64 { (at..<at + n).reduce(0) { $0 << 8 | UInt64(b[$1]) } }
            return (UInt32(be(0, 4)), be(4, 8), be(12, 8))
        }
    }

    /// The key of segment `part` of tensor `tensor` (0 keys, 1 values) of `layer`.
    func segmentKey(layer: Int, tensor: Int, part: Int) -> [UInt8] {
        var k = KeyBuilder(capacity: 25)
        k.append(profile)
        k.append(chunk)
        k.append(variant)
        k.append(UInt16(layer))
        k.append(UInt8(tensor))
        k.append(UInt16(part))
        return k.bytes
    }
}

/// What the caller knows about the context a cache was computed in (Cache-Craft's reuse
/// metadata).
public struct KVCacheContext: Sendable, Equatable {
    /// The ordered ids of the chunks that preceded this one when the cache was computed;
    /// empty for a standalone cache.
    public var prefix: [UInt64]
    /// The absolute token position of the chunk's first token in that prompt.
    public var position: Int
    /// Per prefix chunk, the attention mass from this chunk to it summed over layers
    /// (Cache-Craft's inter scores); nil to weight prefix chunks equally.
    public var prefixScores: [Float]?
    /// Cache Context Impact measured at capture (Cache-Craft Eq. 11), if known.
    public var cci: Float?
    /// Per-token importance (higher is recomputed first), stored as f16; nil when unknown.
    public var importance: [Float]?

    /// A context.
    public init(prefix: [UInt64] = [], position: Int = 0, prefixScores: [Float]? = nil, cci: Float? = nil, importance: [Float]? = nil) {
        self.prefix = prefix
        self.position = position
        self.prefixScores = prefixScores
        self.cci = cci
        self.importance = importance
    }
}

/// The metadata of one stored cache (Format.md 5.18).
public struct KVCacheInfo: Sendable, Equatable {
    /// Its key.
    public var key: KVCacheKey
    /// Tokens covered.
    public var tokens: Int
    /// The context it was computed in.
    public var context: KVCacheContext
    /// When it was stored (seconds since 1970).
    public var created: Double
    /// The last lookup or get that served it (seconds since 1970).
    public var lastAccess: Double
    /// Lookups and gets that served it.
    public var hits: UInt64
    /// Hit frequency with exponential decay, as of `lastAccess`.
    public var frequency: Double
    /// The eviction priority H (lowest goes first).
    public var priority: Double
    /// Raw tensor bytes.
    public var rawBytes: UInt64
    /// Bytes stored (segment values with their headers, plus this record).
    public var storedBytes: UInt64
    /// Mean recompute fraction (CFO) over the lookups that chose it; 0 before any.
    public var meanObservedCFO: Float
    /// How many lookups fed `meanObservedCFO`.
    public var observations: UInt32
    /// The raw segment size it was cut with.
    public var segmentBytes: Int

    static let headerSize = 96

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: Self.headerSize + context.prefix.count * 12 + tokens * 2)
        w.write(UInt8(1))
        var flags: UInt8 = 0
        if context.cci != nil { flags |= 1 }
        if context.importance != nil { flags |= 2 }
        if context.prefixScores != nil { flags |= 4 }
        w.write(flags)
        w.write(UInt16(0))
        w.write(UInt32(tokens))
        w.write(UInt32(context.position))
        w.write(UInt32(segmentBytes))
        w.write(rawBytes)
        w.write(storedBytes)
        w.write(created)
        w.write(lastAccess)
        w.write(frequency)
        w.write(priority)
        w.write(hits)
        w.write((context.cci ?? 0).bitPattern)
        w.write(meanObservedCFO.bitPattern)
        w.write(observations)
        w.write(UInt32(context.prefix.count))
        w.write(UInt32(0))  // checksum, filled below
        w.write(UInt32(0))
        for id in context.prefix { w.write(id) }
        if let s = context.prefixScores { for x in s { w.write(x.bitPattern) } }
        if let imp = context.importance { for x in imp { w.write(Float16(x).bitPattern) } }
        var bytes = w.bytes
        let sum = bytes.withUnsafeBytes { ragdb_crc32c(0, $0.baseAddress, $0.count) }
        withUnsafeBytes(of: sum.littleEndian) { s in for i in 0..<4 { bytes[88 + i] = s[i] } }
        return bytes
    }

    /// Decodes a record, verifying its checksum (computed with the checksum field zero).
    static func decode(_ value: RawSpan, key: KVCacheKey) throws(KVCacheError) -> KVCacheInfo {
        var bytes = value.withUnsafeBytes { Array($0) }
        func bad(_ why: String) -> KVCacheError { KVCacheError(.corrupt, "KV cache record (\(key)): \(why)") }
        guard bytes.count >= headerSize, bytes[0] == 1 else { throw bad("unknown record version or short record") }
        let stored = UInt32(bytes[88]) | UInt32(bytes[89]) << 8 | UInt32(bytes[90]) << 16 | UInt32(bytes[91]) << 24
        for i in 88..<92 { bytes[i] = 0 }
        let sum = bytes.withUnsafeBytes { ragdb_crc32c(0, $0.baseAddress, $0.count) }
        guard sum == stored else { throw bad("checksum mismatch") }
        do {
            var r = ByteReader(bytes, context: "kv_entries")
            _ = try r.readUInt8()
            let flags = try r.readUInt8()
            _ = try r.readUInt16()
            let tokens = Int(try r.readUInt32())
            let position = Int(try r.readUInt32())
            let segment = Int(try r.readUInt32())
            let raw = try r.readUInt64(), storedBytes = try r.readUInt64()
            let created = try r.readDouble(), last = try r.readDouble(), freq = try r.readDouble(), prio = try r.readDouble()
            let hits = try r.readUInt64()
            let cci = Float(bitPattern: try r.readUInt32())
            let cfo = Float(bitPattern: try r.readUInt32())
            let obs = try r.readUInt32()
            let prefixCount = Int(try r.readUInt32())
            _ = try r.readUInt32(); _ = try r.readUInt32()
            var prefix: [UInt64] = []
            prefix.reserveCapacity(prefixCount)
            for _ in 0..<prefixCount { prefix.append(try r.readUInt64()) }
            var scores: [Float]? = nil
            if flags & 4 != 0 { scores = try (0..<prefixCount).map { _ throws(StorageError) in Float(bitPattern: try r.readUInt32()) } }
            var importance: [Float]? = nil
            if flags & 2 != 0 { importance = try (0..<tokens).map { _ throws(StorageError) in Float(Float16(bitPattern: try r.readUInt16())) } }
            try r.expectEnd()
            return KVCacheInfo(
                key: key, tokens: tokens,
                context: KVCacheContext(prefix: prefix, position: position, prefixScores: scores, cci: flags & 1 != 0 ? cci : nil, importance: importance),
                created: created, lastAccess: last, hits: hits, frequency: freq, priority: prio, rawBytes: raw,
                storedBytes: storedBytes, meanObservedCFO: cfo, observations: obs, segmentBytes: segment)
        } catch {
            throw bad(error.description)
        }
    }
}

/// Per-profile counters (Format.md 5.19).
public struct KVProfileStatistics: Sendable, Equatable {
    /// Caches stored.
    public var entries: UInt64 = 0
    /// Bytes stored (segments with headers, plus records).
    public var storedBytes: UInt64 = 0
    /// Caches put.
    public var puts: UInt64 = 0
    /// Chunks asked for in reuse lookups and gets.
    public var lookups: UInt64 = 0
    /// Of those, how many found a cache.
    public var hits: UInt64 = 0
    /// Tensor bytes served by gets.
    public var bytesServed: UInt64 = 0
    /// Σ (tokens − tokens to recompute) over lookup hits: prefill tokens a serving engine saves.
    public var prefillTokensSaved: UInt64 = 0
    /// Caches evicted by the budget.
    public var evictions: UInt64 = 0
    /// Bytes those evictions freed.
    public var bytesEvicted: UInt64 = 0
    /// GDSF inflation L: the priority of the last evicted cache.
    public var inflation: Double = 0

    /// hits / lookups (0 before any lookup).
    public var hitRate: Double { lookups == 0 ? 0 : Double(hits) / Double(lookups) }

    /// Creates zeroed statistics.
    public init() {}

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 80)
        for v in [entries, storedBytes, puts, lookups, hits, bytesServed, prefillTokensSaved, evictions, bytesEvicted] { w.write(v) }
        w.write(inflation)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(StorageError) -> KVProfileStatistics {
        var r = ByteReader(bytes, context: "kv_stats")
        var s = KVProfileStatistics()
        s.entries = try r.readUInt64(); s.storedBytes = try r.readUInt64(); s.puts = try r.readUInt64()
        s.lookups = try r.readUInt64(); s.hits = try r.readUInt64(); s.bytesServed = try r.readUInt64()
        s.prefillTokensSaved = try r.readUInt64(); s.evictions = try r.readUInt64(); s.bytesEvicted = try r.readUInt64()
        s.inflation = try r.readDouble()
        try r.expectEnd()
        return s
    }
}
