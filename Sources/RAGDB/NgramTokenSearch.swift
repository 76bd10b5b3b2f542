public import RAGDBChunks
import RAGDBStorage
import RAGDBNgram

/// A token id that follows a token pattern, with how often it does.
public struct TokenContinuation: Sendable, Hashable {
    /// The next token id, or `nil` where the occurrence ends its chunk.
    public var token: UInt32?
    /// Occurrences.
    public var count: Int
}

/// A collection's token-id n-gram index loaded in memory (`NgramSettings.tokens`): FM-index
/// segments over the token ids supplied with the chunks, deleted chunks masked, and the chunks
/// written since the last segment, scanned directly. This is SEAL's index in the model's own
/// vocabulary: `next` lists the tokens a constrained decoder may emit after a prefix.
/// Immutable and `Sendable`; load a new one to see later writes.
public final class TokenNgramIndex: Sendable {
    let segments: [FMSegment]
    let pending: [(id: UInt64, tokens: [UInt32])]
    let directory: ChunkDirectory
    /// For an index read in place: open while its read transaction is.
    let scope: ReadScope?

    init(segments: [FMSegment], pending: [(id: UInt64, tokens: [UInt32])], directory: ChunkDirectory, scope: ReadScope? = nil) {
        self.segments = segments
        self.pending = pending
        self.directory = directory
        self.scope = scope
    }

    /// Segments.
    public var segmentCount: Int { segments.count }
    /// Chunks not yet in a segment (scanned directly).
    public var pendingCount: Int { pending.count }
    /// The external id of the document of `chunk`.
    public func documentID(of chunk: ChunkID) -> String? { directory.documentID(of: chunk) }

    /// Live occurrences of `pattern` (overlapping ones all count); the empty pattern counts
    /// every live token.
    ///
    /// - Complexity: two ranks per pattern token and level of its Huffman code, per segment,
    ///   plus a scan of pending chunks.
    public func count(tokens pattern: [UInt32]) -> Int {
        scope?.check()
        return segments.reduce(0) { $0 + $1.count(tokens: pattern) }
            + pending.reduce(0) { $0 + (pattern.isEmpty ? $1.tokens.count : occurrences(pattern, in: $1.tokens).count) }
    }

    /// Up to `limit` occurrences of `pattern`: chunk, offset in its tokens, and the pattern's
    /// length in tokens.
    ///
    /// - Complexity: 32 LF steps per occurrence on average.
    public func locate(tokens pattern: [UInt32], limit: Int) -> [NgramOccurrence] {
        scope?.check()
        var out: [NgramOccurrence] = []
        for s in segments where out.count < limit {
            for o in s.locate(tokens: pattern, limit: limit - out.count) {
                out.append(NgramOccurrence(chunk: s.chunkIDs[o.chunkIndex], offset: o.offset, length: pattern.count))
            }
        }
        for p in pending where out.count < limit {
            for o in occurrences(pattern, in: p.tokens).prefix(limit - out.count) {
                out.append(NgramOccurrence(chunk: p.id, offset: o, length: pattern.count))
            }
        }
        return out
    }

    /// The tokens that follow `pattern` with their counts, most frequent first (ties: token
    /// order, the chunk end first), at most `k`. The counts sum to `count(tokens: pattern)`.
    ///
    /// - Complexity: per segment, the tree nodes above the distinct continuations; memory
    ///   proportional to them, not to the vocabulary.
    public func next(tokens pattern: [UInt32], k: Int = .max) -> [TokenContinuation] {
        scope?.check()
        var counts: [UInt32?: Int] = [:]
        for s in segments { for n in s.next(tokens: pattern) { counts[n.token, default: 0] += n.count } }
        for p in pending {
            if pattern.isEmpty { for t in p.tokens { counts[t, default: 0] += 1 }; continue }
            for o in occurrences(pattern, in: p.tokens) {
                let e = o + pattern.count
                counts[e < p.tokens.count ? p.tokens[e] : nil, default: 0] += 1
            }
        }
        var out = counts.map { TokenContinuation(token: $0.key, count: $0.value) }
        out.sort { a, b in
            if a.count != b.count { return a.count > b.count }
            return (a.token.map(Int64.init) ?? -1) < (b.token.map(Int64.init) ?? -1)
        }
        return Array(out.prefix(k))
    }
}

