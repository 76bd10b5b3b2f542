import RAGDBChunks
import RAGDBStorage
import RAGDBVector
import RAGDBNgram
import RAGDBSparse

/// Sizes of one collection.
public struct CollectionStatistics: Sendable, Hashable, Codable {
    /// Collection name.
    public var name: String
    /// Internal id.
    public var id: UInt32
    /// Documents stored.
    public var documents: UInt64
    /// Chunks stored.
    public var chunks: UInt64
    /// UTF-8 bytes of chunk text.
    public var textBytes: UInt64
    /// Bytes of chunk values as stored (framed, LZ4 where it pays).
    public var storedChunkBytes: UInt64
    /// UTF-8 bytes of stored source documents.
    public var sourceBytes: UInt64
    /// Vector spaces.
    public var spaces: [VectorSpace]
    /// The BM25 text index, when the collection keeps one.
    public var textIndex: TextIndexStatistics?
    /// The dense index of each space that has one.
    public var denseIndexes: [DenseIndexStatistics] = []
    /// The n-gram FM-index, when the collection keeps one.
    public var ngramIndex: NgramIndexStatistics?
    /// The token-id n-gram index, when the collection keeps one.
    public var tokenNgramIndex: NgramIndexStatistics?
    /// The impact index of each learned sparse space.
    public var sparseIndexes: [SparseIndexStatistics] = []

    enum CodingKeys: String, CodingKey {
        case name, id, documents, chunks, spaces
        case denseIndexes = "dense_indexes"
        case ngramIndex = "ngram_index"
        case tokenNgramIndex = "token_ngram_index"
        case sparseIndexes = "sparse_indexes"
        case textIndex = "text_index"
        case textBytes = "text_bytes"
        case storedChunkBytes = "stored_chunk_bytes"
        case sourceBytes = "source_bytes"
    }
}

/// Sizes of a collection's BM25 text index.
public struct TextIndexStatistics: Sendable, Hashable, Codable {
    /// Distinct terms.
    public var terms: Int
    /// Postings (term, chunk) pairs.
    public var postings: Int
    /// Bytes the index takes in memory once loaded (`Collection.loadTextIndex`): its term
    /// strings and five numbers per posting.
    public var residentBytes: Int

    enum CodingKeys: String, CodingKey {
        case terms, postings
        case residentBytes = "resident_bytes"
    }
}

/// Sizes of one space's dense index.
public struct DenseIndexStatistics: Sendable, Hashable, Codable {
    /// The space.
    public var space: String
    /// Code kind (`int8`, `pq`, `binary`).
    public var codes: String
    /// IVF lists.
    public var lists: Int
    /// Vectors coded.
    public var vectors: Int
    /// Bytes the index takes in memory once loaded (`Collection.loadDenseIndex`): codes, ids,
    /// norms, list offsets and the model.
    public var residentBytes: Int

    enum CodingKeys: String, CodingKey {
        case space, codes, lists, vectors
        case residentBytes = "resident_bytes"
    }
}

/// Sizes of a learned sparse space's impact index.
public struct SparseIndexStatistics: Sendable, Hashable, Codable {
    /// The sparse space.
    public var space: String
    /// Distinct terms.
    public var terms: Int
    /// Postings.
    public var postings: Int
    /// Bytes the index takes in memory once loaded (`Collection.loadSparseIndex`).
    public var residentBytes: Int

    enum CodingKeys: String, CodingKey {
        case space, terms, postings
        case residentBytes = "resident_bytes"
    }
}

/// Sizes of a collection's n-gram FM-index.
public struct NgramIndexStatistics: Sendable, Hashable, Codable {
    /// Segments.
    public var segments: Int
    /// Bytes of the stored segments (what `Collection.loadNgramIndex` holds in memory;
    /// `withNgramIndex` reads them in place).
    public var segmentBytes: Int
    /// Chunks masked as deleted in segments.
    public var deadChunks: Int
    /// Chunks not yet in a segment.
    public var pendingChunks: Int

    enum CodingKeys: String, CodingKey {
        case segments
        case segmentBytes = "segment_bytes"
        case deadChunks = "dead_chunks"
        case pendingChunks = "pending_chunks"
    }
}

/// LMDB statistics of one table.
public struct TableSummary: Sendable, Hashable, Codable {
    /// Table name (`main` for LMDB's main database).
    public var name: String
    /// Entries.
    public var entries: Int
    /// B-tree depth.
    public var depth: Int
    /// Branch pages.
    public var branchPages: Int
    /// Leaf pages.
    public var leafPages: Int
    /// Overflow pages.
    public var overflowPages: Int
    /// Pages × page size.
    public var bytes: Int

    enum CodingKeys: String, CodingKey {
        case name, entries, depth, bytes
        case branchPages = "branch_pages"
        case leafPages = "leaf_pages"
        case overflowPages = "overflow_pages"
    }
}

