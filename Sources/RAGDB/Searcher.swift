import RAGDBChunks
import RAGDBStorage
import RAGDBVector
import Foundation
import Synchronization

/// One operator of a query plan: what it does, what the planner expected, and (after a run)
/// what happened.
public struct PlanOperator: Sendable, Hashable, Codable {
    /// The logical operator: `filter`, `bm25`, `learned-sparse`, `ngram`, `ann-codes`,
    /// `exact-scan`, `post-filter`, `dense-verify`, `fuse`, `limit` or `assemble`.
    public var op: String
    /// Its parameters in words.
    public var detail: String
    /// Rows the planner expected it to produce.
    public var estimatedRows: Int
    /// Bytes the planner expected it to read (postings, codes, index entries, vectors).
    public var estimatedBytes: Int
    /// Rows in, after a run.
    public var inputRows: Int?
    /// Rows out, after a run.
    public var actualRows: Int?
    /// Bytes read, after a run.
    public var bytesRead: Int?
    /// Time, after a run.
    public var microseconds: Double?

    enum CodingKeys: String, CodingKey {
        case op, detail
        case estimatedRows = "estimated_rows", estimatedBytes = "estimated_bytes", inputRows = "input_rows"
        case actualRows = "actual_rows", bytesRead = "bytes_read", microseconds
    }
}

/// A query plan: the operators in execution order, the reasons for the choices, and the
/// statistics they came from.
public struct QueryPlan: Sendable, Hashable, Codable {
    /// The operators in the order they run.
    public var operators: [PlanOperator]
    /// Why the planner chose this shape (filter placement, dense strategy), one line each.
    public var notes: [String]
    /// Whether the plan was executed (actual figures present).
    public var analyzed: Bool

    /// The plan as an indented text table (EXPLAIN, or EXPLAIN ANALYZE with actuals).
    public func render() -> String {
        var header = ["operator", "detail", "est rows", "est bytes"]
        if analyzed { header += ["in", "out", "bytes", "ms"] }
        var rows: [[String]] = []
        for o in operators {
            var r = [o.op, o.detail, String(o.estimatedRows), Self.bytes(o.estimatedBytes)]
            if analyzed {
                r += [o.inputRows.map(String.init) ?? "-", o.actualRows.map(String.init) ?? "-",
                      o.bytesRead.map(Self.bytes) ?? "-", o.microseconds.map { String(format: "%.3f", $0 / 1000) } ?? "-"]
            }
            rows.append(r)
        }
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line) + notes.map { "-- " + $0 }).joined(separator: "\n")
    }

    static func bytes(_ n: Int) -> String {
        n >= 10 << 20 ? "\(n >> 20) MiB" : n >= 10 << 10 ? "\(n >> 10) KiB" : "\(n) B"
    }
}

/// The query planner and executor of one collection: holds the collection's in-memory
/// indexes (BM25, dense codes, learned sparse, n-gram), loaded on first use, and runs
/// `Query` values against them with one plan each. `ragdb search` and `ragdb shell` both go
/// through it.
///
/// A `Searcher` sees the indexes as of when it loaded them; make a new one to see later
/// writes. `Sendable`: share it between threads.
public final class Searcher: Sendable {
    /// The collection.
    public let collection: Collection
    private let cache = Mutex(Cache())

    struct Cache: @unchecked Sendable {
        var text: TextIndex?
        var dense: [String: DenseIndex] = [:]
        var sparse: [String: LearnedSparseIndex] = [:]
        var ngram: NgramIndex?
    }

    /// A planner over `collection`'s indexes (nothing is loaded yet).
    public init(collection: Collection) { self.collection = collection }

    /// The BM25 index (loaded once).
    public func textIndex() throws(RAGDBError) -> TextIndex {
        if let t = cache.withLock({ $0.text }) { return t }
        let t = try collection.loadTextIndex()
        cache.withLock { $0.text = t }
        return t
    }

    /// The dense index of `space` (loaded once).
    public func denseIndex(_ space: String) throws(RAGDBError) -> DenseIndex {
        if let d = cache.withLock({ $0.dense[space] }) { return d }
        let d = try collection.loadDenseIndex(space: space)
        cache.withLock { $0.dense[space] = d }
        return d
    }

