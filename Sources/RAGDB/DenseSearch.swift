public import RAGDBChunks
import RAGDBStorage
public import RAGDBVector
import Dispatch
import Foundation
import Synchronization

/// One operator of an executed plan, with what it actually did.
public struct PlanStage: Sendable, Hashable, Codable {
    /// Operator: `ivf-codes` (compact codes in memory), `exact-scan` (every stored vector),
    /// `bm25` (sparse index in memory), `verify` (exact similarity on disk-resident vectors)
    /// or `fuse`.
    public var op: String
    /// Parameters, in words (`probes 8 of 256 lists, int8 codes`).
    public var detail: String
    /// Candidates the operator received (0 for a first stage).
    public var input: Int
    /// Candidates it passed on.
    public var output: Int
    /// Codes, vectors or postings it scored.
    public var scored: Int
    /// Bytes of full-precision vectors read from the map.
    public var vectorBytesRead: Int
    /// Bytes of compact codes read from memory.
    public var codeBytesRead: Int
    /// Wall time in microseconds.
    public var microseconds: Double

    enum CodingKeys: String, CodingKey {
        case op, detail, input, output, scored, microseconds
        case vectorBytesRead = "vector_bytes_read"
        case codeBytesRead = "code_bytes_read"
    }

    init(_ op: String, _ detail: String, input: Int, _ s: DenseStageStatistics, since start: UInt64) {
        self.op = op
        self.detail = detail
        self.input = input
        output = s.produced
        scored = s.scored
        vectorBytesRead = s.vectorBytesRead
        codeBytesRead = s.codeBytesRead
        microseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
    }
}

/// A ranked chunk from a dense or hybrid plan, with the score of each stage that saw it.
public struct RankedChunk: Sendable, Hashable {
    /// The chunk.
    public var chunk: ChunkID
    /// Final score (higher is better; its scale depends on the fusion).
    public var score: Double
    /// Exact dense similarity, when verified.
    public var dense: Double?
    /// BM25 score, when the sparse stage proposed it.
    public var bm25: Double?

    /// Creates a ranked chunk.
    public init(chunk: ChunkID, score: Double, dense: Double? = nil, bm25: Double? = nil) {
        self.chunk = chunk
        self.score = score
        self.dense = dense
        self.bm25 = bm25
    }
}

/// How a hybrid plan combines the sparse and the dense scores of its candidates.
public enum Fusion: Sendable, Hashable, CustomStringConvertible {
    /// The fusion in words, for plans.
    public var description: String {
        switch self {
        case .dense: "dense score only"
        case .weighted(let a): "weighted: \(a) × dense + \(1 - a) × bm25, min-max normalised"
        case .reciprocalRank(let k): "reciprocal rank, k \(Int(k))"
        }
    }

    /// The exact dense similarity alone (sparse search only chooses the candidates).
    case dense
    /// α × min-max-normalised dense + (1 − α) × min-max-normalised BM25, over the candidates.
    case weighted(alpha: Double)
    /// Reciprocal-rank fusion: Σ 1 / (k + rank) over the two rankings (k = 60 in the
    /// original paper; ranks start at 1).
    case reciprocalRank(k: Double)
}

/// A collection's dense index for one vector space, held in memory: the compact codes (when
/// the space has a trained index) and the chunk → document map. Full-precision vectors stay
/// in LMDB and are read in place by the verify stage. Immutable and `Sendable`.
public final class DenseIndex: Sendable {
    /// The space's name.
    public let spaceName: String
    let space: StoredSpace
    /// The in-memory codes, or `nil` when the space has no trained index (then plans scan
    /// the stored vectors exactly).
    public let snapshot: DenseSnapshot?
    let directory: ChunkDirectory

    init(spaceName: String, space: StoredSpace, snapshot: DenseSnapshot?, directory: ChunkDirectory) {
        self.spaceName = spaceName
        self.space = space
        self.snapshot = snapshot
        self.directory = directory
    }

    /// Dimensions of the space.
    public var dimensions: Int { space.dimensions }
    /// Bytes held in memory by the codes and the model (0 without a trained index).
    public var residentBytes: Int { snapshot?.residentBytes ?? 0 }
    /// The external id of the document of `chunk`, from memory.
    public func documentID(of chunk: ChunkID) -> String? { directory.documentID(of: chunk) }
    /// The SIMD level the vector kernels use on this CPU (`avx512`, `avx2+fma` or `scalar`).
    public static var kernelLevel: String { Kernels.levelName() }
}

