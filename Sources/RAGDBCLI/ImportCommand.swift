import ArgumentParser
import Foundation
import RAGDB
import RAGDBImport

#if canImport(Glibc)
import Glibc
#endif

/// Parses an option value into one of a type's cases, or fails with the allowed values.
func choice<T: RawRepresentable & CaseIterable>(_ value: String?, _ option: String) throws -> T? where T.RawValue == String {
    guard let value else { return nil }
    guard let v = T(rawValue: value) else {
        throw ValidationError("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(value)'")
    }
    return v
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import documents (JSONL, CSV, text, Markdown; gzip accepted) into a collection.",
        discussion: """
            PATH is a file, a directory (walked recursively; files are picked by extension: \
            .jsonl .ndjson .csv .txt .md, each optionally .gz), or - for standard input.

            JSONL: one document per line, {"id", "text", "title"?, "metadata"?, "chunks"?}; \
            "metadata" holds strings, integers, numbers, booleans and string lists; "chunks" \
            is [{"text", "metadata"?}] when the caller chunked the document. CSV: a header row; \
            --id-column and --text-column name the columns, the others become metadata. Text \
            and Markdown: a file is a document whose id is its path relative to the import root.

            Documents are upserted in large transactions: an unchanged document is skipped, a \
            changed one has its chunks replaced, so running the same import again finishes an \
            interrupted one. A bad record stops the import with FILE:LINE: field "NAME" and \
            nothing of its batch is written (or, with --on-error skip, is reported and left out).

            Vectors: "dense": {"SPACE": [numbers]} on a document (which must then make one \
            chunk) or on a chunk, or --vectors SPACE=FILE.npy with one row per record; the \
            dimension is checked against the space, NaN and infinity are refused.

            Examples:
              ragdb import my.ragdb --collection docs samples/corpus.jsonl
              ragdb import my.ragdb --collection man --chunker none --vectors minilm=corpus.npy corpus.jsonl
              ragdb import my.ragdb --collection man --chunker none corpus.jsonl.gz
              ragdb import my.ragdb --collection notes --chunker markdown --chunk-size 256 notes/
              cat rows.csv | ragdb import my.ragdb --collection t --format csv --text-column body -
            """)

    @Argument(help: "The database directory (created when missing).")
    var database: String

    @Option(name: .long, help: "The collection (created with default settings when missing).")
    var collection: String

    @Argument(help: "Files, directories, or - for standard input.")
    var paths: [String]

    @Option(name: .long, help: "Input format: jsonl, csv, text or markdown (default: by file extension).")
    var format: String?

    @Option(name: .long, help: "Chunker: fixed, sentence, markdown or none (default: the collection's).")
    var chunker: String?

    @Option(name: .long, help: "Chunk size in tokens (fixed, sentence, markdown).")
    var chunkSize: Int?

    @Option(name: .long, help: "Tokens shared by neighbouring fixed chunks.")
    var chunkOverlap: Int?

    @Option(name: .long, help: "CSV: the id column.")
    var idColumn = "id"

    @Option(name: .long, help: "CSV: the text column.")
    var textColumn = "text"

    @Option(name: .long, help: "CSV: the title column (default: 'title' when present).")
    var titleColumn: String?

    @Option(name: .long, help: "CSV: comma-separated metadata columns (default: all other columns).")
    var metadataColumns: String?

    @Option(name: .long, help: ArgumentHelp("A vector sidecar: SPACE=FILE.npy, float32 or float16, one row per input record in order (repeatable). The space is added to the collection when missing.", valueName: "space=file"))
    var vectors: [String] = []

    @Option(name: .long, help: ArgumentHelp("Declare a vector space: NAME:DIMS[:cosine|dot|l2[:float32|float16|int8]] (repeatable).", valueName: "space"))
    var space: [String] = []

    @Option(name: .long, help: ArgumentHelp("Declare a learned sparse space (JSONL \"sparse\": {NAME: {term: weight}}) when the collection is created (repeatable).", valueName: "name"))
    var sparseSpace: [String] = []

    @Option(name: .long, help: "Stored element type of spaces created for --vectors: float32, float16 or int8.")
    var vectorType = "float32"

    @Option(name: .long, help: "What to do with a bad record: fail (stop, write nothing of its batch) or skip (report it, import the rest).")
    var onError = "fail"

    @Option(name: .long, help: "Documents per transaction.")
    var batch = 2000

    @Option(name: .long, help: "MiB of input per transaction (default 8). Larger batches rewrite the BM25 index's pages less often: faster on large inputs, at about 8 MiB of memory per extra MiB.")
    var batchMib = 8

    @Flag(name: .long, help: "Create the collection without a BM25 text index (faster imports; no 'ragdb search').")
    var noTextIndex = false

    @Option(name: .long, help: "Create the collection with an n-gram FM-index of chunk text, normalised with none, lowercase (case, where UTF-8 lengths agree) or fold (case and diacritics) ('ragdb ngram'); the import ends by indexing what it wrote.")
    var ngramIndex: String?

    @Flag(name: .long, help: "With --ngram-index: also index the token ids given per chunk ('tokens' in the JSONL) for 'ragdb ngram ... --tokens'.")
    var ngramTokens = false

    @Option(name: .long, help: "full (every batch flushed, the default), meta (the meta page is not flushed: a crash may lose the last batch, never corrupts) or none (one sync at the end; a killed process loses nothing, an OS crash during the import may: rerun it).")
    var durability = "full"

    @Option(name: .long, help: "For a new collection: the weight of the document title's BM25 score, added to each chunk's (default 0.3; 0: titles are not indexed).")
    var titleWeight: Double?

    @Flag(name: .long, help: "Validate and chunk everything, write nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Print the summary as JSON: {files, documents, inserted, replaced, unchanged, chunks, bytes, skipped, errors, seconds, dry_run}.")
    var json = false

    @Flag(name: .long, help: "No progress display.")
    var quiet = false

    func validate() throws {
        let _: InputFormat? = try choice(format, "--format")
        let _: ChunkingSettings.Strategy? = try choice(chunker, "--chunker")
        let _: ErrorPolicy? = try choice(onError, "--on-error")
        let _: VectorSpace.ElementType? = try choice(vectorType, "--vector-type")
        _ = try parsedVectors()
        _ = try parsedSpaces()
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (1...1024).contains(batchMib) else { throw ValidationError("--batch-mib must be between 1 and 1024") }
        guard !paths.isEmpty else { throw ValidationError("give at least one input path, or - for standard input") }
        if let s = chunkSize, s < 1 { throw ValidationError("--chunk-size must be at least 1") }
        if let o = chunkOverlap, o < 0 || o >= (chunkSize ?? 128) { throw ValidationError("--chunk-overlap must be at least 0 and below the chunk size") }
        if let n = ngramIndex, !NgramSettings.normalizations.contains(n) { throw ValidationError("--ngram-index must be none, lowercase or fold, not '\(n)'") }
        if ngramTokens && ngramIndex == nil { throw ValidationError("--ngram-tokens needs --ngram-index") }
    }

    func run() throws {
        var options = ImportOptions()
        options.format = try choice(format, "--format")
        options.batchDocuments = batch
        options.batchBytes = batchMib << 20
        options.onError = try choice(onError, "--on-error") ?? .fail
        options.vectorFiles = try parsedVectors()
        options.spaces = try parsedSpaces()
        options.sidecarElementType = try choice(vectorType, "--vector-type") ?? .float32
        options.dryRun = dryRun
        switch durability {
        case "full": options.durability = .full
        case "meta": options.durability = .noMetaSync
        case "none": options.durability = .none
        default: throw ValidationError("--durability must be full, meta or none, not '\(durability)'")
        }
        options.newCollectionSettings.textIndex = !noTextIndex
        if let ngramIndex { options.newCollectionSettings.ngramIndex = NgramSettings(normalization: ngramIndex, tokens: ngramTokens) }
        if let titleWeight { options.newCollectionSettings.titleWeight = titleWeight == 0 ? nil : titleWeight }
        if noTextIndex { options.newCollectionSettings.titleWeight = nil }
        options.newCollectionSettings.sparseSpaces = sparseSpace.map { SparseSpace(name: $0) }
        options.csv.idColumn = idColumn
        options.csv.textColumn = textColumn
        options.csv.titleColumn = titleColumn
        options.csv.metadataColumns = metadataColumns.map { $0.split(separator: ",").map(String.init) }
        if chunker != nil || chunkSize != nil || chunkOverlap != nil {
            var c = (try? existingChunking()) ?? ChunkingSettings()
            if let strategy: ChunkingSettings.Strategy = try choice(chunker, "--chunker") { c.strategy = strategy }
            if let chunkSize { c.size = chunkSize }
            if let chunkOverlap { c.overlap = chunkOverlap }
            if c.overlap >= c.size { c.overlap = 0 }
            options.chunking = c
        }
        let display = ProgressDisplay(enabled: !quiet)
        let summary = try Importer(options: options).run(
            databasePath: database, collection: collection, paths: paths,
            progress: { display.update($0) },
            problem: { display.problem("ragdb: skipped: \($0)") })
        display.finish()
        if !dryRun, let db = try? openExisting(database, write: true),
           let c = try? db.collection(collection), c.settings.ngramIndex != nil {
            // FM-index segments for everything pending: what this import wrote, and what an
            // interrupted one left.
            try c.buildNgramSegment()
        }
        if json {
            try Output.json(summary)
        } else {
            let rate = summary.seconds > 0 ? Double(summary.bytes) / summary.seconds / 1_000_000 : 0
            Output.line("\(summary.dryRun ? "checked" : "imported") \(summary.documents) documents from \(summary.files) files: \(summary.inserted) new, \(summary.replaced) replaced, \(summary.unchanged) unchanged; \(summary.chunks) chunks; \(humanBytes(UInt64(summary.bytes))) in \(String(format: "%.2f", summary.seconds)) s (\(String(format: "%.1f", rate)) MB/s); \(summary.skipped) skipped, \(summary.errors) errors")
        }
    }

    private func parsedVectors() throws -> [(space: String, path: String)] {
        try vectors.map { v in
            guard let eq = v.firstIndex(of: "="), eq != v.startIndex, v.index(after: eq) != v.endIndex else {
                throw ValidationError("--vectors takes SPACE=FILE.npy, not '\(v)'")
            }
            return (String(v[..<eq]), String(v[v.index(after: eq)...]))
        }
    }

    private func parsedSpaces() throws -> [VectorSpace] {
        try space.map { s in
            let parts = s.split(separator: ":").map(String.init)
            guard parts.count >= 2, parts.count <= 4, let dims = Int(parts[1]), dims > 0 else {
                throw ValidationError("--space takes NAME:DIMS[:METRIC[:TYPE]], not '\(s)'")
            }
            let metric: VectorSpace.Metric = try choice(parts.count > 2 ? parts[2] : nil, "--space metric") ?? .cosine
            let type: VectorSpace.ElementType = try choice(parts.count > 3 ? parts[3] : nil, "--space type") ?? .float32
            return VectorSpace(name: parts[0], dimensions: dims, metric: metric, elementType: type)
        }
    }

    /// The collection's stored chunking, when the database and collection exist.
    private func existingChunking() throws -> ChunkingSettings {
        try openExisting(database).collection(collection).settings.chunking
    }
}