    /// The learned sparse index of `space` (loaded once).
    public func sparseIndex(_ space: String) throws(RAGDBError) -> LearnedSparseIndex {
        if let s = cache.withLock({ $0.sparse[space] }) { return s }
        let s = try collection.loadSparseIndex(space: space)
        cache.withLock { $0.sparse[space] = s }
        return s
    }

    /// The n-gram index (loaded once).
    public func ngramIndex() throws(RAGDBError) -> NgramIndex {
        if let n = cache.withLock({ $0.ngram }) { return n }
        let n = try collection.loadNgramIndex()
        cache.withLock { $0.ngram = n }
        return n
    }

    // MARK: Planning

    /// How the filter is applied.
    enum FilterPlacement: String { case none, first, after }
    /// How the dense leg runs.
    enum DenseStrategy { case none, ann, exact, exactAllowed, verifyOnly }

    struct Decision {
        var plan: QueryPlan
        var placement: FilterPlacement
        var selectivity: Double
        var dense: DenseStrategy
        var denseSpace: String?
        var depth: Int
        var chunkCount: Int
    }

    /// The plan the planner would run for `query`, with estimates (EXPLAIN).
    ///
    /// - Complexity: reads statistics (counters, field statistics, posting counts); runs
    ///   nothing.
    public func explain(_ query: Query) throws(RAGDBError) -> QueryPlan {
        try decide(query).plan
    }

