public import RAGDBStorage
internal import CRAGDBKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where the tensor bytes of a put come from. The bytes are the profile's layout: for each
/// layer, K then V, each `[tokens, kvHeads, headDim]` of the element type.
public enum KVTensorSource {
    /// A buffer holding the whole cache.
    case bytes([UInt8])
    /// A file descriptor (a file or a pipe), read segment by segment straight into the map:
    /// memory stays bounded by one segment. It must hold exactly the cache's bytes.
    case fileDescriptor(Int32)
    /// A producer called once per tensor, in order, with (layer, tensor: 0 keys / 1 values);
    /// it returns that tensor's bytes. Memory stays bounded by one tensor.
    case tensors((_ layer: Int, _ tensor: Int) throws -> [UInt8])
}

/// The chunk KV-cache store (Cache-Craft): precomputed attention keys and values per chunk,
/// per model profile and context variant, with reuse metadata, a byte budget per profile and
/// GDSF eviction. See docs/kvcache.md for the design and Format.md 5.17–5.20 for the bytes.
///
/// Tables: `kv_profiles` (id u32 → profile), `kv_entries` (profile u32 ‖ chunk u64 ‖
/// variant u64 → record), `kv_segments` (entry key ‖ layer u16 ‖ tensor u8 ‖ part u16 →
/// segment), `kv_stats` (profile u32 → counters).
///
/// Reads never write: the hits, bytes served and tokens saved that lookups and gets observe
/// are kept in memory and written by the next put, eviction or `flushAccessStatistics()`.
/// Puts and evictions are single write transactions; readers keep their LMDB snapshot, so a
/// view stays intact while the cache it shows is replaced or evicted.
public final class KVCacheStore: Sendable {
    /// The tables this store owns.
    public static let tableNames = ["kv_profiles", "kv_entries", "kv_segments", "kv_stats"]

    let env: Environment
    let profilesTable: Table
    let entries: Table
    let segments: Table
    let statsTable: Table
    let clock: @Sendable () -> Double
    let pending = Mutex(PendingAccess())

    /// A store over `env`'s tables. `clock` gives the time in seconds since 1970 (tests pass
    /// a scripted one).
    public init(env: Environment, tables: [String: Table], clock: @escaping @Sendable () -> Double = KVCacheStore.wallClock) {
        self.env = env
        profilesTable = tables["kv_profiles"]!
        entries = tables["kv_entries"]!
        segments = tables["kv_segments"]!
        statsTable = tables["kv_stats"]!
        self.clock = clock
    }

    /// Seconds since 1970 from the system clock.
    public static let wallClock: @Sendable () -> Double = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: Profiles

    /// Creates a profile and returns it with its id.
    ///
    /// - Throws: `.profileExists`, `.invalidInput` naming the bad field.
    @discardableResult
    public func createProfile(_ profile: KVModelProfile) throws -> KVModelProfile {
        try profile.validate()
        return try env.write { txn in
            var next: UInt32 = 1
            var clash = false
            try txn.scan(profilesTable) { key, value in
                let p = try Self.decodeProfile(key: key, value: value)
                if p.name == profile.name { clash = true }
                next = max(next, p.id + 1)
                return .next
            }
            guard !clash else { throw KVCacheError(.profileExists, "a KV profile named \"\(profile.name)\" already exists", field: "name") }
            var p = profile
            p.id = next
            try txn.put(p.encoded(), forKey: Self.idKey(next), in: profilesTable)
            try txn.put(KVProfileStatistics().encoded(), forKey: Self.idKey(next), in: statsTable)
            return p
        }
    }

    /// Every profile, by id.
    public func profiles() throws -> [KVModelProfile] {
        try env.read { txn in
            var out: [KVModelProfile] = []
            try txn.scan(profilesTable) { key, value in out.append(try Self.decodeProfile(key: key, value: value)); return .next }
            return out
        }
    }

    /// The profile named `name`.
    ///
    /// - Throws: `.unknownProfile`.
    public func profile(named name: String) throws -> KVModelProfile {
        try env.read { txn in try profile(named: name, txn) }
    }

