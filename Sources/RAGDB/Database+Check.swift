import RAGDBChunks
import RAGDBStorage
import RAGDBVector
import RAGDBSparse
import RAGDBNgram

/// One problem found by `Database.check()`.
public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The table holding the damaged entry.
    public var table: String
    /// Which entry, never its content.
    public var entry: String
    /// What is wrong.
    public var detail: String
    public var description: String { "\(table): \(entry): \(detail)" }
}

/// The result of `Database.check()`.
public struct CheckReport: Sendable, Hashable, Codable {
    /// How many stored values were read and verified.
    public var checkedValues: Int
    /// Everything found wrong; empty for a sound database.
    public var problems: [Problem]
    /// Whether nothing was found wrong.
    public var isClean: Bool { problems.isEmpty }

    enum CodingKeys: String, CodingKey {
        case problems
        case checkedValues = "checked_values"
    }
}

extension CheckReport {
    func adding(kvProblems: [String]) -> CheckReport {
        var r = self
        for p in kvProblems { r.problems.append(Problem(table: "kv_segments", entry: "", detail: p)) }
        return r
    }
}

extension Database {
    /// Reads every stored value and verifies its header, checksum and layout, and the
    /// cross-references between tables (documents ↔ chunks, sources, counters, id
    /// counters, catalog), all in one snapshot.
    ///
    /// - Complexity: reads the whole database once; memory grows with the largest
    ///   collection's chunk count (one set of ids).
    public func check() throws(RAGDBError) -> CheckReport {
        let store = chunkStore
        return try rethrowingAsRAGDB {
            try env.read { txn in
                var problems: [Problem] = []
                var checked = 0
                func report(_ table: String, _ entry: String, _ detail: String) {
                    problems.append(Problem(table: table, entry: entry, detail: detail))
                }
                // meta
                var nextChunk: UInt64 = 0
                var nextCollection: UInt32 = 0
                do { nextChunk = try readMeta64(MetaKey.nextChunkID, txn) } catch { report("meta", "next_chunk_id", "\(error)") }
                do { nextCollection = try readMeta32(MetaKey.nextCollectionID, txn) } catch { report("meta", "next_collection_id", "\(error)") }
                checked += 2
                // catalog
                var ids = Set<UInt32>()
                var infos: [CollectionInfo] = []
                try txn.scan(catalog) { key, value in
                    checked += 1
                    let name = key.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                    do {
                        let info = try CollectionInfo.decode(value, name: name)
                        if info.name != name { report("collections", "collection \"\(name)\"", "record names \"\(info.name)\"") }
                        if !ids.insert(info.id).inserted { report("collections", "collection \"\(name)\"", "id \(info.id) is used twice") }
                        if info.id == 0 || info.id >= nextCollection {
                            report("collections", "collection \"\(name)\"", "id \(info.id) is not below next_collection_id \(nextCollection)")
                        }
                        infos.append(info)
                    } catch {
                        report("collections", "collection \"\(name)\"", (error as? StorageError)?.detail ?? "\(error)")
                    }
                    return .next
                }
                // each collection's records
                for info in infos {
                    let cid = CollectionID(rawValue: info.id)
                    checked += try store.check(cid, nextChunkID: nextChunk, txn) { d in
                        problems.append(Problem(table: d.table, entry: d.entry, detail: d.detail))
                    }
                    let spaces = Collection(database: self, info: info).storedSpaces
                    checked += try vectorStore.check(
                        collection: info.id, spaces: spaces,
                        chunkExists: { try txn.contains(ChunkStore.chunkKey(cid, ChunkID(rawValue: $0)), in: store.chunks) },
                        txn) { entry, detail in report("vectors", entry, detail) }
                    checked += try vectorStore.checkDenseIndex(collection: info.id, spaces: spaces, txn) { entry, detail in report("dense_codes", entry, detail) }
                    if info.settings.textIndex {
                        checked += try checkTextIndex(info, txn) { table, entry, detail in report(table, entry, detail) }
                    }
                    checked += try checkNgramIndex(info, txn) { table, entry, detail in report(table, entry, detail) }
                    checked += try checkMetadataIndex(info, txn) { table, entry, detail in report(table, entry, detail) }
                }
                // records of collections that do not exist
                for name in ChunkStore.tableNames + VectorStore.tableNames + SparseIndex.tableNames + NgramStore.tableNames + SparseVectorStore.tableNames + MetadataIndex.tableNames
                    + Database.tablesAddedInVersion4 {
                    guard let table = try env.table(name, create: false) else {
                        report(name, "table", "missing")
                        continue
                    }
                    var orphans: [UInt32: Int] = [:]
                    try txn.scan(table) { key, _ in
                        var k = KeyReader(key)
                        if let c = try? k.readUInt32() {
                            if !ids.contains(c) { orphans[c, default: 0] += 1 }
                        } else {
                            report(name, "key of \(key.byteCount) bytes", "shorter than a collection id")
                        }
                        return .next
                    }
                    for (c, n) in orphans.sorted(by: { $0.key < $1.key }) {
                        report(name, "collection \(c)", "\(n) entries belong to no collection in the catalog")
                    }
                }
                return CheckReport(checkedValues: checked, problems: problems)
            }
        }.adding(kvProblems: rethrowingAsRAGDB { try kvCaches.check() })
    }
}