    func decide(_ q: Query) throws(RAGDBError) -> Decision {
        try validate(q)
        let n = Int(try collection.counters().chunks)
        let depth = max(q.k, q.candidates)
        var ops: [PlanOperator] = []
        var notes: [String] = []
        func op(_ name: String, _ detail: String, rows: Int, bytes: Int) {
            ops.append(PlanOperator(op: name, detail: detail, estimatedRows: rows, estimatedBytes: bytes))
        }
        // Filter placement: materialise the allowed set from the metadata index first (cost ∝
        // matching entries), or let the coarse stages run deeper and check each candidate's
        // stored metadata after (cost ∝ candidates × a chunk read, about 20 index entries).
        var placement = FilterPlacement.none
        var selectivity = 1.0
        if let f = q.filter {
            selectivity = max(0, min(1, try estimateSelectivity(f, chunks: n)))
            let matches = Int((selectivity * Double(n)).rounded(.up))
            let firstCost = Double(matches)
            let afterCost = 20 * Double(depth) / max(selectivity, 1.0 / Double(max(n, 1)))
            placement = firstCost <= afterCost ? .first : .after
            notes.append(String(format: "filter %@: estimated selectivity %.4f (%d of %d chunks); filter first costs ~%.0f index entries, after ~%.0f → %@",
                                f.description, selectivity, matches, n, firstCost, afterCost / 20 * 20, placement == .first ? "first" : "after"))
            if placement == .first { op("filter", "\(f) via metadata index", rows: matches, bytes: matches * 32) }
        }
        let legDepth = placement == .after ? min(max(n, depth), Int((Double(depth) / max(selectivity, 0.01)).rounded(.up))) : depth
        let allowedEstimate = placement == .none ? n : Int((selectivity * Double(n)).rounded(.up))
        // Coarse legs.
        if let text = q.text, !text.isEmpty {
            if collection.settings.textIndex {
                let postings = try textIndex().postingCount(of: text)
                op("bm25", "terms \(try textIndex().terms(of: text).count), postings \(postings), keep \(legDepth)\(placement == .first ? ", allowed set inside" : "")",
                   rows: min(legDepth, postings), bytes: postings * 8)
            } else {
                notes.append("the collection has no text index: the text is not used for BM25")
            }
        }
        for (space, terms) in q.sparse.sorted(by: { $0.key < $1.key }) {
            op("learned-sparse", "space \(space), \(terms.count) terms, keep \(legDepth)", rows: legDepth, bytes: legDepth * 8)
        }
        if !q.ngrams.isEmpty {
            op("ngram", "SEAL scoring of \(q.ngrams.count) n-grams, keep \(legDepth)", rows: legDepth, bytes: q.ngrams.count * 64)
        }
        // Dense.
        var dense = DenseStrategy.none
        let denseSpace = q.vectors.keys.sorted().first
        let sparseLegs = ops.filter { ["bm25", "learned-sparse", "ngram"].contains($0.op) }.count
        if denseSpace != nil && sparseLegs > 0 {
            // Hybrid (BiDR): the sparse legs propose, dense similarity verifies their candidates.
            dense = .verifyOnly
            notes.append("dense: verifies the candidates the sparse stages propose (hybrid)")
        } else if let space = denseSpace {
            let index = try denseIndex(space)
            let d = index.dimensions
            let vectorBytes = d * (index.space.elementType == .float32 ? 4 : index.space.elementType == .float16 ? 2 : 1)
            let exactCost = n * vectorBytes
            if let snap = index.snapshot, !q.exactDense {
                let lists = snap.model.lists
                // Filter first: only the allowed share of each probed list counts, so probe 1/s
                // times more lists. Filter after: the depth grows instead (legDepth).
                let probes = depth >= snap.count ? lists : min(lists, Int((Double(q.probes ?? snap.defaultProbes) / (placement == .first ? max(selectivity, 0.01) : 1)).rounded(.up)))
                let codeBytes = snap.count * probes / max(lists, 1) * snap.model.scannedBytesPerRow
                    + (snap.model.kind == .pca8 ? DenseSnapshot.defaultRescored(candidates: legDepth) * snap.model.codeBytes : 0)
                let annCost = codeBytes + legDepth * vectorBytes
                if placement == .first && allowedEstimate * vectorBytes <= annCost {
                    dense = .exactAllowed
                    notes.append("dense: \(allowedEstimate) allowed vectors read exactly (\(QueryPlan.bytes(allowedEstimate * vectorBytes))) cost less than the codes (\(QueryPlan.bytes(annCost)))")
                    op("exact-scan", "space \(space): exact \(index.space.metric) over the allowed chunks' stored vectors", rows: min(depth, allowedEstimate), bytes: allowedEstimate * vectorBytes)
                } else {
                    dense = .ann
                    op("ann-codes", "space \(space): \(snap.model.kind.name) codes, \(probes) of \(lists) lists\(placement == .first ? ", allowed set inside the traversal" : ""), keep \(legDepth)",
                       rows: legDepth, bytes: codeBytes)
                }
            } else {
                dense = placement == .first ? .exactAllowed : .exact
                op("exact-scan", "space \(space): exact \(index.space.metric) over \(placement == .first ? "the allowed chunks" : "every stored vector")",
                   rows: depth, bytes: placement == .first ? allowedEstimate * vectorBytes : exactCost)
            }
        }
        let legs = ops.filter { ["bm25", "learned-sparse", "ngram", "ann-codes", "exact-scan"].contains($0.op) }.count
        let union = min(n, legs * legDepth)
        if placement == .after, let f = q.filter {
            op("post-filter", "\(f) on each candidate's stored metadata", rows: Int(Double(union) * selectivity), bytes: union * 256)
        }
        if let space = denseSpace, dense == .ann || dense == .verifyOnly {
            let index = try denseIndex(space)
            let vb = index.dimensions * 4
            op("dense-verify", "exact \(index.space.metric) on the candidates' stored vectors (space \(space))", rows: union, bytes: union * vb)
        }
        if legs + (dense == .verifyOnly ? 1 : 0) > 1 { op("fuse", q.fusion.description, rows: union, bytes: 0) }
        if let budget = q.budget {
            op("assemble", "budget \(budget) tokens: coverage + relevance − redundancy − cost, greedy by gain per token", rows: q.k, bytes: 0)
        } else {
            op("limit", "k \(q.k)", rows: min(q.k, allowedEstimate), bytes: 0)
        }
        if legs == 0 { throw RAGDBError(.invalidInput, "the query has nothing to search with: give text, a vector, sparse terms or n-grams", field: "query") }
        return Decision(plan: QueryPlan(operators: ops, notes: notes, analyzed: false), placement: placement, selectivity: selectivity,
                        dense: dense, denseSpace: denseSpace, depth: depth, chunkCount: n)
    }

    func validate(_ q: Query) throws(RAGDBError) {
        guard q.k >= 1 else { throw RAGDBError(.invalidInput, "k must be at least 1", field: "k") }
        guard q.candidates >= 1 else { throw RAGDBError(.invalidInput, "candidates must be at least 1", field: "candidates") }
        if let b = q.budget, b < 1 { throw RAGDBError(.invalidInput, "the budget must be at least 1 token", field: "budget") }
        for space in q.vectors.keys where !collection.settings.spaces.contains(where: { $0.name == space }) {
            throw RAGDBError(.invalidInput, "the collection has no vector space \"\(space)\"", field: "vector")
        }
        for space in q.sparse.keys where !collection.settings.sparseSpaces.contains(where: { $0.name == space }) {
            throw RAGDBError(.invalidInput, "the collection has no sparse space \"\(space)\"", field: "sparse")
        }
        if !q.ngrams.isEmpty && collection.settings.ngramIndex == nil {
            throw RAGDBError(.invalidInput, "the collection has no n-gram index", field: "ngram")
        }
    }

