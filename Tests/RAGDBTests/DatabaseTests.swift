import Foundation
import RAGDB
import RAGDBChunks
import RAGDBStorage
import RAGDBTestSupport
import Testing

func doc(_ id: String, _ text: String, metadata: Metadata = [:], chunks: [ChunkInput]? = nil) -> DocumentInput {
    DocumentInput(id: id, title: "Title of \(id)", text: text, metadata: metadata, chunks: chunks)
}

@Suite struct DatabaseTests {
    @Test("insert, get, iterate, upsert and delete keep documents, chunks and counters exact")
    func lifecycle() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("docs")
            let text = "First sentence here. Second sentence there. Third one, café."
            let chunks = [ChunkInput(text: "First sentence here."), ChunkInput(text: "Second sentence there.", metadata: ["n": .int(2)]),
                          ChunkInput(text: "Third one, café.")]
            let meta: Metadata = ["year": .int(2024), "score": .double(0.5), "ok": .bool(true), "tags": .strings(["a", "b"]), "lang": .string("en")]
            var s = try c.insert([doc("a", text, metadata: meta, chunks: chunks), doc("b", "Just one chunk.")])
            #expect(s.inserted == 2 && s.chunksWritten == 4)
            let (d, cs) = try #require(try c.documentWithChunks("a"))
            #expect(d.metadata == meta && d.title == "Title of a" && d.sourceLength == UInt64(text.utf8.count))
            #expect(cs.map(\.text) == chunks.map(\.text))
            #expect(cs.map(\.ordinal) == [0, 1, 2])
            let bytes = Array(text.utf8)
            for ch in cs {
                #expect(String(decoding: bytes[Int(ch.span.start)..<Int(ch.span.end)], as: UTF8.self) == ch.text)
            }
            #expect(cs[1].metadata == ["n": .int(2)])
            #expect(cs[0].tokenCount == 4)
            #expect(try c.source(of: "a") == text)
            #expect(try c.chunk(cs[2].id)?.text == "Third one, café.")

