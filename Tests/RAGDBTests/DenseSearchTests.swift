import Foundation
import RAGDB
import RAGDBTestSupport
import RAGDBVector
import Testing

/// Dense search end to end on real LMDB files: exact search against a brute force written
/// here, coarse-then-verify recall, persistence, incremental upkeep, and fusion.
@Suite struct DenseSearchTests {
    /// `n` vectors of `d` dimensions around 20 random centres (clustered, like embeddings).
    static func clustered(_ n: Int, _ d: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededGenerator(seed: seed)
        func gauss() -> Float { Float(Int(rng.next() % 2001) - 1000) / 1000 }
        let centres = (0..<20).map { _ in (0..<d).map { _ in gauss() } }
        return (0..<n).map { _ in
            let c = centres[Int(rng.next() % 20)]
            return c.map { $0 + 0.35 * gauss() }
        }
    }

    /// `n` vectors of `d` dimensions on a random 8-dimensional subspace plus a little noise:
    /// low intrinsic dimension, as real embeddings have, so nearest neighbours are well
    /// separated (in isotropic noise all neighbours are nearly equidistant).
    static func lowRank(_ n: Int, _ d: Int, seed: UInt64, basisSeed: UInt64 = 99) -> [[Float]] {
        var basisRNG = SeededGenerator(seed: basisSeed)
        var rng = SeededGenerator(seed: seed)
        func uniform(_ r: inout SeededGenerator) -> Float { Float(Int(r.next() % 2001) - 1000) / 1000 }
        let basis = (0..<8).map { _ in (0..<d).map { _ in uniform(&basisRNG) } }
        return (0..<n).map { _ in
            let z = (0..<8).map { _ in uniform(&rng) }
            return (0..<d).map { j in (0..<8).reduce(Float(0)) { $0 + z[$1] * basis[$1][j] } + 0.05 * uniform(&rng) }
        }
    }