    /// The planner's estimate of the share of chunks that pass `filter`, from the metadata
    /// index's per-field statistics (entries, chunks, distinct values, numeric bounds).
    public func estimateSelectivity(_ filter: MetadataFilter, chunks n: Int) throws(RAGDBError) -> Double {
        guard n > 0 else { return 0 }
        let db = collection.database
        let cid = collection.id.rawValue
        func stats(_ field: String) throws -> MetadataIndex.FieldStatistics? {
            try db.env.read { txn in try db.metadataIndex.statistics(field: field, collection: cid, txn) }
        }
        func estimate(_ f: MetadataFilter) throws -> Double {
            switch f {
            case .compare(let field, let op, let value):
                guard let s = try stats(field) else { return 0 }
                let present = Double(s.chunks) / Double(n)
                let eq = s.distinct > 0 ? Double(s.entries) / Double(s.distinct) / Double(n) : 0
                switch op {
                case .equal: return min(present, eq)
                case .notEqual: return max(0, present - eq)
                default:
                    guard let x = MetadataFilter.number(value), s.maximum > s.minimum else { return present / 3 }
                    let below = max(0, min(1, (x - s.minimum) / (s.maximum - s.minimum)))
                    return present * ((op == .less || op == .lessOrEqual) ? below : 1 - below)
                }
            case .oneOf(let field, let values):
                return min(1, try values.reduce(0) { $0 + (try estimate(.compare(field, .equal, $1))) })
            case .prefix(let field, _):
                guard let s = try stats(field) else { return 0 }
                return Double(s.chunks) / Double(n) / 10
            case .and(let parts): return try parts.reduce(1) { $0 * (try estimate($1)) }
            case .or(let parts): return 1 - (try parts.reduce(1) { $0 * (1 - (try estimate($1))) })
            case .not(let inner): return 1 - (try estimate(inner))
            }
        }
        return try rethrowingAsRAGDB { try estimate(filter) }
    }

