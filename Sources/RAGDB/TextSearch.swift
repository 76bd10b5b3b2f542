public import RAGDBChunks
import RAGDBSparse
import RAGDBStorage
import RAGDBText
import Synchronization

/// A collection's BM25 index over chunk text, held in memory (loaded from LMDB once), with
/// the collection's analyzer. Immutable and `Sendable`: share it across threads; load a new
/// one to see later writes.
public final class TextIndex: Sendable {
    let snapshot: SparseSnapshot
    /// The title field (settings `title_weight`), when the collection indexes titles.
    let titleSnapshot: SparseSnapshot?
    /// The weight of the title's BM25 score.
    public let titleWeight: Double
    let analyzer: Analyzer
    let directory: ChunkDirectory
    /// BM25 parameters (Lucene's defaults k1 = 1.2, b = 0.75).
    public let k1: Double, b: Double
    /// Per dense chunk number, BM25's length normaliser for (k1, b).
    let norms: [Double]
    /// The title field's normalisers, and each title position's text position.
    let titleNorms: [Double]
    let titleMap: [Int32]
    /// Reusable score accumulators, one array per concurrent search.
    private let scratch = Mutex<[[Double]]>([])

    /// How a search finds its top k; every method returns the same chunks and scores.
    public enum Method: String, Sendable, CaseIterable {
        /// Term at a time into an array of accumulators (the default: fastest when the index
        /// fits in memory, which it always does here).
        case accumulate
        /// Document at a time with MaxScore dynamic pruning.
        case maxscore
        /// Score every posting into a dictionary (the reference).
        case exhaustive
    }

    init(snapshot: SparseSnapshot, titleSnapshot: SparseSnapshot? = nil, titleWeight: Double = 0, analyzer: Analyzer, k1: Double, b: Double,
         directory: ChunkDirectory) {
        self.snapshot = snapshot
        self.titleSnapshot = titleSnapshot
        self.titleWeight = titleWeight
        self.analyzer = analyzer
        self.directory = directory
        self.k1 = k1
        self.b = b
        self.norms = snapshot.normalizers(BM25(k1: k1, b: b))
        self.titleNorms = titleSnapshot?.normalizers(BM25(k1: k1, b: b)) ?? []
        self.titleMap = titleSnapshot?.positions(in: snapshot) ?? []
    }

    /// Chunks indexed.
    public var documents: Int { snapshot.documents }
    /// Distinct terms.
    public var termCount: Int { snapshot.terms.count }
    /// Approximate bytes the index holds in memory.
    public var residentBytes: Int { snapshot.residentBytes }

    /// The external id of the document that chunk `chunk` belongs to, from memory.
    public func documentID(of chunk: ChunkID) -> String? {
        directory.documentID(of: chunk)
    }

    /// The query's terms, as the index sees them.
    public func terms(of query: String) -> [String] { analyzer.terms(query) }

    /// The `k` chunks with the highest BM25 score for `query`, best first (ties: smaller chunk
    /// id first). Exact: the same results and scores as scoring every matching chunk.
    ///
    /// - Complexity: MaxScore over the query terms' postings; no LMDB access.
    public func search(_ query: String, k: Int, method: Method = .accumulate, allowed: ((UInt64) -> Bool)? = nil) -> [(chunk: ChunkID, score: Double)] {
        let terms = analyzer.terms(query)
        let bm25 = BM25(k1: k1, b: b)
        let hits: [SparseHit]
        if let title = titleSnapshot {
            // With titles, the title field accumulates alongside the text (exact).
            if method == .exhaustive { return searchExhaustive(query, k: k) }
            var buffer = scratch.withLock { $0.popLast() } ?? []
            var second = scratch.withLock { $0.popLast() } ?? []
            let found = snapshot.searchAccumulating(terms, k: k, bm25: bm25, norms: norms, scratch: &buffer, second: title, secondNorms: titleNorms,
                                                    map: titleMap, weight: titleWeight, secondScratch: &second, allowed: allowed)
            scratch.withLock { $0.append(buffer); $0.append(second) }
            return found.map { (ChunkID(rawValue: $0.chunk), $0.score) }
        }
        switch allowed == nil ? method : .accumulate {
        case .accumulate:
            var buffer = scratch.withLock { $0.popLast() } ?? []
            hits = snapshot.searchAccumulating(terms, k: k, bm25: bm25, norms: norms, scratch: &buffer, allowed: allowed)
            scratch.withLock { $0.append(buffer) }
        case .maxscore:
            hits = snapshot.search(terms, k: k, bm25: bm25)
        case .exhaustive:
            hits = snapshot.searchExhaustive(terms, k: k, bm25: bm25)
        }
        return hits.map { (ChunkID(rawValue: $0.chunk), $0.score) }
    }

