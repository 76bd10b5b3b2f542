import ArgumentParser
import CRAGDBEdit
import Foundation
import RAGDB
import RAGDBImport

#if canImport(Glibc)
import Glibc
#endif

/// Where the shell's lines come from: libedit on a terminal (editing keys, history), plain
/// standard input otherwise (scripts and tests pipe statements in).
protocol LineReader {
    /// The next line without its newline, or nil at end of input.
    mutating func next(prompt: String) -> String?
    /// Remembers a finished statement for Up-arrow recall.
    mutating func remember(_ statement: String)
}

struct PlainLineReader: LineReader {
    mutating func next(prompt: String) -> String? { readLine(strippingNewline: true) }
    mutating func remember(_ statement: String) {}
}

struct EditLineReader: LineReader {
    let historyFile: String?

    init() {
        historyFile = ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.ragdb_history" }
        if let historyFile { _ = read_history(historyFile) }
    }

    mutating func next(prompt: String) -> String? {
        guard let raw = readline(prompt) else { return nil }
        defer { free(raw) }
        return String(cString: raw)
    }

    mutating func remember(_ statement: String) {
        add_history(statement)
        if let historyFile { _ = write_history(historyFile) }
    }
}

struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "An interactive prompt for queries in ragdb's SQL dialect, with EXPLAIN and dot-commands.",
        discussion: """
            Statements end with ';' and may span lines. On a terminal the prompt has line \\
            editing and history (~/.ragdb_history); otherwise statements are read from \\
            standard input, and the exit status is 1 if any failed. Type .help for the \\
            dot-commands and README.md ("The query language") for the grammar.

            Examples:
              ragdb shell my.ragdb
              echo "SELECT doc, score FROM docs WHERE MATCH('b-tree') AND lang = 'en' LIMIT 5;" | ragdb shell my.ragdb
            """)

    @Argument(help: "The database directory (or open one later with .open).")
    var database: String?

    @Option(name: .long, help: "Output mode: table, json or lines.")
    var mode = "table"

    func run() throws {
        guard ["table", "json", "lines"].contains(mode) else { throw ValidationError("--mode must be table, json or lines") }
        var shell = Shell(mode: mode)
        if let database { try shell.open(database) }
        let interactive = isatty(0) == 1
        var ok: Bool
        if interactive {
            var reader = EditLineReader()
            Output.line("ragdb shell \(Database.softwareVersion) — statements end with ';', .help for commands")
            ok = shell.loop(&reader, interactive: true)
        } else {
            var reader = PlainLineReader()
            ok = shell.loop(&reader, interactive: false)
        }
        if !ok && !interactive { throw CheckFailed(code: RAGDBExit.failure) }
    }
}

/// The shell's state and its statement loop.
struct Shell {
    var db: Database?
    var path: String?
    var mode: String
    var timer = false
    var searchers: [String: Searcher] = [:]
    var failed = false

    init(mode: String) { self.mode = mode }

    mutating func open(_ path: String) throws {
        db = try openExisting(path, write: true)
        self.path = path
        searchers = [:]
    }

    /// Reads and runs statements until end of input or .quit. Returns false if any failed.
    mutating func loop(_ reader: inout some LineReader, interactive: Bool) -> Bool {
        var buffer = ""
        while true {
            guard let line = reader.next(prompt: buffer.isEmpty ? "ragdb> " : "   ...> ") else { break }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if buffer.isEmpty && trimmed.hasPrefix(".") {
                reader.remember(trimmed)
                if !dot(trimmed) { break }
                continue
            }
            if buffer.isEmpty && trimmed.isEmpty { continue }
            buffer += (buffer.isEmpty ? "" : "\n") + line
            if trimmed.hasSuffix(";") {
                reader.remember(buffer)
                execute(buffer)
                buffer = ""
            }
        }
        if !buffer.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { execute(buffer) }
        if interactive { Output.line("") }
        return !failed
    }

    mutating func fail(_ message: String) {
        failed = true
        Output.error(message)
    }

    static func loadVector(_ ref: String) throws -> [Float] {
        // '@FILE.npy:ROW'
        guard ref.hasPrefix("@"), let colon = ref.lastIndex(of: ":"), let row = Int(ref[ref.index(after: colon)...]), row >= 0 else {
            throw ValidationError("a vector reference is '@FILE.npy:ROW'")
        }
        let rows = try NpyMatrix.read(path: String(ref[ref.index(after: ref.startIndex)..<colon])).rows
        guard row < rows.count else { throw ValidationError("row \(row) asked for, the file has \(rows.count)") }
        return rows[row]
    }

    mutating func searcher(_ collection: String) throws -> Searcher {
        if let s = searchers[collection] { return s }
        guard let db else { throw ValidationError("no database is open: .open PATH") }
        let s = try db.collection(collection).searcher()
        searchers[collection] = s
        return s
    }