    /// The chunks that pass `filter`, from the metadata index (NOT and != complement within
    /// the collection's chunks).
    ///
    /// - Complexity: one range scan per comparison, set operations over the matches.
    public func allowedChunks(_ filter: MetadataFilter) throws(RAGDBError) -> Set<UInt64> {
        let db = collection.database
        let cid = collection.id.rawValue
        let index = db.metadataIndex
        var universe: Set<UInt64>?
        func all() throws -> Set<UInt64> {
            if let u = universe { return u }
            var u = Set<UInt64>()
            try db.env.read { txn in
                try db.chunkStore.scanDocuments(of: collection.id, txn) { doc in
                    for c in doc.chunkIDs { u.insert(c.rawValue) }
                    return .next
                }
            }
            universe = u
            return u
        }
        func eval(_ f: MetadataFilter, _ txn: borrowing ReadTransaction) throws -> Set<UInt64> {
            switch f {
            case .compare(let field, let op, let value):
                var out = Set<UInt64>()
                var tags: [(MetadataIndex.Tag, MetadataValue)] = []
                switch value {
                case .string: tags = [(.string, value)]
                case .bool: tags = [(.bool, value)]
                case .int(let i): tags = [(.int, value), (.double, .double(Double(i)))]
                case .double(let d):
                    tags = [(.double, value)]
                    if d.rounded() == d, abs(d) < 9e18 { tags.append((.int, .int(Int64(d)))) }
                    else if d.isFinite, abs(d) < 9e18 { tags.append((.int, .double(d))) }
                case .strings: throw RAGDBError(.invalidInput, "a comparison takes one value, not a list", field: field)
                }
                if op == .notEqual {
                    // Chunks with the field, minus those equal.
                    let equal = try eval(.compare(field, .equal, value), txn)
                    var has = Set<UInt64>()
                    for tag in [MetadataIndex.Tag.string, .int, .double, .bool] {
                        try index.scan(field: field, tag: tag, lower: nil, upper: nil, collection: cid, txn) { has.insert($0) }
                    }
                    return has.subtracting(equal)
                }
                for (tag, v) in tags {
                    // An int column compared with a fractional bound: round the bound inward.
                    var bound = v
                    if tag == .int, case .double(let d) = v {
                        switch op {
                        case .less, .greaterOrEqual: bound = .int(Int64(d.rounded(.up)))
                        case .lessOrEqual, .greater: bound = .int(Int64(d.rounded(.down)))
                        default: continue
                        }
                    }
                    let b = MetadataIndex.Bound(bound, inclusive: true)
                    let (lower, upper): (MetadataIndex.Bound?, MetadataIndex.Bound?)
                    var exclusive = b
                    exclusive.inclusive = false
                    let fractional = { if case .double(let d) = v, tag == .int { return d.rounded() != d } else { return false } }()
                    switch op {
                    case .equal: (lower, upper) = (b, b)
                    case .less: (lower, upper) = (nil, fractional ? b : exclusive)
                    case .lessOrEqual: (lower, upper) = (nil, b)
                    case .greater: (lower, upper) = (fractional ? b : exclusive, nil)
                    case .greaterOrEqual: (lower, upper) = (b, nil)
                    case .notEqual: continue
                    }
                    if op == .equal && fractional { continue }
                    try index.scan(field: field, tag: tag, lower: lower, upper: upper, collection: cid, txn) { out.insert($0) }
                }
                return out
            case .oneOf(let field, let values):
                var out = Set<UInt64>()
                for v in values { out.formUnion(try eval(.compare(field, .equal, v), txn)) }
                return out
            case .prefix(let field, let p):
                var out = Set<UInt64>()
                try index.scanPrefix(field: field, prefix: p, collection: cid, txn) { out.insert($0) }
                return out
            case .and(let parts):
                guard var acc = try parts.first.map({ try eval($0, txn) }) else { return try all() }
                for p in parts.dropFirst() where !acc.isEmpty { acc.formIntersection(try eval(p, txn)) }
                return acc
            case .or(let parts):
                var acc = Set<UInt64>()
                for p in parts { acc.formUnion(try eval(p, txn)) }
                return acc
            case .not(let inner):
                return try all().subtracting(try eval(inner, txn))
            }
        }
        return try rethrowingAsRAGDB { try db.env.read { txn in try eval(filter, txn) } }
    }

    // MARK: Running

