import ArgumentParser
import Foundation
import RAGDB

struct NgramCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ngram",
        abstract: "Exact substring search over chunk text with the n-gram FM-index (SEAL).",
        discussion: """
            Patterns are normalised like the chunk text (the collection's ngram_index \\
            normalization); the index puts one space before every chunk, so " word" also \\
            matches a chunk's first word. No match spans two chunks.

            Examples:
              ragdb ngram count my.ragdb --collection docs "copy-on-write"
              ragdb ngram locate my.ragdb --collection docs " b-tree" --limit 5
              ragdb ngram next my.ragdb --collection docs " memory m" --k 5
              ragdb ngram search my.ragdb --collection docs "how are pages freed" --k 5

            With --tokens, the pattern is a comma-separated list of token ids and the \
            collection's token-id index answers (created by `ragdb import --ngram-tokens`):
              ragdb ngram next my.ragdb --collection docs --tokens "464,3290" --k 5
            """,
        subcommands: [Count.self, Locate.self, Next.self, Search.self])

    struct Target: ParsableArguments {
        @Argument(help: "The database directory.")
        var database: String

        @Option(name: .long, help: "The collection.")
        var collection: String

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        @Flag(name: .long, help: "The pattern is token ids, comma-separated (\"464,3290\"); search the token-id index.")
        var tokens = false

        /// Runs `body` with the collection's n-gram index read in place (zero-copy).
        func withIndex<R>(_ body: (Collection, NgramIndex) throws -> R) throws -> R {
            let c = try openExisting(database).collection(collection)
            return try c.withNgramIndex { try body(c, $0) }
        }

        /// Runs `body` with the collection's token-id index read in place.
        func withTokenIndex<R>(_ body: (TokenNgramIndex) throws -> R) throws -> R {
            try openExisting(database).collection(collection).withTokenNgramIndex(body)
        }
    }

    /// "464, 3290" → token ids; the empty string is the empty pattern.
    static func tokenIDs(_ text: String) throws -> [UInt32] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts == [""] { return [] }
        return try parts.map { part in
            guard let id = UInt32(part) else {
                throw ValidationError("--tokens: \"\(part)\" is not a token id (an integer from 0 to 4294967295)")
            }
            return id
        }
    }

    static func show(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    struct Count: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Occurrences of a pattern (overlapping ones count) and the distinct chunks holding it.")
        @OptionGroup var target: Target
        @Argument(help: "The pattern.") var pattern: String
        @Option(name: .long, help: "Count distinct chunks only up to this many occurrences (each is located).") var chunkLimit = 1_000_000

        func validate() throws { if target.tokens { _ = try NgramCommand.tokenIDs(pattern) } }

        func run() throws {
            let occurrences: Int, chunks: Int?
            let p = target.tokens ? try NgramCommand.tokenIDs(pattern) : []
            let limit = chunkLimit
            if target.tokens {
                (occurrences, chunks) = try target.withTokenIndex { index in
                    let n = index.count(tokens: p)
                    return (n, n <= limit ? Set(index.locate(tokens: p, limit: limit).map(\.chunk)).count : nil)
                }
            } else {
                (occurrences, chunks) = try target.withIndex { _, index in
                    let b = index.normalized(pattern)
                    return (index.count(bytes: b), index.chunkCount(bytes: b, limit: limit))
                }
            }
            if target.json {
                struct Out: Encodable { var occurrences: Int; var chunks: Int? }
                try Output.json(Out(occurrences: occurrences, chunks: chunks))
            } else {
                Output.line("\(occurrences) occurrences in \(chunks.map(String.init) ?? "(more than --chunk-limit, not located)") chunks")
            }
        }
    }

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where a pattern occurs: chunk, document and byte offset in the chunk text.")
        @OptionGroup var target: Target
        @Argument(help: "The pattern.") var pattern: String
        @Option(name: .long, help: "At most this many occurrences.") var limit = 10

        func validate() throws { if target.tokens { _ = try NgramCommand.tokenIDs(pattern) } }

        func run() throws {
            struct Hit: Encodable { var chunk: UInt64; var doc: String; var offset: Int; var length: Int }
            let hits: [Hit]
            let limit = limit
            if target.tokens {
                let p = try NgramCommand.tokenIDs(pattern)
                hits = try target.withTokenIndex { index in
                    index.locate(tokens: p, limit: limit).map {
                        Hit(chunk: $0.chunk, doc: index.documentID(of: ChunkIdentifier(rawValue: $0.chunk)) ?? "", offset: $0.offset, length: $0.length)
                    }
                }
            } else {
                hits = try target.withIndex { _, index in
                    index.locate(bytes: index.normalized(pattern), limit: limit).map {
                        Hit(chunk: $0.chunk, doc: index.documentID(of: ChunkIdentifier(rawValue: $0.chunk)) ?? "", offset: $0.offset, length: $0.length)
                    }
                }
            }
            if target.json {
                struct Out: Encodable { var occurrences: [Hit] }
                try Output.json(Out(occurrences: hits))
            } else {
                if hits.isEmpty { Output.line("no occurrences") }
                for h in hits { Output.line("\(h.doc) (chunk \(h.chunk)) at \(target.tokens ? "token" : "byte") \(h.offset)") }
            }
        }
    }

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The most frequent bytes that follow a prefix (the primitive of constrained decoding); END where a chunk ends.")
        @OptionGroup var target: Target
        @Argument(help: "The prefix (may be empty).") var prefix: String
        @Option(name: .long, help: "At most this many continuations.") var k = 10

        func validate() throws { if target.tokens { _ = try NgramCommand.tokenIDs(prefix) } }

        func run() throws {
            if target.tokens {
                let p = try NgramCommand.tokenIDs(prefix), k = k
                let next = try target.withTokenIndex { $0.next(tokens: p, k: k) }
                struct Item: Encodable { var token: UInt32?; var count: Int }
                let items = next.map { Item(token: $0.token, count: $0.count) }
                if target.json {
                    struct Out: Encodable { var continuations: [Item] }
                    try Output.json(Out(continuations: items))
                } else {
                    for i in items { Output.line("\(i.token.map(String.init) ?? "END")\t\(i.count)") }
                }
                return
            }
            let k = k
            let next = try target.withIndex { _, index in index.next(bytes: index.normalized(prefix), k: k) }
            struct Item: Encodable { var byte: Int?; var text: String?; var count: Int }
            let items = next.map { n in Item(byte: n.byte.map(Int.init), text: n.byte.map { String(UnicodeScalar($0)) }, count: n.count) }
            if target.json {
                struct Out: Encodable { var continuations: [Item] }
                try Output.json(Out(continuations: items))
            } else {
                for i in items {
                    let shown = i.byte.map { $0 < 0x80 ? "\"\(String(UnicodeScalar(UInt8($0))))\"" : String(format: "0x%02x", $0) } ?? "END"
                    Output.line("\(shown)\t\(i.count)")
                }
            }
        }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Chunks ranked by SEAL's n-gram scoring (README: formula and worked example).",
            discussion: "A query given as text becomes its 1-3-word n-grams (SEAL-lite, P(n|q) = 1/2). With --ngrams FILE.jsonl, lines {\"ngram\", \"log_prob\"} give the n-grams and a language model's log-probabilities.")
        @OptionGroup var target: Target
        @Argument(help: "The query text (or - with --ngrams).") var query: String
        @Option(name: .long, help: "A JSONL file of n-grams {\"ngram\", \"log_prob\"?}.") var ngrams: String?
        @Option(name: .long, help: "How many chunks.") var k = 10

        func validate() throws {
            if target.tokens { throw ValidationError("--tokens: search scores text n-grams; count, locate and next take token ids") }
        }

        func run() throws {
            let (hits, documents): ([NgramHit], [UInt64: String]) = try target.withIndex { c, index in
            let hits: [NgramHit]
            if let ngrams {
                guard let data = FileManager.default.contents(atPath: ngrams) else {
                    throw CLIError(code: "ngram.cannot_open", message: "\(ngrams): cannot read", exit: RAGDBExit.cannotOpen)
                }
                var grams: [(text: String, logProbability: Double?)] = []
                for (n, line) in data.split(separator: 0x0A).enumerated() {
                    guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let g = obj["ngram"] as? String else {
                        throw CLIError(code: "ngram.bad_input", message: "\(ngrams):\(n + 1): field \"ngram\": missing or not a string", exit: RAGDBExit.badInput)
                    }
                    grams.append((g, (obj["log_prob"] as? NSNumber)?.doubleValue))
                }
                hits = try c.searchNgrams(grams, in: index, k: k)
            } else {
                hits = try c.searchNgrams(text: query, in: index, k: k)
            }
            return (hits, Dictionary(hits.map { ($0.chunk.rawValue, index.documentID(of: $0.chunk) ?? "") }, uniquingKeysWith: { a, _ in a }))
            }
            struct Match: Encodable { var ngram: String; var frequency: Int; var weight: Double; var cover: Double; var contribution: Double }
            struct Hit: Encodable { var chunk: UInt64; var doc: String; var score: Double; var matches: [Match] }
            let out = hits.map { h in
                Hit(chunk: h.chunk.rawValue, doc: documents[h.chunk.rawValue] ?? "", score: h.score,
                    matches: h.matches.map { Match(ngram: NgramCommand.show($0.ngram), frequency: $0.frequency, weight: $0.weight, cover: $0.cover, contribution: $0.contribution) })
            }
            if target.json {
                struct Out: Encodable { var results: [Hit] }
                try Output.json(Out(results: out))
            } else {
                if out.isEmpty { Output.line("no results") }
                for (rank, h) in out.enumerated() {
                    Output.line("\(rank + 1). \(h.doc) (chunk \(h.chunk), score \(String(format: "%.3f", h.score))): " + h.matches.map { "\"\($0.ngram)\"" }.joined(separator: ", "))
                }
            }
        }
    }
}

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Merge a collection's n-gram index into one segment without deleted chunks, in one transaction.")

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    func run() throws {
        let c = try openExisting(database, write: true).collection(collection)
        let n = try c.compactNgramIndex()
        Output.line("n-gram index of \(collection): one segment over \(n) chunks")
    }
}