extension Collection {
    func requireTokenIndex() throws(RAGDBError) {
        guard settings.ngramIndex?.tokens == true else {
            throw RAGDBError(.invalidInput, "collection \"\(name)\" keeps no token-id n-gram index (create it with ngram_index.tokens set, e.g. `ragdb import --ngram-index lowercase --ngram-tokens`)", field: "ngram_index.tokens")
        }
    }

    /// Loads the token-id n-gram index into memory.
    ///
    /// - Complexity: decodes every token segment, masks dead chunks (an LF walk each), and
    ///   reads the pending chunks' tokens, in one read transaction.
    public func loadTokenNgramIndex() throws(RAGDBError) -> TokenNgramIndex {
        try rethrowingAsRAGDB { try database.env.read { txn in try tokenNgramIndex(txn, inPlace: false) } }
    }

    /// Runs `body` with the token-id index read in place (zero-copy, as `withNgramIndex`);
    /// the index is valid only inside `body`.
    ///
    /// - Throws: `RAGDBError` for the index itself; whatever `body` throws, unchanged.
    public func withTokenNgramIndex<R>(_ body: (TokenNgramIndex) throws -> R) throws -> R {
        try withInPlaceIndex({ txn, scope in try tokenNgramIndex(txn, inPlace: true, scope: scope) }, body)
    }

    private func tokenNgramIndex(_ txn: borrowing ReadTransaction, inPlace: Bool, scope: ReadScope? = nil) throws -> TokenNgramIndex {
        try requireTokenIndex()
        let store = database.ngramTokenStore, tokens = database.chunkTokens, chunks = database.chunkStore
        let collection = id
        let segments = try store.load(collection: collection.rawValue, txn, inPlace: inPlace)
        var pending: [(id: UInt64, tokens: [UInt32])] = []
        for c in try store.pendingChunks(collection: collection.rawValue, txn) {
            pending.append((c, try tokens.tokens(chunk: c, collection: collection.rawValue, txn) ?? []))
        }
        return TokenNgramIndex(segments: segments, pending: pending, directory: try ChunkDirectory.load(chunks, collection, txn), scope: scope)
    }

    /// Builds token-id segments from the pending chunks, each over at most `maxSegmentTokens`
    /// tokens, outside any transaction from a read snapshot, then writes each in one
    /// transaction with the removal of its pending records (a chunk deleted meanwhile is
    /// recorded dead). A no-op without a token index or when nothing is pending.
    ///
    /// - Returns: the chunks indexed.
    /// - Complexity: SA-IS over the pending tokens, linear.
    @discardableResult
    func buildTokenNgramSegments(maxSegmentTokens: Int = 32 << 20) throws(RAGDBError) -> Int {
        guard settings.ngramIndex?.tokens == true else { return 0 }
        let tokens = database.chunkTokens
        let collection = id.rawValue
        // A chunk without token ids is indexed as empty, so that it stops being pending.
        return try buildPendingSegments(database.ngramTokenStore, maxSymbols: maxSegmentTokens, read: { c, txn in
            let t = try tokens.tokens(chunk: c, collection: collection, txn) ?? []
            return ((id: c, tokens: t), t.count)
        }, build: { input in FMSegment.build(tokens: input) })
    }

    /// Rebuilds the token-id index as one segment over every live chunk (see
    /// `compactNgramIndex`). A no-op without a token index.
    @discardableResult
    func compactTokenNgramIndex() throws(RAGDBError) -> Int {
        guard settings.ngramIndex?.tokens == true else { return 0 }
        let store = database.ngramTokenStore, tokens = database.chunkTokens, chunks = database.chunkStore
        let collection = id
        let input: [(id: UInt64, tokens: [UInt32])] = try rethrowingAsRAGDB {
            try database.env.read { txn in
                var byChunk: [UInt64: [UInt32]] = [:]
                try tokens.scan(collection: collection.rawValue, txn) { c, t in byChunk[c] = t }
                var input: [(id: UInt64, tokens: [UInt32])] = []
                try chunks.scanChunks(of: collection, txn) { c in input.append((c.id.rawValue, byChunk[c.id.rawValue] ?? [])); return .next }
                return input.sorted { $0.id < $1.id }
            }
        }
        let symbols = input.reduce(1) { $0 + $1.tokens.count + 1 }
        guard symbols < Int(Int32.max) else {
            throw RAGDBError(.invalidInput, "the collection's token ids (\(symbols) symbols) exceed one segment's limit of 2^31 − 1; they stay in their current segments", field: "ngram_index.tokens")
        }
        return try replaceSegments(store, with: input, build: { FMSegment.build(tokens: $0) })
    }
}