    mutating func execute(_ source: String) {
        let statement: QueryLanguage.Statement
        do {
            statement = try QueryLanguage.parse(source, vectorLoader: Shell.loadVector)
        } catch {
            fail(error.description)
            return
        }
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let s = try searcher(statement.collection)
            switch statement.explain {
            case .plan:
                Output.line(try s.explain(statement.query).render())
            case .analyze:
                Output.line(try s.run(statement.query).plan.render())
            case .none:
                let result = try s.run(statement.query)
                print(result, columns: statement.columns)
            }
        } catch {
            fail("error: \(describe(error).message)")
        }
        if timer { Output.line(String(format: "Run Time: %.3f ms", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)) }
    }

    func cell(_ h: QueryHit, _ column: String) -> Any {
        switch column {
        case "chunk": return h.chunk.rawValue
        case "doc": return h.documentID
        case "score": return h.score
        case "text": return h.text
        case "span": return "\(h.span.start)-\(h.span.end)"
        case "tokens": return h.tokens
        case "ordinal": return h.ordinal
        case "stages": return h.stageScores
        case "kv":
            guard let kv = h.kv else { return "-" }
            guard let c = kv.cache else { return "missing" }
            return "\(c.key.variant == 0 ? "standalone" : "variant") recompute \(kv.recompute.count)/\(c.tokens)"
        default: return ""
        }
    }

    func text(_ v: Any) -> String {
        switch v {
        case let d as Double: return String(format: "%.4f", d)
        case let m as [String: Double]: return m.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.4f", $0.value))" }.joined(separator: " ")
        default: return "\(v)"
        }
    }

    func print(_ result: QueryResult, columns: [String]) {
        switch mode {
        case "json":
            for h in result.hits {
                var obj: [String: Any] = [:]
                for c in columns { obj[c] = cell(h, c) }
                if let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) {
                    Output.line(String(decoding: data, as: UTF8.self))
                }
            }
        case "lines":
            for (i, h) in result.hits.enumerated() {
                if i > 0 { Output.line("") }
                let width = columns.map(\.count).max() ?? 0
                for c in columns { Output.line(c.padding(toLength: width, withPad: " ", startingAt: 0) + " = " + text(cell(h, c))) }
            }
        default:
            let rows = result.hits.map { h in columns.map { c -> String in
                let t = text(cell(h, c)).replacingOccurrences(of: "\n", with: " ")
                return c == "text" && t.count > 80 ? String(t.prefix(77)) + "..." : t
            } }
            Output.line(rows.isEmpty ? "(no rows)" : Output.table(columns, rows))
        }
        if let ctx = result.context {
            Output.line(String(format: "-- context: %d chunks in %d passages, %d of %d tokens, U %.3f (coverage %.3f, relevance %.3f, redundancy %.3f, cost %.3f)",
                               ctx.chunks.count, ctx.passages.count, ctx.tokens, ctx.budget, ctx.utility, ctx.coverage, ctx.relevance, ctx.redundancy, ctx.cost))
        }
    }

    static let help = """
        Statements (end with ';'):
          [EXPLAIN [ANALYZE]] SELECT chunk, doc, score, text, span, tokens, ordinal, stages, kv | *
            FROM collection
            [WHERE MATCH('text') AND NEAR(space, [..] | '@F.npy:ROW') AND SPARSE(space, {'t': w})
                   AND NGRAM('a', 'b') AND field = 'v' AND n >= 3 AND f IN (..) AND f LIKE 'p%' AND (.. OR ..) AND NOT ..]
            [FUSION RRF | WEIGHTED(0.5) | DENSE] [CANDIDATES n] [PROBES n] [LIMIT n] [BUDGET n TOKENS] [KV 'profile'];
        Dot-commands:
          .open PATH              open a database
          .collections            list collections
          .schema [COLLECTION]    settings, vector spaces and metadata fields with statistics
          .stats                  database statistics
          .mode table|json|lines  output mode
          .timer on|off           print each statement's time
          .reload                 reload the indexes (to see writes made since they were loaded)
          .ngram count|locate|next COLLECTION 'pattern' [N]   the FM-index
          .kv profiles | ls PROFILE | stats | plan PROFILE ID,ID,...   KV caches
          .help                   this text
          .quit                   leave
        """

    /// Runs a dot-command; returns false for .quit.
    mutating func dot(_ line: String) -> Bool {
        let words = Shell.split(line)
        guard let cmd = words.first else { return true }
        do {
            switch cmd {
            case ".quit", ".exit": return false
            case ".help": Output.line(Shell.help)
            case ".reload":
                // Indexes are loaded once per collection; see writes made since.
                searchers = [:]
            case ".open":
                guard words.count == 2 else { throw ValidationError("usage: .open PATH") }
                try open(words[1])
            case ".mode":
                guard words.count == 2, ["table", "json", "lines"].contains(words[1]) else { throw ValidationError("usage: .mode table|json|lines") }
                mode = words[1]
            case ".timer":
                guard words.count == 2, ["on", "off"].contains(words[1]) else { throw ValidationError("usage: .timer on|off") }
                timer = words[1] == "on"
            case ".collections":
                let db = try need()
                let rows = try db.collections().map { c in [c.name, String(try c.counters().documents), String(try c.counters().chunks)] }
                Output.line(Output.table(["collection", "documents", "chunks"], rows))
            case ".schema":
                let db = try need()
                let names = words.count > 1 ? [words[1]] : try db.collections().map(\.name)
                for name in names {
                    let c = try db.collection(name)
                    let s = c.settings
                    Output.line("collection \(name): text index \(s.textIndex ? "on" : "off"), chunking \(s.chunking.strategy.rawValue) \(s.chunking.size)/\(s.chunking.overlap), n-gram index \(s.ngramIndex == nil ? "off" : "on")")
                    for v in s.spaces { Output.line("  vector space \(v.name): \(v.dimensions) × \(v.elementType.rawValue), \(v.metric.rawValue)") }
                    for sp in s.sparseSpaces { Output.line("  sparse space \(sp.name)") }
                    for f in try c.metadataFields() {
                        Output.line("  field \(f.field): \(f.chunks) chunks, \(f.distinct) distinct values\(f.minimum.isFinite ? ", numeric \(f.minimum)…\(f.maximum)" : "")")
                    }
                }
            case ".stats":
                let st = try need().statistics()
                Output.line("format version \(st.formatVersion), file bytes \(st.fileBytes), map \(st.mapSize)")
                for c in st.collections { Output.line("  \(c.name): \(c.documents) documents, \(c.chunks) chunks, \(c.textBytes) text bytes") }
            case ".ngram":
                guard words.count >= 4, ["count", "locate", "next"].contains(words[1]) else {
                    throw ValidationError("usage: .ngram count|locate|next COLLECTION 'pattern' [N]")
                }
                let index = try searcher(words[2]).ngramIndex()
                let p = index.normalized(words[3])
                let n = words.count > 4 ? Int(words[4]) ?? 10 : 10
                switch words[1] {
                case "count": Output.line("\(index.count(bytes: p)) occurrences")
                case "locate":
                    for o in index.locate(bytes: p, limit: n) { Output.line("\(index.documentID(of: ChunkIdentifier(rawValue: o.chunk)) ?? "") (chunk \(o.chunk)) at byte \(o.offset)") }
                default:
                    for c in index.next(bytes: p, k: n) { Output.line("\(c.byte.map { String(decoding: [$0], as: UTF8.self).debugDescription } ?? "END")\t\(c.count)") }
                }
            case ".kv":
                let db = try need()
                guard words.count >= 2 else { throw ValidationError("usage: .kv profiles | ls PROFILE | stats | plan PROFILE ID,ID,...") }
                switch words[1] {
                case "profiles":
                    Output.line(Output.table(["profile", "model", "layers", "kv heads", "head dim", "dtype"], try db.kvCaches.profiles().map {
                        [$0.name, $0.modelID, String($0.layers), String($0.kvHeads), String($0.headDim), $0.elementType.description]
                    }))
                case "ls" where words.count == 3:
                    Output.line(Output.table(["chunk", "variant", "tokens", "bytes", "hits"], try db.kvCaches.list(profile: words[2]).map {
                        [String($0.key.chunk), $0.key.variant == 0 ? "standalone" : String($0.key.variant, radix: 16), String($0.tokens), String($0.storedBytes), String($0.hits)]
                    }))
                case "stats":
                    for p in try db.kvCaches.profiles() {
                        let s = try db.kvCaches.statistics(profile: p.name)
                        Output.line("\(p.name): \(s.entries) caches, \(s.storedBytes) bytes, hit rate \(String(format: "%.3f", s.hitRate)), \(s.prefillTokensSaved) prefill tokens saved")
                    }
                case "plan" where words.count == 4:
                    let ids = try KVCommand.parseIDs(words[3], field: ".kv plan")
                    for a in try db.kvCaches.planReuse(profile: words[2], chunks: ids) {
                        Output.line("chunk \(a.chunk): \(a.cache == nil ? "missing" : "\(a.exactContext ? "exact context" : "reuse"), recompute \(a.recompute.count) of \(a.cache!.tokens)")")
                    }
                    try db.kvCaches.flushAccessStatistics()
                default: throw ValidationError("usage: .kv profiles | ls PROFILE | stats | plan PROFILE ID,ID,...")
                }
            default:
                throw ValidationError("unknown command \(cmd); .help lists them")
            }
        } catch let e as ValidationError {
            fail("error: \(e.message)")
        } catch {
            fail("error: \(describe(error).message)")
        }
        return true
    }

    func need() throws -> Database {
        guard let db else { throw ValidationError("no database is open: .open PATH") }
        return db
    }

    /// Splits a dot-command into words; 'quoted words' keep their spaces.
    static func split(_ line: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false, had = false
        for ch in line {
            if ch == "'" { quoted.toggle(); had = true; continue }
            if ch.isWhitespace && !quoted {
                if had || !cur.isEmpty { out.append(cur) }
                cur = ""; had = false
            } else { cur.append(ch) }
        }
        if had || !cur.isEmpty { out.append(cur) }
        return out
    }
}
