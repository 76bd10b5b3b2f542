import Foundation
import RAGDB
import RAGDBTestSupport
import Testing

/// Learned sparse spaces: impacts stored and indexed with the chunks, exact top-k equal to a
/// brute-force dot product over the stored vectors, kept current through upserts and deletes.
@Suite struct LearnedSparseTests {
    static func vector(_ rng: inout SeededGenerator) -> [String: Float] {
        var v: [String: Float] = [:]
        for _ in 0..<Int(1 + rng.next() % 12) { v[sampleWords[Int(rng.next() % UInt64(sampleWords.count))]] = Float(rng.next() % 3000) / 1000 }
        return v
    }

    @Test("search equals exhaustive scoring and a brute force over stored vectors, through upserts and deletes", arguments: [1, 2, 3])
    func exact(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.sparseSpaces = [SparseSpace(name: "splade"), SparseSpace(name: "other")]
            settings.chunking = ChunkingSettings(strategy: .none, size: 128, overlap: 0)
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: seed)
            var live: [String: [String: Float]] = [:]
            for round in 0..<4 {
                var batch: [DocumentInput] = []
                for _ in 0..<40 {
                    let id = "d\(rng.next() % 80)"
                    guard !batch.contains(where: { $0.id == id }) else { continue }
                    let v = Self.vector(&rng)
                    var d = DocumentInput(id: id, text: "document \(id) round \(round)")
                    d.sparse = ["splade": v, "other": ["x": 1]]
                    batch.append(d)
                    live[id] = v
                }
                try c.upsert(batch)
                let gone = (0..<5).map { _ in "d\(rng.next() % 80)" }
                try c.delete(gone)
                for g in gone { live[g] = nil }
            }
            let index = try c.loadSparseIndex(space: "splade")
            #expect(index.chunkCount == live.count)
            for _ in 0..<20 {
                let q = Self.vector(&rng)
                let got = index.search(q, k: 10)
                let reference = index.searchExhaustive(q, k: 10)
                #expect(got.map(\.chunk) == reference.map(\.chunk) && got.map(\.score) == reference.map(\.score))
                // Brute force over the vectors as stored (quantized).
                var brute: [(String, Double)] = []
                for (id, _) in live {
                    let (doc, chunks) = try #require(try c.documentWithChunks(id))
                    let stored = try #require(try c.sparseVector(of: chunks[0].id, space: "splade"))
                    let s = q.reduce(0.0) { $0 + Double($1.value) * Double(stored[$1.key] ?? 0) }
                    if s > 0 { brute.append((doc.id, s)) }
                }
                brute.sort { $0.1 > $1.1 }
                #expect(got.count == min(10, brute.count))
                for (g, b) in zip(got, brute) { #expect(abs(g.score - b.1) < 1e-6 * max(1, b.1)) }
            }
            #expect(try db.check().isClean)
            var bad = DocumentInput(id: "bad", text: "x")
            bad.sparse = ["splade": ["t": -1]]
            #expect(throws: RAGDBError.self) { try c.insert([bad]) }
            bad.sparse = ["nope": ["t": 1]]
            #expect(throws: RAGDBError.self) { try c.insert([bad]) }
        }
    }
}
