import Foundation
import RAGDB
import RAGDBTestSupport
import Testing

/// The query planner against brute-force references on real LMDB files: every plan equals
/// a reference that scores every chunk when the candidate depth covers the collection;
/// filters select exactly the chunks whose metadata passes; filtered dense search keeps its
/// recall at 1 %, 10 % and 50 % selectivity; budgets are never exceeded.
@Suite struct PlannerTests {
    static let langs = ["en", "fr", "de"]

    static func metadata(_ i: Int) -> Metadata {
        ["bucket": .int(Int64(i % 100)), "lang": .string(langs[i % 3]), "score": .double(Double(i % 17) / 4),
         "tags": .strings(i % 2 == 0 ? ["even", "t\(i % 5)"] : ["odd"]), "draft": .bool(i % 7 == 0)]
    }

    /// A collection of `n` one-chunk documents with text, metadata and a vector each.
    static func build(_ dir: String, n: Int, d: Int = 16, index: Bool = false, codes: DenseCodeKind = .scalar8) throws -> (Collection, [[Float]]) {
        var settings = CollectionSettings()
        settings.spaces = [VectorSpace(name: "e", dimensions: d, metric: .cosine, elementType: .float32)]
        settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
        let c = try Database.open(at: dir).createCollection("c", settings: settings)
        let vectors = DenseSearchTests.lowRank(n, d, seed: 5)
        var rng = SeededGenerator(seed: 11)
        let docs = (0..<n).map { i in
            DocumentInput(id: "d\(i)", text: generatedText(words: 12, using: &rng), metadata: metadata(i), vectors: ["e": vectors[i]])
        }
        for batch in stride(from: 0, to: n, by: 2000) { try c.insert(Array(docs[batch..<min(n, batch + 2000)])) }
        if index {
            var o = DenseIndexOptions()
            o.lists = 64
            o.codes = codes
            _ = try c.buildDenseIndex(space: "e", options: o)
        }
        return (c, vectors)
    }

    /// Every chunk's (id, effective metadata, text), straight from the store.
    static func allChunks(_ c: Collection) throws -> [(id: ChunkIdentifier, metadata: Metadata, doc: String)] {
        var out: [(ChunkIdentifier, Metadata, String)] = []
        try c.forEachDocument { doc in
            for id in doc.chunkIDs {
                let chunk = try c.chunk(id)!
                out.append((id, doc.metadata.merging(chunk.metadata) { _, own in own }, doc.id))
            }
            return true
        }
        return out
    }

    static let filters: [MetadataFilter] = [
        .compare("bucket", .less, .int(10)),
        .compare("bucket", .greaterOrEqual, .double(49.5)),
        .compare("lang", .equal, .string("fr")),
        .compare("lang", .notEqual, .string("fr")),
        .compare("score", .lessOrEqual, .int(2)),
        .compare("draft", .equal, .bool(true)),
        .oneOf("lang", [.string("de"), .string("en")]),
        .prefix("tags", "t"),
        .compare("tags", .equal, .string("odd")),
        .and([.compare("bucket", .less, .int(50)), .not(.compare("lang", .equal, .string("en")))]),
        .or([.compare("bucket", .equal, .int(3)), .prefix("lang", "d")]),
        .not(.compare("missing", .equal, .int(1))),
        .compare("bucket", .equal, .double(3.5)),
    ]

    @Test("the metadata index selects exactly the chunks whose metadata passes each filter")
    func filtersAreExact() throws {
        try withTemporaryDirectory { dir in
            let (c, _) = try Self.build(dir + "/db", n: 400)
            let s = c.searcher()
            let chunks = try Self.allChunks(c)
            for f in Self.filters {
                let expected = Set(chunks.filter { f.matches($0.metadata) }.map(\.id.rawValue))
                #expect(try s.allowedChunks(f) == expected, "\(f)")
                let estimate = try s.estimateSelectivity(f, chunks: chunks.count)
                #expect(estimate >= 0 && estimate <= 1)
            }
            // Deleting and replacing documents keeps the index exact (and `check` agrees).
            try c.delete(["d3", "d4"])
            try c.upsert([DocumentInput(id: "d5", text: "changed", metadata: ["bucket": .int(99), "lang": .string("fr")], vectors: ["e": [Float](repeating: 1, count: 16)])])
            let after = try Self.allChunks(c)
            for f in Self.filters {
                #expect(try s.allowedChunks(f) == Set(after.filter { f.matches($0.metadata) }.map(\.id.rawValue)), "\(f) after writes")
            }
            #expect(try c.database.check().isClean)
        }
    }

