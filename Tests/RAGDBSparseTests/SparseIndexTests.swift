import Foundation
import RAGDBSparse
import RAGDBStorage
import RAGDBTestSupport
import Testing

/// Builds an index in LMDB from documents given as term lists (chunk id = position + 1).
private func build(_ env: Environment, _ docs: [[String]], removing: Set<Int> = []) throws -> SparseIndex {
    var tables: [String: Table] = [:]
    for name in SparseIndex.tableNames { tables[name] = try env.table(name, create: true)! }
    let index = SparseIndex(tables: tables)
    func postings(_ ids: [Int]) -> ([String: [Posting]], Int) {
        var byTerm: [String: [Posting]] = [:]
        var length = 0
        for i in ids {
            var tf: [String: UInt32] = [:]
            for t in docs[i] { tf[t, default: 0] += 1 }
            length += docs[i].count
            for (t, f) in tf { byTerm[t, default: []].append(Posting(chunk: UInt64(i + 1), tf: f, length: UInt32(docs[i].count))) }
        }
        return (byTerm, length)
    }
    // Add in three transactions (blocks are extended across them), then remove some.
    let ids = docs.indices.filter { !docs[$0].isEmpty }
    for part in [ids.prefix(ids.count / 3), ids.dropFirst(ids.count / 3).prefix(ids.count / 3), ids.dropFirst(2 * (ids.count / 3))] {
        let (byTerm, length) = postings(Array(part))
        try env.write { txn throws in try index.add(byTerm, chunks: part.count, length: length, collection: 1, field: 0, txn) }
    }
    if !removing.isEmpty {
        let gone = removing.filter { !docs[$0].isEmpty }.sorted()
        var byTerm: [String: [UInt64]] = [:]
        var length = 0
        for i in gone {
            length += docs[i].count
            for t in Set(docs[i]) { byTerm[t, default: []].append(UInt64(i + 1)) }
        }
        try env.write { txn throws in try index.remove(byTerm, chunks: gone.count, length: length, collection: 1, field: 0, txn) }
    }
    return index
}

@Suite struct SparseIndexTests {
    @Test("MaxScore and accumulators return exactly the exhaustive top-k (ids and scores) on random corpora, also after deletions",
          arguments: [1, 2, 3, 4, 5])
    func exactTopK(seed: UInt64) throws {
        try withTemporaryDirectory { dir in
            var rng = SeededGenerator(seed: seed)
            // A Zipf-like vocabulary so that some terms are frequent and some rare.
            let vocabulary = (0..<300).map { "t\($0)" }
            func word() -> String { vocabulary[Int(Double(vocabulary.count) * pow(Double(rng.next() % 10_000) / 10_000, 3))] }
            let docs: [[String]] = (0..<700).map { _ in (0..<Int(rng.next() % 60)).map { _ in word() } }
            let removing = Set((0..<docs.count).filter { _ in rng.next() % 7 == 0 })
            let env = try Environment.open(path: dir)
            let index = try build(env, docs, removing: removing)
            let snapshot = try env.read { txn throws in try index.load(collection: 1, field: 0, txn) }
            #expect(snapshot.documents == docs.indices.filter { !docs[$0].isEmpty && !removing.contains($0) }.count)
            var scratch: [Double] = []
            for bm25 in [BM25(), BM25(k1: 0.9, b: 0.4)] {
              let norms = snapshot.normalizers(bm25)
              for q in 0..<100 {
                let query = (0..<Int(1 + rng.next() % 6)).map { _ in word() }
                for k in [1, 10, 100] {
                    let exact = snapshot.searchExhaustive(query, k: k, bm25: bm25)
                    let fast = snapshot.search(query, k: k, bm25: bm25)
                    let accumulated = snapshot.searchAccumulating(query, k: k, bm25: bm25, norms: norms, scratch: &scratch)
                    #expect(fast == exact, "seed \(seed) query \(q) \(query) k \(k)")
                    #expect(accumulated == exact, "seed \(seed) query \(q) \(query) k \(k)")
                    #expect(!exact.contains { removing.contains(Int($0.chunk) - 1) })
                }
              }
            }
        }
    }

    @Test("posting blocks round-trip and reject damage")
    func blocks() throws {
        var postings: [Posting] = []
        for i in 1...128 {
            let chunk = UInt64(i * 3), tf = UInt32(i % 5 + 1), length = UInt32(i + 10)
            postings.append(Posting(chunk: chunk, tf: tf, length: length))
        }
        var w = ByteWriter()
        PostingBlock.encode(postings[...], into: &w)
        var out: [Posting] = []
        try w.bytes.withUnsafeBytes { p in try PostingBlock.decode(unsafe RawSpan(_unsafeBytes: p), into: &out) }
        #expect(out == postings)
        for cut in [0, 5, 10, w.bytes.count - 1] {
            var o: [Posting] = []
            #expect(throws: StorageError.self) {
                try Array(w.bytes.prefix(cut)).withUnsafeBytes { p in try PostingBlock.decode(unsafe RawSpan(_unsafeBytes: p), into: &o) }
            }
        }
    }
}
