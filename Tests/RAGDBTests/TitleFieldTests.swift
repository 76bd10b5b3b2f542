import RAGDB
import RAGDBTestSupport
import Testing

/// The title field of the text index (settings `title_weight`): titles are scored as their
/// own BM25 field, weighted, added to each chunk's text score; every search method returns
/// exactly the reference; replacing and deleting documents keeps the field exact.
@Suite struct TitleFieldTests {
    static func collection(_ dir: String, weight: Double?) throws -> Collection {
        var settings = CollectionSettings()
        settings.titleWeight = weight
        settings.chunking = ChunkingSettings(strategy: .fixed, size: 12, overlap: 0)
        return try Database.open(at: dir).createCollection("c", settings: settings)
    }

    @Test("a matching title lifts every chunk of its document, by its weight, exactly like the reference")
    func titleLifts() throws {
        try withTemporaryDirectory { dir in
            let c = try Self.collection(dir + "/db", weight: 2)
            var rng = SeededGenerator(seed: 9)
            var docs = (0..<60).map { i in
                DocumentInput(id: "d\(i)", title: i % 7 == 0 ? "notes on \(sampleWords[i % sampleWords.count]) caches" : nil,
                              text: generatedText(words: 40, using: &rng))
            }
            docs.append(DocumentInput(id: "zebra", title: "zebra zebra crossings", text: "a plain text without the animal"))
            // Text of stop words only: the chunk has no text postings, only its title's.
            docs.append(DocumentInput(id: "stopwords", title: "zebra", text: "the of and"))
            try c.insert(docs)
            let index = try c.loadTextIndex()
            let hits = index.search("zebra", k: 5)
            #expect(Set(hits.map { index.documentID(of: $0.chunk) }) == ["zebra", "stopwords"])
            for q in ["cache notes", "index vector", "query token cache", "zebra query", "retrieval database chunk", "zebra", "notes caches token"] {
                let want = index.searchExhaustive(q, k: 20)
                for method in TextIndex.Method.allCases {
                    let got = index.search(q, k: 20, method: method)
                    #expect(got.map(\.chunk) == want.map(\.chunk) && got.map(\.score) == want.map(\.score), "\(q) \(method)")
                }
            }
            // Without a title weight the title is not indexed: the animal is not found.
            let plain = try Self.collection(dir + "/db2", weight: nil)
            try plain.insert([DocumentInput(id: "zebra", title: "zebra", text: "a plain text")])
            #expect(try plain.loadTextIndex().search("zebra", k: 5).isEmpty)
        }
    }

    @Test("replacing and deleting documents keeps the title field exact, and check agrees")
    func upkeep() throws {
        try withTemporaryDirectory { dir in
            let c = try Self.collection(dir + "/db", weight: 1.5)
            try c.insert([DocumentInput(id: "a", title: "alpha guide", text: "one two three four five six seven eight nine ten eleven twelve thirteen"),
                          DocumentInput(id: "b", title: "beta guide", text: "just a little text")])
            try c.upsert([DocumentInput(id: "a", title: "gamma manual", text: "other words entirely here")])
            try c.delete(["b"])
            let index = try c.loadTextIndex()
            #expect(index.search("alpha", k: 5).isEmpty && index.search("beta", k: 5).isEmpty)
            #expect(index.search("gamma", k: 5).map { index.documentID(of: $0.chunk) } == ["a"])
            #expect(try c.database.check().isClean)
            var bad = CollectionSettings()
            bad.titleWeight = -1
            #expect(throws: RAGDBError.self) { try c.database.createCollection("x", settings: bad) }
        }
    }
}
