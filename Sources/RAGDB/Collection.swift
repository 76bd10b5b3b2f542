public import RAGDBChunks
import RAGDBStorage
import Foundation
import Synchronization
import RAGDBText
import RAGDBVector
import RAGDBSparse
import RAGDBNgram

/// A chunk supplied by a caller that has already chunked its document.
public struct ChunkInput: Sendable, Hashable {
    /// The chunk's text.
    public var text: String
    /// Its byte range in the document's text; when `nil`, the text is looked up in the
    /// document at or after the previous chunk's start.
    public var span: ByteSpan?
    /// Its length in tokens; when `nil`, counted as ragdb's chunkers count (RAGDBText's
    /// `tokenize`: words, numbers and punctuation marks).
    public var tokenCount: UInt32?
    /// Its own metadata.
    public var metadata: Metadata
    /// Its dense vectors, by space name.
    public var vectors: [String: [Float]]
    /// Its learned sparse vectors, by sparse space name: term → weight (finite, ≥ 0).
    public var sparse: [String: [String: Float]] = [:]
    /// Its token ids from the caller's LLM tokenizer, for the token-id n-gram index
    /// (`NgramSettings.tokens`); stored with the chunk and exported.
    public var tokens: [UInt32]?

    /// Creates a chunk input.
    public init(text: String, span: ByteSpan? = nil, tokenCount: UInt32? = nil, metadata: Metadata = [:],
                vectors: [String: [Float]] = [:]) {
        self.text = text
        self.span = span
        self.tokenCount = tokenCount
        self.metadata = metadata
        self.vectors = vectors
    }
}

/// A document to write.
public struct DocumentInput: Sendable, Hashable {
    /// External id: 1–500 bytes of UTF-8, unique within the collection.
    public var id: String
    /// Optional title.
    public var title: String?
    /// The document's full text (the source that chunk spans point into).
    public var text: String
    /// Typed metadata.
    public var metadata: Metadata
    /// The chunks, when the caller chunked the text; `nil` cuts the text with the
    /// collection's (or the call's) chunking settings.
    public var chunks: [ChunkInput]?
    /// Dense vectors of the whole document, by space name. The document must then make
    /// exactly one chunk (chunker `none`, or one chunk given), which gets them.
    public var vectors: [String: [Float]]
    /// Learned sparse vectors of the whole document (one chunk, as for `vectors`), by sparse
    /// space name: term → weight (finite, ≥ 0).
    public var sparse: [String: [String: Float]] = [:]
    /// Token ids of the whole document (one chunk, as for `vectors`), for the token-id
    /// n-gram index.
    public var tokens: [UInt32]?

    /// Creates a document input.
    public init(id: String, title: String? = nil, text: String, metadata: Metadata = [:], chunks: [ChunkInput]? = nil,
                vectors: [String: [Float]] = [:]) {
        self.id = id
        self.title = title
        self.text = text
        self.metadata = metadata
        self.chunks = chunks
        self.vectors = vectors
    }
}

/// A document validated and cut into chunks, ready to be written by `Collection.write`.
public struct PreparedDocument: Sendable {
    let document: NewDocument
    /// Per chunk, its vectors as (space number, values).
    let vectors: [[(space: UInt16, values: [Float])]]
    /// Per chunk, its sparse vectors as (sparse space number, (term, impact) in byte order).
    var sparse: [[(space: UInt16, entries: [(term: String, impact: UInt16)])]] = []
    /// Per chunk, its token ids, when given.
    var tokens: [[UInt32]?] = []
    /// The document's analyzed terms, and per chunk its (term number, frequency) pairs and its
    /// length in terms.
    let terms: DocumentTerms
    /// Its external id.
    public var id: String { document.id }
    /// How many chunks it was cut into.
    public var chunkCount: Int { document.chunks.count }
}

extension VectorSpace.ElementType {
    var stored: StoredElementType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .int8: .int8
        }
    }
}

extension VectorSpace.Metric {
    var dense: DenseMetric {
        switch self {
        case .cosine: .cosine
        case .dot: .dot
        case .l2: .l2
        }
    }
}

extension ChunkingSettings {
    /// The chunker these settings describe.
    var chunker: Chunker {
        switch strategy {
        case .fixed: .fixed(size: size, overlap: overlap)
        case .sentence: .sentences(size: size)
        case .markdown: .markdown(size: size)
        case .none: .none
        }
    }
}

/// What one write call did.
public struct WriteSummary: Sendable, Hashable, Codable {
    /// New documents.
    public var inserted = 0
    /// Documents whose content changed and were replaced.
    public var replaced = 0
    /// Documents already stored with the same content (nothing written).
    public var unchanged = 0
    /// Chunks written.
    public var chunksWritten = 0

