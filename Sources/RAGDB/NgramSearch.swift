public import RAGDBChunks
import RAGDBStorage
public import RAGDBNgram
import Dispatch
import Synchronization

/// A located n-gram occurrence.
public struct NgramOccurrence: Sendable, Hashable, Codable {
    /// The chunk.
    public var chunk: UInt64
    /// Byte offset of the match in the chunk's text.
    public var offset: Int
    /// Bytes of chunk text the match covers (the pattern's length, less its leading space
    /// when that space is the one the index puts before each chunk).
    public var length: Int
    /// Creates an occurrence.
    public init(chunk: UInt64, offset: Int, length: Int) {
        self.chunk = chunk
        self.offset = offset
        self.length = length
    }
}

/// A continuation of an n-gram: the next byte and how many occurrences it follows.
public struct NgramContinuation: Sendable, Hashable {
    /// The next byte, or `nil` where the occurrence ends its chunk.
    public var byte: UInt8?
    /// Occurrences.
    public var count: Int
}

/// A chunk ranked by SEAL's n-gram scoring, with the n-grams that scored.
public struct NgramHit: Sendable, Hashable {
    /// One n-gram's share of the score.
    public struct Match: Sendable, Hashable {
        /// The n-gram (normalised bytes, leading space included).
        public var ngram: [UInt8]
        /// Its live frequency in the collection.
        public var frequency: Int
        /// Its weight w(n, q).
        public var weight: Double
        /// The coverage factor.
        public var cover: Double
        /// weight × cover.
        public var contribution: Double
        /// Byte offset in the normalised chunk text.
        public var position: Int
    }
    /// The chunk.
    public var chunk: ChunkID
    /// The score (stage 2).
    public var score: Double
    /// What scored.
    public var matches: [Match]
}

/// A collection's n-gram index loaded in memory: its FM-index segments (deleted chunks masked)
/// and the chunks written since the last segment, which are scanned directly. Immutable and
/// `Sendable`; load a new one to see later writes.
public final class NgramIndex: Sendable {
    let settings: NgramSettings
    let segments: [FMSegment]
    let pending: [(id: UInt64, bytes: [UInt8])]
    let directory: ChunkDirectory
    /// A chunk's source text, for mapping offsets back when normalisation changes lengths
    /// (`fold`); nil otherwise.
    let sourceText: (@Sendable (UInt64) -> String?)?
    /// For an index read in place: open while the read transaction that maps its segments is.
    let scope: ReadScope?

    init(settings: NgramSettings, segments: [FMSegment], pending: [(id: UInt64, bytes: [UInt8])], directory: ChunkDirectory,
         sourceText: (@Sendable (UInt64) -> String?)? = nil, scope: ReadScope? = nil) {
        self.settings = settings
        self.segments = segments
        self.pending = pending
        self.directory = directory
        self.sourceText = sourceText
        self.scope = scope
    }

    /// Stops a query on an index read in place whose transaction has ended: its segments would
    /// point at pages writers may have reused.
    @inline(__always)
    func checkScope() { scope?.check() }

    /// Segments.
    public var segmentCount: Int { segments.count }
    /// Segments whose bitvector is read in place from the map (`Collection.withNgramIndex`);
    /// small segments, stored unaligned inside LMDB pages, are copied.
    public var inPlaceSegmentCount: Int { segments.filter(\.isReadInPlace).count }
    /// Chunks not yet in a segment (scanned directly).
    public var pendingCount: Int { pending.count }
    /// The external id of the document of `chunk`.
    public func documentID(of chunk: ChunkID) -> String? { directory.documentID(of: chunk) }

    /// The pattern as the index sees it: normalised like the chunk text, without the leading
    /// space that normalisation adds to chunks.
    public func normalized(_ pattern: String) -> [UInt8] { Array(settings.normalize(pattern).dropFirst()) }

