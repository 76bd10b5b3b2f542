import ArgumentParser
import Foundation
import RAGDB

#if canImport(Glibc)
import Glibc
#endif

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "BM25 search over a collection's chunks (one query, or a batch file).",
        discussion: """
            The text is analyzed like the chunks (the collection's analyzer) and ranked with \\
            BM25 (Lucene's formula, k1 1.2, b 0.75), exactly: MaxScore pruning returns the \\
            same chunks and scores as scoring every match.

            Batch mode reads JSONL lines {"id", "text"} and writes one JSON line per query: \\
            {"query_id", "results": [{"chunk", "doc", "score", "text"}]}, "doc" being the \\
            document's external id and "chunk" the chunk id.

            Examples:
              ragdb search my.ragdb --collection docs --text "copy-on-write b-tree" --k 5
              ragdb search my.ragdb --collection docs --queries queries.jsonl --k 100 > run.jsonl
            """)

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    @Option(name: .long, help: "The query text.")
    var text: String?

    @Option(name: .long, help: "A JSONL file of queries {\"id\", \"text\"} (or - for standard input).")
    var queries: String?

    @Option(name: .long, help: "How many results.")
    var k = 10

    @Option(name: .long, help: "BM25 k1 (term-frequency saturation).")
    var k1 = 1.2

    @Option(name: .long, help: "BM25 b (length normalisation, 0-1).")
    var b = 0.75

    @Option(name: .long, help: "Top-k method: accumulate, maxscore or exhaustive (all exact; they differ in speed).")
    var method = "accumulate"

    @Flag(name: .long, help: "Print JSON (always on in batch mode).")
    var json = false

    @Flag(name: .long, help: "Leave chunk text out of the results.")
    var noText = false

    @Flag(name: .long, help: "Batch mode: print timing to standard error as JSON (index load seconds, queries/s, p50/p99 latency in µs; search only, one thread).")
    var timing = false

    func validate() throws {
        guard (text == nil) != (queries == nil) else { throw ValidationError("give either --text or --queries") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        guard k1 >= 0, (0...1).contains(b) else { throw ValidationError("--k1 must be at least 0 and --b between 0 and 1") }
    }

    struct Hit: Encodable {
        var chunk: UInt64
        var doc: String
        var score: Double
        var text: String?
    }

    func run() throws {
        let db = try openExisting(database)
        let c = try db.collection(collection)
        let searchMethod: TextIndex.Method = try choice(method, "--method") ?? .accumulate
        let loadStart = Date()
        let index = try c.loadTextIndex(k1: k1, b: b)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var latencies: [Double] = []
        func hits(_ q: String) throws -> [Hit] {
            if noText {
                // Document ids come from the index's in-memory map: no chunk is read.
                return index.search(q, k: k, method: searchMethod).map { Hit(chunk: $0.chunk.rawValue, doc: index.documentID(of: $0.chunk) ?? "", score: $0.score, text: nil) }
            }
            return try c.search(q, k: k, in: index).map { Hit(chunk: $0.chunk.id.rawValue, doc: $0.documentID, score: $0.score, text: $0.chunk.text) }
        }
        if let text {
            let results = try hits(text)
            if json {
                struct Payload: Encodable { var results: [Hit] }
                try Output.json(Payload(results: results))
            } else if results.isEmpty {
                Output.line("no results")
            } else {
                for (rank, h) in results.enumerated() {
                    Output.line("\(rank + 1). \(h.doc) (chunk \(h.chunk), score \(String(format: "%.4f", h.score)))")
                    if let t = h.text { Output.line("   " + t.prefix(200).replacingOccurrences(of: "\n", with: " ")) }
                }
            }
            return
        }
        struct Line: Encodable {
            var query_id: String
            var results: [Hit]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let path = queries!
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw CLIError(code: "search.cannot_open", message: "\(path): cannot read", exit: RAGDBExit.cannotOpen)
            }
            data = d
        }
        var out = Data()
        for (n, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): malformed JSON", exit: RAGDBExit.badInput)
            }
            let id: String
            if let s = obj["id"] as? String { id = s } else if let i = obj["id"] as? Int { id = String(i) } else {
                throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"id\": missing or not a string", exit: RAGDBExit.badInput)
            }
            guard let q = obj["text"] as? String else {
                throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"text\": missing or not a string", exit: RAGDBExit.badInput)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let found = try hits(q)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
            out.append(try encoder.encode(Line(query_id: id, results: found)))
            out.append(0x0A)
            if out.count > 1 << 20 { FileHandle.standardOutput.write(out); out.removeAll(keepingCapacity: true) }
        }
        FileHandle.standardOutput.write(out)
        if timing && !latencies.isEmpty {
            let sorted = latencies.sorted()
            let total = latencies.reduce(0, +) / 1e6
            struct Timing: Encodable {
                var queries: Int, load_seconds: Double, search_seconds: Double, queries_per_s: Double
                var p50_us: Double, p99_us: Double, index_terms: Int, index_chunks: Int, resident_bytes: Int
            }
            let t = Timing(queries: sorted.count, load_seconds: loadSeconds, search_seconds: total, queries_per_s: Double(sorted.count) / total,
                           p50_us: sorted[sorted.count / 2], p99_us: sorted[min(sorted.count - 1, sorted.count * 99 / 100)],
                           index_terms: index.termCount, index_chunks: index.documents, resident_bytes: index.residentBytes)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            Output.error(String(decoding: try enc.encode(t), as: UTF8.self))
        }
    }
}
