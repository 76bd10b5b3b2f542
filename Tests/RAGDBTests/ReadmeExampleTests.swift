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
        }
    }
}