    /// Live bytes indexed (N of SEAL's weights; each chunk's leading space included).
    public var totalBytes: Int {
        segments.reduce(0) { $0 + $1.count([]) } + pending.reduce(0) { $0 + $1.bytes.count }
    }

    /// Live occurrences of `pattern` (normalised bytes; overlapping ones all count).
    ///
    /// - Complexity: O(|pattern| · levels) ranks per segment, plus a scan of pending chunks.
    public func count(bytes pattern: [UInt8]) -> Int {
        checkScope()
        if pattern.isEmpty { return totalBytes }
        return segments.reduce(0) { $0 + $1.count(pattern) } + pending.reduce(0) { $0 + occurrences(pattern, in: $1.bytes).count }
    }

    /// Up to `limit` occurrences of `pattern` (normalised bytes), segment by segment.
    ///
    /// - Complexity: 32 LF steps per occurrence on average; with `fold` normalisation, one
    ///   chunk read and normalisation per located chunk to map offsets to the source (an
    ///   occurrence in a chunk deleted since the index was loaded is left out).
    public func locate(bytes pattern: [UInt8], limit: Int) -> [NgramOccurrence] {
        var out: [NgramOccurrence] = []
        var maps: [UInt64: NgramSettings.OffsetMap?] = [:]
        for (chunk, normalizedOffset) in locateNormalized(bytes: pattern, limit: limit) {
            if let sourceText {
                // Lengths changed: map the normalised range through the chunk's offset map.
                let map: NgramSettings.OffsetMap?
                if let m = maps[chunk] { map = m } else {
                    map = sourceText(chunk).map { settings.offsetMap($0) }
                    maps[chunk] = map
                }
                guard let map else { continue }
                let r = map.sourceRange(offset: normalizedOffset, length: pattern.count)
                out.append(NgramOccurrence(chunk: chunk, offset: r.lowerBound, length: r.count))
                continue
            }
            // Normalised text = " " + chunk text: offset 0 is the added space.
            let start = max(0, normalizedOffset - 1)
            out.append(NgramOccurrence(chunk: chunk, offset: start, length: pattern.count - (normalizedOffset == 0 ? 1 : 0)))
        }
        return out
    }

    /// Up to `limit` occurrences of `pattern` as (chunk, offset in the chunk's normalised
    /// bytes, leading space included): the coordinates SEAL's coverage works in.
    func locateNormalized(bytes pattern: [UInt8], limit: Int) -> [(chunk: UInt64, offset: Int)] {
        checkScope()
        var out: [(chunk: UInt64, offset: Int)] = []
        for s in segments where out.count < limit {
            for o in s.locate(pattern, limit: limit - out.count) { out.append((s.chunkIDs[o.chunkIndex], o.offset)) }
        }
        for p in pending where out.count < limit {
            for o in occurrences(pattern, in: p.bytes).prefix(limit - out.count) { out.append((p.id, o)) }
        }
        return out
    }

    /// The bytes that follow `pattern` with their counts, most frequent first (ties: byte
    /// order, the chunk end first), at most `k`. The counts of all continuations sum to
    /// `count(pattern)`.
    public func next(bytes pattern: [UInt8], k: Int = .max) -> [NgramContinuation] {
        checkScope()
        var counts = [Int](repeating: 0, count: 257)   // 256 = end of chunk
        for s in segments { for n in s.next(pattern) { counts[n.byte.map(Int.init) ?? 256] += n.count } }
        for p in pending {
            if pattern.isEmpty { for b in p.bytes { counts[Int(b)] += 1 }; continue }
            for o in occurrences(pattern, in: p.bytes) {
                let e = o + pattern.count
                counts[e < p.bytes.count ? Int(p.bytes[e]) : 256] += 1
            }
        }
        var out = counts.enumerated().filter { $0.element > 0 }.map { NgramContinuation(byte: $0.offset == 256 ? nil : UInt8($0.offset), count: $0.element) }
        out.sort { a, b in
            if a.count != b.count { return a.count > b.count }
            return (a.byte.map(Int.init) ?? -1) < (b.byte.map(Int.init) ?? -1)
        }
        return Array(out.prefix(k))
    }