    func profile(named name: String, _ txn: borrowing some TransactionReading & ~Copyable) throws -> KVModelProfile {
        var found: KVModelProfile?
        try txn.scan(profilesTable) { key, value in
            let p = try Self.decodeProfile(key: key, value: value)
            if p.name == name { found = p; return .stop }
            return .next
        }
        guard let found else { throw KVCacheError(.unknownProfile, "no KV profile named \"\(name)\"", field: "profile") }
        return found
    }

    /// Sets a profile's byte budget (0 = unlimited) and evicts down to it in the same
    /// transaction.
    ///
    /// - Returns: the evicted caches.
    @discardableResult
    public func setBudget(profile name: String, bytes: UInt64) throws -> [KVCacheKey] {
        try writeFlushing { txn in
            var p = try profile(named: name, txn)
            p.budgetBytes = bytes
            try txn.put(p.encoded(), forKey: Self.idKey(p.id), in: profilesTable)
            var stats = try loadStats(p.id, txn)
            let evicted = bytes == 0 ? [] : try evict(p, stats: &stats, toFit: bytes, exclude: nil, txn)
            try txn.put(stats.encoded(), forKey: Self.idKey(p.id), in: statsTable)
            return evicted
        }
    }

    // MARK: Put

    /// Stores the cache of `chunk` under `profile`, computed in `context`, replacing any
    /// cache with the same key (profile, chunk, variant of `context.prefix`). One write
    /// transaction: on any error nothing is written. When the profile has a budget, the
    /// lowest-priority caches are evicted in the same transaction so that stored bytes stay
    /// within it.
    ///
    /// - Complexity: one pass over the bytes (a CRC-32C, plus a shuffle and LZ4 attempt per
    ///   segment when the profile compresses); memory bounded by one segment (one tensor for
    ///   `.tensors`) except for `.bytes`, which the caller holds.
    /// - Throws: `.unknownProfile`; `.sizeMismatch` when the input's length differs from the
    ///   profile's shape for `tokens`; `.invalidInput` for metadata of the wrong length;
    ///   `.overBudget` when the cache alone exceeds the budget; `.notReplayable` when a pipe
    ///   was being read and the map had to grow (rare: capacity is reserved first).
    @discardableResult
    public func put(profile name: String, chunk: UInt64, tokens: Int, context: KVCacheContext,
                    source: KVTensorSource) throws -> KVCacheInfo {
        let profile = try self.profile(named: name)
        guard tokens > 0, tokens <= Int(UInt32.max) else { throw KVCacheError(.invalidInput, "tokens must be positive", field: "tokens") }
        guard context.position >= 0, context.position <= Int(UInt32.max) else { throw KVCacheError(.invalidInput, "position must be ≥ 0", field: "position") }
        if let s = context.prefixScores, s.count != context.prefix.count {
            throw KVCacheError(.invalidInput, "prefix_scores has \(s.count) values for \(context.prefix.count) prefix chunks", field: "prefix_scores")
        }
        if let imp = context.importance, imp.count != tokens {
            throw KVCacheError(.invalidInput, "importance has \(imp.count) values for \(tokens) tokens", field: "importance")
        }
        let expected = profile.cacheBytes(tokens: tokens)
        if case .bytes(let b) = source, b.count != expected {
            throw KVCacheError(.sizeMismatch, "the cache has \(b.count) bytes; profile \"\(profile.name)\" needs \(expected) for \(tokens) tokens (\(profile.layers) layers × K,V × \(tokens) × \(profile.kvHeads) heads × \(profile.headDim) × \(profile.elementType))", field: "bytes")
        }
        try env.reserveCapacity(expected + expected / 8 + (8 << 20))
        var startOffset: off_t = -1
        if case .fileDescriptor(let fd) = source { startOffset = lseek(fd, 0, SEEK_CUR) }
        var attempts = 0
        return try writeFlushing { txn in
            attempts += 1
            if attempts > 1, case .fileDescriptor(let fd) = source {
                guard startOffset >= 0, lseek(fd, startOffset, SEEK_SET) == startOffset else {
                    throw KVCacheError(.notReplayable, "the database map had to grow while a pipe was being read; run the put again")
                }
            }
            return try putLocked(profile, chunk: chunk, tokens: tokens, context: context, source: source, txn)
        }
    }

