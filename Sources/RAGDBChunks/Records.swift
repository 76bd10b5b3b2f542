internal import RAGDBStorage

/// A stored chunk: a piece of a document's text with its place in the source.
public struct ChunkRecord: Hashable, Sendable {
    /// The chunk's id.
    public var id: ChunkID
    /// The external id of the document it belongs to.
    public var documentID: String
    /// Its position among the document's chunks, from 0.
    public var ordinal: UInt32
    /// Its exact byte range in the source document.
    public var span: ByteSpan
    /// Its length in tokens, as counted by the chunker that made it.
    public var tokenCount: UInt32
    /// Its text (UTF-8).
    public var text: String
    /// Its own metadata (the document's metadata is stored once, on the document).
    public var metadata: Metadata

    /// Creates a record.
    public init(id: ChunkID, documentID: String, ordinal: UInt32, span: ByteSpan, tokenCount: UInt32,
                text: String, metadata: Metadata) {
        self.id = id
        self.documentID = documentID
        self.ordinal = ordinal
        self.span = span
        self.tokenCount = tokenCount
        self.text = text
        self.metadata = metadata
    }

    /// The raw (unframed) record, Format.md §"chunks".
    func encode(into w: inout ByteWriter) {
        w.writeString32(documentID)
        w.write(ordinal)
        w.write(span.start)
        w.write(span.end)
        w.write(tokenCount)
        MetadataCoding.write(metadata, into: &w)
        w.writeString32(text)
    }

    static func decode(id: ChunkID, raw: [UInt8]) throws(StorageError) -> ChunkRecord {
        var r = ByteReader(raw, context: "chunk record")
        let doc = try r.readString32()
        let ordinal = try r.readUInt32()
        let start = try r.readUInt64()
        let end = try r.readUInt64()
        guard start <= end else { throw r.corrupt("span start after end") }
        let tokens = try r.readUInt32()
        let metadata = try MetadataCoding.read(from: &r)
        let text = try r.readString32()
        try r.expectEnd()
        return ChunkRecord(id: id, documentID: doc, ordinal: ordinal, span: ByteSpan(start: start, end: end),
                           tokenCount: tokens, text: text, metadata: metadata)
    }
}

/// A stored document: its identity, metadata and the ids of its chunks in order.
public struct DocumentRecord: Hashable, Sendable {
    /// The external id given by the caller (1–500 bytes of UTF-8).
    public var id: String
    /// The optional title.
    public var title: String?
    /// An opaque 64-bit fingerprint of everything the writer was given for this document;
    /// equal fingerprints mean an upsert can be skipped.
    public var fingerprint: UInt64
    /// Byte length of the source document.
    public var sourceLength: UInt64
    /// Whether the source text is stored in the `sources` table.
    public var hasSource: Bool
    /// Whether the source text is stored as the text of the first chunk, whose span is the
    /// whole source (chunker `none`): kept once instead of twice.
    public var sourceIsFirstChunk: Bool = false
    /// Whether the source text can be read back (from either place).
    public var sourceAvailable: Bool { hasSource || sourceIsFirstChunk }
    /// The document's metadata.
    public var metadata: Metadata
    /// Its chunks, in ordinal order.
    public var chunkIDs: [ChunkID]

    /// Creates a record.
    public init(id: String, title: String?, fingerprint: UInt64, sourceLength: UInt64, hasSource: Bool,
                metadata: Metadata, chunkIDs: [ChunkID]) {
        self.id = id
        self.title = title
        self.fingerprint = fingerprint
        self.sourceLength = sourceLength
        self.hasSource = hasSource
        self.metadata = metadata
        self.chunkIDs = chunkIDs
    }

    /// The raw (unframed) record, Format.md §"documents".
    func encode(into w: inout ByteWriter) {
        w.write(fingerprint)
        w.write(sourceLength)
        w.write(UInt8((hasSource ? 1 : 0) | (title != nil ? 2 : 0) | (sourceIsFirstChunk ? 4 : 0)))
        if let title { w.writeString32(title) }
        MetadataCoding.write(metadata, into: &w)
        w.write(UInt32(chunkIDs.count))
        for c in chunkIDs { w.write(c.rawValue) }
    }