    /// All zero.
    public init() {}
}

/// A collection: a named set of documents and their chunks with shared settings.
///
/// A `Collection` is a small value; every call opens its own transaction, so each mutating
/// call is all or nothing.
public struct Collection: Sendable {
    package let database: Database
    let info: CollectionInfo

    /// The collection's name.
    public var name: String { info.name }
    /// Its settings as stored in the database.
    public var settings: CollectionSettings { info.settings }
    /// Its internal id (the first component of its keys).
    public var id: CollectionID { CollectionID(rawValue: info.id) }
    /// When it was created (seconds since 1970).
    public var created: Int64 { info.created }

    // MARK: Writing

    /// Inserts new documents; fails, writing nothing, if any id already exists.
    ///
    /// - Complexity: one write transaction for the whole batch.
    @discardableResult
    public func insert(_ documents: [DocumentInput], chunking: ChunkingSettings? = nil) throws(RAGDBError) -> WriteSummary {
        try write(documents, replacing: false, chunking: chunking ?? settings.chunking)
    }

    /// Inserts documents, replacing those whose id exists (all their chunks are replaced by
    /// new ones with new ids); unchanged documents are skipped.
    ///
    /// - Complexity: one write transaction for the whole batch; one fingerprint pass per
    ///   document; for each replaced document one decode per old chunk.
    @discardableResult
    public func upsert(_ documents: [DocumentInput], chunking: ChunkingSettings? = nil) throws(RAGDBError) -> WriteSummary {
        try write(documents, replacing: true, chunking: chunking ?? settings.chunking)
    }

    private func write(_ documents: [DocumentInput], replacing: Bool, chunking: ChunkingSettings) throws(RAGDBError) -> WriteSummary {
        // Validate and prepare outside the transaction: the write lock is held only for I/O.
        let prepared = try Self.prepareInParallel(documents, settings: settings, chunking: chunking)
        return try write(prepared, replacing: replacing)
    }

    /// Writes documents prepared with `Collection.prepare(_:chunking:storeSource:)`, in one
    /// transaction: inserts new ones, and replaces (when `replacing`) or rejects existing
    /// ones; unchanged documents are skipped.
    ///
    /// - Complexity: one write transaction; the preparation work is already done.
    @discardableResult
    public func write(_ documents: [PreparedDocument], replacing: Bool) throws(RAGDBError) -> WriteSummary {
        try write(writable(documents), replacing: replacing)
    }

    /// A batch checked and made ready for its write transaction: no document twice, and the
    /// text-index terms of all documents merged (`BatchTerms`), so the transaction only maps
    /// them to chunk ids. `PipelinedWriter` does this on the caller's thread.
    struct WritableBatch: Sendable {
        let documents: [PreparedDocument]
        let terms: BatchTerms?
    }

    /// Checks `documents` and merges their terms; the work before a write transaction that
    /// needs no transaction.
    func writable(_ documents: [PreparedDocument]) throws(RAGDBError) -> WritableBatch {
        var seen = Set<String>()
        for d in documents where !seen.insert(d.id).inserted {
            throw RAGDBError(.invalidInput, "the batch holds this document twice", field: "id", documentID: d.id)
        }
        return WritableBatch(documents: documents, terms: settings.textIndex ? BatchTerms(documents.map(\.terms)) : nil)
    }

    /// Writes a batch made by `writable(_:)` in one transaction.
    func write(_ batch: WritableBatch, replacing: Bool) throws(RAGDBError) -> WriteSummary {
        try writePrepared(batch.documents, terms: batch.terms, replacing: replacing)
    }