/// Chunk id → document external id, from one snapshot: chunk ids in ascending order with
/// their document's index. A collection's chunk ids are usually one contiguous run (ids are
/// handed out in order and a collection's import takes a run), and then a look-up is one
/// subtraction; otherwise a binary search. No hashing: a dictionary's hash of each id cost
/// about a tenth of a dense query on manpages-dev (BENCHMARKS.md).
struct ChunkDirectory: Sendable {
    /// Chunk ids, ascending.
    let chunks: [UInt64]
    /// The document index (into `documentIDs`) of each of `chunks`.
    let documents: [Int32]
    let documentIDs: [String]
    /// Whether `chunks` is the run first…first + count − 1.
    let contiguous: Bool

    init(pairs: [(chunk: UInt64, document: Int32)], documentIDs: [String]) {
        let sorted = pairs.sorted { $0.chunk < $1.chunk }
        chunks = sorted.map(\.chunk)
        documents = sorted.map(\.document)
        self.documentIDs = documentIDs
        contiguous = chunks.isEmpty || chunks[chunks.count - 1] - chunks[0] == UInt64(chunks.count - 1)
    }

    /// The document id of `chunk`, or nil when no live document has it.
    ///
    /// - Complexity: O(1) for a contiguous run of ids, else O(log n).
    func documentID(of chunk: ChunkID) -> String? {
        let c = chunk.rawValue
        guard let first = chunks.first, c >= first, c <= chunks[chunks.count - 1] else { return nil }
        if contiguous { return documentIDs[Int(documents[Int(c - first)])] }
        var lo = 0, hi = chunks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if chunks[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < chunks.count && chunks[lo] == c ? documentIDs[Int(documents[lo])] : nil
    }

    static func load(_ store: ChunkStore, _ collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable) throws -> ChunkDirectory {
        var pairs: [(chunk: UInt64, document: Int32)] = []
        var ids: [String] = []
        try store.scanDocuments(of: collection, txn) { doc in
            for c in doc.chunkIDs { pairs.append((c.rawValue, Int32(ids.count))) }
            ids.append(doc.id)
            return .next
        }
        return ChunkDirectory(pairs: pairs, documentIDs: ids)
    }
}

/// What `buildDenseIndex` made.
public struct DenseIndexSummary: Sendable, Hashable, Codable {
    /// Vectors coded.
    public var vectors: Int
    /// IVF lists.
    public var lists: Int
    /// Code kind (`int8`, `pca8`, `pq` or `binary`).
    public var codes: String
    /// Bytes of one code.
    public var codeBytes: Int
    /// Vectors the model was trained on.
    public var trainedOn: Int
    /// Wall time in seconds.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case vectors, lists, codes, seconds
        case codeBytes = "code_bytes"
        case trainedOn = "trained_on"
    }
}

