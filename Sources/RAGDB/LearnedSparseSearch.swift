public import RAGDBChunks
import RAGDBSparse
import RAGDBStorage

/// A learned sparse space's impact index held in memory (loaded from LMDB once): postings of
/// quantized weights (impact = round(weight × 256)). Immutable and `Sendable`.
public final class LearnedSparseIndex: Sendable {
    /// The sparse space.
    public let spaceName: String
    let snapshot: SparseSnapshot
    let directory: ChunkDirectory

    init(spaceName: String, snapshot: SparseSnapshot, directory: ChunkDirectory) {
        self.spaceName = spaceName
        self.snapshot = snapshot
        self.directory = directory
    }

    /// Chunks with a vector in the space.
    public var chunkCount: Int { snapshot.documents }
    /// Distinct terms.
    public var termCount: Int { snapshot.terms.count }
    /// Approximate bytes held in memory.
    public var residentBytes: Int { snapshot.residentBytes }
    /// The external id of the document of `chunk`.
    public func documentID(of chunk: ChunkID) -> String? { directory.documentID(of: chunk) }

    /// The `k` chunks with the largest Σ weight(q, t) × impact(t) / 256 over the query's
    /// terms, best first (ties: smaller chunk id). Exact.
    ///
    /// - Complexity: the postings of the query's terms, term at a time; no LMDB access.
    public func search(_ query: [String: Float], k: Int) -> [(chunk: ChunkID, score: Double)] {
        snapshot.searchImpacts(query.map { ($0.key, Double($0.value)) }, k: k).map { (ChunkID(rawValue: $0.chunk), $0.score) }
    }

    /// The same ranking by scoring every posting (the reference for tests).
    public func searchExhaustive(_ query: [String: Float], k: Int) -> [(chunk: ChunkID, score: Double)] {
        snapshot.searchImpactsExhaustive(query.map { ($0.key, Double($0.value)) }, k: k).map { (ChunkID(rawValue: $0.chunk), $0.score) }
    }
}

extension Collection {
    /// Loads sparse space `space`'s impact index into memory.
    ///
    /// - Complexity: one read transaction scanning the space's posting blocks.
    public func loadSparseIndex(space: String) throws(RAGDBError) -> LearnedSparseIndex {
        guard let n = settings.sparseSpaces.firstIndex(where: { $0.name == space }) else {
            let known = settings.sparseSpaces.map(\.name)
            throw RAGDBError(.notFound, "collection \"\(name)\" has no sparse space \"\(space)\"" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"), field: "sparse_space")
        }
        let sparse = database.sparseIndex, store = database.chunkStore
        let collection = id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in
                let snapshot = try sparse.load(collection: collection.rawValue, field: SparseVectorStore.field(ofSpace: UInt16(n)), txn)
                return LearnedSparseIndex(spaceName: space, snapshot: snapshot, directory: try ChunkDirectory.load(store, collection, txn))
            }
        }
    }

    /// The stored sparse vector of chunk `id` in space `space` (weights as quantized:
    /// impact / 256), or nil.
    public func sparseVector(of id: ChunkID, space: String) throws(RAGDBError) -> [String: Float]? {
        guard let n = settings.sparseSpaces.firstIndex(where: { $0.name == space }) else {
            throw RAGDBError(.notFound, "collection \"\(name)\" has no sparse space \"\(space)\"", field: "sparse_space")
        }
        let store = database.sparseVectors
        let collection = self.id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in
                try store.entries(collection: collection.rawValue, space: UInt16(n), chunk: id.rawValue, txn).map { entries in
                    Dictionary(uniqueKeysWithValues: entries.map { ($0.term, Float(Double($0.impact) / SparseVectorStore.scale)) })
                }
            }
        }
    }
}