    private func putLocked(_ profile: KVModelProfile, chunk: UInt64, tokens: Int, context: KVCacheContext,
                           source: KVTensorSource, _ txn: borrowing WriteTransaction) throws -> KVCacheInfo {
        let key = KVCacheKey(profile: profile.id, chunk: chunk, variant: KVCacheKey.variant(prefix: context.prefix))
        let keyBytes = key.bytes
        var stats = try loadStats(profile.id, txn)
        if let old = try txn.withValue(forKey: keyBytes, in: entries, { Self.storedBytes(of: $0) }) {
            try deleteEntry(key, txn)
            stats.entries -= 1
            stats.storedBytes -= min(stats.storedBytes, old)
        }
        let tensorBytes = profile.tensorBytes(tokens: tokens)
        let partsPerTensor = (tensorBytes + profile.segmentBytes - 1) / profile.segmentBytes
        let recordBytes = KVCacheInfo.headerSize + context.prefix.count * 12 + (context.importance == nil ? 0 : tokens * 2)
        let bound = UInt64(2 * profile.layers * (tensorBytes + partsPerTensor * KVSegment.headerSize) + recordBytes)
        if profile.budgetBytes > 0 {
            guard bound <= profile.budgetBytes else {
                throw KVCacheError(.overBudget, "the cache needs up to \(bound) bytes; profile \"\(profile.name)\" has a budget of \(profile.budgetBytes)")
            }
            _ = try evict(profile, stats: &stats, toFit: profile.budgetBytes - bound, exclude: key, txn)
        }
        var stored = UInt64(recordBytes)
        var scratch: [UInt8] = [], packed: [UInt8] = [], staged: [UInt8] = []
        let width = profile.elementType.byteWidth
        let compress = profile.compression == .shuffleLZ4 && width > 1
        var offset = 0  // into .bytes
        for layer in 0..<profile.layers {
            for tensor in 0..<2 {
                var tensorData: [UInt8] = []
                if case .tensors(let produce) = source {
                    tensorData = try produce(layer, tensor)
                    guard tensorData.count == tensorBytes else {
                        throw KVCacheError(.sizeMismatch, "layer \(layer) \(tensor == 0 ? "keys" : "values") has \(tensorData.count) bytes; profile \"\(profile.name)\" needs \(tensorBytes) for \(tokens) tokens", field: "layers[\(layer)]")
                    }
                }
                var done = 0
                for part in 0..<partsPerTensor {
                    let n = min(profile.segmentBytes, tensorBytes - done)
                    let segKey = key.segmentKey(layer: layer, tensor: tensor, part: part)
                    let where_ = "layer \(layer) \(tensor == 0 ? "keys" : "values") segment \(part)"
                    // The raw bytes of this segment: in place in the caller's buffer, or read
                    // from the descriptor (straight into the map when stored raw).
                    switch source {
                    case .fileDescriptor(let fd) where !compress:
                        try txn.putReserving(count: KVSegment.headerSize + n, forKey: segKey, in: segments) { span in
                            try span.withUnsafeMutableBytes { out in
                                let payload = UnsafeMutableRawBufferPointer(rebasing: out[KVSegment.headerSize...])
                                let got = Self.readFully(fd, payload)
                                guard got == n else { throw Self.shortInput(profile, tokens: tokens, got: layer, where_) }
                                let crc = ragdb_crc32c(0, payload.baseAddress, n)
                                let h = KVSegment.header(codec: 0, width: 0, raw: n, stored: n, crc: crc)
                                h.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: KVSegment.headerSize) }
                            }
                        }
                        stored += UInt64(KVSegment.headerSize + n)
                    case .fileDescriptor(let fd):
                        if staged.count < n { staged = [UInt8](repeating: 0, count: profile.segmentBytes) }
                        let got = staged.withUnsafeMutableBytes { Self.readFully(fd, UnsafeMutableRawBufferPointer(rebasing: $0[0..<n])) }
                        guard got == n else { throw Self.shortInput(profile, tokens: tokens, got: layer, where_) }
                        stored += try staged.withUnsafeBytes { b in
                            try writeSegment(UnsafeRawBufferPointer(rebasing: b[0..<n]), key: segKey, width: width, compress: compress, scratch: &scratch, packed: &packed, txn)
                        }
                    case .bytes(let all):
                        stored += try all.withUnsafeBytes { b in
                            try writeSegment(UnsafeRawBufferPointer(rebasing: b[offset..<offset + n]), key: segKey, width: width, compress: compress, scratch: &scratch, packed: &packed, txn)
                        }
                        offset += n
                    case .tensors:
                        stored += try tensorData.withUnsafeBytes { b in
                            try writeSegment(UnsafeRawBufferPointer(rebasing: b[done..<done + n]), key: segKey, width: width, compress: compress, scratch: &scratch, packed: &packed, txn)
                        }
                    }
                    done += n
                }
            }
        }
        if case .fileDescriptor(let fd) = source {
            var extra: UInt8 = 0
            if read(fd, &extra, 1) > 0 {
                throw KVCacheError(.sizeMismatch, "the input has more than the \(profile.cacheBytes(tokens: tokens)) bytes profile \"\(profile.name)\" needs for \(tokens) tokens", field: "bytes")
            }
        }
        let now = clock()
        var info = KVCacheInfo(
            key: key, tokens: tokens, context: context, created: now, lastAccess: now, hits: 0, frequency: 1, priority: 0,
            rawBytes: UInt64(profile.cacheBytes(tokens: tokens)), storedBytes: stored, meanObservedCFO: 0, observations: 0,
            segmentBytes: profile.segmentBytes)
        info.priority = Self.priority(info, profile: profile, inflation: stats.inflation)
        try txn.put(info.encoded(), forKey: keyBytes, in: entries)
        stats.entries += 1
        stats.storedBytes += stored
        stats.puts += 1
        try txn.put(stats.encoded(), forKey: Self.idKey(profile.id), in: statsTable)
        return info
    }

    private static func shortInput(_ profile: KVModelProfile, tokens: Int, got layer: Int, _ where_: String) -> KVCacheError {
        KVCacheError(.sizeMismatch, "the input ended at \(where_); profile \"\(profile.name)\" needs \(profile.cacheBytes(tokens: tokens)) bytes for \(tokens) tokens", field: "bytes")
    }

    /// Writes one segment: shuffled and LZ4-compressed when that saves at least 10 %, else
    /// raw. Returns the stored size.
    private func writeSegment(_ raw: UnsafeRawBufferPointer, key: [UInt8], width: Int, compress: Bool,
                              scratch: inout [UInt8], packed: inout [UInt8], _ txn: borrowing WriteTransaction) throws -> UInt64 {
        let n = raw.count
        let crc = ragdb_crc32c(0, raw.baseAddress, n)
        if compress {
            if scratch.count < n { scratch = [UInt8](repeating: 0, count: n) }
            let limit = n - n / 10
            if packed.count < limit { packed = [UInt8](repeating: 0, count: limit) }
            let size: Int? = scratch.withUnsafeMutableBytes { s in
                ragdb_shuffle_bytes(raw.baseAddress, s.baseAddress, n / width, width)
                return packed.withUnsafeMutableBytes { p in
                    LZ4Block.compress(UnsafeRawBufferPointer(rebasing: s[0..<n]), into: UnsafeMutableRawBufferPointer(rebasing: p[0..<limit]))
                }
            }
            if let size {
                let h = KVSegment.header(codec: 1, width: UInt8(width), raw: n, stored: size, crc: crc)
                try txn.putReserving(count: KVSegment.headerSize + size, forKey: key, in: segments) { span in
                    span.withUnsafeMutableBytes { out in
                        h.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: KVSegment.headerSize) }
                        packed.withUnsafeBytes { (out.baseAddress! + KVSegment.headerSize).copyMemory(from: $0.baseAddress!, byteCount: size) }
                    }
                }
                return UInt64(KVSegment.headerSize + size)
            }
        }
        let h = KVSegment.header(codec: 0, width: 0, raw: n, stored: n, crc: crc)
        try txn.putReserving(count: KVSegment.headerSize + n, forKey: key, in: segments) { span in
            span.withUnsafeMutableBytes { out in
                h.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: KVSegment.headerSize) }
                if n > 0 { (out.baseAddress! + KVSegment.headerSize).copyMemory(from: raw.baseAddress!, byteCount: n) }
            }
        }
        return UInt64(KVSegment.headerSize + n)
    }

    static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var got = 0
        while got < buffer.count {
            let r = read(fd, buffer.baseAddress! + got, buffer.count - got)
            if r > 0 { got += r } else if r < 0 && errno == EINTR { continue } else { break }
        }
        return got
    }

    // MARK: Get

    /// Runs `body` with a view of the cache under (profile, chunk, variant) inside one read
    /// transaction; returns nil when there is none. Counts a hit and the bytes the view
    /// serves.
    ///
    /// - Complexity: one B-tree descent for the record; segments are read on demand.
    /// - Warning: the view and every byte view it hands out are valid only inside `body`.
    public func withCache<R>(profile name: String, chunk: UInt64, variant: UInt64 = 0,
                             _ body: (KVCacheView) throws -> R) throws -> R? {
        let served = ServedBytes()
        // The profile id comes out of the same transaction: no second look-up to count the access.
        let (pid, result): (UInt32, R?) = try env.read { txn in
            let profile = try profile(named: name, txn)
            let key = KVCacheKey(profile: profile.id, chunk: chunk, variant: variant)
            guard let info = try txn.withValue(forKey: key.bytes, in: entries, { try KVCacheInfo.decode($0, key: key) }) else {
                return (profile.id, nil)
            }
            let view = KVCacheView(info: info, profile: profile, txn: TransactionReference(txn), segments: segments, served: served)
            return (profile.id, try body(view))
        }
        let found = result != nil
        pending.withLock { p in
            p.stats[pid, default: .init()].lookups += 1
            if found {
                p.stats[pid, default: .init()].hits += 1
                p.stats[pid, default: .init()].bytesServed += served.count
                p.entries[KVCacheKey(profile: pid, chunk: chunk, variant: variant), default: .init()].hits += 1
            }
        }
        return result
    }

    // MARK: Reuse lookup

    /// For an ordered list of retrieved chunks, the best cache of each under `profile` and
    /// what to recompute: an exact-context variant first, else the variant with the lowest
    /// recompute fraction (KVReuseEstimate), else `missing`.
    ///
    /// - Complexity: one read transaction; per chunk, one range scan over its variants.
    public func planReuse(profile name: String, chunks: [UInt64], options: KVReuseOptions = .init()) throws -> [KVReuseAnswer] {
        let (profileID, answers) = try env.read { txn in
            let profile = try profile(named: name, txn)
            var answers: [KVReuseAnswer] = []
            for (i, chunk) in chunks.enumerated() {
                let current = Array(chunks[..<i])
                var best: (info: KVCacheInfo, estimate: KVReuseEstimate, exact: Bool)?
                var prefix = KeyBuilder(capacity: 12)
                prefix.append(profile.id)
                prefix.append(chunk)
                try txn.scan(entries, range: .prefix(prefix.bytes)) { key, value in
                    let info = try KVCacheInfo.decode(value, key: KVCacheKey(key: key))
                    let exact = info.context.prefix == current
                    let e = KVReuseEstimate.compute(stored: info.context.prefix, scores: info.context.prefixScores, cci: info.context.cci,
                                                    current: current, tokens: info.tokens, options: options)
                    if let b = best {
                        let better = exact != b.exact ? exact
                            : e.fraction != b.estimate.fraction ? e.fraction < b.estimate.fraction
                            : info.lastAccess > b.info.lastAccess
                        if better { best = (info, e, exact) }
                    } else {
                        best = (info, e, exact)
                    }
                    return .next
                }
                if let b = best {
                    answers.append(KVReuseAnswer(
                        chunk: chunk, cache: b.info, exactContext: b.exact, estimate: b.estimate,
                        recompute: kvRecomputePositions(importance: b.info.context.importance, tokens: b.info.tokens, count: b.estimate.recomputeCount),
                        bytesToLoad: b.info.storedBytes))
                } else {
                    answers.append(KVReuseAnswer(chunk: chunk, cache: nil, exactContext: false, estimate: nil, recompute: [], bytesToLoad: 0))
                }
            }
            return (profile.id, answers)
        }
        if options.recordAccess {
            pending.withLock { p in
                for a in answers {
                    p.stats[profileID, default: .init()].lookups += 1
                    guard let info = a.cache, let e = a.estimate else { continue }
                    p.stats[profileID, default: .init()].hits += 1
                    p.stats[profileID, default: .init()].prefillTokensSaved += UInt64(info.tokens - a.recompute.count)
                    p.entries[info.key, default: .init()].hits += 1
                    p.entries[info.key, default: .init()].cfoSum += e.fraction
                    p.entries[info.key, default: .init()].cfoCount += 1
                }
            }
        }
        return answers
    }

    // MARK: Listing, statistics, eviction

    /// Every cache of `profile`, in key order (chunk, then variant).
    public func list(profile name: String) throws -> [KVCacheInfo] {
        try env.read { txn in
            let profile = try profile(named: name, txn)
            var out: [KVCacheInfo] = []
            try txn.scan(entries, range: .prefix(Self.idKey(profile.id))) { key, value in
                out.append(try KVCacheInfo.decode(value, key: KVCacheKey(key: key)))
                return .next
            }
            return out
        }
    }

    /// The profile's counters, including accesses not yet flushed.
    public func statistics(profile name: String) throws -> KVProfileStatistics {
        let (id, stored) = try env.read { txn in
            let p = try profile(named: name, txn)
            return (p.id, try loadStats(p.id, txn))
        }
        var s = stored
        pending.withLock { p in
            if let d = p.stats[id] {
                s.lookups += d.lookups; s.hits += d.hits; s.bytesServed += d.bytesServed; s.prefillTokensSaved += d.prefillTokensSaved
            }
        }
        return s
    }

    /// Evicts the lowest-priority caches of `profile` until its stored bytes are at most
    /// `bytes`. One write transaction.
    ///
    /// - Returns: the evicted caches, in eviction order.
    @discardableResult
    public func evict(profile name: String, toBytes bytes: UInt64) throws -> [KVCacheKey] {
        try writeFlushing { txn in
            let p = try profile(named: name, txn)
            var stats = try loadStats(p.id, txn)
            let evicted = try evict(p, stats: &stats, toFit: bytes, exclude: nil, txn)
            try txn.put(stats.encoded(), forKey: Self.idKey(p.id), in: statsTable)
            return evicted
        }
    }

    /// Deletes the caches of `chunk` under `profile` (one variant, or all when nil).
    ///
    /// - Returns: how many were deleted.
    @discardableResult
    public func delete(profile name: String, chunk: UInt64, variant: UInt64? = nil) throws -> Int {
        try writeFlushing { txn in
            let p = try profile(named: name, txn)
            var stats = try loadStats(p.id, txn)
            var prefix = KeyBuilder(capacity: 20)
            prefix.append(p.id)
            prefix.append(chunk)
            if let variant { prefix.append(variant) }
            var victims: [(KVCacheKey, UInt64)] = []
            try txn.scan(entries, range: .prefix(prefix.bytes)) { key, value in
                victims.append((KVCacheKey(key: key), Self.storedBytes(of: value)))
                return .next
            }
            for (k, bytes) in victims {
                try deleteEntry(k, txn)
                stats.entries -= 1
                stats.storedBytes -= min(stats.storedBytes, bytes)
            }
            try txn.put(stats.encoded(), forKey: Self.idKey(p.id), in: statsTable)
            return victims.count
        }
    }

    /// Writes the hits, bytes served, tokens saved and observed recompute fractions that
    /// reads recorded since the last write. Puts and evictions do this on their own.
    ///
    /// - Complexity: one write transaction (one commit) when anything is pending.
    public func flushAccessStatistics() throws {
        let empty = pending.withLock { $0.entries.isEmpty && $0.stats.isEmpty }
        if empty { return }
        try writeFlushing { _ in }
    }

    /// Runs `body` in a write transaction that first applies the pending access statistics.
    private func writeFlushing<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        let taken = pending.withLock { p -> PendingAccess in
            let t = p
            p = PendingAccess()
            return t
        }
        do {
            return try env.write { txn in
                try apply(taken, txn)
                return try body(txn)
            }
        } catch {
            pending.withLock { p in p.merge(taken) }
            throw error
        }
    }

    private func apply(_ access: PendingAccess, _ txn: borrowing WriteTransaction) throws {
        guard !access.entries.isEmpty || !access.stats.isEmpty else { return }
        let now = clock()
        var profiles: [UInt32: KVModelProfile] = [:]
        var stats: [UInt32: KVProfileStatistics] = [:]
        for pid in Set(access.stats.keys).union(access.entries.keys.map(\.profile)) {
            guard let bytes = try txn.value(forKey: Self.idKey(pid), in: profilesTable) else { continue }
            profiles[pid] = try KVModelProfile.decode(bytes, id: pid)
            stats[pid] = try loadStats(pid, txn)
        }
        for (key, a) in access.entries {
            guard let profile = profiles[key.profile], let s = stats[key.profile] else { continue }
            guard var info = try txn.withValue(forKey: key.bytes, in: entries, { try KVCacheInfo.decode($0, key: key) }) else { continue }
            let decay = pow(2, -max(0, now - info.lastAccess) / profile.frequencyHalfLife)
            info.frequency = info.frequency * decay + Double(a.hits)
            info.lastAccess = max(info.lastAccess, now)
            info.hits += a.hits
            if a.cfoCount > 0 {
                let total = Double(info.meanObservedCFO) * Double(info.observations) + a.cfoSum
                info.observations += a.cfoCount
                info.meanObservedCFO = Float(total / Double(info.observations))
            }
            info.priority = Self.priority(info, profile: profile, inflation: s.inflation)
            try txn.put(info.encoded(), forKey: key.bytes, in: entries)
        }
        for (pid, d) in access.stats {
            guard var s = stats[pid] else { continue }
            s.lookups += d.lookups; s.hits += d.hits; s.bytesServed += d.bytesServed; s.prefillTokensSaved += d.prefillTokensSaved
            stats[pid] = s
        }
        for (pid, s) in stats { try txn.put(s.encoded(), forKey: Self.idKey(pid), in: statsTable) }
    }

    /// GDSF priority: H = L + f · T·(1 − mean observed CFO) · cost per token / stored bytes.
    static func priority(_ info: KVCacheInfo, profile: KVModelProfile, inflation: Double) -> Double {
        let saved = Double(info.tokens) * (1 - Double(info.meanObservedCFO))
        return inflation + info.frequency * saved * profile.prefillCostPerToken / Double(max(info.storedBytes, 1))
    }

    /// Evicts the lowest-priority caches of `profile` (never `exclude`) until stored bytes
    /// are at most `limit`; each eviction raises the inflation L to the evicted priority.
    private func evict(_ profile: KVModelProfile, stats: inout KVProfileStatistics, toFit limit: UInt64,
                       exclude: KVCacheKey?, _ txn: borrowing WriteTransaction) throws -> [KVCacheKey] {
        guard stats.storedBytes > limit else { return [] }
        var candidates: [(key: KVCacheKey, priority: Double, last: Double, bytes: UInt64)] = []
        try txn.scan(entries, range: .prefix(Self.idKey(profile.id))) { key, value in
            let k = KVCacheKey(key: key)
            if k != exclude {
                let (prio, last, bytes) = value.withUnsafeBytes { v in
                    (Double(bitPattern: v.loadUnaligned(fromByteOffset: 56, as: UInt64.self).littleEndian),
                     Double(bitPattern: v.loadUnaligned(fromByteOffset: 40, as: UInt64.self).littleEndian),
                     v.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian)
                }
                candidates.append((k, prio, last, bytes))
            }
            return .next
        }
        candidates.sort { a, b in
            a.priority != b.priority ? a.priority < b.priority
                : a.last != b.last ? a.last < b.last
                : (a.key.chunk, a.key.variant) < (b.key.chunk, b.key.variant)
        }
        var evicted: [KVCacheKey] = []
        for c in candidates where stats.storedBytes > limit {
            try deleteEntry(c.key, txn)
            stats.entries -= 1
            stats.storedBytes -= min(stats.storedBytes, c.bytes)
            stats.evictions += 1
            stats.bytesEvicted += c.bytes
            stats.inflation = max(stats.inflation, c.priority)
            evicted.append(c.key)
        }
        return evicted
    }

    private func deleteEntry(_ key: KVCacheKey, _ txn: borrowing WriteTransaction) throws {
        _ = try txn.deleteRange(.prefix(key.bytes), in: segments)
        _ = try txn.delete(forKey: key.bytes, in: entries)
    }

    private func loadStats(_ id: UInt32, _ txn: borrowing some TransactionReading & ~Copyable) throws -> KVProfileStatistics {
        guard let bytes = try txn.value(forKey: Self.idKey(id), in: statsTable) else { return KVProfileStatistics() }
        return try KVProfileStatistics.decode(bytes)
    }

    static func storedBytes(of record: RawSpan) -> UInt64 {
        record.withUnsafeBytes { $0.count >= 32 ? $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian : 0 }
    }

    static func idKey(_ id: UInt32) -> [UInt8] {
        var k = KeyBuilder(capacity: 4)
        k.append(id)
        return k.bytes
    }

    static func decodeProfile(key: RawSpan, value: RawSpan) throws -> KVModelProfile {
        let id = key.withUnsafeBytes { b in b.count == 4 ? UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]) : 0 }
        return try KVModelProfile.decode(value.withUnsafeBytes { Array($0) }, id: id)
    }

    // MARK: Checking

    /// Verifies every record and segment checksum, the segment count and sizes of each cache
    /// against its profile, and the per-profile byte counters.
    ///
    /// - Returns: one message per problem; empty when clean.
    public func check() throws -> [String] {
        try env.read { txn in
            var problems: [String] = []
            var profiles: [UInt32: KVModelProfile] = [:]
            try txn.scan(profilesTable) { key, value in
                let p = try Self.decodeProfile(key: key, value: value)
                profiles[p.id] = p
                return .next
            }
            var scratch: [UInt8] = []
            for p in profiles.values.sorted(by: { $0.id < $1.id }) {
                var total: UInt64 = 0, count: UInt64 = 0
                var infos: [KVCacheInfo] = []
                try txn.scan(entries, range: .prefix(Self.idKey(p.id))) { key, value in
                    do { infos.append(try KVCacheInfo.decode(value, key: KVCacheKey(key: key))) } catch { problems.append("\(error)") }
                    return .next
                }
                for info in infos {
                    count += 1
                    total += info.storedBytes
                    var segs = 0
                    var raw = 0
                    var stored = 0
                    try txn.scan(segments, range: .prefix(info.key.bytes)) { _, value in
                        segs += 1
                        stored += value.byteCount
                        do {
                            try KVSegment.withRaw(value, scratch: &scratch, describe: { "\(info.key)" }) { raw += $0.byteCount }
                        } catch { problems.append("\(error)") }
                        return .next
                    }
                    if raw != p.cacheBytes(tokens: info.tokens) {
                        problems.append("KV cache \(info.key): \(raw) tensor bytes, profile \"\(p.name)\" needs \(p.cacheBytes(tokens: info.tokens))")
                    }
                    let recordBytes = KVCacheInfo.headerSize + info.context.prefix.count * 12 + (info.context.importance == nil ? 0 : info.tokens * 2)
                    if UInt64(stored + recordBytes) != info.storedBytes {
                        problems.append("KV cache \(info.key): records \(info.storedBytes) stored bytes, has \(stored + recordBytes)")
                    }
                    _ = segs
                }
                let s = try loadStats(p.id, txn)
                if s.entries != count || s.storedBytes != total {
                    problems.append("KV profile \"\(p.name)\": counters say \(s.entries) caches / \(s.storedBytes) bytes, found \(count) / \(total)")
                }
                if p.budgetBytes > 0 && total > p.budgetBytes {
                    problems.append("KV profile \"\(p.name)\": \(total) bytes stored over its budget of \(p.budgetBytes)")
                }
            }
            return problems
        }
    }
}

/// Access statistics observed by reads, waiting for the next write transaction.
struct PendingAccess: Sendable {
    struct Entry: Sendable { var hits: UInt64 = 0; var cfoSum: Double = 0; var cfoCount: UInt32 = 0 }
    var entries: [KVCacheKey: Entry] = [:]
    var stats: [UInt32: KVProfileStatistics] = [:]

    mutating func merge(_ other: PendingAccess) {
        for (k, e) in other.entries {
            entries[k, default: .init()].hits += e.hits
            entries[k, default: .init()].cfoSum += e.cfoSum
            entries[k, default: .init()].cfoCount += e.cfoCount
        }
        for (p, s) in other.stats {
            stats[p, default: .init()].lookups += s.lookups
            stats[p, default: .init()].hits += s.hits
            stats[p, default: .init()].bytesServed += s.bytesServed
            stats[p, default: .init()].prefillTokensSaved += s.prefillTokensSaved
        }
    }
}

/// Bytes a view served, counted across its calls.
final class ServedBytes: @unchecked Sendable {
    var count: UInt64 = 0
}