    /// Distinct chunks among the occurrences of `pattern`, or nil when there are more than
    /// `limit` occurrences to locate.
    public func chunkCount(bytes pattern: [UInt8], limit: Int = 1_000_000) -> Int? {
        guard count(bytes: pattern) <= limit else { return nil }
        return Set(locate(bytes: pattern, limit: limit).map(\.chunk)).count
    }
}

extension Collection {
    func requireNgram() throws(RAGDBError) -> NgramSettings {
        guard let n = settings.ngramIndex else {
            throw RAGDBError(.invalidInput, "collection \"\(name)\" keeps no n-gram index (create it with ngram_index set, e.g. `ragdb import --ngram-index lowercase`)", field: "ngram_index")
        }
        return n
    }

    /// With `fold` normalisation, a chunk's source text by id (located offsets are mapped back
    /// to it); nil for normalisations that keep byte offsets.
    var sourceTextLookup: (@Sendable (UInt64) -> String?)? {
        guard settings.ngramIndex?.normalization == "fold" else { return nil }
        let collection = self
        return { id in
            guard let chunk = try? collection.chunk(ChunkID(rawValue: id)) else { return nil }
            return chunk.text
        }
    }

    /// Loads the n-gram index into memory.
    ///
    /// - Complexity: decodes every segment, masks dead chunks (an LF walk each), and reads and
    ///   normalises the pending chunks, in one read transaction.
    public func loadNgramIndex() throws(RAGDBError) -> NgramIndex {
        try rethrowingAsRAGDB { try database.env.read { txn in try ngramIndex(txn, inPlace: false) } }
    }

    /// Runs `body` with the n-gram index read in place: each segment's bitvector and samples
    /// (nearly all of it) stay in the memory map, zero-copy, and only the small tables are
    /// decoded. The index is valid only inside `body`; use `loadNgramIndex()` for one that
    /// outlives the call.
    ///
    /// - Complexity: one read transaction held for `body`; per segment, a checksum pass and a
    ///   validation pass over its bitvector, no copy.
    /// - Throws: `RAGDBError` for the index itself; whatever `body` throws, unchanged.
    public func withNgramIndex<R>(_ body: (NgramIndex) throws -> R) throws -> R {
        try withInPlaceIndex({ txn, scope in try ngramIndex(txn, inPlace: true, scope: scope) }, body)
    }

    /// Opens a read transaction, makes an index that reads in place within it (`make`), runs
    /// `body` with it and closes the index's scope before the transaction ends, so a query
    /// on an escaped index traps instead of reading reused pages. Errors of `make` come out
    /// as `RAGDBError`; those of `body` unchanged.
    func withInPlaceIndex<Index, R>(_ make: (borrowing ReadTransaction, ReadScope) throws -> Index,
                                    _ body: (Index) throws -> R) throws -> R {
        var result: Result<R, any Error>?
        let scope = ReadScope()
        defer { scope.close() }
        try rethrowingAsRAGDB {
            try database.env.read { txn in
                let index = try make(txn, scope)
                result = Result { try body(index) }
                scope.close()
            }
        }
        return try result!.get()
    }

    private func ngramIndex(_ txn: borrowing ReadTransaction, inPlace: Bool, scope: ReadScope? = nil) throws -> NgramIndex {
        let settings = try requireNgram()
        let store = database.ngramStore, chunks = database.chunkStore
        let collection = id
        let segments = try store.load(collection: collection.rawValue, txn, inPlace: inPlace)
        var pending: [(id: UInt64, bytes: [UInt8])] = []
        for c in try store.pendingChunks(collection: collection.rawValue, txn) {
            guard let chunk = try chunks.chunk(ChunkID(rawValue: c), in: collection, txn) else {
                throw RAGDBError(.corrupt, "n-gram index lists pending chunk \(c), which does not exist")
            }
            pending.append((c, settings.normalize(chunk.text)))
        }
        return NgramIndex(settings: settings, segments: segments, pending: pending, directory: try ChunkDirectory.load(chunks, collection, txn),
                          sourceText: sourceTextLookup, scope: scope)
    }

