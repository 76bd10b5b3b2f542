public import RAGDBStorage

/// A chunk to store, already cut from its document and measured.
public struct NewChunk: Sendable, Hashable {
    /// The chunk's text.
    public var text: String
    /// Its exact byte range in the source document.
    public var span: ByteSpan
    /// Its length in tokens.
    public var tokenCount: UInt32
    /// Its own metadata.
    public var metadata: Metadata
    /// The stored (framed, compressed) record, when `ChunkStore.encodeValues` made it
    /// ahead of the write transaction.
    var stored: [UInt8]?

    /// Creates a chunk.
    public init(text: String, span: ByteSpan, tokenCount: UInt32, metadata: Metadata = [:]) {
        self.text = text
        self.span = span
        self.tokenCount = tokenCount
        self.metadata = metadata
    }
}

/// A document to store, with its chunks; validated by the caller (`RAGDB.Collection`).
public struct NewDocument: Sendable, Hashable {
    /// External id (1–500 bytes of UTF-8).
    public var id: String
    /// Optional title.
    public var title: String?
    /// The source text, when it is to be stored.
    public var source: String?
    /// Byte length of the source document (stored even when the source is not).
    public var sourceLength: UInt64
    /// Document metadata.
    public var metadata: Metadata
    /// Chunks in order.
    public var chunks: [NewChunk]
    /// The stored (framed) source, when `ChunkStore.encodeValues` made it.
    var storedSource: [UInt8]?
    /// Whether the source is exactly the first chunk's text (then it is stored once, as
    /// that chunk).
    var sourceIsFirstChunk: Bool {
        source != nil && chunks.first.map { $0.span.start == 0 && $0.span.end == sourceLength } == true
    }
    /// A fingerprint of data other stores keep for this document (its vectors), mixed into
    /// `fingerprint` so that a change there is not taken for an unchanged document.
    public var attachmentsFingerprint: UInt64 = 0

    /// Creates a document.
    public init(id: String, title: String? = nil, source: String?, sourceLength: UInt64,
                metadata: Metadata = [:], chunks: [NewChunk]) {
        self.id = id
        self.title = title
        self.source = source
        self.sourceLength = sourceLength
        self.metadata = metadata
        self.chunks = chunks
    }

    /// XXH64 over a canonical encoding of every field, in which each text is replaced by its
    /// own XXH64 (so no text is copied): equal fingerprints mean equal documents, so an
    /// upsert of an unchanged document writes nothing.
    ///
    /// - Complexity: one XXH64 pass over each text (about 8 bytes per cycle); one small buffer.
    public var fingerprint: UInt64 {
        func h(_ text: String) -> UInt64 {
            var t = text
            return t.withUTF8 { XXHash.xxh64(UnsafeRawBufferPointer($0)) }
        }
        var w = ByteWriter(capacity: 64 + 48 * (chunks.count + 1))
        w.write(attachmentsFingerprint)
        w.writeString32(id)
        w.write(UInt8(title == nil ? 0 : 1)); if let title { w.write(h(title)) }
        w.write(UInt8(source == nil ? 0 : 1)); if let source { w.write(h(source)) }
        w.write(sourceLength)
        MetadataCoding.write(metadata, into: &w)
        w.write(UInt32(chunks.count))
        for c in chunks {
            w.write(h(c.text))
            w.write(c.span.start); w.write(c.span.end); w.write(c.tokenCount)
            MetadataCoding.write(c.metadata, into: &w)
        }
        return XXHash.xxh64(w.bytes)
    }
}

/// What `ChunkStore.put` did: the outcome, the chunks it removed and the ids it assigned.
public struct PutResult: Sendable, Equatable {
    /// Inserted, replaced or unchanged.
    public var outcome: PutOutcome
    /// Chunks of the previous version that were deleted (for a replacement).
    public var removed: [ChunkID]
    /// Their texts, in the same order (for indexes that must remove their terms).
    public var removedTexts: [String] = []
    /// Their effective metadata (document overlaid by chunk), in the same order (for the
    /// metadata index).
    public var removedMetadata: [Metadata] = []
    /// The replaced document's title (for the title field of the text index).
    public var removedTitle: String?
    /// The ids given to the new chunks, in order.
    public var assigned: [ChunkID]
}

