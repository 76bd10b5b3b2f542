import RAGDB
import RAGDBTestSupport
import Testing

/// The README's library example, kept compiling and correct with `import RAGDB` alone.
@Suite struct ReadmeExampleTests {
    @Test("the README's library example runs as written")
    func example() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/my.ragdb")
            let docs = try db.collection("docs", creatingWith: CollectionSettings())
            try docs.upsert([
                DocumentInput(id: "guide/intro", title: "Intro", text: "ragdb stores chunks. It is embedded.",
                              metadata: ["year": .int(2026), "tags": .strings(["guide"])],
                              chunks: [ChunkInput(text: "ragdb stores chunks."), ChunkInput(text: "It is embedded.")]),
            ])
            let (doc, chunks) = try #require(try docs.documentWithChunks("guide/intro"))
            #expect(doc.title == "Intro")
            #expect(chunks.map(\.span.description) == ["0..<20", "21..<36"])
            let index = try docs.loadTextIndex()
            let hits = try docs.search("embedded chunks", k: 5, in: index)
            #expect(hits.map(\.documentID) == ["guide/intro", "guide/intro"])
            #expect(hits[0].score >= hits[1].score)

            // The second example: dense, hybrid and n-gram search.
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "minilm", dimensions: 3)]
            settings.ngramIndex = NgramSettings(normalization: "lowercase")
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            let notes = try db.collection("notes", creatingWith: settings)
            try notes.insert([
                DocumentInput(id: "a", text: "Copy-on-write B-trees never overwrite a page.", vectors: ["minilm": [0.9, 0.1, 0]]),
                DocumentInput(id: "b", text: "LZ4 compresses a value when that pays.", vectors: ["minilm": [0, 0.2, 0.9]]),
            ])
            try notes.buildDenseIndex(space: "minilm")
            let dense = try notes.loadDenseIndex(space: "minilm")
            let (nearest, plan) = try notes.searchDense([1, 0, 0], in: dense, k: 1)
            #expect(dense.documentID(of: nearest[0].chunk) == "a" && plan.map(\.op) == ["ivf-codes", "verify"])
            let (fused, _) = try notes.searchHybrid(text: "value", vector: [0, 0, 1], textIndex: try notes.loadTextIndex(),
                                                    denseIndex: dense, k: 2)
            let grams = try notes.loadNgramIndex()
            #expect(grams.count(bytes: grams.normalized("B-tree")) == 1 && fused.count == 1)
            #expect(dense.documentID(of: fused[0].chunk) == "b")

            // The third example: one query through the planner.
            var q = Query(text: "page value", k: 2)
            q.vectors = ["minilm": [0.5, 0.1, 0.5]]
            q.filter = .not(.compare("lang", .equal, .string("de")))
            let searcher = notes.searcher()
            let explained = try searcher.explain(q)
            #expect(!explained.analyzed && explained.render().contains("dense-verify"))
            let result = try searcher.run(q)
            q.budget = 256
            let context = try #require(try searcher.run(q).context)
            #expect(result.hits.map(\.documentID).sorted() == ["a", "b"] && context.tokens <= 256)
        }
    }
}