    /// Runs `query` with the plan `explain` shows, and reports each operator's actual rows,
    /// bytes and time (EXPLAIN ANALYZE).
    ///
    /// - Complexity: the coarse stages in memory, one B-tree look-up per verified candidate
    ///   and per returned chunk.
    public func run(_ q: Query) throws(RAGDBError) -> QueryResult {
        var decision = try decide(q)
        var plan = decision.plan
        var opIndex = 0
        func record(_ name: String, input: Int, output: Int, bytes: Int, since t0: UInt64) {
            guard let i = plan.operators[opIndex...].firstIndex(where: { $0.op == name }) else { return }
            plan.operators[i].inputRows = input
            plan.operators[i].actualRows = output
            plan.operators[i].bytesRead = bytes
            plan.operators[i].microseconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000
            opIndex = i + 1
        }
        let n = decision.chunkCount
        let depth = decision.depth
        var allowed: Set<UInt64>?
        if decision.placement == .first, let f = q.filter {
            let t0 = DispatchTime.now().uptimeNanoseconds
            allowed = try allowedChunks(f)
            record("filter", input: n, output: allowed!.count, bytes: allowed!.count * 32, since: t0)
        }
        let legDepth = decision.placement == .after ? min(max(n, depth), Int((Double(depth) / max(decision.selectivity, 0.01)).rounded(.up))) : depth
        let allowedCheck: ((UInt64) -> Bool)? = allowed.map { set in { set.contains($0) } }
        // Legs that cannot take the allowed set inside run over everything, then keep the
        // best `legDepth` that pass.
        func restricted(_ hits: [(UInt64, Double)]) -> [(UInt64, Double)] {
            guard let allowed else { return hits }
            return Array(hits.lazy.filter { allowed.contains($0.0) }.prefix(legDepth))
        }
        // Each coarse leg's ranking, best first.
        var legs: [(name: String, ranked: [(UInt64, Double)])] = []
        if let text = q.text, !text.isEmpty, collection.settings.textIndex {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let index = try textIndex()
            let hits = index.search(text, k: legDepth, allowed: allowedCheck)
            legs.append(("bm25", hits.map { ($0.chunk.rawValue, $0.score) }))
            record("bm25", input: 0, output: hits.count, bytes: index.postingCount(of: text) * 8, since: t0)
        }
        for (space, terms) in q.sparse.sorted(by: { $0.key < $1.key }) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let hits = restricted(try sparseIndex(space).search(terms, k: allowed == nil ? legDepth : max(legDepth, n)).map { ($0.chunk.rawValue, $0.score) })
            legs.append(("sparse:\(space)", hits))
            record("learned-sparse", input: 0, output: hits.count, bytes: hits.count * 8, since: t0)
        }
        if !q.ngrams.isEmpty {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let index = try ngramIndex()
            let hits = restricted(try collection.searchNgrams(q.ngrams.map { (text: $0, logProbability: nil) }, in: index,
                                                              k: allowed == nil ? legDepth : max(legDepth, n)).map { ($0.chunk.rawValue, $0.score) })
            legs.append(("ngram", hits))
            record("ngram", input: 0, output: hits.count, bytes: q.ngrams.count * 64, since: t0)
        }
        var denseScores: [UInt64: Double] = [:]
        var denseRanked: [(UInt64, Double)]?
        let store = collection.database.vectorStore
        let cid = collection.id.rawValue
        if let space = decision.denseSpace, let vector = q.vectors[space] {
            let index = try denseIndex(space)
            guard vector.count == index.dimensions else {
                throw RAGDBError(.invalidInput, "the query vector has \(vector.count) dimensions; space \"\(space)\" has \(index.dimensions)", field: "vector")
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            switch decision.dense {
            case .ann:
                let snap = index.snapshot!
                let probes = depth >= snap.count ? snap.model.lists
                    : min(snap.model.lists, Int((Double(q.probes ?? snap.defaultProbes) / (decision.placement == .first ? max(decision.selectivity, 0.01) : 1)).rounded(.up)))
                let (hits, s) = snap.search(vector, candidates: legDepth, probes: probes, allowed: allowedCheck)
                legs.append(("dense", hits.map { ($0.chunk, Double($0.score)) }))
                record("ann-codes", input: snap.count, output: hits.count, bytes: s.codeBytesRead, since: t0)
            case .exact, .exactAllowed:
                let (hits, bytes): ([DenseHit], Int) = try rethrowingAsRAGDB {
                    try collection.database.env.read { txn in
                        if let allowed {
                            let (h, s) = try store.verify(vector, chunks: allowed.sorted(), k: legDepth, collection: cid, space: index.space, txn)
                            return (h, s.vectorBytesRead)
                        }
                        let (h, s) = try store.exactSearch(vector, k: legDepth, collection: cid, space: index.space, txn)
                        return (h, s.vectorBytesRead)
                    }
                }
                denseRanked = hits.map { ($0.chunk, Double($0.score)) }
                for h in hits { denseScores[h.chunk] = Double(h.score) }
                legs.append(("dense", denseRanked!))
                record("exact-scan", input: allowed?.count ?? n, output: hits.count, bytes: bytes, since: t0)
            case .none, .verifyOnly: break
            }
        }
        // Union of candidates, in first-seen order.
        var union: [UInt64] = []
        var seen = Set<UInt64>()
        for leg in legs { for (c, _) in leg.ranked where seen.insert(c).inserted { union.append(c) } }
        // Filter after: check each candidate's stored metadata.
        var records: [UInt64: Chunk] = [:]
        var docMeta: [String: Metadata] = [:]
        func loadRecords(_ ids: [UInt64]) throws(RAGDBError) {
            let missing = ids.filter { records[$0] == nil }
            guard !missing.isEmpty else { return }
            let db = collection.database
            let coll = collection.id
            try rethrowingAsRAGDB {
                try db.env.read { txn in
                    for id in missing {
                        guard let r = try db.chunkStore.chunk(ChunkID(rawValue: id), in: coll, txn) else { continue }
                        records[id] = r
                        if docMeta[r.documentID] == nil {
                            docMeta[r.documentID] = try db.chunkStore.document(r.documentID, in: coll, txn)?.metadata ?? [:]
                        }
                    }
                }
            }
        }
        if decision.placement == .after, let f = q.filter {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try loadRecords(union)
            let pass = Set(union.filter { id in records[id].map { f.matches(MetadataIndex.effective(document: docMeta[$0.documentID] ?? [:], chunk: $0.metadata)) } ?? false })
            let before = union.count
            union = union.filter { pass.contains($0) }
            for i in legs.indices { legs[i].ranked = Array(legs[i].ranked.filter { pass.contains($0.0) }.prefix(depth)) }
            if denseRanked != nil { denseRanked = legs.first(where: { $0.name == "dense" })?.ranked }
            record("post-filter", input: before, output: union.count, bytes: before * 256, since: t0)
        }
        // Dense verification of every candidate, when the candidates came from codes or from
        // other legs.
        if let space = decision.denseSpace, let vector = q.vectors[space], decision.dense == .ann || decision.dense == .verifyOnly {
            let index = try denseIndex(space)
            let t0 = DispatchTime.now().uptimeNanoseconds
            let need = union.filter { denseScores[$0] == nil }
            let (hits, bytes): ([DenseHit], Int) = try rethrowingAsRAGDB {
                try collection.database.env.read { txn in
                    let (h, s) = try store.verify(vector, chunks: need, k: need.count, collection: cid, space: index.space, txn)
                    return (h, s.vectorBytesRead)
                }
            }
            for h in hits { denseScores[h.chunk] = Double(h.score) }
            var ranked = union.compactMap { c in denseScores[c].map { (c, $0) } }
            ranked.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
            denseRanked = ranked
            if let i = legs.firstIndex(where: { $0.name == "dense" }) { legs[i].ranked = ranked } else { legs.append(("dense", ranked)) }
            record("dense-verify", input: union.count, output: ranked.count, bytes: bytes, since: t0)
        }
        // Fusion.
        let t0 = DispatchTime.now().uptimeNanoseconds
        let (fused, fusedCount) = Self.fuse(legs, fusion: q.fusion, keep: max(q.candidates, q.k))
        if legs.count > 1 { record("fuse", input: union.count, output: fusedCount, bytes: 0, since: t0) }
        // Top k or budgeted assembly.
        var hits: [QueryHit] = []
        var context: AssembledContext?
        let t1 = DispatchTime.now().uptimeNanoseconds
        if let budget = q.budget {
            let pool = Array(fused.prefix(max(q.candidates, q.k)))
            try loadRecords(pool.map(\.chunk))
            context = try assemble(pool, records: records, query: q, budget: budget)
            let byChunk = Dictionary(pool.map { ($0.chunk, $0) }, uniquingKeysWith: { a, _ in a })
            hits = context!.chunks.compactMap { id in
                guard let r = records[id.rawValue], let f = byChunk[id.rawValue] else { return nil }
                return hit(r, f)
            }
            record("assemble", input: pool.count, output: hits.count, bytes: 0, since: t1)
        } else {
            let top = Array(fused.prefix(q.k))
            try loadRecords(top.map(\.chunk))
            hits = top.compactMap { f in records[f.chunk].map { hit($0, f) } }
            record("limit", input: fusedCount, output: hits.count, bytes: 0, since: t1)
        }
        if let profile = q.kvProfile {
            let answers = try rethrowingAsRAGDB { try collection.database.kvCaches.planReuse(profile: profile, chunks: hits.map(\.chunk.rawValue)) }
            for i in hits.indices { hits[i].kv = answers[i] }
        }
        plan.analyzed = true
        decision.plan = plan
        return QueryResult(hits: hits, plan: plan, context: context)
    }

