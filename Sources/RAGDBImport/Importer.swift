import Foundation
public import RAGDB
import Synchronization

/// What `ragdb import` does with a bad record.
public enum ErrorPolicy: String, Sendable, CaseIterable {
    /// Stop at the first bad record; nothing of its batch is written.
    case fail
    /// Report each bad record and import the rest.
    case skip
}

/// How an import runs.
public struct ImportOptions: Sendable {
    /// The input format; `nil` tells it from each file's extension.
    public var format: InputFormat?
    /// The chunking to apply; `nil` uses the collection's.
    public var chunking: ChunkingSettings?
    /// Documents per transaction.
    public var batchDocuments = 2000
    /// Input bytes per transaction (whichever of the two limits comes first).
    public var batchBytes = 8 << 20
    /// What to do with bad records.
    public var onError = ErrorPolicy.fail
    /// Validate and chunk everything, write nothing.
    public var dryRun = false
    /// How CSV columns map to documents.
    public var csv = CSVOptions()
    /// Threads that parse and chunk (the writer is one more).
    public var workers = 2
    /// Vector sidecars: (space name, path of a float32 or float16 .npy with one row per
    /// input record, in input order).
    public var vectorFiles: [(space: String, path: String)] = []
    /// Vector spaces to add to the collection when it lacks them.
    public var spaces: [VectorSpace] = []
    /// Settings for a collection the import creates (an existing one keeps its own).
    public var newCollectionSettings = CollectionSettings()
    /// The stored element type of spaces created for sidecars.
    public var sidecarElementType = VectorSpace.ElementType.float32
    /// How each batch's commit waits for the disk. `.full` (the default) flushes every
    /// commit. `.noMetaSync` skips the meta-page flush (a crash may lose the last batch,
    /// never corrupts). `.none` flushes nothing until the import ends, then syncs once: a
    /// killed process loses nothing committed, but an operating-system crash or power loss
    /// during the import may lose or damage recent batches, so rerun the import after one.
    public var durability: Durability = .full

    /// Defaults: format by extension, the collection's chunking, 2,000 documents or 8 MiB
    /// per transaction, stop at the first error, two parsing threads.
    public init() {}
}

/// Counts of one import; `--json` prints it.
public struct ImportSummary: Sendable, Codable, Hashable {
    /// Input files read.
    public var files = 0
    /// Good records read.
    public var documents = 0
    /// New documents written.
    public var inserted = 0
    /// Documents whose content changed, replaced.
    public var replaced = 0
    /// Documents already stored unchanged.
    public var unchanged = 0
    /// Chunks written.
    public var chunks = 0
    /// Input bytes read (compressed bytes for gzip files).
    public var bytes = 0
    /// Bad records left out (`--on-error=skip`).
    public var skipped = 0
    /// Bad records found.
    public var errors = 0
    /// Wall-clock seconds.
    public var seconds = 0.0
    /// Whether nothing was written (`--dry-run`).
    public var dryRun = false

    enum CodingKeys: String, CodingKey {
        case files, documents, inserted, replaced, unchanged, chunks, bytes, skipped, errors, seconds
        case dryRun = "dry_run"
    }
}

/// Where an import stands, reported after each batch.
public struct ImportProgress: Sendable {
    /// Input bytes read so far, all files.
    public var bytesRead: Int
    /// Total input bytes, or 0 when unknown (standard input).
    public var totalBytes: Int
    /// Records read so far.
    public var documents: Int
    /// Seconds since the start.
    public var elapsed: Double
}

/// Reads input files, validates and chunks records on several threads, and writes them in
/// large transactions (one per batch: a bad record or a crash never leaves half a batch).
///
/// Memory is bounded by one batch (`batchDocuments` or `batchBytes`) and the longest line,
/// whatever the input size. Importing the same input twice writes nothing the second time:
/// documents are upserted by id and skipped when their content fingerprint is unchanged, so
/// an interrupted import is finished by running it again.
public struct Importer: Sendable {
    /// The options.
    public let options: ImportOptions

    /// An importer with `options`.
    public init(options: ImportOptions) { self.options = options }