    /// Builds FM-index segments from the pending chunks (those written since the last
    /// segment), each over at most `maxSegmentBytes` of text, so that building stays within
    /// about 11 bytes of memory per segment byte. Each segment is built outside any
    /// transaction (writers are not held up) from a read snapshot, then written in one
    /// transaction with the removal of its pending records; a chunk deleted meanwhile is
    /// recorded dead. A no-op when nothing is pending. The token-id index, when the collection
    /// keeps one, is brought up to date the same way.
    ///
    /// - Returns: the chunks indexed (byte index).
    /// - Complexity: SA-IS over the pending text, linear.
    @discardableResult
    public func buildNgramSegment(maxSegmentBytes: Int = 256 << 20) throws(RAGDBError) -> Int {
        let settings = try requireNgram()
        let chunks = database.chunkStore
        let collection = id
        let indexed = try buildPendingSegments(database.ngramStore, maxSymbols: maxSegmentBytes, read: { c, txn in
            try chunks.chunk(ChunkID(rawValue: c), in: collection, txn).map { chunk in
                let bytes = settings.normalize(chunk.text)
                return ((id: c, bytes: bytes), bytes.count)
            }
        }, build: { input in FMSegment.build(input) })
        try buildTokenNgramSegments()
        return indexed
    }

    /// The end of a compaction both n-gram indexes share: builds one segment from `input`
    /// (every live chunk, in id order; `build` consumes it) outside any transaction, then
    /// writes it in one transaction that reconciles it with the chunks live at that point.
    ///
    /// - Returns: the chunks in the segment.
    func replaceSegments<Input>(_ store: NgramStore, with input: consuming [Input], build: (consuming [Input]) -> FMSegment) throws(RAGDBError) -> Int {
        let count = input.count
        let segment = count == 0 ? nil : build(consume input)
        let chunks = database.chunkStore, collection = id
        try rethrowingAsRAGDB {
            try database.env.write { txn in
                var live: [UInt64] = []
                try chunks.scanChunks(of: collection, txn) { chunk in live.append(chunk.id.rawValue); return .next }
                try store.replaceAll(with: segment, live: live.sorted(), collection: collection.rawValue, txn)
            }
        }
        return count
    }

    /// The loop both n-gram indexes (bytes and token ids) share: reads the pending chunks of
    /// `store` from a snapshot, up to about `maxSymbols` symbols at a time (`read` gives a
    /// chunk's segment input and its symbol count; nil skips a chunk that is gone), builds a
    /// segment outside any transaction (`build` consumes the input, so its memory can go
    /// while the segment is made) and writes it in one transaction with the removal of its
    /// pending records, until none is left.
    ///
    /// - Returns: the chunks indexed.
    func buildPendingSegments<Input>(
        _ store: NgramStore, maxSymbols: Int,
        read: (UInt64, borrowing ReadTransaction) throws -> (Input, Int)?,
        build: (consuming [Input]) -> FMSegment
    ) throws(RAGDBError) -> Int {
        let collection = id.rawValue
        var indexed = 0
        var after: UInt64 = 0
        while true {
            let (input, last): ([Input], UInt64) = try rethrowingAsRAGDB {
                try database.env.read { txn in
                    var input: [Input] = []
                    var total = 0, last: UInt64 = 0
                    for c in try store.pendingChunks(collection: collection, txn) where c > after {
                        guard total < maxSymbols else { break }
                        guard let (item, count) = try read(c, txn) else { continue }
                        total += count + 1
                        input.append(item)
                        last = c
                    }
                    return (input, last)
                }
            }
            guard !input.isEmpty else { return indexed }
            let count = input.count
            let segment = build(consume input)
            try rethrowingAsRAGDB { try database.env.write { txn in try store.append(segment, collection: collection, txn) } }
            indexed += count
            after = last
        }
    }