    /// Postings of the query's distinct terms: the work a search does.
    public func postingCount(of query: String) -> Int {
        let terms = analyzer.terms(query)
        return snapshot.postingCount(terms) + (titleSnapshot?.postingCount(terms) ?? 0)
    }

    /// The same ranking computed by scoring every posting of the query terms (the reference
    /// for tests and benchmarks).
    public func searchExhaustive(_ query: String, k: Int) -> [(chunk: ChunkID, score: Double)] {
        let terms = analyzer.terms(query)
        let bm25 = BM25(k1: k1, b: b)
        guard let title = titleSnapshot else {
            return snapshot.searchExhaustive(terms, k: k, bm25: bm25).map { (ChunkID(rawValue: $0.chunk), $0.score) }
        }
        var scores = snapshot.scores(terms, bm25: bm25)
        for (c, e) in title.scores(terms, bm25: bm25) { scores[c, default: 0] += e * titleWeight }
        let ranked = scores.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(k)
        return ranked.map { (ChunkID(rawValue: $0.key), $0.value) }
    }
}

/// A search result: the chunk, its document's external id, and its score.
public struct SearchResult: Sendable, Hashable {
    /// The chunk.
    public var chunk: Chunk
    /// BM25 score.
    public var score: Double
    /// The chunk's document id.
    public var documentID: String { chunk.documentID }
}

extension Collection {
    /// Loads the collection's text index into memory.
    ///
    /// - Complexity: one read transaction scanning every posting block of the collection.
    public func loadTextIndex(k1: Double = 1.2, b: Double = 0.75) throws(RAGDBError) -> TextIndex {
        guard settings.textIndex else {
            throw RAGDBError(.invalidInput, "collection \"\(name)\" keeps no text index (settings text_index is false)", field: "text_index")
        }
        let sparse = database.sparseIndex
        let collection = id
        let store = database.chunkStore
        // The index and the chunk → document map come from one snapshot.
        let (snapshot, directory) = try rethrowingAsRAGDB {
            try database.env.read { txn in
                let snapshot = try sparse.load(collection: collection.rawValue, field: SparseChanges.textField, txn)
                let titles = settings.titleWeight == nil ? nil : try sparse.load(collection: collection.rawValue, field: SparseChanges.titleField, txn)
                let directory = try ChunkDirectory.load(store, collection, txn)
                return ((snapshot, titles), directory)
            }
        }
        return TextIndex(snapshot: snapshot.0, titleSnapshot: snapshot.1, titleWeight: settings.titleWeight ?? 0, analyzer: settings.analyzer.analyzer,
                         k1: k1, b: b, directory: directory)
    }

    /// Searches `index` (loaded from this collection) and reads the hits' chunks.
    ///
    /// - Complexity: the search, then one read transaction with one look-up and decode per hit.
    public func search(_ query: String, k: Int, in index: TextIndex) throws(RAGDBError) -> [SearchResult] {
        guard k > 0 else { throw RAGDBError(.invalidInput, "k must be at least 1", field: "k") }
        let hits = index.search(query, k: k)
        let store = database.chunkStore
        let collection = id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in
                try hits.compactMap { h in try store.chunk(h.chunk, in: collection, txn).map { SearchResult(chunk: $0, score: h.score) } }
            }
        }
    }
}
