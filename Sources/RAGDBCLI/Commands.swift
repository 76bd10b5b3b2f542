import ArgumentParser
import Foundation
import RAGDB
import RAGDBChunks

/// The `ragdb` command: an embedded retrieval database for RAG.
struct RAGDBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ragdb",
        abstract: "An embedded retrieval database for retrieval-augmented generation.",
        discussion: """
            A database is a directory (one LMDB environment). Exit codes: 0 ok, 1 failure, \
            2 damage found, 64 usage, 65 bad input, 66 cannot open, 74 I/O.
            """,
        version: Database.softwareVersion,
        subcommands: [InitCommand.self, ImportCommand.self, CollectionsCommand.self, StatsCommand.self,
                      GetCommand.self, CheckCommand.self, ExportCommand.self, SearchCommand.self, IndexCommand.self, NgramCommand.self, CompactCommand.self, KVCommand.self, ShellCommand.self, UpgradeCommand.self])
}

/// Runs `ragdb` with `arguments` (without the program name) and returns the exit code.
///
/// Errors become one line on standard error (`ragdb: error: …`, then an optional `hint:`
/// line), or a JSON object `{"error": {"code", "message", "hint"}}` with `--json`; never a
/// stack trace.
public func runRAGDB(_ arguments: [String]) -> Int32 {
    var command: any ParsableCommand
    do {
        command = try RAGDBCommand.parseAsRoot(arguments)
    } catch {
        return reportParserError(error)
    }
    do {
        try command.run()
        return RAGDBExit.ok
    } catch let exit as CheckFailed {
        return exit.code
    } catch let error as ValidationError {
        return reportParserError(error)
    } catch let error as CleanExit {
        return reportParserError(error)
    } catch where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
        // `--help` and `--version` parse into a command whose run() throws for the parser.
        return reportParserError(error)
    } catch {
        let e = describe(error)
        if arguments.contains("--json") {
            struct Payload: Encodable {
                var error: Body
                struct Body: Encodable { var code: String; var message: String; var hint: String? }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(Payload(error: .init(code: e.code, message: e.message, hint: e.hint))) {
                Output.error(String(decoding: data, as: UTF8.self))
            }
        } else {
            Output.error("ragdb: error: \(e.message)")
            if let hint = e.hint { Output.error("hint: \(hint)") }
        }
        return e.exit
    }
}

/// Help, version and usage errors, formatted by ArgumentParser.
private func reportParserError(_ error: any Error) -> Int32 {
    let code = RAGDBCommand.exitCode(for: error)
    let message = RAGDBCommand.fullMessage(for: error)
    if code == .success {
        Output.line(message)
        return RAGDBExit.ok
    }
    Output.error(message)
    return code == .validationFailure ? RAGDBExit.usage : code.rawValue
}

/// Thrown by `check` after printing its report, to exit with `RAGDBExit.damaged`.
struct CheckFailed: Error { var code: Int32 }

/// Opens an existing database, read-only unless `write`.
func openExisting(_ path: String, write: Bool = false) throws -> Database {
    var options = Database.Options()
    options.create = false
    options.readOnly = !write
    return try Database.open(at: path, options: options)
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an empty database in a directory.",
        discussion: "Example:\n  ragdb init my.ragdb")

    @Argument(help: "The database directory (created when missing).")
    var database: String

    func run() throws {
        let existed = FileManager.default.fileExists(atPath: database + "/data.mdb")
        _ = try Database.open(at: database)
        Output.line(existed ? "\(database): already a ragdb database (format \(Database.formatVersion))"
                            : "created \(database) (format \(Database.formatVersion))")
    }
}