            // Unchanged upsert writes nothing; a changed one replaces every chunk with new ids.
            s = try c.upsert([doc("a", text, metadata: meta, chunks: chunks)])
            #expect(s.unchanged == 1 && s.chunksWritten == 0)
            s = try c.upsert([doc("a", "Rewritten text.")])
            #expect(s.replaced == 1)
            let (_, newChunks) = try #require(try c.documentWithChunks("a"))
            #expect(newChunks.count == 1 && newChunks[0].id > cs.map(\.id).max()!)
            for old in cs { #expect(try c.chunk(old.id) == nil) }

            var ids: [ChunkIdentifier] = []
            try c.forEachChunk { ids.append($0.id); return true }
            #expect(ids == ids.sorted() && ids.count == 2)
            var docs: [String] = []
            try c.forEachDocument { docs.append($0.id); return true }
            #expect(docs == ["a", "b"])
            var k = try c.counters()
            #expect(k.documents == 2 && k.chunks == 2)
            #expect(k.textBytes == UInt64("Rewritten text.".utf8.count + "Just one chunk.".utf8.count))

            #expect(try c.delete(["b", "zzz"]) == 1)
            #expect(try c.document("b") == nil)
            k = try c.counters()
            #expect(k.documents == 1 && k.chunks == 1)
            // Ids are never reused: a new chunk gets an id above every id ever issued.
            try c.insert([doc("c", "Another.")])
            let cChunk = try #require(try c.documentWithChunks("c")).chunks[0]
            #expect(cChunk.id > newChunks[0].id)
            #expect(try db.check().isClean)
        }
    }

    @Test("a batch with one bad or duplicate document writes nothing at all")
    func batchIsAtomic() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("docs")
            try c.insert([doc("exists", "x")])
            let before = try c.counters()
            let bad: [[DocumentInput]] = [
                [doc("n1", "ok"), doc("exists", "dup")],                                      // already exists
                [doc("n1", "ok"), doc("n1", "twice")],                                        // twice in batch
                [doc("n1", "ok"), doc("n2", "t", metadata: ["x": .double(.nan)])],             // NaN
                [doc("n1", "ok"), doc(String(repeating: "i", count: 501), "long id")],        // id too long
                [doc("n1", "ok"), doc("", "empty id")],
                [doc("n1", "ok"), doc("n2", "abc", chunks: [ChunkInput(text: "zzz")])],        // chunk not in text
                [doc("n1", "ok"), doc("n2", "abc", chunks: [ChunkInput(text: "ab", span: ByteSpan(start: 1, end: 3))])],  // wrong span
            ]
            for batch in bad {
                do {
                    try c.insert(batch)
                    Issue.record("batch \(batch.map(\.id)) was accepted")
                } catch let error as RAGDBError {
                    #expect([.alreadyExists, .invalidInput].contains(error.code))
                }
                #expect(try c.counters() == before)
                #expect(try c.document("n1") == nil)
            }
            #expect(try db.check().isClean)
        }
    }

    @Test("collections persist with their settings across reopen; names are validated")
    func collectionsPersist() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.spaces = [VectorSpace(name: "minilm", dimensions: 384, metric: .cosine, elementType: .float16)]
            settings.chunking = ChunkingSettings(strategy: .sentence, size: 200, overlap: 0)
            do {
                let db = try Database.open(at: dir + "/db")
                try db.createCollection("one", settings: settings)
                try db.createCollection("two")
                #expect(throws: RAGDBError.self) { try db.createCollection("one") }
                #expect(throws: RAGDBError.self) { try db.createCollection("bad name!") }
                var badSettings = CollectionSettings()
                badSettings.chunking.overlap = 500
                #expect(throws: RAGDBError.self) { try db.createCollection("three", settings: badSettings) }
            }
            let db = try Database.open(at: dir + "/db")
            #expect(try db.collections().map(\.name) == ["one", "two"])
            #expect(try db.collection("one").settings == settings)
            #expect(try db.dropCollection("two"))
            #expect(throws: RAGDBError.self) { try db.collection("two") }
            #expect(try db.check().isClean)
        }
    }

    @Test("a database of an unknown format version is refused with a clear error", arguments: [UInt32(0), 1, 2, 3, 4, 6, 99])
    func unknownFormatVersion(version: UInt32) throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            _ = try Database.open(at: path)
            do {
                let env = try Environment.open(path: path)
                let meta = try #require(try env.table("meta", create: false))
                try env.write { txn throws in try txn.put(withUnsafeBytes(of: version.littleEndian) { Array($0) }, forKey: Array("format_version".utf8), in: meta) }
            }
            do {
                _ = try Database.open(at: path)
                Issue.record("opened format version \(version)")
            } catch let error as RAGDBError {
                #expect(error.code == .unsupportedFormat)
                #expect(error.message.contains("format version \(version)"))
            }
            // Versions 1 to 4 (and only they) upgrade on request, in one transaction.
            var options = Database.Options()
            options.upgrade = true
            if (1...4).contains(version) {
                let db = try Database.open(at: path, options: options)
                #expect(try db.check().isClean)
                _ = try Database.open(at: path)
            } else {
                #expect(throws: RAGDBError.self) { try Database.open(at: path, options: options) }
            }
        }
    }

    @Test("a directory with foreign LMDB data is not taken for a database")
    func foreignData() throws {
        try withTemporaryDirectory { dir in
            do {
                let env = try Environment.open(path: dir)
                let t = try #require(try env.table("something", create: true))
                try env.write { txn throws in try txn.put([1], forKey: [1], in: t) }
            }
            do {
                _ = try Database.open(at: dir)
                Issue.record("opened foreign data")
            } catch let error as RAGDBError {
                #expect(error.code == .notADatabase)
            }
            var options = Database.Options()
            options.create = false
            #expect(throws: RAGDBError.self) { try Database.open(at: dir + "/missing", options: options) }
        }
    }

    @Test("a damaged compressed chunk raises a typed error on read and is reported by check")
    func corruptedValue() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            let long = String(repeating: "retrieval augmented generation stores chunks ", count: 40)
            let chunkID: ChunkIdentifier
            do {
                let db = try Database.open(at: path)
                let c = try db.createCollection("docs")
                try c.insert([doc("d", long)])
                chunkID = try #require(try c.documentWithChunks("d")).chunks[0].id
            }
            // Damage one payload byte of the stored (LZ4) value, as a bad disk would.
            do {
                let env = try Environment.open(path: path)
                let chunks = try #require(try env.table("chunks", create: false))
                var k = KeyBuilder(); k.append(UInt32(1)); k.append(chunkID.rawValue)
                try env.write { txn throws in
                    var v = try #require(try txn.value(forKey: k.bytes, in: chunks))
                    #expect(v[0] == ValueCodec.lz4.rawValue)
                    v[v.count / 2] ^= 0x5A
                    try txn.put(v, forKey: k.bytes, in: chunks)
                }
            }
            let db = try Database.open(at: path)
            do {
                _ = try db.collection("docs").chunk(chunkID)
                Issue.record("read a damaged chunk without error")
            } catch let error as RAGDBError {
                #expect(error.code == .corrupt)
                #expect(error.underlying?.code == .corruptValue)
            }
            let report = try db.check()
            #expect(!report.isClean)
            #expect(report.problems.contains { $0.table == "chunks" && $0.entry.contains("chunk \(chunkID)") })
        }
    }
}

@Suite struct ChunkTextReaderTests {
    @Test("chunk texts read in place equal the decoded chunks; damage is detected")
    func readsInPlace() throws {
        try withTemporaryDirectory { dir in
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c")
            let long = String(repeating: "compressible chunk text with metadata ", count: 30)
            try c.insert([DocumentInput(id: "a", text: "short one", metadata: ["k": .strings(["x", "y"])],
                                        chunks: [ChunkInput(text: "short one", metadata: ["n": .int(1), "s": .string("v")])]),
                          DocumentInput(id: "b", text: long)])
            let reader = ChunkTextReader(c)
            var seen = 0
            try c.forEachChunk { chunk in
                let got = try reader.withText(chunk.id) { fields, text in
                    (fields.ordinal, fields.span, fields.tokenCount, text.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
                }
                #expect(got?.0 == chunk.ordinal && got?.1 == chunk.span && got?.2 == chunk.tokenCount && got?.3 == chunk.text)
                seen += 1
                return true
            }
            #expect(UInt64(seen) == (try c.counters().chunks) && seen >= 2)
            #expect(try reader.withText(ChunkIdentifier(rawValue: 999)) { _, _ in 1 } == nil)
        }
    }
}