    /// Rebuilds the n-gram index as one segment over every live chunk, dropping deleted chunks
    /// and merging all segments. The segment is built from a read snapshot outside any
    /// transaction, then written in one transaction that reconciles it with the chunks live
    /// at that point (chunks written meanwhile stay pending, chunks deleted meanwhile are dead).
    ///
    /// - Returns: the chunks indexed.
    @discardableResult
    public func compactNgramIndex() throws(RAGDBError) -> Int {
        let settings = try requireNgram()
        let store = database.ngramStore, chunks = database.chunkStore
        let collection = id
        let input: [(id: UInt64, bytes: [UInt8])] = try rethrowingAsRAGDB {
            try database.env.read { txn in
                var input: [(id: UInt64, bytes: [UInt8])] = []
                try chunks.scanChunks(of: collection, txn) { chunk in
                    input.append((chunk.id.rawValue, settings.normalize(chunk.text)))
                    return .next
                }
                return input.sorted { $0.id < $1.id }
            }
        }
        let symbols = input.reduce(1) { $0 + $1.bytes.count + 1 }
        guard symbols < Int(Int32.max) else {
            throw RAGDBError(.invalidInput, "the collection's n-gram text (\(symbols) symbols) exceeds one segment's limit of 2^31 − 1; it stays in its current segments", field: "ngram_index")
        }
        let count = try replaceSegments(store, with: input, build: { FMSegment.build($0) })
        try compactTokenNgramIndex()
        return count
    }