    /// Imports `paths` into `collection` of the database at `databasePath` (created when
    /// missing unless `dryRun`).
    ///
    /// - Parameters:
    ///   - progress: called after each batch.
    ///   - problem: called for each bad record skipped under `.skip`.
    /// - Throws: `ImportError` for bad input under `.fail`, `RAGDBError` for database
    ///   failures.
    public func run(
        databasePath: String, collection name: String, paths: [String],
        progress: (ImportProgress) -> Void = { _ in }, problem: (ImportError) -> Void = { _ in }
    ) throws -> ImportSummary {
        let start = Date()
        let inputs = try expandInputs(paths, format: options.format)
        let sidecars = try options.vectorFiles.map { (f) throws(ImportError) in (space: f.space, reader: try NpyReader(path: f.path)) }
        if !sidecars.isEmpty { try precheckRowCounts(inputs, sidecars) }
        var wanted = options.spaces
        for s in sidecars where !wanted.contains(where: { $0.name == s.space }) {
            wanted.append(VectorSpace(name: s.space, dimensions: s.reader.dimensions, metric: .cosine, elementType: options.sidecarElementType))
        }
        let total = inputs.reduce(0) { total, spec in
            spec.path == "-" ? total : total + ((try? FileManager.default.attributesOfItem(atPath: spec.path)[.size] as? Int) ?? 0)
        }
        // The target: a collection to write to, or only its settings for a dry run.
        var collection: Collection?
        var settings = options.newCollectionSettings
        if options.dryRun {
            var o = Database.Options()
            o.create = false
            o.readOnly = true
            if let db = try? Database.open(at: databasePath, options: o), let c = try? db.collection(name) { settings = c.settings }
            for s in wanted where !settings.spaces.contains(where: { $0.name == s.name }) { settings.spaces.append(s) }
        } else {
            var o = Database.Options()
            o.durability = options.durability
            let db = try Database.open(at: databasePath, options: o)
            var c = try db.collection(name, creatingWith: options.newCollectionSettings)
            for s in wanted where !c.settings.spaces.contains(where: { $0.name == s.name }) {
                c = try db.addSpace(s, to: name)
            }
            collection = c
            settings = c.settings
        }
        for s in sidecars {
            guard let space = settings.spaces.first(where: { $0.name == s.space }) else { continue }
            guard space.dimensions == s.reader.dimensions else {
                throw ImportError(.badSidecar, file: s.reader.path, line: 0,
                                  detail: "rows have \(s.reader.dimensions) dimensions; space \"\(s.space)\" has \(space.dimensions)")
            }
        }
        /// The sidecar vectors of the next record.
        func nextSidecarVectors(at loc: RecordLocation) throws(ImportError) -> [String: [Float]] {
            var out: [String: [Float]] = [:]
            for s in sidecars {
                guard let row = try s.reader.next() else {
                    throw ImportError(.badSidecar, file: s.reader.path, line: 0,
                                      detail: "has \(s.reader.rows) rows, but the input has more records (\(loc.file):\(loc.line) is record \(s.reader.rows + 1))")
                }
                guard row.allSatisfy({ $0.isFinite }) else {
                    throw ImportError(.badVector, file: s.reader.path, line: s.reader.rowsRead, detail: "row \(s.reader.rowsRead) holds NaN or infinity")
                }
                out[s.space] = row
            }
            return out
        }
        let chunking = options.chunking ?? settings.chunking

        var summary = ImportSummary()
        summary.dryRun = options.dryRun
        var doneBytes = 0
        var batch = Batch()
        // Batch k is written on a background thread while batch k+1 is read and prepared.
        let writer = collection.map { PipelinedWriter(collection: $0, replacing: true) }
        defer { writer?.drain() }
        func flush() throws {
            guard !batch.records.isEmpty else { return }
            let prepared = try prepare(batch, settings: settings, chunking: chunking, summary: &summary, problem: problem)
            if let writer, !prepared.isEmpty {
                try writer.submit(prepared)
            } else if writer == nil {
                summary.chunks += prepared.reduce(0) { $0 + $1.chunkCount }
            }
            batch = Batch()
        }
        for spec in inputs {
            let file = try InputFile(path: spec.path)
            summary.files += 1
            func report(_ doneBytes: Int) {
                progress(ImportProgress(bytesRead: doneBytes + file.offset, totalBytes: total,
                                        documents: summary.documents + summary.errors + batch.records.count,
                                        elapsed: Date().timeIntervalSince(start)))
            }
            switch spec.format {
            case .jsonl:
                while try file.nextLine({ line in
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
                    let loc = RecordLocation(file: file.name, line: file.lineNumber)
                    batch.add(.jsonl(Array(line)), at: loc, bytes: line.count, vectors: try nextSidecarVectors(at: loc))
                }) {
                    if batch.isFull(options) { try flush(); report(doneBytes) }
                }
            case .csv:
                try readCSV(file, into: &batch, flush: { try flush(); report(doneBytes) }, vectors: nextSidecarVectors, problem: problem, summary: &summary)
            case .text, .markdown:
                let bytes = try file.readAll()
                let loc = RecordLocation(file: file.name, line: 1)
                batch.add(.whole(bytes, id: spec.relativePath, markdown: spec.format == .markdown),
                          at: loc, bytes: bytes.count, vectors: try nextSidecarVectors(at: loc))
                if batch.isFull(options) { try flush(); report(doneBytes) }
            }
            try flush()
            doneBytes += file.offset
            progress(ImportProgress(bytesRead: doneBytes, totalBytes: total, documents: summary.documents + summary.errors,
                                    elapsed: Date().timeIntervalSince(start)))
        }
        if let writer {
            let s = try writer.finish()
            summary.inserted += s.inserted
            summary.replaced += s.replaced
            summary.unchanged += s.unchanged
            summary.chunks += s.chunksWritten
            if case .full = options.durability {} else { try collection?.database.sync() }
        }
        for s in sidecars where s.reader.rowsRead != s.reader.rows {
            throw ImportError(.badSidecar, file: s.reader.path, line: 0,
                              detail: "has \(s.reader.rows) rows, but the input has \(s.reader.rowsRead) records")
        }
        summary.bytes = doneBytes
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    // MARK: Batches

    enum RawRecord: Sendable {
        case jsonl([UInt8])
        case document(DocumentInput)
        case whole([UInt8], id: String, markdown: Bool)
    }

    struct Batch {
        var records: [RawRecord] = []
        var locations: [RecordLocation] = []
        var vectors: [[String: [Float]]] = []
        var bytes = 0

        mutating func add(_ r: RawRecord, at loc: RecordLocation, bytes n: Int, vectors v: [String: [Float]]) {
            records.append(r)
            locations.append(loc)
            vectors.append(v)
            bytes += n
        }

        func isFull(_ o: ImportOptions) -> Bool { records.count >= o.batchDocuments || bytes >= o.batchBytes }
    }

    /// Parses, validates and chunks a batch on `workers` threads; returns the good records in
    /// input order (a later record with the same id replaces an earlier one).
    private func prepare(
        _ batch: Batch, settings: CollectionSettings, chunking: ChunkingSettings,
        summary: inout ImportSummary, problem: (ImportError) -> Void
    ) throws -> [PreparedDocument] {
        let n = batch.records.count
        let workers = max(1, min(options.workers, n))
        let results = Mutex<[[(Int, Result<PreparedDocument, ImportError>)]]>(Array(repeating: [], count: workers))
        let records = batch.records, locations = batch.locations, vectors = batch.vectors
        // Documents differ in size by orders of magnitude, so equal shares of the batch leave
        // one thread idle while the other finishes; each thread takes the next few records
        // instead.
        let nextRecord = Atomic<Int>(0)
        let step = 4
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var local: [(Int, Result<PreparedDocument, ImportError>)] = []
            local.reserveCapacity(n / workers + step)
            while true {
                let lo = nextRecord.wrappingAdd(step, ordering: .relaxed).oldValue
                guard lo < n else { break }
                for i in lo..<min(lo + step, n) {
                    local.append((i, Result { () throws(ImportError) -> PreparedDocument in
                        try Self.prepareOne(records[i], at: locations[i], sidecar: vectors[i], settings: settings, chunking: chunking)
                    }))
                }
            }
            results.withLock { $0[w] = local }
        }
        // Back to input order: the threads' runs of records interleave.
        let ordered = results.withLock { $0 }.joined().sorted { $0.0 < $1.0 }.map(\.1)
        var out: [PreparedDocument] = []
        out.reserveCapacity(n)
        var position: [String: Int] = [:]
        do {
            for r in ordered {
                switch r {
                case .success(let doc):
                    summary.documents += 1
                    if let at = position[doc.id] {
                        out[at] = doc
                    } else {
                        position[doc.id] = out.count
                        out.append(doc)
                    }
                case .failure(let error):
                    summary.errors += 1
                    guard options.onError == .skip else { throw error }
                    summary.skipped += 1
                    problem(error)
                }
            }
        }
        return out
    }