    private func writePrepared(_ prepared: [PreparedDocument], terms batchTerms: BatchTerms?, replacing: Bool) throws(RAGDBError) -> WriteSummary {
        let store = database.chunkStore
        let vectorStore = database.vectorStore
        let sparse = database.sparseIndex
        let analyzer = settings.analyzer.analyzer
        let textIndex = settings.textIndex
        let ngram = settings.ngramIndex != nil
        let tokenIndex = settings.ngramIndex?.tokens == true
        let sparseSpaceCount = settings.sparseSpaces.count
        let database = self.database
        let collection = id
        let name = self.name
        return try rethrowingAsRAGDB {
            try database.env.write { txn in
                var summary = WriteSummary()
                // The spaces as stored now: another writer may have added one since this
                // Collection value was made.
                let spaces = try database.currentSpaces(of: name, txn)
                var next = try database.readMeta64(Database.MetaKey.nextChunkID, txn)
                var counters = try store.counters(of: collection, txn)
                var index = SparseChanges()
                var titles = SparseChanges()
                let titleWeight = textIndex ? settings.titleWeight : nil
                var learned = LearnedSparseChanges()
                // Spaces with a dense index get a code for each new vector in this transaction.
                let models = try spaces.map { try vectorStore.model(collection: collection.rawValue, space: $0.number, txn) }
                var assigned: [[ChunkID]] = []
                assigned.reserveCapacity(batchTerms == nil ? 0 : prepared.count)
                for p in prepared {
                    let doc = p.document
                    guard let result = try store.put(doc, replace: replacing, in: collection, nextChunkID: &next, counters: &counters, txn) else {
                        throw RAGDBError(.alreadyExists, "a document with this id exists", field: "id", documentID: doc.id)
                    }
                    switch result.outcome {
                    case .inserted: summary.inserted += 1; summary.chunksWritten += doc.chunks.count
                    case .replaced: summary.replaced += 1; summary.chunksWritten += doc.chunks.count
                    case .unchanged: summary.unchanged += 1
                    }
                    if !result.removed.isEmpty && !spaces.isEmpty {
                        try vectorStore.delete(chunks: result.removed.map(\.rawValue), collection: collection.rawValue, spaceCount: spaces.count, txn)
                    }
                    for (chunk, vectors) in zip(result.assigned, p.vectors) {
                        for v in vectors {
                            try vectorStore.put(v.values, collection: collection.rawValue, space: spaces[Int(v.space)], chunk: chunk.rawValue, model: models[Int(v.space)], txn)
                        }
                    }
                    if sparseSpaceCount > 0 {
                        try learned.remove(result.removed.map(\.rawValue), spaces: sparseSpaceCount, collection: collection.rawValue, database.sparseVectors, txn)
                        for (chunk, list) in zip(result.assigned, p.sparse) {
                            for s in list { try learned.add(chunk.rawValue, space: s.space, entries: s.entries, collection: collection.rawValue, database.sparseVectors, txn) }
                        }
                    }
                    if ngram {
                        try database.ngramStore.remove(chunks: result.removed.map(\.rawValue), collection: collection.rawValue, txn)
                        try database.ngramStore.add(chunks: result.assigned.map(\.rawValue), collection: collection.rawValue, txn)
                    }
                    if tokenIndex {
                        try database.ngramTokenStore.remove(chunks: result.removed.map(\.rawValue), collection: collection.rawValue, txn)
                        try database.ngramTokenStore.add(chunks: result.assigned.map(\.rawValue), collection: collection.rawValue, txn)
                    }
                    if !result.removed.isEmpty {
                        try database.chunkTokens.remove(chunks: result.removed.map(\.rawValue), collection: collection.rawValue, txn)
                    }
                    for (chunk, list) in zip(result.assigned, p.tokens) {
                        if let list { try database.chunkTokens.put(list, chunk: chunk.rawValue, collection: collection.rawValue, txn) }
                    }
                    if textIndex {
                        for (chunk, text) in zip(result.removed, result.removedTexts) {
                            index.remove(chunk.rawValue, Self.termFrequencies(text, analyzer))
                        }
                        if batchTerms != nil {
                            assigned.append(result.assigned)
                        } else if !result.assigned.isEmpty {
                            index.add(result.assigned, p.terms)
                        }
                    }
                    if titleWeight != nil {
                        if let old = result.removedTitle { titles.removeTitle(result.removed, Self.termFrequencies(old, analyzer)) }
                        if let title = doc.title, !result.assigned.isEmpty { titles.addTitle(result.assigned, Self.termFrequencies(title, analyzer)) }
                    }
                    for (chunk, m) in zip(result.removed, result.removedMetadata) where !m.isEmpty {
                        try database.metadataIndex.update(chunk: chunk.rawValue, metadata: m, add: false, collection: collection.rawValue, txn)
                    }
                    for (chunk, c) in zip(result.assigned, doc.chunks) {
                        let m = MetadataIndex.effective(document: doc.metadata, chunk: c.metadata)
                        if !m.isEmpty { try database.metadataIndex.update(chunk: chunk.rawValue, metadata: m, add: true, collection: collection.rawValue, txn) }
                    }
                }
                if let batchTerms { index.add(batchTerms, assigned: assigned, documents: prepared.map(\.terms)) }
                try index.apply(sparse, collection: collection.rawValue, txn)
                try titles.apply(sparse, collection: collection.rawValue, field: SparseChanges.titleField, txn)
                try learned.apply(sparse, collection: collection.rawValue, txn)
                try store.setCounters(counters, of: collection, txn)
                try database.writeMeta64(next, Database.MetaKey.nextChunkID, txn)
                return summary
            }
        }
    }

