public import RAGDBStorage

extension ChunkStore {
    /// Verifies every value `collection` owns: each framed value's header and checksum,
    /// each record's layout, and the cross-references (document → chunks → document,
    /// sources, counters, chunk ids below `nextChunkID`). Calls `report` once per problem.
    ///
    /// - Complexity: reads and decodes every document, chunk and source of the collection
    ///   once; holds one set of the collection's chunk ids in memory.
    /// - Returns: the number of values checked.
    public func check(
        _ collection: CollectionID, nextChunkID: UInt64,
        _ txn: borrowing some TransactionReading & ~Copyable, report: (Damage) -> Void
    ) throws -> Int {
        let prefix = Self.collectionPrefix(collection)
        let where_ = "collection \(collection)"
        var checked = 0
        var actual = CollectionCounters()
        // chunk id → (document id, ordinal) as the documents claim them
        var claimed: [UInt64: (String, UInt32)] = [:]
        var documentsWithSource = Set<String>()
        var sourceInFirstChunk: [String: UInt64] = [:]
        var sourceLengths: [String: UInt64] = [:]

        try txn.scan(documents, range: .prefix(prefix)) { key, value in
            checked += 1
            let id: String
            do { id = try Self.documentID(fromKey: key) } catch {
                report(Damage(table: "documents", entry: where_, detail: "bad key: \(detail(of: error))"))
                return .next
            }
            let record: DocumentRecord
            do {
                record = try DocumentRecord.decode(id: id, raw: FramedValue.decode(value, context: "document record"))
            } catch {
                report(Damage(table: "documents", entry: "\(where_), document \(quoted(id))", detail: detail(of: error)))
                return .next
            }
            actual.documents += 1
            for (ordinal, c) in record.chunkIDs.enumerated() {
                if claimed.updateValue((id, UInt32(ordinal)), forKey: c.rawValue) != nil {
                    report(Damage(table: "documents", entry: "\(where_), document \(quoted(id))",
                                  detail: "chunk \(c) is listed by more than one document"))
                }
            }
            if record.hasSource {
                documentsWithSource.insert(id)
                sourceLengths[id] = record.sourceLength
            }
            if record.sourceIsFirstChunk { sourceInFirstChunk[id] = record.sourceLength }
            return .next
        }

        var seen = Set<UInt64>()
        // The source of the document whose chunks are being checked (chunks of one document
        // have consecutive ids, so one cached source serves them all).
        var cachedSource: (id: String, bytes: [UInt8]?)? = nil
        func sourceBytes(_ doc: String) -> [UInt8]? {
            if let c = cachedSource, c.id == doc { return c.bytes }
            var bytes: [UInt8]? = nil
            if documentsWithSource.contains(doc) {
                bytes = try? txn.withValue(forKey: Self.documentKey(collection, doc), in: sources) { v in
                    try FramedValue.decode(v, context: "source")
                } ?? nil
            }
            cachedSource = (doc, bytes)
            return bytes
        }
        try txn.scan(chunks, range: .prefix(prefix)) { key, value in
            checked += 1
            var k = KeyReader(key)
            guard key.byteCount == 12, (try? k.readUInt32()) != nil, let raw = try? k.readUInt64() else {
                report(Damage(table: "chunks", entry: where_, detail: "bad key of \(key.byteCount) bytes"))
                return .next
            }
            let id = ChunkID(rawValue: raw)
            let entry = "\(where_), chunk \(id)"
            seen.insert(raw)
            if raw == 0 || raw >= nextChunkID {
                report(Damage(table: "chunks", entry: entry, detail: "id is not below next_chunk_id \(nextChunkID)"))
            }
            let record: ChunkRecord
            do {
                record = try ChunkRecord.decode(id: id, raw: FramedValue.decode(value, context: "chunk \(id)"))
            } catch {
                report(Damage(table: "chunks", entry: entry, detail: detail(of: error)))
                return .next
            }
            actual.chunks += 1
            actual.textBytes += UInt64(record.text.utf8.count)
            actual.storedChunkBytes += UInt64(value.byteCount)
            if record.span.count != UInt64(record.text.utf8.count) {
                report(Damage(table: "chunks", entry: entry, detail: "span \(record.span) does not have the text's length"))
            } else if let source = sourceBytes(record.documentID) {
                if record.span.end > UInt64(source.count) {
                    report(Damage(table: "chunks", entry: entry, detail: "span \(record.span) ends past the source"))
                } else if !source[Int(record.span.start)..<Int(record.span.end)].elementsEqual(record.text.utf8) {
                    report(Damage(table: "chunks", entry: entry, detail: "text differs from the source bytes at its span"))
                }
            }
            if record.ordinal == 0, let length = sourceInFirstChunk[record.documentID],
               record.span.start != 0 || record.span.end != length {
                report(Damage(table: "chunks", entry: entry, detail: "holds its document's source but spans \(record.span), not 0..<\(length)"))
            }
            if let (doc, ordinal) = claimed[raw] {
                if doc != record.documentID || ordinal != record.ordinal {
                    report(Damage(table: "chunks", entry: entry,
                                  detail: "belongs to document \(quoted(doc)) #\(ordinal) but says \(quoted(record.documentID)) #\(record.ordinal)"))
                }
            } else {
                report(Damage(table: "chunks", entry: entry, detail: "no document lists this chunk"))
            }
            return .next
        }
        for (raw, (doc, _)) in claimed where !seen.contains(raw) {
            report(Damage(table: "documents", entry: "\(where_), document \(quoted(doc))", detail: "lists chunk \(raw), which is missing"))
        }

        try txn.scan(sources, range: .prefix(prefix)) { key, value in
            checked += 1
            guard let id = try? Self.documentID(fromKey: key) else {
                report(Damage(table: "sources", entry: where_, detail: "bad key"))
                return .next
            }
            let entry = "\(where_), document \(quoted(id))"
            do {
                let raw = try FramedValue.decode(value, context: "source")
                actual.sourceBytes += UInt64(raw.count)
                if String(validating: raw, as: UTF8.self) == nil {
                    report(Damage(table: "sources", entry: entry, detail: "not valid UTF-8"))
                }
                if !documentsWithSource.contains(id) {
                    report(Damage(table: "sources", entry: entry, detail: "source without a document that claims it"))
                } else if sourceLengths[id] != UInt64(raw.count) {
                    report(Damage(table: "sources", entry: entry, detail: "length differs from the document's source length"))
                }
                documentsWithSource.remove(id)
            } catch {
                report(Damage(table: "sources", entry: entry, detail: detail(of: error)))
                documentsWithSource.remove(id)
            }
            return .next
        }
        for id in documentsWithSource {
            report(Damage(table: "documents", entry: "\(where_), document \(quoted(id))", detail: "claims a stored source, which is missing"))
        }

        checked += 1
        do {
            let stored = try counters(of: collection, txn)
            if stored != actual {
                report(Damage(table: "collection_counters", entry: where_,
                              detail: "stored \(describe(stored)) but found \(describe(actual))"))
            }
        } catch let error as StorageError {
            report(Damage(table: "collection_counters", entry: where_, detail: detail(of: error)))
        }
        return checked
    }
}

private func quoted(_ s: String) -> String { "\"\(s)\"" }

private func describe(_ c: CollectionCounters) -> String {
    "\(c.documents) documents, \(c.chunks) chunks, \(c.textBytes) text bytes, \(c.storedChunkBytes) stored chunk bytes, \(c.sourceBytes) source bytes"
}

private func detail(of error: any Error) -> String {
    (error as? StorageError)?.detail ?? String(describing: error)
}
