import RAGDBStorage
import RAGDBTestSupport
import Testing
@testable import RAGDBChunks

@Suite struct RecordTests {
    static let metadata: Metadata = ["year": .int(-3), "pi": .double(3.25), "ok": .bool(false),
                                     "tags": .strings(["", "é", "x y"]), "name": .string("naïve")]

    @Test("metadata blocks round-trip and are written sorted by name")
    func metadataRoundTrip() throws {
        var w = ByteWriter()
        MetadataCoding.write(Self.metadata, into: &w)
        var r = ByteReader(w.bytes, context: "test")
        #expect(try MetadataCoding.read(from: &r) == Self.metadata)
        try r.expectEnd()
        // The first name written is the smallest ("name" < "ok" < "pi" < "tags" < "year").
        #expect(Array(w.bytes[2..<4]) == [4, 0] && Array(w.bytes[4..<8]) == Array("name".utf8))
    }

    @Test("metadata blocks out of order, with unknown tags or bad bools are refused")
    func metadataDamage() {
        var w = ByteWriter()
        w.write(UInt16(2))
        w.writeString16("b"); w.write(UInt8(4)); w.write(UInt8(1))
        w.writeString16("a"); w.write(UInt8(4)); w.write(UInt8(0))
        var r = ByteReader(w.bytes, context: "test")
        #expect(throws: StorageError.self) { try MetadataCoding.read(from: &r) }
        for (tag, value): (UInt8, UInt8) in [(9, 0), (4, 2)] {
            var b = ByteWriter()
            b.write(UInt16(1)); b.writeString16("a"); b.write(tag); b.write(value)
            var rr = ByteReader(b.bytes, context: "test")
            #expect(throws: StorageError.self) { try MetadataCoding.read(from: &rr) }
        }
    }

    @Test("chunk and document records round-trip; every truncation throws")
    func recordsRoundTrip() throws {
        let chunk = ChunkRecord(id: ChunkID(rawValue: 42), documentID: "d/1", ordinal: 3, span: ByteSpan(start: 10, end: 19),
                                tokenCount: 2, text: "some text", metadata: Self.metadata)
        var w = ByteWriter()
        chunk.encode(into: &w)
        #expect(try ChunkRecord.decode(id: chunk.id, raw: w.bytes) == chunk)
        for cut in 0..<w.bytes.count {
            #expect(throws: StorageError.self) { try ChunkRecord.decode(id: chunk.id, raw: Array(w.bytes.prefix(cut))) }
        }
        var doc = DocumentRecord(id: "d/1", title: "", fingerprint: 7, sourceLength: 19, hasSource: false,
                                 metadata: Self.metadata, chunkIDs: [ChunkID(rawValue: 41), ChunkID(rawValue: 42)])
        doc.sourceIsFirstChunk = true
        var dw = ByteWriter()
        doc.encode(into: &dw)
        #expect(try DocumentRecord.decode(id: "d/1", raw: dw.bytes) == doc)
        var flags = dw.bytes
        flags[16] = 5  // sources table and first chunk at once: contradictory
        #expect(throws: StorageError.self) { try DocumentRecord.decode(id: "d/1", raw: flags) }
        #expect(throws: StorageError.self) { try DocumentRecord.decode(id: "d/1", raw: dw.bytes + [0]) }
    }

    @Test("the fingerprint changes with every field and only with them")
    func fingerprint() {
        let base = NewDocument(id: "d", title: "t", source: "alpha beta", sourceLength: 10, metadata: ["k": .int(1)],
                               chunks: [NewChunk(text: "alpha", span: ByteSpan(start: 0, end: 5), tokenCount: 1)])
        var same = base
        same.chunks[0].metadata = [:]
        #expect(same.fingerprint == base.fingerprint)
        var variants: [NewDocument] = []
        var v = base; v.title = nil; variants.append(v)
        v = base; v.source = "alpha betA"; variants.append(v)
        v = base; v.metadata = ["k": .int(2)]; variants.append(v)
        v = base; v.chunks[0].tokenCount = 2; variants.append(v)
        v = base; v.chunks[0].metadata = ["m": .bool(true)]; variants.append(v)
        v = base; v.attachmentsFingerprint = 1; variants.append(v)
        let prints = Set(variants.map(\.fingerprint))
        #expect(prints.count == variants.count && !prints.contains(base.fingerprint))
    }
}