    /// Deletes documents by id with all their chunks, in one transaction.
    ///
    /// - Returns: how many of the ids existed.
    @discardableResult
    public func delete(_ ids: [String]) throws(RAGDBError) -> Int {
        let store = database.chunkStore
        let collection = id
        let name = self.name
        return try rethrowingAsRAGDB {
            try database.env.write { txn in
                var counters = try store.counters(of: collection, txn)
                var deleted = 0
                var learned = LearnedSparseChanges()
                let spaceCount = try database.currentSpaces(of: name, txn).count
                let analyzer = settings.analyzer.analyzer
                var index = SparseChanges()
                var titles = SparseChanges()
                for id in ids {
                    guard let (removed, texts, metadata) = try store.delete(id, in: collection, counters: &counters, txn) else { continue }
                    for (chunk, m) in zip(removed.chunkIDs, metadata) where !m.isEmpty {
                        try database.metadataIndex.update(chunk: chunk.rawValue, metadata: m, add: false, collection: collection.rawValue, txn)
                    }
                    if spaceCount > 0 {
                        try database.vectorStore.delete(chunks: removed.chunkIDs.map(\.rawValue), collection: collection.rawValue, spaceCount: spaceCount, txn)
                    }
                    if settings.ngramIndex != nil {
                        try database.ngramStore.remove(chunks: removed.chunkIDs.map(\.rawValue), collection: collection.rawValue, txn)
                    }
                    if settings.ngramIndex?.tokens == true {
                        try database.ngramTokenStore.remove(chunks: removed.chunkIDs.map(\.rawValue), collection: collection.rawValue, txn)
                    }
                    try database.chunkTokens.remove(chunks: removed.chunkIDs.map(\.rawValue), collection: collection.rawValue, txn)
                    if !settings.sparseSpaces.isEmpty {
                        try learned.remove(removed.chunkIDs.map(\.rawValue), spaces: settings.sparseSpaces.count, collection: collection.rawValue, database.sparseVectors, txn)
                    }
                    if settings.textIndex {
                        for (chunk, text) in zip(removed.chunkIDs, texts) {
                            index.remove(chunk.rawValue, Self.termFrequencies(text, analyzer))
                        }
                        if settings.titleWeight != nil, let title = removed.title {
                            titles.removeTitle(removed.chunkIDs, Self.termFrequencies(title, analyzer))
                        }
                    }
                    deleted += 1
                }
                try index.apply(database.sparseIndex, collection: collection.rawValue, txn)
                try titles.apply(database.sparseIndex, collection: collection.rawValue, field: SparseChanges.titleField, txn)
                try learned.apply(database.sparseIndex, collection: collection.rawValue, txn)
                try store.setCounters(counters, of: collection, txn)
                return deleted
            }
        }
    }

    // MARK: Reading

    /// The document `id`, or `nil`.
    ///
    /// - Complexity: one read transaction, one look-up and decode.
    public func document(_ id: String) throws(RAGDBError) -> Document? {
        let store = database.chunkStore
        let collection = self.id
        return try rethrowingAsRAGDB { try database.env.read { txn in try store.document(id, in: collection, txn) } }
    }