extension Database {
    /// Recomputes the metadata index entries and per-field counts of a collection from its
    /// documents and chunks and compares them with the stored ones.
    func checkMetadataIndex(_ info: CollectionInfo, _ txn: borrowing some TransactionReading & ~Copyable,
                            report: (String, String, String) -> Void) throws -> Int {
        let collection = CollectionID(rawValue: info.id)
        var expected = Set<[UInt8]>()
        var chunksWithField: [String: UInt64] = [:]
        var docs: [DocumentRecord] = []
        do {
            try chunkStore.scanDocuments(of: collection, txn) { docs.append($0); return .next }
        } catch {
            // A damaged document record is reported by the document check.
            return 0
        }
        for doc in docs {
            for chunk in doc.chunkIDs {
                // A chunk that does not decode is reported by the chunk check; skip it here.
                guard let record = try? chunkStore.chunk(chunk, in: collection, txn) else { continue }
                let m = MetadataIndex.effective(document: doc.metadata, chunk: record.metadata)
                for k in MetadataIndex.expectedKeys(chunk: chunk.rawValue, metadata: m, collection: info.id) { expected.insert(k) }
                for f in m.keys { chunksWithField[f, default: 0] += 1 }
            }
        }
        let stored = try metadataIndex.allEntries(collection: info.id, txn)
        let storedSet = Set(stored)
        if storedSet != expected {
            report("metadata_index", "collection \"\(info.name)\"", "\(expected.subtracting(storedSet).count) entries missing, \(storedSet.subtracting(expected).count) unexpected")
        }
        for (field, s) in try metadataIndex.fields(collection: info.id, txn) where s.chunks != chunksWithField[field, default: 0] {
            report("metadata_stats", "collection \"\(info.name)\" field \"\(field)\"", "counts \(s.chunks) chunks, \(chunksWithField[field, default: 0]) have the field")
        }
        return stored.count
    }