    /// Chunks ranked by SEAL's n-gram scoring (`SEALParameters`; README has the formula and a
    /// worked example). `ngrams` are given as text (normalised here) with an optional
    /// log P(n|q) from a language model; without one, SEAL-lite's P(n|q) = ½.
    ///
    /// Stage 1: rare n-grams (at most `maxHits` occurrences), heaviest first, propose chunks:
    /// each counts once per chunk, on positions not yet covered, discounted by coverage.
    /// Stage 2: the best `fullyScore` chunks are scored in full over all kept n-grams.
    ///
    /// - Complexity: one count per n-gram, a locate per rare occurrence, then a scan of each
    ///   candidate's text.
    public func searchNgrams(
        _ ngrams: [(text: String, logProbability: Double?)], in index: NgramIndex, k: Int, parameters: SEALParameters = .init()
    ) throws(RAGDBError) -> [NgramHit] {
        guard k > 0 else { throw RAGDBError(.invalidInput, "k must be at least 1", field: "k") }
        let total = index.totalBytes
        // Distinct normalised n-grams with their frequency and weight.
        var keys: [(bytes: [UInt8], frequency: Int, weight: Double)] = []
        var seen = Set<[UInt8]>()
        for g in ngrams {
            let bytes = index.normalized(g.text)
            guard !bytes.isEmpty, seen.insert(bytes).inserted else { continue }
            let f = index.count(bytes: bytes)
            guard f > 0, f <= parameters.skipFrequent else { continue }
            let w = parameters.weight(frequency: f, total: total, logProbability: g.logProbability)
            if w > 0 { keys.append((bytes, f, w)) }
        }
        keys.sort { $0.weight > $1.weight || ($0.weight == $1.weight && $0.bytes.lexicographicallyPrecedes($1.bytes)) }
        // Stage 1.
        var stage1: [UInt64: Double] = [:]
        var covered: [UInt64: Set<Int>] = [:]
        var types: [UInt64: Set<[UInt8]>] = [:]
        var scoredIn: [UInt64: Set<Int>] = [:]
        for (ki, key) in keys.enumerated() where key.frequency <= parameters.maxHits {
            let words = ngramWords(key.bytes)
            for o in index.locateNormalized(bytes: key.bytes, limit: parameters.maxHits) {
                // Positions in the normalised text, whatever the normalisation did to lengths.
                let span = o.offset..<(o.offset + key.bytes.count)
                if covered[o.chunk, default: []].contains(where: { span.contains($0) }) { continue }
                covered[o.chunk, default: []].formUnion(span)
                guard scoredIn[o.chunk, default: []].insert(ki).inserted else { continue }
                let v = types[o.chunk, default: []]
                let fresh = words.isEmpty ? 1 : Double(words.subtracting(v).count) / Double(words.count)
                stage1[o.chunk, default: 0] += key.weight * (1 - parameters.beta + parameters.beta * fresh)
                types[o.chunk, default: []].formUnion(words)
            }
        }
        let candidates = stage1.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(parameters.fullyScore).map(\.key)
        // Stage 2 on each candidate's normalised text.
        let aggregationKeys = keys.map { SEALAggregation.Key<UInt8, [UInt8]>(symbols: $0.bytes, weight: $0.weight, types: ngramWords($0.bytes)) }
        let store = database.chunkStore
        let collection = id
        let settings = try requireNgram()
        var hits: [NgramHit] = try rethrowingAsRAGDB {
            try database.env.read { txn in
                try candidates.compactMap { c -> NgramHit? in
                    guard let chunk = try store.chunk(ChunkID(rawValue: c), in: collection, txn) else { return nil }
                    let (score, parts) = SEALAggregation.score(settings.normalize(chunk.text), keys: aggregationKeys, beta: parameters.beta)
                    let matches = parts.map {
                        NgramHit.Match(ngram: keys[$0.key].bytes, frequency: keys[$0.key].frequency, weight: keys[$0.key].weight,
                                       cover: $0.cover, contribution: $0.value, position: $0.start)
                    }
                    return NgramHit(chunk: ChunkID(rawValue: c), score: score, matches: matches)
                }
            }
        }
        hits.sort { $0.score > $1.score || ($0.score == $1.score && $0.chunk.rawValue < $1.chunk.rawValue) }
        return Array(hits.prefix(k))
    }

    /// SEAL-lite search for plain text: every 1–3-word span of the query becomes an n-gram.
    public func searchNgrams(text: String, in index: NgramIndex, k: Int, parameters: SEALParameters = .init()) throws(RAGDBError) -> [NgramHit] {
        let grams = queryNgrams(Array(text.utf8)).map { (text: String(decoding: $0, as: UTF8.self), logProbability: Double?.none) }
        return try searchNgrams(grams, in: index, k: k, parameters: parameters)
    }
}

/// Whether the read transaction behind an index read in place is still open; a query after
/// it closed stops the process rather than read pages the map may have reused.
final class ReadScope: Sendable {
    private let open = Atomic<Bool>(true)

    /// Marks the transaction closed.
    func close() { open.store(false, ordering: .releasing) }

    /// Traps when the transaction has closed.
    @inline(__always)
    func check() {
        precondition(open.load(ordering: .acquiring), "an n-gram index read in place was used after its withNgramIndex call returned")
    }
}

/// Every start of `p` in `text`, overlapping ones included (the pending chunks of an n-gram
/// index, bytes or token ids, are searched this way until a segment covers them).
///
/// - Complexity: O(|text| · |p|) in the worst case; one comparison per position when the
///   first symbol rarely matches.
func occurrences<Symbol: Equatable>(_ p: [Symbol], in text: [Symbol]) -> [Int] {
    guard !p.isEmpty, p.count <= text.count else { return [] }
    var out: [Int] = []
    for i in 0...(text.count - p.count) where text[i] == p[0] {
        var ok = true
        for t in 1..<p.count where text[i + t] != p[t] { ok = false; break }
        if ok { out.append(i) }
    }
    return out
}