    static func decode(id: String, raw: [UInt8]) throws(StorageError) -> DocumentRecord {
        var r = ByteReader(raw, context: "document record")
        let fingerprint = try r.readUInt64()
        let sourceLength = try r.readUInt64()
        let flags = try r.readUInt8()
        guard flags & ~7 == 0, flags & 5 != 5 else { throw r.corrupt("unknown document flags \(flags)") }
        let title = flags & 2 != 0 ? try r.readString32() : nil
        let metadata = try MetadataCoding.read(from: &r)
        let n = Int(try r.readUInt32())
        guard n <= r.remaining / 8 else { throw r.corrupt("\(n) chunk ids do not fit") }
        var ids: [ChunkID] = []
        ids.reserveCapacity(n)
        for _ in 0..<n { ids.append(ChunkID(rawValue: try r.readUInt64())) }
        try r.expectEnd()
        var record = DocumentRecord(id: id, title: title, fingerprint: fingerprint, sourceLength: sourceLength,
                                    hasSource: flags & 1 != 0, metadata: metadata, chunkIDs: ids)
        record.sourceIsFirstChunk = flags & 4 != 0
        if record.sourceIsFirstChunk && ids.isEmpty { throw r.corrupt("source in the first chunk, but no chunks") }
        return record
    }
}

/// Per-collection counters kept in the same transaction as the data they count.
public struct CollectionCounters: Hashable, Sendable, Codable {
    /// Documents stored.
    public var documents: UInt64 = 0
    /// Chunks stored.
    public var chunks: UInt64 = 0
    /// UTF-8 bytes of chunk text.
    public var textBytes: UInt64 = 0
    /// Bytes of the framed chunk values as stored (after compression).
    public var storedChunkBytes: UInt64 = 0
    /// UTF-8 bytes of stored source documents.
    public var sourceBytes: UInt64 = 0

    /// All zero.
    public init() {}

    static let encodedSize = 40

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.encodedSize)
        for v in [documents, chunks, textBytes, storedChunkBytes, sourceBytes] { w.write(v) }
        return w.bytes
    }

    static func decode(_ raw: [UInt8]) throws(StorageError) -> CollectionCounters {
        var r = ByteReader(raw, context: "collection counters")
        guard raw.count == encodedSize else { throw r.corrupt("counters of \(raw.count) bytes") }
        var c = CollectionCounters()
        c.documents = try r.readUInt64()
        c.chunks = try r.readUInt64()
        c.textBytes = try r.readUInt64()
        c.storedChunkBytes = try r.readUInt64()
        c.sourceBytes = try r.readUInt64()
        return c
    }
}

/// Finds the fixed fields and the text of a raw chunk record in place (Format.md §"chunks"),
/// skipping the document id and the metadata block, with bounds checks throughout.
enum ChunkTextParser {
    static func parse<R>(_ raw: RawSpan, _ body: (ChunkStore.ChunkFields, RawSpan) throws -> R) throws -> R {
        var at = 0
        func bad(_ d: String) -> StorageError { StorageError(.corruptValue, operation: "decode chunk record", detail: d) }
        func need(_ n: Int) throws(StorageError) { guard n >= 0, at + n <= raw.byteCount else { throw bad("value ends early at byte \(at)") } }
        func u16() throws(StorageError) -> Int { try need(2); defer { at += 2 }; return Int(UInt16(littleEndian: raw.unsafeLoadUnaligned(fromByteOffset: at, as: UInt16.self))) }
        func u32() throws(StorageError) -> UInt32 { try need(4); defer { at += 4 }; return UInt32(littleEndian: raw.unsafeLoadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64() throws(StorageError) -> UInt64 { try need(8); defer { at += 8 }; return UInt64(littleEndian: raw.unsafeLoadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func skip(_ n: Int) throws(StorageError) { try need(n); at += n }
        try skip(Int(try u32()))  // document id
        let ordinal = try u32()
        let start = try u64(), end = try u64()
        guard start <= end else { throw bad("span start after end") }
        let tokens = try u32()
        let entries = try u16()
        for _ in 0..<entries {
            try skip(try u16())  // name
            try need(1)
            let tag = raw.unsafeLoadUnaligned(fromByteOffset: at, as: UInt8.self)
            at += 1
            switch tag {
            case 1: try skip(Int(try u32()))
            case 2, 3: try skip(8)
            case 4: try skip(1)
            case 5: for _ in 0..<(try u32()) { try skip(Int(try u32())) }
            default: throw bad("unknown metadata type tag \(tag)")
            }
        }
        let length = Int(try u32())
        try need(length)
        guard at + length == raw.byteCount else { throw bad("trailing bytes after the text") }
        let text = raw.extracting(at..<(at + length))
        return try body(ChunkStore.ChunkFields(ordinal: ordinal, span: ByteSpan(start: start, end: end), tokenCount: tokens), text)
    }
}