/// The import progress display: a redrawn bar on a terminal, a plain line every few seconds
/// otherwise (for logs), nothing when quiet.
final class ProgressDisplay {
    private let enabled: Bool
    private let tty: Bool
    private var lastDraw = 0.0
    private var drawn = false

    init(enabled: Bool) {
        self.enabled = enabled
        tty = isatty(STDERR_FILENO) == 1
    }

    func update(_ p: ImportProgress) {
        guard enabled else { return }
        let interval = tty ? 0.1 : 5.0
        guard p.elapsed - lastDraw >= interval else { return }
        lastDraw = p.elapsed
        let mb = Double(p.bytesRead) / 1_000_000
        let rate = p.elapsed > 0 ? Double(p.documents) / p.elapsed : 0
        var eta = ""
        var bar = ""
        if p.totalBytes > 0 {
            let f = min(1, Double(p.bytesRead) / Double(p.totalBytes))
            if f > 0 { eta = String(format: " ETA %.0fs", p.elapsed * (1 - f) / f) }
            let width = 30
            let full = Int(f * Double(width))
            bar = "[" + String(repeating: "=", count: full) + String(repeating: " ", count: width - full) + "] "
        }
        let total = p.totalBytes > 0 ? String(format: "/%.1f", Double(p.totalBytes) / 1_000_000) : ""
        let line = "\(bar)\(String(format: "%.1f", mb))\(total) MB  \(p.documents) docs  \(String(format: "%.0f", rate)) docs/s\(eta)"
        if tty {
            Output.errorRaw("\r\u{1B}[2K" + line)
            drawn = true
        } else {
            Output.error("progress: " + line)
        }
    }

    func problem(_ message: String) {
        if drawn { Output.errorRaw("\r\u{1B}[2K"); drawn = false }
        Output.error(message)
    }

    func finish() {
        if drawn { Output.errorRaw("\r\u{1B}[2K") }
    }
}