    /// Rebuilds the expected BM25 postings of a collection from its chunks' texts and compares
    /// them with the stored blocks, the term dictionary and the statistics.
    ///
    /// - Complexity: analyzes every chunk and decodes every posting block; holds both posting
    ///   sets in memory.
    func checkTextIndex(_ info: CollectionInfo, _ txn: borrowing ReadTransaction, report: (String, String, String) -> Void) throws -> Int {
        let analyzer = info.settings.analyzer.analyzer
        var expected: [String: [Posting]] = [:]
        var chunks: UInt64 = 0, totalLength: UInt64 = 0
        do {
            try chunkStore.scanChunks(of: CollectionID(rawValue: info.id), txn) { chunk in
                let t = Collection.termFrequencies(chunk.text, analyzer)
                for (term, tf) in t.frequencies { expected[term, default: []].append(Posting(chunk: chunk.id.rawValue, tf: tf, length: t.length)) }
                chunks += 1
                totalLength += UInt64(t.length)
                return .next
            }
        } catch {
            return 0  // damaged chunks are reported by the chunk checks
        }
        var checked = try compareField(info, field: SparseChanges.textField, expected: expected, chunks: chunks, totalLength: totalLength, txn, report: report)
        if info.settings.titleWeight != nil {
            // The title field: each chunk carries its document's title terms.
            var titles: [String: [Posting]] = [:]
            var titled: UInt64 = 0, titleLength: UInt64 = 0
            do {
                try chunkStore.scanDocuments(of: CollectionID(rawValue: info.id), txn) { doc in
                    guard let title = doc.title else { return .next }
                    let t = Collection.termFrequencies(title, analyzer)
                    guard !t.frequencies.isEmpty else { return .next }
                    for c in doc.chunkIDs {
                        for (term, tf) in t.frequencies { titles[term, default: []].append(Posting(chunk: c.rawValue, tf: tf, length: t.length)) }
                        titled += 1
                        titleLength += UInt64(t.length)
                    }
                    return .next
                }
            } catch {
                return checked
            }
            for k in titles.keys { titles[k]!.sort { $0.chunk < $1.chunk } }
            checked += try compareField(info, field: SparseChanges.titleField, expected: titles, chunks: titled, totalLength: titleLength, txn, report: report)
        }
        return checked
    }

    /// Compares one field of the stored sparse index with the postings expected from the
    /// chunks (text) or documents (titles).
    func compareField(_ info: CollectionInfo, field: UInt8, expected: [String: [Posting]], chunks: UInt64, totalLength: UInt64,
                      _ txn: borrowing ReadTransaction, report: (String, String, String) -> Void) throws -> Int {
        let entry = field == SparseChanges.textField ? "collection \(info.id)" : "collection \(info.id) field \(field)"
        let what = field == SparseChanges.textField ? "the chunks' text" : "the documents' titles"
        let stored: SparseSnapshot
        do {
            stored = try sparseIndex.load(collection: info.id, field: field, txn)
        } catch {
            report("sparse_postings", entry, (error as? StorageError)?.detail ?? "\(error)")
            return 1
        }
        var problems = 0
        func note(_ table: String, _ detail: String) {
            problems += 1
            if problems <= 20 { report(table, entry, detail) }
        }
        if UInt64(stored.documents) != chunks || UInt64(stored.totalLength) != totalLength {
            note("sparse_stats", "counts \(stored.documents) chunks of total length \(stored.totalLength); the chunks give \(chunks) and \(totalLength)")
        }
        for term in Set(expected.keys).union(stored.terms.keys).sorted() {
            let want = expected[term] ?? []
            guard let have = stored.terms[term] else { note("sparse_postings", "term \"\(term)\" has no postings"); continue }
            let haveList = (0..<have.count).map { Posting(chunk: have.chunks[$0], tf: have.tfs[$0], length: have.lengths[$0]) }
            if haveList != want { note("sparse_postings", "postings of term \"\(term)\" differ from \(what)") }
        }
        let dictionary = try sparseIndex.termStatistics(collection: info.id, field: field, txn)
        for (term, list) in expected {
            let cf = list.reduce(UInt64(0)) { $0 + UInt64($1.tf) }
            if let d = dictionary[term], d.df == UInt32(list.count), d.cf == cf { continue }
            note("sparse_terms", "statistics of term \"\(term)\" do not match its postings")
        }
        for term in dictionary.keys where expected[term] == nil { note("sparse_terms", "term \"\(term)\" occurs in none of \(what)") }
        if problems > 20 { report("sparse_postings", entry, "\(problems - 20) more problems in the index field \(field)") }
        return stored.terms.count + dictionary.count + 1
    }
}