    /// The document `id` with its chunks in order, or `nil`.
    ///
    /// - Complexity: one read transaction; one look-up and decode per chunk.
    public func documentWithChunks(_ id: String) throws(RAGDBError) -> (document: Document, chunks: [Chunk])? {
        let store = database.chunkStore
        let collection = self.id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in
                guard let doc = try store.document(id, in: collection, txn) else { return nil }
                var chunks: [Chunk] = []
                for cid in doc.chunkIDs {
                    guard let c = try store.chunk(cid, in: collection, txn) else {
                        throw RAGDBError(.corrupt, "document lists chunk \(cid), which is missing", documentID: id)
                    }
                    chunks.append(c)
                }
                return (doc, chunks)
            }
        }
    }

    /// The chunk `id`, or `nil`.
    ///
    /// - Complexity: one read transaction, one look-up and decode.
    public func chunk(_ id: ChunkID) throws(RAGDBError) -> Chunk? {
        let store = database.chunkStore
        let collection = self.id
        return try rethrowingAsRAGDB { try database.env.read { txn in try store.chunk(id, in: collection, txn) } }
    }

    /// The token ids stored with chunk `id` (`ChunkInput.tokens`), or nil when it has none.
    ///
    /// - Complexity: one read transaction, one look-up and decode.
    public func tokens(of id: ChunkID) throws(RAGDBError) -> [UInt32]? {
        let tokens = database.chunkTokens
        let collection = self.id
        return try rethrowingAsRAGDB { try database.env.read { txn in try tokens.tokens(chunk: id.rawValue, collection: collection.rawValue, txn) } }
    }

    /// The chunks `ids` (`nil` for each one that does not exist), from one snapshot.
    ///
    /// - Complexity: one read transaction, one look-up and decode per id.
    public func chunks(_ ids: [ChunkID]) throws(RAGDBError) -> [Chunk?] {
        let store = database.chunkStore
        let collection = self.id
        return try rethrowingAsRAGDB { try database.env.read { txn in try ids.map { try store.chunk($0, in: collection, txn) } } }
    }

    /// The stored source text of document `id`, or `nil` when absent or not stored.
    public func source(of id: String) throws(RAGDBError) -> String? {
        let store = database.chunkStore
        let collection = self.id
        return try rethrowingAsRAGDB { try database.env.read { txn in try store.source(of: id, in: collection, txn) } }
    }

    /// The dense vector of chunk `id` in space `space`, decoded to floats, or `nil`.
    ///
    /// - Complexity: one read transaction and one look-up; decodes in place from the map.
    /// - Throws: `.notFound` for an unknown space.
    public func vector(of id: ChunkID, in space: String) throws(RAGDBError) -> [Float]? {
        guard let n = settings.spaces.firstIndex(where: { $0.name == space }) else {
            throw RAGDBError(.notFound, "collection \"\(name)\" has no vector space \"\(space)\"")
        }
        let s = storedSpaces[n]
        let store = database.vectorStore
        let collection = self.id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in try store.vector(collection: collection.rawValue, space: s, chunk: id.rawValue, txn) }
        }
    }

    /// Calls `body` with each chunk in id order, from `start`, in one read snapshot, until it
    /// returns `false`.
    ///
    /// - Complexity: one cursor step and one decode per chunk.
    public func forEachChunk(from start: ChunkID? = nil, _ body: (Chunk) throws -> Bool) throws(RAGDBError) {
        let store = database.chunkStore
        let collection = id
        try rethrowingAsRAGDB {
            try database.env.read { txn in
                try store.scanChunks(of: collection, from: start, txn) { try body($0) ? .next : .stop }
            }
        }
    }

    /// Calls `body` with each document in id order (bytewise), in one read snapshot, until
    /// it returns `false`.
    public func forEachDocument(_ body: (Document) throws -> Bool) throws(RAGDBError) {
        let store = database.chunkStore
        let collection = id
        try rethrowingAsRAGDB {
            try database.env.read { txn in
                try store.scanDocuments(of: collection, txn) { try body($0) ? .next : .stop }
            }
        }
    }

    /// A document as `forEachDocument(withChunks:_:)` hands it out.
    public struct Export: Sendable {
        /// The document.
        public var document: Document
        /// Its chunks in order (empty unless chunks were asked for).
        public var chunks: [Chunk]
        /// Per chunk, its dense vectors by space name (empty unless chunks were asked for).
        public var vectors: [[String: [Float]]]
        /// Per chunk, its token ids when it has them (empty unless chunks were asked for).
        public var tokens: [[UInt32]?] = []
        /// Its stored text, or `nil` when the collection does not keep sources.
        public var source: String?
    }

    /// Calls `body` with each document in id order — with its chunks and their vectors when
    /// `withChunks` is set, and its stored text — all from one snapshot, until it returns
    /// `false`. What `ragdb export` reads.
    ///
    /// - Complexity: one cursor step and decode per document; one look-up and decode per
    ///   chunk, per vector and per source.
    public func forEachDocument(withChunks: Bool, _ body: (Export) throws -> Bool) throws(RAGDBError) {
        let store = database.chunkStore
        let vectors = database.vectorStore
        let tokens = database.chunkTokens
        let collection = id
        let names = settings.spaces.map(\.name)
        let spaces = storedSpaces
        try rethrowingAsRAGDB {
            try database.env.read { txn in
                try store.scanDocuments(of: collection, txn) { doc in
                    var item = Export(document: doc, chunks: [], vectors: [], source: nil)
                    if withChunks {
                        for cid in doc.chunkIDs {
                            guard let c = try store.chunk(cid, in: collection, txn) else {
                                throw RAGDBError(.corrupt, "document lists chunk \(cid), which is missing", documentID: doc.id)
                            }
                            item.chunks.append(c)
                            var v: [String: [Float]] = [:]
                            for (name, space) in zip(names, spaces) {
                                v[name] = try vectors.vector(collection: collection.rawValue, space: space, chunk: cid.rawValue, txn)
                            }
                            item.vectors.append(v)
                            item.tokens.append(try tokens.tokens(chunk: cid.rawValue, collection: collection.rawValue, txn))
                        }
                    }
                    item.source = doc.sourceAvailable ? try store.source(of: doc.id, in: collection, txn) : nil
                    return try body(item) ? .next : .stop
                }
            }
        }
    }

    /// Document, chunk and byte counts, kept exact by every write.
    ///
    /// - Complexity: one read transaction and one look-up.
    public func counters() throws(RAGDBError) -> Counters {
        let store = database.chunkStore
        let collection = id
        return try rethrowingAsRAGDB { try database.env.read { txn in try store.counters(of: collection, txn) } }
    }

    // MARK: Validation

    /// Checks `document` as a write would (id length, metadata values, chunk spans), without
    /// writing: for importers that report errors per input record.
    ///
    /// - Complexity: one pass over the text per chunk whose span must be found.
    public func validate(_ document: DocumentInput) throws(RAGDBError) {
        _ = try Self.prepare(document, settings: settings, chunking: ChunkingSettings(strategy: .none))
    }

    /// Validates `document` and cuts it into chunks as a write would: the caller's chunks
    /// with their spans checked, or `chunking` applied to its text. For importers that
    /// prepare documents in parallel before one transaction writes them.
    ///
    /// - Complexity: one pass over the text to tokenize and cut it; one string per chunk.
    public static func prepare(_ document: DocumentInput, settings: CollectionSettings, chunking: ChunkingSettings? = nil) throws(RAGDBError) -> PreparedDocument {
        var doc = try prepareText(document, storeSource: settings.storeSource, chunking: chunking ?? settings.chunking)
        // Vectors: each must name a space of the collection, have its dimension, be finite.
        func check(_ vectors: [String: [Float]], field: String) throws(RAGDBError) -> [(space: UInt16, values: [Float])] {
            var out: [(space: UInt16, values: [Float])] = []
            for (name, values) in vectors.sorted(by: { $0.key < $1.key }) {
                guard let n = settings.spaces.firstIndex(where: { $0.name == name }) else {
                    throw RAGDBError(.invalidInput, "the collection has no vector space \"\(name)\"", field: "\(field).\(name)", documentID: document.id)
                }
                let dims = settings.spaces[n].dimensions
                guard values.count == dims else {
                    throw RAGDBError(.invalidInput, "expected \(dims) numbers, got \(values.count)", field: "\(field).\(name)", documentID: document.id)
                }
                guard values.allSatisfy({ $0.isFinite }) else {
                    throw RAGDBError(.invalidInput, "NaN and infinity are not allowed", field: "\(field).\(name)", documentID: document.id)
                }
                if settings.spaces[n].elementType == .float16, let i = values.firstIndex(where: { abs($0) > Float(Float16.greatestFiniteMagnitude) }) {
                    throw RAGDBError(.invalidInput, "element \(i) is outside float16's range (±65504)", field: "\(field).\(name)", documentID: document.id)
                }
                out.append((UInt16(n), values))
            }
            return out
        }
        var vectors: [[(space: UInt16, values: [Float])]] = Array(repeating: [], count: doc.chunks.count)
        if let inputs = document.chunks {
            for (i, c) in inputs.enumerated() where !c.vectors.isEmpty { vectors[i] = try check(c.vectors, field: "chunks[\(i)].vectors") }
        }
        if !document.vectors.isEmpty {
            guard doc.chunks.count == 1 else {
                throw RAGDBError(.invalidInput, "document vectors need exactly one chunk, the document makes \(doc.chunks.count) (use chunker none, or give vectors per chunk)", field: "vectors", documentID: document.id)
            }
            vectors[0] = try check(document.vectors, field: "vectors")
        }
        // Sparse vectors: a known sparse space, finite non-negative weights, quantized.
        func checkSparse(_ sparse: [String: [String: Float]], field: String) throws(RAGDBError) -> [(space: UInt16, entries: [(term: String, impact: UInt16)])] {
            var out: [(space: UInt16, entries: [(term: String, impact: UInt16)])] = []
            for (name, weights) in sparse.sorted(by: { $0.key < $1.key }) {
                guard let n = settings.sparseSpaces.firstIndex(where: { $0.name == name }) else {
                    throw RAGDBError(.invalidInput, "the collection has no sparse space \"\(name)\"", field: "\(field).\(name)", documentID: document.id)
                }
                var entries: [(term: String, impact: UInt16)] = []
                for (term, weight) in weights {
                    guard weight.isFinite, weight >= 0 else {
                        throw RAGDBError(.invalidInput, "weight of \"\(term)\" must be finite and not negative", field: "\(field).\(name)", documentID: document.id)
                    }
                    guard !term.isEmpty, term.utf8.count <= 255 else {
                        throw RAGDBError(.invalidInput, "terms must be 1–255 bytes", field: "\(field).\(name)", documentID: document.id)
                    }
                    if let q = SparseVectorStore.quantize(weight) { entries.append((term, q)) }
                }
                entries.sort { $0.term.utf8.lexicographicallyPrecedes($1.term.utf8) }
                out.append((UInt16(n), entries))
            }
            return out
        }
        var sparse: [[(space: UInt16, entries: [(term: String, impact: UInt16)])]] = Array(repeating: [], count: doc.chunks.count)
        if let inputs = document.chunks {
            for (i, c) in inputs.enumerated() where !c.sparse.isEmpty { sparse[i] = try checkSparse(c.sparse, field: "chunks[\(i)].sparse") }
        }
        if !document.sparse.isEmpty {
            guard doc.chunks.count == 1 else {
                throw RAGDBError(.invalidInput, "document sparse vectors need exactly one chunk, the document makes \(doc.chunks.count)", field: "sparse", documentID: document.id)
            }
            sparse[0] = try checkSparse(document.sparse, field: "sparse")
        }
        // Token ids: per chunk, or for the document when it makes one chunk.
        var tokens: [[UInt32]?] = Array(repeating: nil, count: doc.chunks.count)
        if let inputs = document.chunks {
            for (i, c) in inputs.enumerated() where c.tokens != nil { tokens[i] = c.tokens }
        }
        if let t = document.tokens {
            guard doc.chunks.count == 1 else {
                throw RAGDBError(.invalidInput, "document tokens need exactly one chunk, the document makes \(doc.chunks.count) (use chunker none, or give tokens per chunk)", field: "tokens", documentID: document.id)
            }
            guard tokens[0] == nil else {
                throw RAGDBError(.invalidInput, "tokens are given both for the document and for its chunk", field: "tokens", documentID: document.id)
            }
            tokens[0] = t
        }
        // The vectors and tokens are part of the document's content for upserts, as they will
        // be stored (so that re-importing exported float16 or int8 vectors finds them unchanged).
        var w = [UInt8]()
        for (i, list) in tokens.enumerated() {
            guard let list else { continue }
            withUnsafeBytes(of: (UInt32(i) | 0x8000_0000).littleEndian) { w.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(list.count).littleEndian) { w.append(contentsOf: $0) }
            for t in list { withUnsafeBytes(of: t.littleEndian) { w.append(contentsOf: $0) } }
        }
        for list in sparse {
            for s in list {
                withUnsafeBytes(of: (s.space | 0x8000).littleEndian) { w.append(contentsOf: $0) }
                for e in s.entries { w.append(contentsOf: e.term.utf8); w.append(0); withUnsafeBytes(of: e.impact.littleEndian) { w.append(contentsOf: $0) } }
            }
        }
        for list in vectors {
            for v in list {
                withUnsafeBytes(of: v.space.littleEndian) { w.append(contentsOf: $0) }
                w.append(contentsOf: VectorStore.encode(v.values, as: settings.spaces[Int(v.space)].elementType.stored))
            }
        }
        if !w.isEmpty { doc.attachmentsFingerprint = XXHash.xxh64(w) }
        do {
            try ChunkStore.encodeValues(&doc)
        } catch {
            throw RAGDBError(.invalidInput, error.detail, documentID: document.id)
        }
        let terms = settings.textIndex
            ? DocumentTerms(doc, analyzer: settings.analyzer.analyzer, chunksFollowTokens: document.chunks == nil)
            : DocumentTerms()
        var prepared = PreparedDocument(document: doc, vectors: vectors, terms: terms)
        prepared.sparse = sparse
        prepared.tokens = tokens
        return prepared
    }

    /// Prepares `documents` (validation, chunking, compression) on every core, in order.
    ///
    /// - Complexity: the work of `prepare` per document, divided among
    ///   `ProcessInfo.activeProcessorCount` threads when there are at least 32 documents.
    package static func prepareInParallel(_ documents: [DocumentInput], settings: CollectionSettings, chunking: ChunkingSettings) throws(RAGDBError) -> [PreparedDocument] {
        let n = documents.count
        let workers = n >= 32 ? max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8)) : 1
        if workers == 1 {
            var out: [PreparedDocument] = []
            out.reserveCapacity(n)
            for d in documents { out.append(try prepare(d, settings: settings, chunking: chunking)) }
            return out
        }
        let parts = Mutex<[[Result<PreparedDocument, RAGDBError>]]>(Array(repeating: [], count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let local = documents[n * w / workers..<n * (w + 1) / workers].map { d in
                Result { () throws(RAGDBError) -> PreparedDocument in try prepare(d, settings: settings, chunking: chunking) }
            }
            parts.withLock { $0[w] = local }
        }
        var out: [PreparedDocument] = []
        out.reserveCapacity(n)
        for part in parts.withLock({ $0 }) { for r in part { out.append(try r.get()) } }
        return out
    }

    /// The terms of `text` with their frequencies, and their total count.
    static func termFrequencies(_ text: String, _ analyzer: Analyzer) -> (frequencies: [String: UInt32], length: UInt32) {
        var tf: [String: UInt32] = [:]
        var n: UInt32 = 0
        analyzer.forEachTerm(text) { tf[$0, default: 0] += 1; n += 1 }
        return (tf, n)
    }

    /// The collection's spaces as the vector store numbers them.
    var storedSpaces: [StoredSpace] {
        settings.spaces.enumerated().map { i, s in StoredSpace(number: UInt16(i), dimensions: s.dimensions, elementType: s.elementType.stored, metric: s.metric.dense) }
    }

    static func prepareText(_ doc: DocumentInput, storeSource: Bool, chunking: ChunkingSettings) throws(RAGDBError) -> NewDocument {
        let idBytes = doc.id.utf8.count
        guard (1...ChunkStore.maximumDocumentIDLength).contains(idBytes) else {
            throw RAGDBError(.invalidInput, "document id must be 1–\(ChunkStore.maximumDocumentIDLength) bytes of UTF-8, got \(idBytes)", field: "id")
        }
        try validate(doc.metadata, field: "metadata", documentID: doc.id)
        let sourceLength = doc.text.utf8.count
        var chunks: [NewChunk] = []
        if let inputs = doc.chunks {
            let source = Array(doc.text.utf8)
            var searchFrom = 0
            for (i, c) in inputs.enumerated() {
                let field = "chunks[\(i)]"
                try validate(c.metadata, field: field + ".metadata", documentID: doc.id)
                let text = Array(c.text.utf8)
                let span: ByteSpan
                if let given = c.span {
                    guard given.end <= UInt64(source.count) else {
                        throw RAGDBError(.invalidInput, "span \(given) ends past the document's \(source.count) bytes", field: field + ".span", documentID: doc.id)
                    }
                    guard given.count == UInt64(text.count), source[Int(given.start)..<Int(given.end)].elementsEqual(text) else {
                        throw RAGDBError(.invalidInput, "span \(given) does not hold the chunk's text", field: field + ".span", documentID: doc.id)
                    }
                    span = given
                } else {
                    guard let at = find(text, in: source, from: searchFrom) else {
                        throw RAGDBError(.invalidInput, "the chunk's text does not occur in the document's text; give its span", field: field + ".text", documentID: doc.id)
                    }
                    span = ByteSpan(start: UInt64(at), end: UInt64(at + text.count))
                }
                searchFrom = Int(span.start)
                chunks.append(NewChunk(text: c.text, span: span, tokenCount: c.tokenCount ?? UInt32(tokenize(text).count), metadata: c.metadata))
            }
        } else {
            // Cut the text where it lies (no copy of the document's bytes).
            var text = doc.text
            chunks = text.withUTF8 { source in
                chunking.chunker.chunks(of: source).map { span in
                    // A chunk that is the whole text shares the document's string.
                    let piece = span.start == 0 && span.end == source.count
                        ? doc.text : String(decoding: UnsafeBufferPointer(rebasing: source[span.start..<span.end]), as: UTF8.self)
                    return NewChunk(text: piece, span: ByteSpan(start: UInt64(span.start), end: UInt64(span.end)),
                                    tokenCount: UInt32(span.tokenCount))
                }
            }
        }
        return NewDocument(id: doc.id, title: doc.title, source: storeSource ? doc.text : nil,
                           sourceLength: UInt64(sourceLength), metadata: doc.metadata, chunks: chunks)
    }

    static func validate(_ metadata: Metadata, field: String, documentID: String) throws(RAGDBError) {
        for (name, value) in metadata {
            guard (1...255).contains(name.utf8.count) else {
                throw RAGDBError(.invalidInput, "metadata names must be 1–255 bytes", field: field, documentID: documentID)
            }
            if case .double(let d) = value, !d.isFinite {
                throw RAGDBError(.invalidInput, "NaN and infinity are not allowed", field: "\(field).\(name)", documentID: documentID)
            }
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count - start else { return nil }
        if needle.isEmpty { return start }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == needle[0] && haystack[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