    private func hit(_ r: Chunk, _ f: (chunk: UInt64, score: Double, stages: [String: Double])) -> QueryHit {
        QueryHit(chunk: r.id, documentID: r.documentID, score: f.score, stageScores: f.stages, span: r.span, ordinal: Int(r.ordinal),
                 tokens: Int(r.tokenCount), text: r.text, kv: nil)
    }

    /// Combines the legs' rankings: RRF adds 1/(k + rank) over the legs that ranked a chunk;
    /// weighted adds α × the min-max-normalised dense score and (1 − α) × the mean of the
    /// other legs' normalised scores; dense ranks by dense similarity alone (candidates
    /// without one last). One leg alone keeps its own scores. Ties: smaller chunk id first.
    ///
    /// - Returns: the best `keep` with their per-stage scores, and how many were fused.
    /// - Complexity: one dictionary per leg (no allocation per candidate), a sort of the
    ///   candidates; per-stage score maps only for the `keep` returned.
    static func fuse(_ legs: [(name: String, ranked: [(UInt64, Double)])], fusion: Fusion, keep: Int = .max)
        -> (top: [(chunk: UInt64, score: Double, stages: [String: Double])], total: Int) {
        var seen = Set<UInt64>()
        var order: [UInt64] = []
        var byLeg: [[UInt64: (score: Double, rank: Int)]] = []
        byLeg.reserveCapacity(legs.count)
        for leg in legs {
            var m: [UInt64: (score: Double, rank: Int)] = [:]
            m.reserveCapacity(leg.ranked.count)
            for (i, (c, s)) in leg.ranked.enumerated() {
                m[c] = (s, i + 1)
                if seen.insert(c).inserted { order.append(c) }
            }
            byLeg.append(m)
        }
        func stages(_ c: UInt64) -> [String: Double] {
            var st: [String: Double] = [:]
            for (i, leg) in legs.enumerated() { if let x = byLeg[i][c] { st[leg.name] = x.score } }
            return st
        }
        var scored: [(chunk: UInt64, score: Double)] = []
        scored.reserveCapacity(order.count)
        if legs.count == 1 {
            scored = legs[0].ranked.map { ($0.0, $0.1) }
        } else {
            let bounds = legs.map { leg -> (Double, Double) in
                (leg.ranked.lazy.map(\.1).min() ?? 0, leg.ranked.lazy.map(\.1).max() ?? 0)
            }
            func norm(_ x: Double, _ b: (Double, Double)) -> Double { b.1 > b.0 ? (x - b.0) / (b.1 - b.0) : 1 }
            let dense = legs.firstIndex { $0.name == "dense" }
            let others = legs.indices.filter { $0 != dense }
            for c in order {
                let score: Double
                switch fusion {
                case .reciprocalRank(let k):
                    var sum = 0.0
                    for i in legs.indices { if let x = byLeg[i][c] { sum += 1 / (k + Double(x.rank)) } }
                    score = sum
                case .weighted(let alpha):
                    let d = dense.flatMap { i in byLeg[i][c].map { norm($0.score, bounds[i]) } } ?? 0
                    var o = 0.0
                    for i in others { if let x = byLeg[i][c] { o += norm(x.score, bounds[i]) } }
                    if !others.isEmpty { o /= Double(others.count) }
                    score = dense != nil ? alpha * d + (1 - alpha) * o : o
                case .dense:
                    score = dense.flatMap { byLeg[$0][c]?.score } ?? -.infinity
                }
                scored.append((c, score))
            }
        }
        scored.sort { $0.score > $1.score || ($0.score == $1.score && $0.chunk < $1.chunk) }
        return (scored.prefix(keep).map { ($0.chunk, $0.score, stages($0.chunk)) }, scored.count)
    }
}