    /// Reference: each leg scored over every chunk, filtered, ranked (score desc, id asc),
    /// then fused by the same rule.
    static func reference(_ c: Collection, text: String?, vector: [Float]?, vectors: [[Float]], filter: MetadataFilter?,
                          fusion: Fusion, k: Int) throws -> [(UInt64, Double)] {
        let chunks = try allChunks(c)
        let pass = Set(chunks.filter { filter?.matches($0.metadata) ?? true }.map(\.id.rawValue))
        var legs: [[(UInt64, Double)]] = []
        var names: [String] = []
        if let text {
            let bm = try c.loadTextIndex().searchExhaustive(text, k: chunks.count).filter { pass.contains($0.chunk.rawValue) }
            legs.append(bm.map { ($0.chunk.rawValue, $0.score) }); names.append("bm25")
        }
        if let vector {
            var dense: [(UInt64, Double)] = []
            // Hybrid: dense verifies the BM25 candidates only.
            let proposed = legs.first.map { Set($0.map(\.0)) }
            for ch in chunks where pass.contains(ch.id.rawValue) && (proposed?.contains(ch.id.rawValue) ?? true) {
                let v = try c.vector(of: ch.id, in: "e")!
                let s = DenseSearchTests.bruteForce(vector, [v], metric: .cosine, k: 1)[0].1
                dense.append((ch.id.rawValue, s))
            }
            legs.append(dense); names.append("dense")
        }
        legs = legs.map { $0.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) } }
        if legs.count == 1 { return Array(legs[0].prefix(k)) }
        var out: [(UInt64, Double)] = []
        let ranks = legs.map { Dictionary(uniqueKeysWithValues: $0.enumerated().map { ($1.0, $0 + 1) }) }
        let all = Set(legs.flatMap { $0.map(\.0) })
        for ch in all {
            switch fusion {
            case .reciprocalRank(let rk): out.append((ch, ranks.reduce(0) { $0 + ($1[ch].map { 1 / (rk + Double($0)) } ?? 0) }))
            case .dense: out.append((ch, legs[1].first { $0.0 == ch }?.1 ?? -.infinity))
            case .weighted(let alpha):
                func norm(_ leg: [(UInt64, Double)], _ c: UInt64) -> Double {
                    guard let x = leg.first(where: { $0.0 == c })?.1 else { return 0 }
                    let lo = leg.map(\.1).min()!, hi = leg.map(\.1).max()!
                    return hi > lo ? (x - lo) / (hi - lo) : 1
                }
                out.append((ch, alpha * norm(legs[1], ch) + (1 - alpha) * norm(legs[0], ch)))
            }
        }
        return Array(out.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(k))
    }

    @Test("with the candidate depth covering the collection, every plan equals the brute-force reference",
          arguments: [false, true])
    func plansEqualReference(trainedIndex: Bool) throws {
        try withTemporaryDirectory { dir in
            let n = 600
            let (c, vectors) = try Self.build(dir + "/db", n: n, index: trainedIndex)
            let s = c.searcher()
            let texts = ["index chunk", "vector query cache", "retrieval"]
            var checked = 0
            for (qi, text) in texts.enumerated() {
                let vector = vectors[qi * 37]
                for filter in [nil] + Self.filters.prefix(6).map(Optional.some) {
                    for (useText, useVector) in [(true, false), (false, true), (true, true)] {
                        for fusion in useText && useVector ? [Fusion.reciprocalRank(k: 60), .weighted(alpha: 0.7), .dense] : [.reciprocalRank(k: 60)] {
                            var q = Query(text: useText ? text : nil, k: 10)
                            if useVector { q.vectors = ["e": vector] }
                            q.filter = filter
                            q.candidates = n
                            q.fusion = fusion
                            let got = try s.run(q)
                            let want = try Self.reference(c, text: q.text, vector: useVector ? vector : nil, vectors: vectors, filter: filter, fusion: fusion, k: 10)
                            #expect(got.hits.map(\.chunk.rawValue) == want.map(\.0), "text \(useText) vector \(useVector) \(fusion) \(filter?.description ?? "-")")
                            for (h, w) in zip(got.hits, want) { #expect(abs(h.score - w.1) < 1e-5 * max(1, abs(w.1))) }
                            if let filter { #expect(got.hits.allSatisfy { h in filter.matches(Self.metadata(Int(h.documentID.dropFirst())!)) }) }
                            #expect(got.plan.analyzed && got.plan.operators.allSatisfy { $0.actualRows != nil }, "\(got.plan.render())")
                            checked += 1
                        }
                    }
                }
            }
            #expect(checked > 50)
        }
    }

    @Test("filtered dense search keeps recall@10 ≥ 0.95 against exact filtered search at 1 %, 10 % and 50 % selectivity",
          arguments: [(1, "first", DenseCodeKind.scalar8), (10, "first", .scalar8), (25, "first", .scalar8), (50, "after", .scalar8), (25, "first", .pca8)])
    func filteredRecall(percent: Int, placement: String, codes: DenseCodeKind) throws {
        try withTemporaryDirectory { dir in
            let n = 10_000, d = 32
            let (c, vectors) = try Self.build(dir + "/db", n: n, d: d, index: true, codes: codes)
            let s = c.searcher()
            let filter = MetadataFilter.compare("bucket", .less, .int(Int64(percent)))
            let chunks = try Self.allChunks(c)
            let allowedDocs = chunks.filter { filter.matches($0.metadata) }
            var recall = 0.0
            let queries = 20
            for qi in 0..<queries {
                var query = vectors[(qi * 7919) % n]
                for j in query.indices { query[j] += Float((qi + j) % 5) * 0.01 }
                var q = Query(k: 10)
                q.vectors = ["e": query]
                q.filter = filter
                let got = try s.run(q)
                #expect(got.plan.notes.joined().contains("→ \(placement)"), "\(got.plan.render())")
                if percent == 25 {
                    // Big enough that the codes beat reading the allowed vectors: the allowed
                    // set is checked inside the IVF traversal.
                    #expect(got.plan.operators.contains { $0.op == "ann-codes" && $0.detail.contains("allowed set inside") }, "\(got.plan.render())")
                }
                let exact = DenseSearchTests.bruteForce(query, allowedDocs.map { vectors[Int($0.doc.dropFirst())!] }, metric: .cosine, k: 10)
                let truth = Set(exact.map { allowedDocs[$0.0].id.rawValue })
                recall += Double(Set(got.hits.map(\.chunk.rawValue)).intersection(truth).count) / Double(truth.count)
                #expect(got.hits.allSatisfy { filter.matches(Self.metadata(Int($0.documentID.dropFirst())!)) })
            }
            #expect(recall / Double(queries) >= 0.95, "recall \(recall / Double(queries)) at \(percent) %")
        }
    }

    @Test("EXPLAIN shows estimates without running; EXPLAIN ANALYZE reports actual rows and the exact vector bytes verified")
    func explainAndAnalyze() throws {
        try withTemporaryDirectory { dir in
            let (c, vectors) = try Self.build(dir + "/db", n: 500, index: true)
            let s = c.searcher()
            var q = Query(text: "index chunk", k: 5)
            q.vectors = ["e": vectors[1]]
            q.candidates = 40
            let plan = try s.explain(q)
            #expect(!plan.analyzed && plan.operators.map(\.op) == ["bm25", "dense-verify", "fuse", "limit"], "\(plan.render())")
            let r = try s.run(q)
            let verify = try #require(r.plan.operators.first { $0.op == "dense-verify" })
            // Every candidate not already scored exactly is read once: d × 4 bytes each.
            #expect(verify.bytesRead == verify.inputRows! * 16 * 4)
            #expect(r.plan.render().contains("dense-verify") && r.hits.count == 5)
        }
    }
}

/// Budgeted assembly: the worked example, random instances against brute force, and the
/// budget that is never exceeded.
@Suite struct ContextAssemblyTests {
    static func fixture() -> ([ContextAssembly.Item], [Double], (Int, Int) -> Double) {
        let items = [ContextAssembly.Item(cost: 100, relevance: 0.9, terms: [0]),
                     ContextAssembly.Item(cost: 120, relevance: 0.8, terms: [0, 1]),
                     ContextAssembly.Item(cost: 150, relevance: 0.3, terms: [2]),
                     ContextAssembly.Item(cost: 60, relevance: 0.2, terms: [])]
        return (items, [2, 1, 1], { i, j in (i, j) == (0, 1) ? 0.5 : 0 })
    }

    @Test("the worked example picks {2, 3} with U = 4.65 and 270 tokens, #2 first")
    func workedExample() {
        let (items, w, red) = Self.fixture()
        var example = AssemblyOptions()
        example.relevance = 1  // the example's μ = 1, γ = 1, ρ = 1, λ = 0.5
        example.redundancy = 1
        example.sharpness = 1
        let c = ContextAssembly.greedy(items: items, termWeights: w, redundancy: red, budget: 300, options: example)
        #expect(c.selected == [1, 2])
        #expect(abs(c.utility - 4.65) < 1e-9)
        #expect(abs(c.gains[0] - 3.6) < 1e-9)
        #expect(c.selected.reduce(0) { $0 + items[$1].cost } == 270)
    }

    @Test("gain stops the greedy with budget left when every candidate would lower U")
    func stopsOnNegativeGain() {
        // A near-duplicate of the first chunk (redundancy 1) adds nothing but cost.
        let items = [ContextAssembly.Item(cost: 10, relevance: 1, terms: [0]), ContextAssembly.Item(cost: 10, relevance: 0.5, terms: [0])]
        let c = ContextAssembly.greedy(items: items, termWeights: [1], redundancy: { _, _ in 1 }, budget: 1000)
        #expect(c.selected == [0])
    }

    @Test("random instances: the budget holds, U beats the best singleton and every greedy prefix, and ≥ 0.316 of the optimum when U is monotone")
    func randomInstances() {
        var rng = SeededGenerator(seed: 42)
        func r() -> Double { Double(rng.next() % 10_000) / 10_000 }
        for trial in 0..<10_000 {
            let n = 1 + Int(rng.next() % 10)
            let items = (0..<n).map { _ in ContextAssembly.Item(cost: 1 + Int(rng.next() % 200), relevance: r(), terms: Set((0..<4).filter { _ in rng.next() % 3 == 0 })) }
            let weights = (0..<4).map { _ in r() * 3 }
            let pairs = (0..<n).map { _ in (0..<n).map { _ in r() } }
            var options = AssemblyOptions()
            let monotone = trial % 2 == 0
            if monotone { options.redundancy = 0; options.cost = 0 }
            let red: (Int, Int) -> Double = { pairs[$0][$1] }
            let budget = 1 + Int(rng.next() % 400)
            let c = ContextAssembly.greedy(items: items, termWeights: weights, redundancy: red, budget: budget, options: options)
            #expect(c.selected.reduce(0) { $0 + items[$1].cost } <= budget)
            func u(_ s: [Int]) -> Double { ContextAssembly.utility(s, items: items, termWeights: weights, redundancy: red, budget: budget, options: options).u }
            for i in 0..<n where items[i].cost <= budget { #expect(c.utility >= u([i]) - 1e-9) }
            if trial < 2000 {
                var best = 0.0
                for mask in 0..<(1 << n) {
                    let s = (0..<n).filter { mask & (1 << $0) != 0 }
                    if s.reduce(0, { $0 + items[$1].cost }) <= budget { best = max(best, u(s)) }
                }
                if monotone { #expect(c.utility >= 0.316 * best - 1e-9) }
                #expect(c.utility <= best + 1e-9)
            }
            for p in 0..<c.selected.count where c.selected.count > 1 { #expect(c.utility >= u(Array(c.selected.prefix(p))) - 1e-9) }
        }
    }

    @Test("a query with a budget never exceeds it, merges adjacent chunks of a document, and attaches KV reuse answers")
    func queryWithBudget() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.chunking = ChunkingSettings(strategy: .fixed, size: 20, overlap: 0)
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 3)
            try c.insert((0..<30).map { DocumentInput(id: "d\($0)", text: generatedText(words: 120, using: &rng)) })
            try db.kvCaches.createProfile(KVModelProfile(name: "m", modelID: "x", tokenizerID: "t", layers: 1, kvHeads: 1, headDim: 4, elementType: .f16))
            let s = c.searcher()
            for budget in [1, 15, 20, 64, 256, 1024] {
                var q = Query(text: "index vector cache", k: 10)
                q.budget = budget
                q.kvProfile = "m"
                let r = try s.run(q)
                let ctx = try #require(r.context)
                #expect(ctx.tokens <= budget && r.hits.reduce(0) { $0 + $1.tokens } == ctx.tokens)
                #expect(r.hits.allSatisfy { $0.kv != nil && $0.kv?.cache == nil })
                for p in ctx.passages { #expect(p.tokens <= budget) }
                #expect(Set(r.hits.map(\.chunk)).count == r.hits.count)
                if budget >= 256 { #expect(!r.hits.isEmpty) }
            }
        }
    }
}