extension Database {
    /// The n-gram index invariants (Format.md §6), for the byte index and the token-id
    /// index: segments decode; every live chunk is either pending or in exactly one segment and
    /// not dead; every dead record names a chunk of a segment that no longer exists; a
    /// collection without the index has no records. Every `chunk_tokens` record names a live
    /// chunk.
    func checkNgramIndex(_ info: CollectionInfo, _ txn: borrowing some TransactionReading & ~Copyable,
                         report: (String, String, String) -> Void) throws -> Int {
        let entry = "collection \"\(info.name)\""
        let cid = CollectionID(rawValue: info.id)
        // Live chunk ids from the keys alone: a damaged chunk value is the chunk check's to report.
        var live = Set<UInt64>()
        let prefix = Array(ChunkStore.chunkKey(cid, ChunkID(rawValue: 0)).prefix(4))
        try txn.scan(chunkStore.chunks, range: .prefix(prefix)) { key, _ in
            if key.byteCount == 12 { live.insert(UInt64(bigEndian: key.unsafeLoadUnaligned(fromByteOffset: 4, as: UInt64.self))) }
            return .next
        }
        var checked = 0
        var orphans = 0
        do {
            try chunkTokens.scan(collection: info.id, txn) { chunk, _ in
                checked += 1
                if !live.contains(chunk) { orphans += 1 }
            }
        } catch {
            report("chunk_tokens", entry, (error as? StorageError)?.detail ?? "\(error)")
        }
        if orphans > 0 { report("chunk_tokens", entry, "\(orphans) token records of chunks that do not exist") }
        for (store, on) in [(ngramStore, info.settings.ngramIndex != nil), (ngramTokenStore, info.settings.ngramIndex?.tokens == true)] {
            checked += try checkNgramStore(store, enabled: on, entry: entry, live: live, info.id, txn, report: report)
        }
        return checked
    }

    private func checkNgramStore(_ store: NgramStore, enabled: Bool, entry: String, live: Set<UInt64>, _ collection: UInt32,
                                 _ txn: borrowing some TransactionReading & ~Copyable, report: (String, String, String) -> Void) throws -> Int {
        let table = store.kind == .bytes ? "ngram_segments" : "ngram_token_segments"
        let deadTable = store.kind == .bytes ? "ngram_dead" : "ngram_token_dead"
        let counts = try store.counts(collection: collection, txn)
        guard enabled else {
            if counts.segments + counts.dead + counts.pending > 0 { report(table, entry, "n-gram records in a collection without this n-gram index") }
            return 0
        }
        let segments: [FMSegment]
        do {
            segments = try store.load(collection: collection, txn)
        } catch {
            report(table, entry, (error as? StorageError)?.detail ?? "\(error)")
            return 0
        }
        var indexed: [UInt64: Int] = [:]
        for s in segments {
            if s.kind != store.kind { report(table, entry, "a segment of the other alphabet") }
            for (j, c) in s.chunkIDs.enumerated() where !s.isDead(chunkAt: j) { indexed[c, default: 0] += 1 }
        }
        let pending = Set(try store.pendingChunks(collection: collection, txn))
        for id in live {
            let n = indexed[id, default: 0] + (pending.contains(id) ? 1 : 0)
            if n != 1 { report(table, entry, "chunk \(id) is indexed \(n) times (pending or in segments)") }
        }
        let deadInSegments = segments.reduce(0) { sum, s in sum + s.chunkIDs.indices.filter { s.isDead(chunkAt: $0) }.count }
        if deadInSegments != counts.dead { report(deadTable, entry, "\(counts.dead) dead records but \(deadInSegments) masked chunks") }
        if indexed.count + pending.count != live.count { report(table, entry, "\(indexed.count + pending.count) chunks indexed, \(live.count) live") }
        return segments.count + counts.dead + counts.pending
    }
}