/// One metadata field of a collection with the statistics the planner uses.
public struct MetadataFieldStatistics: Sendable, Hashable {
    /// The field name.
    public var field: String
    /// Chunks that have it.
    public var chunks: UInt64
    /// Index entries (a list contributes one per distinct element).
    public var entries: UInt64
    /// Distinct (type, value) pairs.
    public var distinct: UInt64
    /// Numeric bounds seen (±∞ when the field has no numbers).
    public var minimum: Double, maximum: Double
}

extension Collection {
    /// A planner over this collection's indexes, for `Query` values.
    public func searcher() -> Searcher { Searcher(collection: self) }

    /// The metadata fields of this collection's chunks, with the metadata index's statistics.
    ///
    /// - Complexity: one range scan over the field statistics.
    public func metadataFields() throws(RAGDBError) -> [MetadataFieldStatistics] {
        let db = database
        let cid = id.rawValue
        return try rethrowingAsRAGDB {
            try db.env.read { txn in
                try db.metadataIndex.fields(collection: cid, txn).map {
                    MetadataFieldStatistics(field: $0.field, chunks: $0.statistics.chunks, entries: $0.statistics.entries,
                                            distinct: $0.statistics.distinct, minimum: $0.statistics.minimum, maximum: $0.statistics.maximum)
                }
            }
        }
    }
}
