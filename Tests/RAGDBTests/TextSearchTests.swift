import Foundation
import RAGDB
import RAGDBStorage
import RAGDBTestSupport
import Testing

@Suite struct TextSearchTests {
    /// Every match as "document#ordinal=score", sorted: indexes built differently give their
    /// chunks different ids (and so break ties differently), but must score them alike.
    static func ranking(_ c: Collection, _ index: TextIndex, _ query: String, k: Int) throws -> [String] {
        try index.searchExhaustive(query, k: k).map { hit in
            let chunk = try #require(try c.chunk(hit.chunk))
            return "\(chunk.documentID)#\(chunk.ordinal)=\(String(format: "%.12f", hit.score))"
        }.sorted()
    }

    @Test("the index maintained through inserts, replacements and deletes equals one built from scratch", arguments: [1, 2])
    func incrementalEqualsRebuild(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            var rng = SeededGenerator(seed: seed)
            let live = try Database.open(at: dir + "/live").createCollection("c", settings: {
                var s = CollectionSettings(); s.chunking = ChunkingSettings(strategy: .fixed, size: 12, overlap: 3); return s
            }())
            var final: [String: String] = [:]
            for round in 0..<6 {
                var batch: [DocumentInput] = []
                for _ in 0..<30 {
                    let id = "d\(rng.next() % 60)"
                    guard !batch.contains(where: { $0.id == id }) else { continue }
                    let text = (0..<Int(2 + rng.next() % 5)).map { _ in generatedText(words: Int(3 + rng.next() % 12), using: &rng) + "." }.joined(separator: " ")
                    batch.append(DocumentInput(id: id, text: text))
                    final[id] = text
                }
                try live.upsert(batch)
                let gone = (0..<3).map { _ in "d\(rng.next() % 60)" }
                try live.delete(gone)
                for g in gone { final[g] = nil }
                _ = round
            }
            let rebuilt = try Database.open(at: dir + "/rebuilt").createCollection("c", settings: live.settings)
            try rebuilt.insert(final.sorted { $0.key < $1.key }.map { DocumentInput(id: $0.key, text: $0.value) })
            let a = try live.loadTextIndex(), b = try rebuilt.loadTextIndex()
            #expect(a.documents == b.documents && a.termCount == b.termCount)
            for q in ["index vector", "the page map tree", "naïve página", "score rank commit reader writer", "nothing-here"] {
                #expect(try Self.ranking(live, a, q, k: 1000) == Self.ranking(rebuilt, b, q, k: 1000), "\(q)")
                #expect(a.search(q, k: 10).map(\.score) == a.searchExhaustive(q, k: 10).map(\.score))
            }
            #expect(try Database.open(at: dir + "/live").check().isClean)
        }
    }

    @Test("search returns chunks with their documents, best first")
    func search() throws {
        try withTemporaryDirectory { dir in
            let c = try Database.open(at: dir + "/db").createCollection("c")
            try c.insert([
                DocumentInput(id: "lmdb", text: "LMDB maps the database file into memory; readers never block writers."),
                DocumentInput(id: "bread", text: "Sourdough bread needs a lively starter and a long, cool rise."),
                DocumentInput(id: "bm25", text: "BM25 ranks documents by term frequency and inverse document frequency."),
            ])
            let index = try c.loadTextIndex()
            let hits = try c.search("which databases map files into memory?", k: 2, in: index)
            #expect(hits.first?.documentID == "lmdb")
            #expect(hits.count == 1 || hits[0].score >= hits[1].score)
            #expect(try c.search("ranking documents by frequency", k: 1, in: index).first?.documentID == "bm25")
            #expect(try c.search("zzz", k: 5, in: index).isEmpty)
            #expect(throws: RAGDBError.self) { try c.search("x", k: 0, in: index) }
        }
    }
}

@Suite struct TextIndexStatisticsTests {
    @Test("stats report the text index's terms, postings and resident size, matching the loaded index")
    func sizes() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c")
            try c.insert([DocumentInput(id: "a", text: "alpha beta beta gamma"), DocumentInput(id: "b", text: "beta delta")])
            var plain = CollectionSettings()
            plain.textIndex = false
            try db.createCollection("plain", settings: plain).insert([DocumentInput(id: "x", text: "alpha")])
            let stats = try db.statistics()
            let t = try #require(stats.collections.first { $0.name == "c" }?.textIndex)
            #expect(t.terms == 4 && t.postings == 5)
            let loaded = try c.loadTextIndex()
            #expect(t.residentBytes == loaded.residentBytes && loaded.termCount == 4)
            #expect(stats.collections.first { $0.name == "plain" }?.textIndex == nil)
            #expect(throws: RAGDBError.self) { try db.collection("plain").loadTextIndex() }
        }
    }
}

@Suite struct TextIndexCheckTests {
    @Test("check rebuilds the text index from the chunks and reports a tampered posting block")
    func detectsTampering() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            do {
                let c = try Database.open(at: path).createCollection("c")
                try c.insert([DocumentInput(id: "a", text: "alpha beta beta gamma"), DocumentInput(id: "b", text: "beta delta")])
                #expect(try Database.open(at: path).check().isClean)
            }
            // Rewrite one block with a wrong term frequency but a valid layout.
            do {
                let env = try Environment.open(path: path)
                let postings = try #require(try env.table("sparse_postings", create: false))
                try env.write { txn throws in
                    var first: ([UInt8], [UInt8])?
                    try txn.scan(postings) { k, v in
                        first = (k.withUnsafeBytes { Array($0) }, v.withUnsafeBytes { Array($0) })
                        return .stop
                    }
                    var (key, value) = try #require(first)
                    // Layout: tag, count, max tf u32, min length u32, then varints (delta, tf, length).
                    value[11] = value[11] == 1 ? 2 : 1
                    value[2] = max(value[2], value[11])
                    try txn.put(value, forKey: key, in: postings)
                }
            }
            let report = try Database.open(at: path).check()
            #expect(report.problems.contains { $0.table == "sparse_postings" }, "\(report.problems)")
        }
    }
}