struct CollectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collections",
        abstract: "List the collections of a database with their counts and settings.",
        discussion: "Example:\n  ragdb collections my.ragdb --json")

    @Argument(help: "The database directory.")
    var database: String

    @Flag(name: .long, help: "Print JSON: {\"collections\": [{name, id, documents, chunks, settings}]}.")
    var json = false

    struct Row: Encodable {
        var name: String
        var id: UInt32
        var documents: UInt64
        var chunks: UInt64
        var created: Int64
        var settings: CollectionSettings
    }

    func run() throws {
        let db = try openExisting(database)
        var rows: [Row] = []
        for c in try db.collections() {
            let k = try c.counters()
            rows.append(Row(name: c.name, id: c.id.rawValue, documents: k.documents, chunks: k.chunks, created: c.created, settings: c.settings))
        }
        if json {
            struct Payload: Encodable { var collections: [Row] }
            try Output.json(Payload(collections: rows))
        } else if rows.isEmpty {
            Output.line("no collections")
        } else {
            Output.line(Output.table(["collection", "documents", "chunks", "chunking", "spaces"], rows.map { r in
                [r.name, String(r.documents), String(r.chunks),
                 "\(r.settings.chunking.strategy.rawValue) \(r.settings.chunking.size)/\(r.settings.chunking.overlap)",
                 r.settings.spaces.map { "\($0.name):\($0.dimensions)" }.joined(separator: ",")]
            }))
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show sizes: documents, chunks, text bytes raw and stored, bytes on disk, tables.",
        discussion: "Example:\n  ragdb stats my.ragdb --json")

    @Argument(help: "The database directory.")
    var database: String

    @Flag(name: .long, help: "Print the statistics as JSON (stable keys; see README).")
    var json = false

    func run() throws {
        let db = try openExisting(database)
        let s = try db.statistics()
        if json { try Output.json(s); return }
        Output.line("database \(s.path): format \(s.formatVersion), \(humanBytes(UInt64(s.fileBytes))) on disk (\(humanBytes(UInt64(s.allocatedBytes))) allocated), page \(s.pageSize) B, map \(humanBytes(UInt64(s.mapSize)))")
        if !s.collections.isEmpty {
            Output.line("")
            Output.line(Output.table(["collection", "documents", "chunks", "text", "stored", "ratio", "sources", "bm25 terms", "bm25 in memory"], s.collections.map { c in
                let ratio = c.storedChunkBytes == 0 ? "-" : String(format: "%.2f", Double(c.textBytes) / Double(c.storedChunkBytes))
                return [c.name, String(c.documents), String(c.chunks), humanBytes(c.textBytes), humanBytes(c.storedChunkBytes), ratio, humanBytes(c.sourceBytes),
                        c.textIndex.map { String($0.terms) } ?? "-", c.textIndex.map { humanBytes(UInt64($0.residentBytes)) } ?? "-"]
            }))
            let dense = s.collections.flatMap { c in c.denseIndexes.map { (c.name, $0) } }
            if !dense.isEmpty {
                Output.line("")
                Output.line(Output.table(["collection", "space", "codes", "lists", "vectors", "dense in memory"], dense.map { c, d in
                    [c, d.space, d.codes, String(d.lists), String(d.vectors), humanBytes(UInt64(d.residentBytes))]
                }))
            }
            let ngram = s.collections.flatMap { c in
                [c.ngramIndex.map { (c.name, "bytes", $0) }, c.tokenNgramIndex.map { (c.name, "token ids", $0) }].compactMap { $0 }
            }
            if !ngram.isEmpty {
                Output.line("")
                Output.line(Output.table(["collection", "n-gram index", "segments", "segment bytes", "dead chunks", "pending chunks"], ngram.map { c, kind, n in
                    [c, kind, String(n.segments), humanBytes(UInt64(n.segmentBytes)), String(n.deadChunks), String(n.pendingChunks)]
                }))
            }
        }
        Output.line("")
        Output.line(Output.table(["table", "entries", "depth", "branch", "leaf", "overflow", "bytes"], s.tables.map { t in
            [t.name, String(t.entries), String(t.depth), String(t.branchPages), String(t.leafPages), String(t.overflowPages), humanBytes(UInt64(t.bytes))]
        }))
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show a document with its metadata and chunks.",
        discussion: "Example:\n  ragdb get my.ragdb --collection docs --doc ir/bm25 --json")

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    @Option(name: .long, help: "The document's external id.")
    var doc: String

    @Flag(name: .long, help: "Print JSON: {id, title, metadata, source_length, chunks: [{id, ordinal, span, token_count, text, metadata}]}.")
    var json = false

    func run() throws {
        let db = try openExisting(database)
        let c = try db.collection(collection)
        guard let (d, chunks) = try c.documentWithChunks(doc) else {
            throw CLIError(code: RAGDBError.Code.notFound.name, message: "no document \"\(doc)\" in collection \"\(collection)\"", exit: RAGDBExit.cannotOpen)
        }
        if json {
            var obj: [String: JSONOut] = [
                "id": .string(d.id), "title": d.title.map { .string($0) } ?? .null,
                "metadata": metadataJSON(d.metadata), "source_length": .int(Int64(d.sourceLength)),
            ]
            obj["chunks"] = .array(chunks.map { ch in
                .object(["id": .int(Int64(ch.id.rawValue)), "ordinal": .int(Int64(ch.ordinal)),
                         "span": .array([.int(Int64(ch.span.start)), .int(Int64(ch.span.end))]),
                         "token_count": .int(Int64(ch.tokenCount)), "text": .string(ch.text),
                         "metadata": metadataJSON(ch.metadata)])
            })
            try Output.json(JSONOut.object(obj))
            return
        }
        Output.line("document \(d.id)" + (d.title.map { " — \($0)" } ?? ""))
        for (k, v) in d.metadata.sorted(by: { $0.key < $1.key }) { Output.line("  \(k): \(describe(v))") }
        Output.line("  \(chunks.count) chunks, \(d.sourceLength) bytes")
        for ch in chunks {
            Output.line("")
            Output.line("chunk \(ch.id) #\(ch.ordinal) bytes \(ch.span) \(ch.tokenCount) tokens")
            Output.line(ch.text)
        }
    }

    private func describe(_ v: MetadataValue) -> String {
        switch v {
        case .string(let s): "\"\(s)\""
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .strings(let l): "[" + l.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
    }
}

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify every stored value and the references between tables.",
        discussion: """
            Reads the whole database in one snapshot: each value's header and checksum, each \
            record's layout, documents ↔ chunks, sources, counters and id counters. Prints \
            what is damaged and exits 2 if anything is.

            Example:
              ragdb check my.ragdb
            """)

    @Argument(help: "The database directory.")
    var database: String

    @Flag(name: .long, help: "Print JSON: {\"checked_values\": N, \"problems\": [{table, entry, detail}]}.")
    var json = false

    func run() throws {
        let db = try openExisting(database)
        let report = try db.check()
        if json {
            try Output.json(report)
        } else if report.isClean {
            Output.line("ok: \(report.checkedValues) values checked, no problems")
        } else {
            for p in report.problems { Output.line("damaged: \(p)") }
            Output.line("\(report.problems.count) problems in \(report.checkedValues) values checked")
        }
        if !report.isClean { throw CheckFailed(code: RAGDBExit.damaged) }
    }
}

struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Upgrade a database written by an older ragdb to this format version, in place, in one transaction.",
        discussion: """
            Versions 2 and 3 added tables; version 4 changed the n-gram segment layout, so the upgrade moves every chunk of an \
            n-gram index back to pending and then rebuilds the segments (one transaction each; a kill leaves them pending, and \
            running the command again finishes). Version 5 added the pca8 dense code kind: from version 4 only the version \
            record changes. A database of the current version is left as it is.
            """)

    @Argument(help: "The database directory.")
    var database: String

    func run() throws {
        var options = Database.Options()
        options.create = false
        options.upgrade = true
        let db = try Database.open(at: database, options: options)
        for collection in try db.collections() where collection.settings.ngramIndex != nil {
            let indexed = try collection.buildNgramSegment()
            if indexed > 0 { Output.line("\(collection.name): n-gram index rebuilt over \(indexed) chunks") }
        }
        Output.line("\(database): format version \(Database.formatVersion)")
    }
}