/// Everything `ragdb stats` reports.
public struct DatabaseStatistics: Sendable, Hashable, Codable {
    /// Directory.
    public var path: String
    /// On-disk format version.
    public var formatVersion: UInt32
    /// Page size in bytes.
    public var pageSize: Int
    /// Current map size in bytes (address space reserved, not disk).
    public var mapSize: Int
    /// Apparent size of `data.mdb`.
    public var fileBytes: Int
    /// Bytes allocated on disk for `data.mdb`.
    public var allocatedBytes: Int
    /// Per collection, by name.
    public var collections: [CollectionStatistics]
    /// Per table, by name.
    public var tables: [TableSummary]

    enum CodingKeys: String, CodingKey {
        case path, collections, tables
        case formatVersion = "format_version"
        case pageSize = "page_size"
        case mapSize = "map_size"
        case fileBytes = "file_bytes"
        case allocatedBytes = "allocated_bytes"
    }
}

extension Database {
    /// Sizes of the database, its collections and its tables, from one snapshot.
    ///
    /// - Complexity: one read transaction; one look-up per collection and one `mdb_stat`
    ///   per table. Reads no documents.
    public func statistics() throws(RAGDBError) -> DatabaseStatistics {
        let collections = try self.collections()
        let store = chunkStore
        return try rethrowingAsRAGDB {
            try env.read { txn in
                var cs: [CollectionStatistics] = []
                for c in collections {
                    let k = try store.counters(of: c.id, txn)
                    var text: TextIndexStatistics?
                    if c.settings.textIndex {
                        let s = try sparseIndex.size(collection: c.id.rawValue, field: SparseChanges.textField, txn)
                        text = TextIndexStatistics(terms: s.terms, postings: s.postings, residentBytes: s.residentBytes)
                    }
                    var stats = CollectionStatistics(
                        name: c.name, id: c.id.rawValue, documents: k.documents, chunks: k.chunks, textBytes: k.textBytes,
                        storedChunkBytes: k.storedChunkBytes, sourceBytes: k.sourceBytes, spaces: c.settings.spaces, textIndex: text)
                    for (i, space) in c.settings.spaces.enumerated() {
                        guard let m = try vectorStore.model(collection: c.id.rawValue, space: UInt16(i), txn) else { continue }
                        let n = try vectorStore.codeCount(collection: c.id.rawValue, space: UInt16(i), txn)
                        stats.denseIndexes.append(DenseIndexStatistics(
                            space: space.name, codes: m.kind.name, lists: m.lists, vectors: n,
                            residentBytes: n * (m.residentCodeBytesPerRow + 12) + (m.lists + 1) * 8 + m.residentBytes))
                    }
                    for (i, space) in c.settings.sparseSpaces.enumerated() {
                        let s = try sparseIndex.size(collection: c.id.rawValue, field: SparseVectorStore.field(ofSpace: UInt16(i)), txn)
                        stats.sparseIndexes.append(SparseIndexStatistics(space: space.name, terms: s.terms, postings: s.postings, residentBytes: s.residentBytes))
                    }
                    if c.settings.ngramIndex != nil {
                        let n = try ngramStore.counts(collection: c.id.rawValue, txn)
                        stats.ngramIndex = NgramIndexStatistics(segments: n.segments, segmentBytes: try ngramStore.segmentBytes(collection: c.id.rawValue, txn),
                                                                deadChunks: n.dead, pendingChunks: n.pending)
                    }
                    if c.settings.ngramIndex?.tokens == true {
                        let n = try ngramTokenStore.counts(collection: c.id.rawValue, txn)
                        stats.tokenNgramIndex = NgramIndexStatistics(segments: n.segments, segmentBytes: try ngramTokenStore.segmentBytes(collection: c.id.rawValue, txn),
                                                                     deadChunks: n.dead, pendingChunks: n.pending)
                    }
                    cs.append(stats)
                }
                var tables: [TableSummary] = []
                let main = try txn.statistics(of: nil)
                tables.append(TableSummary(name: "main", entries: main.entries, depth: main.depth, branchPages: main.branchPages,
                                           leafPages: main.leafPages, overflowPages: main.overflowPages, bytes: main.bytes))
                for name in Database.allTables.sorted() {
                    guard let t = try env.table(name, create: false) else { continue }
                    let s = try txn.statistics(of: t)
                    tables.append(TableSummary(name: name, entries: s.entries, depth: s.depth, branchPages: s.branchPages,
                                               leafPages: s.leafPages, overflowPages: s.overflowPages, bytes: s.bytes))
                }
                let files = env.fileSizes()
                return DatabaseStatistics(
                    path: path, formatVersion: Database.formatVersion, pageSize: env.pageSize, mapSize: env.mapSize,
                    fileBytes: files.apparent, allocatedBytes: files.allocated, collections: cs, tables: tables)
            }
        }
    }
}
