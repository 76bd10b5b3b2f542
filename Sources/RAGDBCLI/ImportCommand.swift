import ArgumentParser
import Foundation
import RAGDB
import RAGDBChunks

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import documents from JSONL files into a collection.",
        discussion: """
            Each line of a JSONL file is one document: {"id", "text", "title"?, "metadata"?, \
            "chunks"?}. "metadata" is an object of strings, integers, numbers, booleans and \
            string lists. "chunks" is a list of {"text", "metadata"?} when the caller has \
            already chunked the document; without it the document is stored as one chunk. \
            Documents are upserted: an unchanged document is skipped, a changed one replaced. \
            Each batch is one transaction. A bad record stops the import with file:line and \
            field; nothing of its batch is written.

            Example:
              ragdb import my.ragdb --collection docs samples/corpus.jsonl
            """)

    @Argument(help: "The database directory (created when missing).")
    var database: String

    @Option(name: .long, help: "The collection (created when missing).")
    var collection: String

    @Option(name: .long, help: "Documents per transaction.")
    var batch = 1000

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    @Argument(help: "JSONL files, or - for standard input.")
    var paths: [String]

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard !paths.isEmpty else { throw ValidationError("give at least one input file, or - for standard input") }
    }

    struct Summary: Encodable {
        var documents = 0
        var inserted = 0
        var replaced = 0
        var unchanged = 0
        var chunks = 0
        var bytes = 0
        var seconds = 0.0
    }

    func run() throws {
        let start = Date()
        let db = try Database.open(at: database)
        let coll = try db.collection(collection, creatingWith: CollectionSettings())
        var summary = Summary()
        for path in paths {
            let reader = try LineReader(path: path)
            let name = path == "-" ? "<stdin>" : path
            var pending: [DocumentInput] = []
            func flush() throws {
                guard !pending.isEmpty else { return }
                let s = try coll.upsert(pending)
                summary.inserted += s.inserted
                summary.replaced += s.replaced
                summary.unchanged += s.unchanged
                summary.chunks += s.chunksWritten
                pending.removeAll(keepingCapacity: true)
            }
            while let line = reader.next() {
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                let doc = try JSONLRecord.parse(line, file: name, line: reader.lineNumber)
                do {
                    try Collection.validate(doc)
                } catch {
                    throw InputError(code: error.code.name, file: name, line: reader.lineNumber, field: error.field, detail: error.message)
                }
                pending.append(doc)
                summary.documents += 1
                if pending.count >= batch { try flush() }
            }
            try flush()
            summary.bytes += reader.bytesRead
        }
        summary.seconds = Date().timeIntervalSince(start)
        if json {
            try Output.json(summary)
        } else {
            Output.line("imported \(summary.documents) documents (\(summary.inserted) new, \(summary.replaced) replaced, \(summary.unchanged) unchanged), \(summary.chunks) chunks written, \(humanBytes(UInt64(summary.bytes))) read in \(String(format: "%.2f", summary.seconds)) s")
        }
    }
}

/// Turns one JSONL line into a document, naming the field at fault.
enum JSONLRecord {
    static func parse(_ line: [UInt8], file: String, line number: Int) throws -> DocumentInput {
        func fail(_ field: String?, _ detail: String, code: String = "import.bad_record") -> InputError {
            InputError(code: code, file: file, line: number, field: field, detail: detail)
        }
        guard String(validating: line, as: UTF8.self) != nil else { throw fail(nil, "invalid UTF-8", code: "import.invalid_utf8") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(line))
        } catch {
            throw fail(nil, "malformed JSON", code: "import.malformed_json")
        }
        guard case .object(let obj) = value else { throw fail(nil, "expected a JSON object, found \(value.kind)") }
        let id: String
        switch obj["id"] {
        case .string(let s)?: id = s
        case .int(let i)?: id = String(i)
        case nil: throw fail("id", "missing", code: "import.missing_field")
        case let other?: throw fail("id", "expected a string, found \(other.kind)")
        }
        var title: String?
        switch obj["title"] {
        case .string(let s)?: title = s
        case nil, .null?: title = nil
        case let other?: throw fail("title", "expected a string, found \(other.kind)")
        }
        let metadata = try parseMetadata(obj["metadata"], field: "metadata", fail)
        var chunks: [ChunkInput]?
        if let raw = obj["chunks"], raw != .null {
            guard case .array(let items) = raw else { throw fail("chunks", "expected an array, found \(raw.kind)") }
            chunks = []
            for (i, item) in items.enumerated() {
                guard case .object(let c) = item else { throw fail("chunks[\(i)]", "expected an object, found \(item.kind)") }
                guard case .string(let text)? = c["text"] else { throw fail("chunks[\(i)].text", "missing or not a string", code: "import.missing_field") }
                chunks!.append(ChunkInput(text: text, metadata: try parseMetadata(c["metadata"], field: "chunks[\(i)].metadata", fail)))
            }
        }
        let text: String
        switch obj["text"] {
        case .string(let s)?: text = s
        case nil, .null?:
            guard let chunks, !chunks.isEmpty else { throw fail("text", "missing", code: "import.missing_field") }
            text = chunks.map(\.text).joined(separator: "\n\n")
        case let other?: throw fail("text", "expected a string, found \(other.kind)")
        }
        return DocumentInput(id: id, title: title, text: text, metadata: metadata, chunks: chunks)
    }

    static func parseMetadata(_ value: JSONValue?, field: String, _ fail: (String?, String, String) -> InputError) throws -> Metadata {
        guard let value, value != .null else { return [:] }
        guard case .object(let obj) = value else { throw fail(field, "expected an object, found \(value.kind)", "import.bad_record") }
        var out = Metadata()
        for (k, v) in obj {
            guard let m = v.metadataValue else {
                throw fail("\(field).\(k)", "expected a string, integer, number, boolean or list of strings, found \(v.kind)", "import.bad_metadata")
            }
            out[k] = m
        }
        return out
    }
}