extension Collection {
    func storedSpace(named name: String) throws(RAGDBError) -> StoredSpace {
        guard let i = settings.spaces.firstIndex(where: { $0.name == name }) else {
            let known = settings.spaces.map(\.name)
            throw RAGDBError(.notFound, "collection \"\(self.name)\" has no vector space \"\(name)\"" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"), field: "space")
        }
        return storedSpaces[i]
    }

    /// Trains a dense index for space `space` (IVF lists and compact codes, see
    /// docs/dense.md) from its stored vectors and writes it, replacing any previous one, in one
    /// transaction. Later inserts are coded as they are written; deletes remove their codes.
    ///
    /// - Complexity: k-means over a sample (at most `options.sampleLimit` vectors) on all
    ///   cores, then one code per vector.
    @discardableResult
    public func buildDenseIndex(space: String, options: DenseModel.Options = .init()) throws(RAGDBError) -> DenseIndexSummary {
        let stored = try storedSpace(named: space)
        let store = database.vectorStore
        let collection = id.rawValue
        let start = DispatchTime.now().uptimeNanoseconds
        let (model, count) = try rethrowingAsRAGDB {
            try database.env.write { txn in
                let m = try store.buildIndex(collection: collection, space: stored, options: options, txn)
                return (m, try store.count(collection: collection, space: stored.number, txn))
            }
        }
        guard let model else {
            throw RAGDBError(.invalidInput, "space \"\(space)\" of collection \"\(name)\" holds no vectors to train on", field: "space")
        }
        return DenseIndexSummary(vectors: count, lists: model.lists, codes: model.kind.name, codeBytes: model.codeBytes,
                                 trainedOn: model.trainedOn, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Loads space `space`'s dense index (codes and chunk → document map) into memory.
    ///
    /// - Complexity: one read transaction scanning the space's codes and the documents.
    public func loadDenseIndex(space: String) throws(RAGDBError) -> DenseIndex {
        let stored = try storedSpace(named: space)
        let store = database.vectorStore
        let chunks = database.chunkStore
        let collection = id
        return try rethrowingAsRAGDB {
            try database.env.read { txn in
                let snapshot = try store.loadIndex(collection: collection.rawValue, space: stored.number, txn)
                return DenseIndex(spaceName: space, space: stored, snapshot: snapshot, directory: try ChunkDirectory.load(chunks, collection, txn))
            }
        }
    }

    func checkQuery(_ vector: [Float], _ index: DenseIndex, k: Int) throws(RAGDBError) {
        guard k > 0 else { throw RAGDBError(.invalidInput, "k must be at least 1", field: "k") }
        guard vector.count == index.dimensions else {
            throw RAGDBError(.invalidInput, "query vector has \(vector.count) dimensions; space \"\(index.spaceName)\" has \(index.dimensions)", field: "vector")
        }
        guard vector.allSatisfy(\.isFinite) else { throw RAGDBError(.invalidInput, "query vector holds NaN or infinity", field: "vector") }
    }

    /// Dense-only search, coarse then verify: the in-memory codes propose `candidates` chunks
    /// from the `probes` nearest IVF lists, and exact similarity on the full-precision vectors
    /// (read in place from LMDB) picks the best `k`. Without a trained index, or with
    /// `exact`, every stored vector is scored instead.
    ///
    /// - Parameters:
    ///   - candidates: coarse candidates to verify (default: `DenseSnapshot.defaultCandidates`).
    ///   - probes: IVF lists to scan (default: `DenseSnapshot.defaultProbes`).
    /// - Returns: the best `k`, and the executed plan with each stage's counts, bytes and time.
    /// - Complexity: codes: probes/lists of the codes plus `candidates` B-tree look-ups;
    ///   exact: one pass over every vector of the space.
    public func searchDense(
        _ vector: [Float], in index: DenseIndex, k: Int, candidates: Int? = nil, probes: Int? = nil, exact: Bool = false
    ) throws(RAGDBError) -> (results: [RankedChunk], plan: [PlanStage]) {
        try checkQuery(vector, index, k: k)
        let store = database.vectorStore
        let collection = id.rawValue
        let space = index.space
        var plan: [PlanStage] = []
        if index.snapshot == nil || exact {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let (hits, s, threads) = try exactScan(vector, k: k, space: space)
            plan.append(PlanStage("exact-scan", "every stored \(space.elementType) vector of space \(index.spaceName), \(threads) thread\(threads == 1 ? "" : "s")", input: 0, s, since: t0))
            return (hits.map { RankedChunk(chunk: ChunkID(rawValue: $0.chunk), score: Double($0.score), dense: Double($0.score), bm25: nil) }, plan)
        }
        let hits: [DenseHit] = try rethrowingAsRAGDB {
            try database.env.read { txn in
                guard let snapshot = index.snapshot else { return [] }
                let n = max(k, candidates ?? snapshot.defaultCandidates(k: k))
                let t0 = DispatchTime.now().uptimeNanoseconds
                let (coarse, cs) = snapshot.search(vector, candidates: n, probes: probes)
                let lists = snapshot.model.lists
                plan.append(PlanStage("ivf-codes", "\(snapshot.model.kind.name) codes, \(cs.listsProbed) of \(lists) lists, keep \(n)", input: 0, cs, since: t0))
                let t1 = DispatchTime.now().uptimeNanoseconds
                let (verified, vs) = try store.verify(vector, chunks: coarse.map(\.chunk), k: k, collection: collection, space: space, txn)
                plan.append(PlanStage("verify", "exact \(space.metric) on stored \(space.elementType) vectors, keep \(k)", input: coarse.count, vs, since: t1))
                return verified
            }
        }
        return (hits.map { RankedChunk(chunk: ChunkID(rawValue: $0.chunk), score: Double($0.score), dense: Double($0.score), bm25: nil) }, plan)
    }

    /// Exact scan of every stored vector of `space`, split by chunk id between two threads
    /// (two read transactions on the same snapshot) when the space is large; one thread when it
    /// is small, the machine has one core, or a write lands between the two snapshots.
    ///
    /// - Returns: the best `k`, the figures, and the threads used.
    func exactScan(_ vector: [Float], k: Int, space: StoredSpace) throws(RAGDBError) -> (hits: [DenseHit], statistics: DenseStageStatistics, threads: Int) {
        let store = database.vectorStore
        let collection = id.rawValue
        let env = database.env
        let (range, snapshot): (ClosedRange<UInt64>?, Int) = try rethrowingAsRAGDB {
            try env.read { txn in (try store.chunkRange(collection: collection, space: space.number, txn), txn.snapshotID) }
        }
        let single = { () throws(RAGDBError) -> (hits: [DenseHit], statistics: DenseStageStatistics, threads: Int) in
            let (h, s) = try rethrowingAsRAGDB { try env.read { txn in try store.exactSearch(vector, k: k, collection: collection, space: space, txn) } }
            return (h, s, 1)
        }
        guard let range, range.upperBound - range.lowerBound >= 16_384, ProcessInfo.processInfo.activeProcessorCount > 1 else { return try single() }
        let mid = range.lowerBound + (range.upperBound - range.lowerBound) / 2
        let parts = [range.lowerBound...mid, (mid + 1)...range.upperBound]
        let results = Mutex<[(hits: [DenseHit], statistics: DenseStageStatistics)?]>([nil, nil])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let part = try? env.read { txn -> (hits: [DenseHit], statistics: DenseStageStatistics)? in
                guard txn.snapshotID == snapshot else { return nil }
                return try store.exactSearch(vector, k: k, collection: collection, space: space, chunks: parts[i], txn)
            }
            results.withLock { $0[i] = part ?? nil }
        }
        let both = results.withLock { $0 }
        guard let a = both[0], let b = both[1] else { return try single() }
        var top = TopK(k)
        for h in a.hits + b.hits { top.offer(h.chunk, h.score) }
        var s = DenseStageStatistics()
        s.scored = a.statistics.scored + b.statistics.scored
        s.vectorBytesRead = a.statistics.vectorBytesRead + b.statistics.vectorBytesRead
        let hits = top.sorted()
        s.produced = hits.count
        return (hits, s, 2)
    }

    /// Exact dense search for many queries in one pass over the stored vectors, with the
    /// register-tiled batch kernel (float32 spaces; others score query by query).
    ///
    /// - Complexity: one pass over the space's vectors; queries × vectors × d multiply-adds.
    public func searchDenseExactBatch(_ vectors: [[Float]], in index: DenseIndex, k: Int) throws(RAGDBError) -> [[RankedChunk]] {
        for v in vectors { try checkQuery(v, index, k: k) }
        let store = database.vectorStore
        let collection = id.rawValue
        let space = index.space
        let hits = try rethrowingAsRAGDB {
            try database.env.read { txn in try store.exactSearchBatch(vectors, k: k, collection: collection, space: space, txn) }
        }
        return hits.map { $0.map { RankedChunk(chunk: ChunkID(rawValue: $0.chunk), score: Double($0.score), dense: Double($0.score), bm25: nil) } }
    }

    /// Hybrid search, sparse then verify: BM25 on the in-memory text index proposes
    /// `candidates` chunks, exact dense similarity rescores them from the disk-resident
    /// vectors, and `fusion` combines the two.
    ///
    /// - Complexity: one BM25 search, `candidates` B-tree look-ups and SIMD passes.
    public func searchHybrid(
        text: String, vector: [Float], textIndex: TextIndex, denseIndex: DenseIndex, k: Int,
        candidates: Int = 100, fusion: Fusion = .reciprocalRank(k: 60)
    ) throws(RAGDBError) -> (results: [RankedChunk], plan: [PlanStage]) {
        try checkQuery(vector, denseIndex, k: k)
        let n = max(k, candidates)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let sparse = textIndex.search(text, k: n)
        var ss = DenseStageStatistics()
        ss.produced = sparse.count
        var plan = [PlanStage("bm25", "k1 \(textIndex.k1), b \(textIndex.b), keep \(n)", input: 0, ss, since: t0)]
        let fused = try verifyAndFuse(sparse.map { ($0.chunk.rawValue, $0.score) }, vector: vector, denseIndex: denseIndex, k: k, fusion: fusion, plan: &plan)
        return (fused, plan)
    }

    /// Hybrid search with a learned sparse space as the coarse stage: the space's impact index
    /// (in memory) proposes `candidates` chunks for `sparse`, exact dense similarity rescores
    /// them from the disk-resident vectors, and `fusion` combines the two (the `bm25` field of
    /// the results holds the sparse score).
    ///
    /// - Complexity: one impact search, `candidates` B-tree look-ups and SIMD passes.
    public func searchHybrid(
        sparse: [String: Float], sparseIndex: LearnedSparseIndex, vector: [Float], denseIndex: DenseIndex, k: Int,
        candidates: Int = 100, fusion: Fusion = .reciprocalRank(k: 60)
    ) throws(RAGDBError) -> (results: [RankedChunk], plan: [PlanStage]) {
        try checkQuery(vector, denseIndex, k: k)
        let n = max(k, candidates)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let proposed = sparseIndex.search(sparse, k: n)
        var ss = DenseStageStatistics()
        ss.produced = proposed.count
        var plan = [PlanStage("learned-sparse", "space \(sparseIndex.spaceName), \(sparse.count) query terms, keep \(n)", input: 0, ss, since: t0)]
        let fused = try verifyAndFuse(proposed.map { ($0.chunk.rawValue, $0.score) }, vector: vector, denseIndex: denseIndex, k: k, fusion: fusion, plan: &plan)
        return (fused, plan)
    }

    /// The shared tail of hybrid plans: exact dense similarity of the `proposed` candidates
    /// (best first, with their sparse scores) from the disk-resident vectors, then `fusion`;
    /// appends the verify and fuse stages to `plan`.
    private func verifyAndFuse(
        _ proposed: [(chunk: UInt64, score: Double)], vector: [Float], denseIndex: DenseIndex, k: Int, fusion: Fusion,
        plan: inout [PlanStage]
    ) throws(RAGDBError) -> [RankedChunk] {
        let store = database.vectorStore
        let collection = id.rawValue
        let space = denseIndex.space
        let t1 = DispatchTime.now().uptimeNanoseconds
        let (verified, vs) = try rethrowingAsRAGDB {
            try database.env.read { txn in
                try store.verify(vector, chunks: proposed.map(\.chunk), k: proposed.count, collection: collection, space: space, txn)
            }
        }
        plan.append(PlanStage("verify", "exact \(space.metric) on stored \(space.elementType) vectors", input: proposed.count, vs, since: t1))
        let t2 = DispatchTime.now().uptimeNanoseconds
        let fused = Self.fuse(sparse: proposed, dense: verified.map { ($0.chunk, Double($0.score)) }, k: k, fusion: fusion)
        var fs = DenseStageStatistics()
        fs.scored = proposed.count
        fs.produced = fused.count
        plan.append(PlanStage("fuse", fusion.description, input: proposed.count, fs, since: t2))
        return fused
    }

    /// Combines a sparse and a dense ranking of the same candidates (each best first).
    static func fuse(sparse: [(UInt64, Double)], dense: [(UInt64, Double)], k: Int, fusion: Fusion) -> [RankedChunk] {
        var bm25: [UInt64: (score: Double, rank: Int)] = [:]
        for (i, (c, s)) in sparse.enumerated() { bm25[c] = (s, i + 1) }
        var vec: [UInt64: (score: Double, rank: Int)] = [:]
        for (i, (c, s)) in dense.enumerated() { vec[c] = (s, i + 1) }
        func range(_ xs: some Sequence<Double>) -> (Double, Double) {
            var lo = Double.infinity, hi = -Double.infinity
            for x in xs { lo = min(lo, x); hi = max(hi, x) }
            return (lo, hi)
        }
        let (slo, shi) = range(sparse.map(\.1)), (dlo, dhi) = range(dense.map(\.1))
        func norm(_ x: Double, _ lo: Double, _ hi: Double) -> Double { hi > lo ? (x - lo) / (hi - lo) : 1 }
        var out: [RankedChunk] = []
        out.reserveCapacity(bm25.count)
        for (c, s) in sparse {
            let d = vec[c]
            let score: Double
            switch fusion {
            case .dense: score = d?.score ?? -.infinity
            case .weighted(let alpha):
                score = alpha * (d.map { norm($0.score, dlo, dhi) } ?? 0) + (1 - alpha) * norm(s, slo, shi)
            case .reciprocalRank(let rk):
                score = 1 / (rk + Double(bm25[c]!.rank)) + (d.map { 1 / (rk + Double($0.rank)) } ?? 0)
            }
            out.append(RankedChunk(chunk: ChunkID(rawValue: c), score: score, dense: d?.score, bm25: s))
        }
        out.sort { $0.score > $1.score || ($0.score == $1.score && $0.chunk.rawValue < $1.chunk.rawValue) }
        return Array(out.prefix(k))
    }
}