/// What `ChunkStore.put` did with a document.
public enum PutOutcome: Sendable, Equatable {
    /// The document was new.
    case inserted
    /// The document existed with other content; its old chunks were deleted.
    case replaced
    /// The document existed with the same fingerprint; nothing was written.
    case unchanged
}

/// One problem found by `ChunkStore.check`.
public struct Damage: Sendable, Hashable, CustomStringConvertible {
    /// The table holding the damaged entry.
    public var table: String
    /// Which entry ("collection 1, chunk 42"), never its content.
    public var entry: String
    /// What is wrong.
    public var detail: String

    /// Creates a report line.
    public init(table: String, entry: String, detail: String) {
        self.table = table
        self.entry = entry
        self.detail = detail
    }
    public var description: String { "\(table): \(entry): \(detail)" }
}

/// The tables of documents, chunks and sources, and the per-collection counters.
///
/// Key layouts (Format.md): `documents` and `sources` are keyed by
/// `collection u32 BE ‖ document id UTF-8`; `chunks` by `collection u32 BE ‖ chunk id u64 BE`
/// (so a collection's chunks scan in id order); `collection_counters` by `collection u32 BE`.
public struct ChunkStore: Sendable {
    /// The tables this store owns.
    public static let tableNames = ["documents", "chunks", "sources", "collection_counters"]
    /// The longest external document id, in UTF-8 bytes (LMDB keys are at most 511 bytes).
    public static let maximumDocumentIDLength = 500

    let documents: Table
    package let chunks: Table
    let sources: Table
    let counters: Table

    /// A store over tables opened by the caller (all four of `tableNames`).
    public init(tables: [String: Table]) {
        documents = tables["documents"]!
        chunks = tables["chunks"]!
        sources = tables["sources"]!
        counters = tables["collection_counters"]!
    }

    // MARK: Keys

    static func collectionPrefix(_ c: CollectionID) -> [UInt8] {
        var k = KeyBuilder(capacity: 4)
        k.append(c.rawValue)
        return k.bytes
    }

    static func documentKey(_ c: CollectionID, _ id: String) -> [UInt8] {
        var k = KeyBuilder(capacity: 4 + id.utf8.count)
        k.append(c.rawValue)
        k.appendTail(id.utf8)
        return k.bytes
    }

    package static func chunkKey(_ c: CollectionID, _ id: ChunkID) -> [UInt8] {
        var k = KeyBuilder(capacity: 12)
        k.append(c.rawValue)
        k.append(id.rawValue)
        return k.bytes
    }

    // MARK: Reads

    /// The document `id` of `collection`.
    ///
    /// - Complexity: one B-tree descent and one decode (LZ4 + checksum) of the record.
    public func document(_ id: String, in collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable) throws -> DocumentRecord? {
        try txn.withValue(forKey: Self.documentKey(collection, id), in: documents) { value in
            try DocumentRecord.decode(id: id, raw: FramedValue.decode(value, context: "document record"))
        }
    }

    /// The chunk `id` of `collection`.
    ///
    /// - Complexity: one B-tree descent and one decode (LZ4 + checksum) of the chunk.
    public func chunk(_ id: ChunkID, in collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable) throws -> ChunkRecord? {
        try txn.withValue(forKey: Self.chunkKey(collection, id), in: chunks) { value in
            try ChunkRecord.decode(id: id, raw: FramedValue.decode(value, context: "chunk \(id)"))
        }
    }