    static func bruteForce(_ q: [Float], _ data: [[Float]], metric: VectorSpace.Metric, k: Int) -> [(Int, Double)] {
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let scored = data.enumerated().map { i, v -> (Int, Double) in
            switch metric {
            case .dot: (i, dot(q, v))
            case .cosine: (i, dot(q, v) / (dot(q, q).squareRoot() * dot(v, v).squareRoot()))
            case .l2: (i, -zip(q, v).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) })
            }
        }
        return Array(scored.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(k))
    }

    static func load(_ dir: String, metric: VectorSpace.Metric, data: [[Float]], element: VectorSpace.ElementType = .float32) throws -> Collection {
        var settings = CollectionSettings()
        settings.spaces = [VectorSpace(name: "v", dimensions: data[0].count, metric: metric, elementType: element)]
        settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
        let c = try Database.open(at: dir).createCollection("c", settings: settings)
        try c.insert(data.enumerated().map { DocumentInput(id: "d\($0)", text: "document \($0)", vectors: ["v": $1]) })
        return c
    }

    @Test("exact search equals a brute force for every metric", arguments: [VectorSpace.Metric.cosine, .dot, .l2])
    func exactMatchesBruteForce(metric: VectorSpace.Metric) throws {
        try withTemporaryDirectory { dir in
            let data = Self.clustered(700, 19, seed: 3)
            let c = try Self.load(dir + "/db", metric: metric, data: data)
            let index = try c.loadDenseIndex(space: "v")
            #expect(index.snapshot == nil)
            let queries = Self.clustered(12, 19, seed: 4)
            let batch = try c.searchDenseExactBatch(queries, in: index, k: 10)
            for (qi, q) in queries.enumerated() {
                let (got, plan) = try c.searchDense(q, in: index, k: 10)
                #expect(plan.map(\.op) == ["exact-scan"] && plan[0].scored == 700 && plan[0].vectorBytesRead == 700 * 19 * 4)
                let want = Self.bruteForce(q, data, metric: metric, k: 10)
                #expect(got.map { index.documentID(of: $0.chunk)! } == want.map { "d\($0.0)" })
                for (g, w) in zip(got, want) { #expect(abs(g.score - w.1) <= 1e-4 * max(1, abs(w.1))) }
                #expect(batch[qi].map(\.chunk) == got.map(\.chunk))
            }
        }
    }

    @Test("an exact scan over a wide chunk-id range runs on two threads and equals a brute force")
    func twoThreadExactScan() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/db")
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "v", dimensions: 6, metric: .l2)]
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            settings.textIndex = false
            let c = try db.createCollection("c", settings: settings)
            var filler = CollectionSettings()
            filler.textIndex = false
            filler.chunking = settings.chunking
            let f = try db.createCollection("filler", settings: filler)
            let data = Self.clustered(400, 6, seed: 41)
            // Chunk ids are one counter for all collections: 16,400 chunks elsewhere spread c's ids.
            try c.insert((0..<200).map { DocumentInput(id: "d\($0)", text: "x", vectors: ["v": data[$0]]) })
            try f.insert((0..<16_400).map { DocumentInput(id: "f\($0)", text: "y") })
            try c.insert((200..<400).map { DocumentInput(id: "d\($0)", text: "x", vectors: ["v": data[$0]]) })
            let index = try c.loadDenseIndex(space: "v")
            for q in Self.clustered(5, 6, seed: 42) {
                let (got, plan) = try c.searchDense(q, in: index, k: 10, exact: true)
                #expect(plan[0].detail.hasSuffix("2 threads") && plan[0].scored == 400)
                let want = Self.bruteForce(q, data, metric: .l2, k: 10)
                #expect(got.map { index.documentID(of: $0.chunk)! } == want.map { "d\($0.0)" })
            }
        }
    }

    @Test("coarse codes then verification: recall against exact search, for every code kind")
    func coarseThenVerifyRecall() throws {
        try withTemporaryDirectory { dir in
            let data = Self.lowRank(3000, 128, seed: 5)
            let c = try Self.load(dir + "/db", metric: .cosine, data: data)
            let queries = Self.lowRank(40, 128, seed: 6)
            let exactIndex = try c.loadDenseIndex(space: "v")
            let truth = try queries.map { q in Set(try c.searchDense(q, in: exactIndex, k: 10).results.map(\.chunk)) }
            for (codes, minimum) in [(DenseCodeKind.scalar8, 0.97), (.binary, 0.85), (.pq, 0.85), (.pca8, 0.97)] {
                var options = DenseIndexOptions()
                options.codes = codes
                options.lists = 24
                let summary = try c.buildDenseIndex(space: "v", options: options)
                #expect(summary.vectors == 3000 && summary.lists == 24)
                let index = try c.loadDenseIndex(space: "v")
                #expect(index.snapshot?.count == 3000)
                var found = 0
                for (q, t) in zip(queries, truth) {
                    let (got, plan) = try c.searchDense(q, in: index, k: 10, candidates: 200, probes: 12)
                    #expect(plan.map(\.op) == ["ivf-codes", "verify"])
                    #expect(plan[0].output == 200 && plan[1].input == 200 && plan[1].vectorBytesRead == 200 * 128 * 4)
                    #expect(plan[0].scored < 3000, "12 of 24 lists must not scan everything")
                    found += got.filter { t.contains($0.chunk) }.count
                }
                let recall = Double(found) / Double(10 * queries.count)
                #expect(recall >= minimum, "\(codes) recall@10 \(recall)")
                // All lists and every candidate: the exact answer.
                for (q, t) in zip(queries.prefix(5), truth) {
                    let got = try c.searchDense(q, in: index, k: 10, candidates: 3000, probes: 24).results
                    #expect(Set(got.map(\.chunk)) == t)
                }
            }
            #expect(try c.database.check().isClean)
        }
    }

    @Test("the index survives reopening and follows inserts, replacements and deletes", arguments: [DenseCodeKind.scalar8, .pca8])
    func incrementalUpkeep(codes: DenseCodeKind) throws {
        try withTemporaryDirectory { dir in
            let data = Self.clustered(400, 16, seed: 8)
            do {
                let c = try Self.load(dir + "/db", metric: .l2, data: data, element: .float16)
                var options = DenseIndexOptions()
                options.codes = codes
                options.lists = 8
                try c.buildDenseIndex(space: "v", options: options)
            }
            let db = try Database.open(at: dir + "/db")
            let c = try db.collection("c")
            let probe = Self.clustered(1, 16, seed: 9)[0]
            try c.insert([DocumentInput(id: "new", text: "the query itself", vectors: ["v": probe])])
            var index = try c.loadDenseIndex(space: "v")
            #expect(index.snapshot?.count == 401)
            var top = try c.searchDense(probe, in: index, k: 1, probes: 1).results
            #expect(index.documentID(of: top[0].chunk) == "new" && abs(top[0].score) < 1e-3)
            // Replace with a far-away vector: the old code goes, the new one comes.
            try c.upsert([DocumentInput(id: "new", text: "moved", vectors: ["v": probe.map { $0 + 50 }])])
            index = try c.loadDenseIndex(space: "v")
            top = try c.searchDense(probe, in: index, k: 1, candidates: 400, probes: 8).results
            #expect(index.documentID(of: top[0].chunk) != "new")
            try c.delete(["new", "d0", "d1"])
            index = try c.loadDenseIndex(space: "v")
            #expect(index.snapshot?.count == 398)
            #expect(try db.check().isClean)
        }
    }

    @Test("PCA codes: one list or several, every metric, recall against exact search; the resident index is smaller than int8's",
          arguments: [VectorSpace.Metric.cosine, .dot, .l2])
    func pcaCodes(metric: VectorSpace.Metric) throws {
        try withTemporaryDirectory { dir in
            let data = Self.lowRank(2000, 64, seed: 31)
            let c = try Self.load(dir + "/db", metric: metric, data: data)
            let queries = Self.lowRank(30, 64, seed: 32)
            let truth = queries.map { q in Self.bruteForce(q, data, metric: metric, k: 10).map { "d\($0.0)" } }
            var int8 = DenseIndexOptions()
            int8.lists = 1
            try c.buildDenseIndex(space: "v", options: int8)
            let int8Bytes = try c.loadDenseIndex(space: "v").snapshot!.residentBytes
            for lists in [1, 6] {
                var options = DenseIndexOptions()
                options.codes = .pca8
                options.lists = lists
                let summary = try c.buildDenseIndex(space: "v", options: options)
                // Eight random directions carry all but the noise: 98 % of the variance.
                #expect(summary.codeBytes == 8, "axes kept: \(summary.codeBytes)")
                let index = try c.loadDenseIndex(space: "v")
                if lists == 1 { #expect(index.snapshot!.residentBytes < int8Bytes) }
                var found = 0
                for (q, t) in zip(queries, truth) {
                    let (got, plan) = try c.searchDense(q, in: index, k: 10, candidates: 20, probes: lists == 1 ? 1 : 4)
                    #expect(plan[0].detail.hasPrefix("pca8 codes"))
                    found += got.filter { t.contains(index.documentID(of: $0.chunk) ?? "") }.count
                }
                let recall = Double(found) / Double(10 * queries.count)
                #expect(recall >= 0.95, "\(metric), \(lists) lists: recall@10 \(recall)")
                if lists == 1 && Kernels.bestLevel > 0 {
                    // Without VNNI the query is rotated and rescored in float and the prefix by
                    // the scalar kernel: the same rows rank first.
                    let best = Kernels.bestLevel
                    let q = queries[0]
                    let fast = try c.searchDense(q, in: index, k: 10, candidates: 20, probes: 1).results.map(\.chunk)
                    Kernels.setLevel(0)
                    let slow = try c.searchDense(q, in: index, k: 10, candidates: 20, probes: 1).results.map(\.chunk)
                    Kernels.setLevel(best)
                    #expect(Set(fast).intersection(slow).count >= 9, "\(fast) against \(slow)")
                }
            }
            #expect(try c.database.check().isClean)
        }
    }

    @Test("hybrid plan: BM25 proposes, dense verifies, fusion combines")
    func hybrid() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "v", dimensions: 2)]
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            let c = try Database.open(at: dir + "/db").createCollection("c", settings: settings)
            try c.insert([
                DocumentInput(id: "a", text: "lmdb copy on write tree", vectors: ["v": [1, 0]]),
                DocumentInput(id: "b", text: "lmdb lmdb lmdb pages", vectors: ["v": [0, 1]]),
                DocumentInput(id: "c", text: "unrelated words only", vectors: ["v": [1, 0.01]]),
            ])
            let text = try c.loadTextIndex(), dense = try c.loadDenseIndex(space: "v")
            let (dOnly, plan) = try c.searchHybrid(text: "lmdb", vector: [1, 0], textIndex: text, denseIndex: dense, k: 3, fusion: .dense)
            // "c" has the nearest vector after "a" but BM25 never proposes it.
            #expect(dOnly.map { dense.documentID(of: $0.chunk)! } == ["a", "b"])
            #expect(plan.map(\.op) == ["bm25", "verify", "fuse"] && plan[1].input == 2 && plan[1].vectorBytesRead == 2 * 8)
            let rrf = try c.searchHybrid(text: "lmdb", vector: [0, 1], textIndex: text, denseIndex: dense, k: 3).results
            // b is first by BM25 (rank 1) and by dense (rank 1): 2/61; a: 1/62 + 1/62.
            #expect(dense.documentID(of: rrf[0].chunk) == "b")
            #expect(abs(rrf[0].score - 2.0 / 61) < 1e-12 && abs(rrf[1].score - 2.0 / 62) < 1e-12)
            let weighted = try c.searchHybrid(text: "lmdb", vector: [1, 0], textIndex: text, denseIndex: dense, k: 3, fusion: .weighted(alpha: 1)).results
            #expect(weighted[0].score == 1 && weighted[1].score == 0)
            #expect(throws: RAGDBError.self) { try c.searchHybrid(text: "lmdb", vector: [1], textIndex: text, denseIndex: dense, k: 3) }
        }
    }

    @Test("hybrid plans at N = all chunks equal a brute force: dense order and reciprocal-rank fusion")
    func hybridBruteForce() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "v", dimensions: 12, metric: .dot)]
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            let c = try Database.open(at: dir + "/db").createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 31)
            let data = Self.clustered(300, 12, seed: 32)
            try c.insert(data.enumerated().map { i, v in DocumentInput(id: "d\(i)", text: generatedText(words: 25, using: &rng), vectors: ["v": v]) })
            let text = try c.loadTextIndex(), dense = try c.loadDenseIndex(space: "v")
            for (qi, q) in Self.clustered(8, 12, seed: 33).enumerated() {
                let query = ["index chunk", "vector tree", "memory page", "the score rank"][qi % 4]
                // Brute force: every chunk BM25 matches, with its exact dot product.
                let matches = text.searchExhaustive(query, k: 10_000)
                var byDense: [(UInt64, Double)] = []
                for m in matches {
                    let chunk = try #require(try c.chunk(m.chunk))
                    let v = data[Int(chunk.documentID.dropFirst())!]
                    byDense.append((m.chunk.rawValue, zip(q, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }))
                }
                byDense.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
                let all = 10_000
                let (got, plan) = try c.searchHybrid(text: query, vector: q, textIndex: text, denseIndex: dense, k: 10, candidates: all, fusion: .dense)
                #expect(plan[1].input == matches.count)
                #expect(got.map(\.chunk.rawValue) == byDense.prefix(10).map(\.0))
                for (g, b) in zip(got, byDense) { #expect(abs(g.score - b.1) < 1e-4 * max(1, abs(b.1))) }
                // RRF: 1/(60 + BM25 rank) + 1/(60 + dense rank) over the same candidates.
                var rrf: [UInt64: Double] = [:]
                for (i, m) in matches.enumerated() { rrf[m.chunk.rawValue, default: 0] += 1 / (60 + Double(i + 1)) }
                for (i, d) in byDense.enumerated() { rrf[d.0, default: 0] += 1 / (60 + Double(i + 1)) }
                let expected = rrf.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.prefix(10)
                let fused = try c.searchHybrid(text: query, vector: q, textIndex: text, denseIndex: dense, k: 10, candidates: all).results
                #expect(fused.map(\.chunk.rawValue) == expected.map(\.key))
            }
        }
    }

    @Test("hybrid plan with a learned sparse space as the coarse stage")
    func hybridLearnedSparse() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "v", dimensions: 2)]
            settings.sparseSpaces = [SparseSpace(name: "s")]
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            let c = try Database.open(at: dir + "/db").createCollection("c", settings: settings)
            func doc(_ id: String, _ v: [Float], _ s: [String: Float]) -> DocumentInput {
                var d = DocumentInput(id: id, text: id, vectors: ["v": v])
                d.sparse = ["s": s]
                return d
            }
            try c.insert([doc("a", [1, 0], ["tree": 2]), doc("b", [0, 1], ["tree": 1, "page": 1]), doc("c", [1, 0.01], ["other": 3])])
            let sparse = try c.loadSparseIndex(space: "s"), dense = try c.loadDenseIndex(space: "v")
            let (results, plan) = try c.searchHybrid(sparse: ["tree": 1], sparseIndex: sparse, vector: [0, 1], denseIndex: dense, k: 3, fusion: .dense)
            // "c" is never proposed; among a and b the dense score decides.
            #expect(results.map { dense.documentID(of: $0.chunk)! } == ["b", "a"])
            #expect(plan.map(\.op) == ["learned-sparse", "verify", "fuse"] && plan[1].vectorBytesRead == 2 * 8)
            #expect(results[1].bm25 == 2 && results[0].bm25 == 1)
        }
    }
}
