import ArgumentParser
import Foundation
import RAGDB
import RAGDBChunks

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a collection's documents as JSONL (the import format) to standard output.",
        discussion: """
            One line per document in id order: {"id", "title", "text", "metadata"} and, with \
            --chunks, "chunks": [{"text", "span": [start, end], "token_count", "metadata", \
            "dense", "tokens"}] where "dense" holds the chunk's vectors by space and "tokens" \
            the token ids it was imported with. Importing the output \
            again (into a collection with the same spaces) reproduces the same documents, \
            chunks and vectors.

            Example:
              ragdb export my.ragdb --collection docs --chunks > docs.jsonl
            """)

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    @Option(name: .long, help: "Output format (jsonl).")
    var format = "jsonl"

    @Flag(name: .long, help: "Include each document's chunks with their spans.")
    var chunks = false

    func validate() throws {
        guard format == "jsonl" else { throw ValidationError("--format must be jsonl") }
    }

    func run() throws {
        let db = try openExisting(database)
        let c = try db.collection(collection)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var buffer = Data()
        buffer.reserveCapacity(1 << 20)
        try c.forEachDocument(withChunks: chunks) { item in
            let doc = item.document, source = item.source
            var obj: [String: JSONOut] = ["id": .string(doc.id), "metadata": metadataJSON(doc.metadata)]
            if let title = doc.title { obj["title"] = .string(title) }
            if let source { obj["text"] = .string(source) }
            if chunks || source == nil {
                let all = chunks ? item.chunks : try c.documentWithChunks(doc.id)?.chunks ?? []
                obj["chunks"] = .array(all.enumerated().map { i, ch in
                    var o: [String: JSONOut] = ["text": .string(ch.text), "span": .array([.int(Int64(ch.span.start)), .int(Int64(ch.span.end))]),
                                                "token_count": .int(Int64(ch.tokenCount)), "metadata": metadataJSON(ch.metadata)]
                    if i < item.vectors.count, !item.vectors[i].isEmpty {
                        o["dense"] = .object(item.vectors[i].mapValues { .array($0.map { .double(Double($0)) }) })
                    }
                    if i < item.tokens.count, let t = item.tokens[i] { o["tokens"] = .array(t.map { .int(Int64($0)) }) }
                    return .object(o)
                })
            }
            buffer.append(try encoder.encode(JSONOut.object(obj)))
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                FileHandle.standardOutput.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            return true
        }
        FileHandle.standardOutput.write(buffer)
    }
}