    /// The stored source text of document `id`, or `nil` if none is stored.
    ///
    /// - Complexity: one look-up and decode in `sources`; for a document whose source is its
    ///   first chunk, one more look-up of the document and one of the chunk.
    public func source(of id: String, in collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable) throws -> String? {
        if let s = try txn.withValue(forKey: Self.documentKey(collection, id), in: sources, { value in
            let raw = try FramedValue.decode(value, context: "source")
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw StorageError(.corruptValue, operation: "decode source", detail: "invalid UTF-8")
            }
            return s
        }) {
            return s
        }
        guard let doc = try document(id, in: collection, txn), doc.sourceIsFirstChunk else { return nil }
        guard let first = try chunk(doc.chunkIDs[0], in: collection, txn) else {
            throw StorageError(.corruptValue, operation: "read source", detail: "first chunk \(doc.chunkIDs[0]) is missing")
        }
        return first.text
    }

    /// The counters of `collection` (all zero for a collection never written).
    public func counters(of collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable) throws -> CollectionCounters {
        try txn.withValue(forKey: Self.collectionPrefix(collection), in: counters) { value in
            try CollectionCounters.decode(value.withUnsafeBytes { Array($0) })
        } ?? CollectionCounters()
    }

    /// Calls `body` with each chunk of `collection` in id order, starting at `start`,
    /// until it returns `.stop`.
    ///
    /// - Complexity: one cursor step and one decode per chunk.
    public func scanChunks(
        of collection: CollectionID, from start: ChunkID? = nil,
        _ txn: borrowing some TransactionReading & ~Copyable, _ body: (ChunkRecord) throws -> ScanStep
    ) throws {
        let prefix = Self.collectionPrefix(collection)
        var range = KeyRange.prefix(prefix)
        if let start { range.lower = Self.chunkKey(collection, start) }
        try txn.scan(chunks, range: range) { key, value in
            var k = KeyReader(key)
            _ = try k.readUInt32()
            let id = ChunkID(rawValue: try k.readUInt64())
            return try body(ChunkRecord.decode(id: id, raw: FramedValue.decode(value, context: "chunk \(id)")))
        }
    }

    /// Calls `body` with each document of `collection` in id order (bytewise UTF-8).
    ///
    /// - Complexity: one cursor step and one decode per document; chunks are not read.
    public func scanDocuments(
        of collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable,
        _ body: (DocumentRecord) throws -> ScanStep
    ) throws {
        try txn.scan(documents, range: .prefix(Self.collectionPrefix(collection))) { key, value in
            let id = try Self.documentID(fromKey: key)
            return try body(DocumentRecord.decode(id: id, raw: FramedValue.decode(value, context: "document record")))
        }
    }

    static func documentID(fromKey key: RawSpan) throws(StorageError) -> String {
        var k = KeyReader(key)
        _ = try k.readUInt32()
        guard let id = String(validating: k.readTail(), as: UTF8.self) else {
            throw StorageError(.corruptValue, operation: "decode document key", detail: "invalid UTF-8")
        }
        return id
    }

    /// The fixed fields of a chunk, read without decoding its strings.
    public struct ChunkFields: Sendable, Hashable {
        /// Position among the document's chunks.
        public var ordinal: UInt32
        /// Byte range in the source.
        public var span: ByteSpan
        /// Length in tokens.
        public var tokenCount: UInt32
    }

    /// Calls `body` with the fixed fields and the UTF-8 text of chunk `id`, without making a
    /// string: the text is read in place from the map (raw values) or from `scratch`
    /// (decompressed LZ4 values), after the checksum is verified. The text was validated as
    /// UTF-8 when written; the checksum proves it unchanged.
    ///
    /// - Complexity: one B-tree descent, one checksum pass, one LZ4 decompression for
    ///   compressed chunks; no allocation once `scratch` has grown to the largest chunk.
    /// - Returns: `nil` when there is no such chunk.
    public func withChunkText<R>(
        _ id: ChunkID, in collection: CollectionID, _ txn: borrowing some TransactionReading & ~Copyable,
        scratch: inout [UInt8], _ body: (ChunkFields, RawSpan) throws -> R
    ) throws -> R? {
        try txn.withValue(forKey: Self.chunkKey(collection, id), in: chunks) { value in
            try FramedValue.withDecoded(value, scratch: &scratch, context: "chunk \(id)") { raw in
                try ChunkTextParser.parse(raw, body)
            }
        }
    }

    // MARK: Benchmark hooks

    /// Frames `record` as `put` stores it (for benchmarks).
    package static func encodeForBenchmark(_ record: ChunkRecord) throws -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        record.encode(into: &w)
        return try FramedValue.encode(w.bytes, policy: .whenItPays)
    }

    /// Decodes a stored chunk value as `chunk(_:in:_:)` does (for benchmarks).
    package static func decodeForBenchmark(_ stored: [UInt8]) throws -> ChunkRecord {
        try ChunkRecord.decode(id: ChunkID(rawValue: 1), raw: FramedValue.decode(stored, context: "chunk"))
    }

    // MARK: Writes

    /// Encodes, compresses and frames the chunk records and the source of `document` now,
    /// so that `put` only copies bytes into the map: callers run this on several threads
    /// before the write transaction, which then holds the write lock for I/O only.
    ///
    /// - Complexity: one LZ4 compression and one XXH32 pass per chunk and for the source.
    public static func encodeValues(_ document: inout NewDocument) throws(StorageError) {
        var w = ByteWriter(capacity: 1024)
        for i in document.chunks.indices {
            w.reset()
            let c = document.chunks[i]
            ChunkRecord(id: ChunkID(rawValue: 0), documentID: document.id, ordinal: UInt32(i), span: c.span,
                        tokenCount: c.tokenCount, text: c.text, metadata: c.metadata).encode(into: &w)
            document.chunks[i].stored = try FramedValue.encode(w.bytes, policy: .whenItPays)
        }
        if let source = document.source, !document.sourceIsFirstChunk {
            document.storedSource = try FramedValue.encode(Array(source.utf8), policy: .whenItPays)
        }
    }

    /// Stores `document` in `collection`, replacing an existing document with the same id
    /// (its chunks are deleted and the new ones get fresh ids).
    ///
    /// - Parameters:
    ///   - replace: when `false`, an existing document is left alone and `nil` is returned.
    ///   - nextChunkID: the next unused chunk id; advanced by the chunks written.
    ///   - counters: the collection's counters, updated in memory; the caller writes them
    ///     once per batch with `setCounters`.
    /// - Complexity: one framed write per chunk (LZ4 when it pays), one for the document and
    ///   its source; for a replacement, one decode and delete per old chunk.
    public func put(
        _ document: NewDocument, replace: Bool, in collection: CollectionID,
        nextChunkID: inout UInt64, counters: inout CollectionCounters,
        _ txn: borrowing WriteTransaction
    ) throws -> PutResult? {
        let fingerprint = document.fingerprint
        let docKey = Self.documentKey(collection, document.id)
        var outcome = PutOutcome.inserted
        var removed: [ChunkID] = []
        var removedTexts: [String] = []
        var removedMetadata: [Metadata] = []
        var removedTitle: String?
        if let existing = try self.document(document.id, in: collection, txn) {
            guard replace else { return nil }
            if existing.fingerprint == fingerprint { return PutResult(outcome: .unchanged, removed: [], assigned: []) }
            (removedTexts, removedMetadata) = try removeContent(of: existing, in: collection, counters: &counters, txn)
            removed = existing.chunkIDs
            removedTitle = existing.title
            outcome = .replaced
        }
        var w = ByteWriter(capacity: 1024)
        var ids: [ChunkID] = []
        ids.reserveCapacity(document.chunks.count)
        for (ordinal, c) in document.chunks.enumerated() {
            let id = ChunkID(rawValue: nextChunkID)
            nextChunkID += 1
            let framed: [UInt8]
            if let stored = c.stored {
                framed = stored
            } else {
                w.reset()
                ChunkRecord(id: id, documentID: document.id, ordinal: UInt32(ordinal), span: c.span,
                            tokenCount: c.tokenCount, text: c.text, metadata: c.metadata).encode(into: &w)
                framed = try FramedValue.encode(w.bytes, policy: .whenItPays)
            }
            try txn.putAppending(framed, forKey: Self.chunkKey(collection, id), in: chunks)
            ids.append(id)
            counters.chunks += 1
            counters.textBytes += UInt64(c.text.utf8.count)
            counters.storedChunkBytes += UInt64(framed.count)
        }
        let sourceInChunk = document.sourceIsFirstChunk
        if let source = document.source, !sourceInChunk {
            try txn.put(try document.storedSource ?? FramedValue.encode(Array(source.utf8), policy: .whenItPays), forKey: docKey, in: sources)
            counters.sourceBytes += UInt64(source.utf8.count)
        }
        w.reset()
        var record = DocumentRecord(id: document.id, title: document.title, fingerprint: fingerprint,
                                    sourceLength: document.sourceLength, hasSource: document.source != nil && !sourceInChunk,
                                    metadata: document.metadata, chunkIDs: ids)
        record.sourceIsFirstChunk = sourceInChunk
        record.encode(into: &w)
        try txn.put(try FramedValue.encode(w.bytes, policy: .whenItPays), forKey: docKey, in: documents)
        counters.documents += 1
        return PutResult(outcome: outcome, removed: removed, removedTexts: removedTexts, removedMetadata: removedMetadata, removedTitle: removedTitle, assigned: ids)
    }

    /// Deletes document `id` of `collection` with its chunks and source.
    ///
    /// - Returns: the deleted record, or `nil` when there was no such document.
    /// - Complexity: one decode and one delete per chunk.
    /// - Returns: the deleted record and its chunks' texts (in order), or `nil` when there was
    ///   no such document.
    @discardableResult
    public func delete(
        _ id: String, in collection: CollectionID, counters: inout CollectionCounters,
        _ txn: borrowing WriteTransaction
    ) throws -> (record: DocumentRecord, texts: [String], metadata: [Metadata])? {
        guard let existing = try document(id, in: collection, txn) else { return nil }
        let (texts, metadata) = try removeContent(of: existing, in: collection, counters: &counters, txn)
        return (existing, texts, metadata)
    }

    /// Deletes a document's record, chunks and source, adjusting `counters`.
    ///
    /// - Returns: the deleted chunks' texts and effective metadata, in order.
    @discardableResult
    private func removeContent(
        of doc: DocumentRecord, in collection: CollectionID, counters: inout CollectionCounters,
        _ txn: borrowing WriteTransaction
    ) throws -> (texts: [String], metadata: [Metadata]) {
        var texts: [String] = []
        var metadata: [Metadata] = []
        texts.reserveCapacity(doc.chunkIDs.count)
        for id in doc.chunkIDs {
            let key = Self.chunkKey(collection, id)
            let sizes: (Int, Int)? = try txn.withValue(forKey: key, in: chunks) { value in
                let record = try ChunkRecord.decode(id: id, raw: FramedValue.decode(value, context: "chunk \(id)"))
                texts.append(record.text)
                metadata.append(MetadataIndex.effective(document: doc.metadata, chunk: record.metadata))
                return (record.text.utf8.count, value.byteCount)
            }
            guard let (textBytes, stored) = sizes else {
                throw StorageError(.corruptValue, operation: "delete document",
                                   detail: "document lists chunk \(id), which is missing")
            }
            try txn.delete(forKey: key, in: chunks)
            counters.chunks -= 1
            counters.textBytes -= UInt64(textBytes)
            counters.storedChunkBytes -= UInt64(stored)
        }
        let docKey = Self.documentKey(collection, doc.id)
        if doc.hasSource {
            counters.sourceBytes -= doc.sourceLength
            try txn.delete(forKey: docKey, in: sources)
        }
        try txn.delete(forKey: docKey, in: documents)
        counters.documents -= 1
        return (texts, metadata)
    }

    /// Writes the counters of `collection`.
    public func setCounters(_ c: CollectionCounters, of collection: CollectionID, _ txn: borrowing WriteTransaction) throws {
        try txn.put(c.encode(), forKey: Self.collectionPrefix(collection), in: counters)
    }

    /// Deletes everything `collection` owns in these tables.
    public func drop(_ collection: CollectionID, _ txn: borrowing WriteTransaction) throws {
        let range = KeyRange.prefix(Self.collectionPrefix(collection))
        for table in [documents, chunks, sources, counters] { try txn.deleteRange(range, in: table) }
    }
}