    static func prepareOne(
        _ record: RawRecord, at loc: RecordLocation, sidecar: [String: [Float]], settings: CollectionSettings, chunking: ChunkingSettings
    ) throws(ImportError) -> PreparedDocument {
        var chunking = chunking
        var doc: DocumentInput
        switch record {
        case .jsonl(let line):
            doc = try JSONLParser.parse(line[...], at: loc)
        case .document(let d):
            doc = d
        case .whole(let bytes, let id, let markdown):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ImportError(.invalidUTF8, file: loc.file, line: firstInvalidLine(bytes), detail: "invalid UTF-8")
            }
            var title: String?
            if markdown {
                title = text.split(separator: "\n", omittingEmptySubsequences: true).first { $0.hasPrefix("#") }
                    .map { String($0.drop { $0 == "#" || $0 == " " }) }
                if chunking.strategy == .fixed { chunking.strategy = .markdown }
            }
            doc = DocumentInput(id: id, title: title, text: text)
        }
        for (space, v) in sidecar { doc.vectors[space] = v }
        do {
            return try Collection.prepare(doc, settings: settings, chunking: chunking)
        } catch {
            // The library names DocumentInput's fields; JSONL calls vectors "dense".
            var field = error.field
            if case .jsonl = record, let f = field {
                field = f.hasPrefix("vectors") ? "dense" + f.dropFirst("vectors".count) : f.replacingOccurrences(of: ".vectors", with: ".dense")
            }
            throw ImportError(.rejected, file: loc.file, line: loc.line, field: field, detail: error.message)
        }
    }

    /// The 1-based line of the first invalid UTF-8 sequence.
    static func firstInvalidLine(_ bytes: [UInt8]) -> Int {
        var line = 1
        var lineStart = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            if String(validating: bytes[lineStart..<i], as: UTF8.self) == nil { return line }
            line += 1
            lineStart = i + 1
        }
        return line
    }

    /// Before anything is written, checks that each sidecar has one row per record of the
    /// JSONL, text and Markdown inputs (CSV rows and standard input are checked at the end).
    private func precheckRowCounts(_ inputs: [InputFileSpec], _ sidecars: [(space: String, reader: NpyReader)]) throws(ImportError) {
        var records = 0
        for spec in inputs {
            switch spec.format {
            case .csv: return
            case .text, .markdown: records += 1
            case .jsonl:
                if spec.path == "-" { return }
                let file = try InputFile(path: spec.path)
                do {
                    while try file.nextLine({ line in
                        if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { records += 1 }
                    }) {}
                } catch let e as ImportError {
                    throw e
                } catch {
                    throw ImportError(.cannotRead, file: spec.path, line: 0, detail: "\(error)")
                }
            }
        }
        for s in sidecars where s.reader.rows != records {
            throw ImportError(.badSidecar, file: s.reader.path, line: 0, detail: "has \(s.reader.rows) rows, but the input has \(records) records")
        }
    }

    // MARK: CSV

    private func readCSV(
        _ file: InputFile, into batch: inout Batch, flush: () throws -> Void,
        vectors: (RecordLocation) throws(ImportError) -> [String: [Float]],
        problem: (ImportError) -> Void, summary: inout ImportSummary
    ) throws {
        var header: [String]?
        var pending: [ArraySlice<UInt8>] = []
        var row = 0
        func nextPhysical() throws -> ArraySlice<UInt8>? {
            var out: ArraySlice<UInt8>?
            guard try file.nextLine({ out = ArraySlice(Array($0)) }) else { return nil }
            return out
        }
        let csv = options.csv
        while let line = try pending.popLast() ?? nextPhysical() {
            row += 1
            let startLine = file.lineNumber
            guard let fields = try CSVParser.fields(line, more: nextPhysical) else {
                throw ImportError(.badRow, file: file.name, line: startLine, detail: "a quoted field is not closed")
            }
            if line.isEmpty { continue }
            guard let names = header else {
                header = fields
                for required in [csv.idColumn, csv.textColumn] where !fields.contains(required) {
                    throw ImportError(.missingField, file: file.name, line: startLine, field: required,
                                      detail: "the header has no such column (use --id-column / --text-column)")
                }
                continue
            }
            let loc = RecordLocation(file: file.name, line: startLine)
            let sidecar = try vectors(loc)
            guard fields.count == names.count else {
                let e = ImportError(.badRow, file: file.name, line: startLine, detail: "\(fields.count) fields, the header has \(names.count)")
                summary.errors += 1
                guard options.onError == .skip else { throw e }
                summary.skipped += 1
                problem(e)
                continue
            }
            var id = "", text = "", title: String?
            var metadata = Metadata()
            let titleColumn = csv.titleColumn ?? (names.contains("title") ? "title" : nil)
            for (name, value) in zip(names, fields) {
                if name == csv.idColumn { id = value }
                else if name == csv.textColumn { text = value }
                else if name == titleColumn { title = value.isEmpty ? nil : value }
                else if !value.isEmpty, csv.metadataColumns?.contains(name) ?? true { metadata[name] = CSVParser.typed(value) }
            }
            batch.add(.document(DocumentInput(id: id, title: title, text: text, metadata: metadata)), at: loc, bytes: line.count, vectors: sidecar)
            if batch.isFull(options) { try flush() }
        }
    }
}
