import RAGDBChunks
import Foundation

/// ragdb's query language: a small SQL dialect for the shell and for `ragdb search --where`.
/// The grammar is in README.md ("The query language").
///
///     [EXPLAIN [ANALYZE]] SELECT columns FROM collection
///         [WHERE condition] [FUSION RRF | WEIGHTED(α) | DENSE] [CANDIDATES n] [PROBES n]
///         [LIMIT n] [BUDGET n TOKENS] [KV 'profile'] [;]
///
/// Search predicates (MATCH, NEAR, SPARSE, NGRAM) may only be ANDed at the top of the WHERE
/// clause; everything else in it is a metadata filter.
public enum QueryLanguage {
    /// A parsed SELECT.
    public struct Statement: Sendable {
        /// EXPLAIN (plan only) or EXPLAIN ANALYZE (run, then show the plan with actuals).
        public enum Explain: Sendable { case none, plan, analyze }
        /// The EXPLAIN mode.
        public var explain: Explain
        /// The collection.
        public var collection: String
        /// The columns, in order (`*` expands to chunk, doc, score, text).
        public var columns: [String]
        /// The query.
        public var query: Query
    }

    /// A parse error with the 0-based character offset it points at.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// What was expected or wrong.
        public var message: String
        /// Offset of the offending token in the statement (characters).
        public var offset: Int
        /// The statement.
        public var source: String

        /// "line L, column C: message", then the line and a caret under the column.
        public var description: String {
            let chars = Array(source)
            let upto = chars.prefix(offset)
            let line = upto.filter { $0 == "\n" }.count + 1
            let lineStart = upto.lastIndex(of: "\n").map { $0 + 1 } ?? 0
            let column = offset - lineStart + 1
            let lineEnd = chars[lineStart...].firstIndex(of: "\n") ?? chars.count
            let text = String(chars[lineStart..<lineEnd])
            return "parse error at line \(line), column \(column): \(message)\n  \(text)\n  \(String(repeating: " ", count: max(0, column - 1)))^"
        }
    }

    /// The columns a SELECT may name.
    public static let columns = ["chunk", "doc", "score", "text", "span", "tokens", "ordinal", "stages", "kv"]

    enum Token: Equatable {
        case word(String)       // identifier or keyword (case kept)
        case string(String)
        case number(Double, String)
        case symbol(String)     // ( ) , [ ] { } : = != < <= > >= * ;
        case end
    }

    struct Lexed { var token: Token; var offset: Int }

    static func lex(_ source: String) throws(ParseError) -> [Lexed] {
        let chars = Array(source)
        var i = 0
        var out: [Lexed] = []
        func fail(_ m: String, _ at: Int) -> ParseError { ParseError(message: m, offset: at, source: source) }
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            if c == "-" && i + 1 < chars.count && chars[i + 1] == "-" {  // comment to end of line
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            let start = i
            if c == "'" {
                var s = ""
                i += 1
                while true {
                    guard i < chars.count else { throw fail("unterminated string", start) }
                    if chars[i] == "'" {
                        if i + 1 < chars.count && chars[i + 1] == "'" { s.append("'"); i += 2; continue }
                        i += 1
                        break
                    }
                    s.append(chars[i]); i += 1
                }
                out.append(Lexed(token: .string(s), offset: start))
            } else if c.isNumber || ((c == "-" || c == "+" || c == ".") && i + 1 < chars.count && (chars[i + 1].isNumber || chars[i + 1] == ".")) {
                i += 1
                while i < chars.count && (chars[i].isNumber || chars[i] == "." || chars[i] == "e" || chars[i] == "E"
                                          || ((chars[i] == "-" || chars[i] == "+") && (chars[i - 1] == "e" || chars[i - 1] == "E"))) { i += 1 }
                let text = String(chars[start..<i])
                guard let v = Double(text) else { throw fail("bad number \(text)", start) }
                out.append(Lexed(token: .number(v, text), offset: start))
            } else if c.isLetter || c == "_" || c == "@" || c == "\"" {
                if c == "\"" {  // quoted identifier
                    i += 1
                    var s = ""
                    while i < chars.count && chars[i] != "\"" { s.append(chars[i]); i += 1 }
                    guard i < chars.count else { throw fail("unterminated quoted name", start) }
                    i += 1
                    out.append(Lexed(token: .word(s), offset: start))
                    continue
                }
                i += 1
                while i < chars.count && (chars[i].isLetter || chars[i].isNumber || "_.-/@:".contains(chars[i])) { i += 1 }
                out.append(Lexed(token: .word(String(chars[start..<i])), offset: start))
            } else {
                let two = i + 1 < chars.count ? String(chars[i...i + 1]) : ""
                if ["!=", "<=", ">=", "<>"].contains(two) {
                    out.append(Lexed(token: .symbol(two == "<>" ? "!=" : two), offset: start)); i += 2
                } else if "(),[]{}:=<>*;".contains(c) {
                    out.append(Lexed(token: .symbol(String(c)), offset: start)); i += 1
                } else {
                    throw fail("unexpected character '\(c)'", start)
                }
            }
        }
        out.append(Lexed(token: .end, offset: chars.count))
        return out
    }

    struct Parser {
        var tokens: [Lexed]
        var pos = 0
        let source: String
        var vectorLoader: (String) throws -> [Float]

        var current: Lexed { tokens[pos] }
        func fail(_ m: String, at: Int? = nil) -> ParseError { ParseError(message: m, offset: at ?? current.offset, source: source) }
        func describe(_ t: Token) -> String {
            switch t {
            case .word(let w): "'\(w)'"
            case .string(let s): "the string '\(s)'"
            case .number(_, let text): "the number \(text)"
            case .symbol(let s): "'\(s)'"
            case .end: "the end of the statement"
            }
        }
        func isKeyword(_ k: String) -> Bool {
            if case .word(let w) = current.token { return w.uppercased() == k }
            return false
        }
        mutating func accept(_ k: String) -> Bool {
            if isKeyword(k) { pos += 1; return true }
            return false
        }
        mutating func expectKeyword(_ k: String) throws(ParseError) {
            guard accept(k) else { throw fail("expected \(k), found \(describe(current.token))") }
        }
        mutating func acceptSymbol(_ s: String) -> Bool {
            if case .symbol(s) = current.token { pos += 1; return true }
            return false
        }
        mutating func expectSymbol(_ s: String) throws(ParseError) {
            guard acceptSymbol(s) else { throw fail("expected '\(s)', found \(describe(current.token))") }
        }
        mutating func identifier(_ what: String) throws(ParseError) -> String {
            if case .word(let w) = current.token, !Self.reserved.contains(w.uppercased()) { pos += 1; return w }
            throw fail("expected \(what), found \(describe(current.token))")
        }
        mutating func string(_ what: String) throws(ParseError) -> String {
            if case .string(let s) = current.token { pos += 1; return s }
            throw fail("expected \(what) (a quoted string), found \(describe(current.token))")
        }
        mutating func integer(_ what: String) throws(ParseError) -> Int {
            if case .number(let v, _) = current.token, v == v.rounded(), v >= 0, v < 1e12 { pos += 1; return Int(v) }
            throw fail("expected \(what) (a whole number), found \(describe(current.token))")
        }
        mutating func number(_ what: String) throws(ParseError) -> Double {
            if case .number(let v, _) = current.token { pos += 1; return v }
            throw fail("expected \(what), found \(describe(current.token))")
        }

        static let reserved: Set<String> = ["SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "LIMIT", "BUDGET", "TOKENS",
                                            "EXPLAIN", "ANALYZE", "MATCH", "NEAR", "SPARSE", "NGRAM", "FUSION", "CANDIDATES", "PROBES", "KV",
                                            "TRUE", "FALSE"]

        mutating func literal() throws(ParseError) -> MetadataValue {
            switch current.token {
            case .string(let s): pos += 1; return .string(s)
            case .number(let v, let text):
                pos += 1
                if !text.contains("."), !text.lowercased().contains("e"), let i = Int64(text) { return .int(i) }
                return .double(v)
            case .word(let w) where w.uppercased() == "TRUE": pos += 1; return .bool(true)
            case .word(let w) where w.uppercased() == "FALSE": pos += 1; return .bool(false)
            default: throw fail("expected a value ('text', a number, TRUE or FALSE), found \(describe(current.token))")
            }
        }

        /// A WHERE clause: search predicates collected into `query`, the rest a filter.
        mutating func condition(_ query: inout Query, topLevel: Bool) throws(ParseError) -> MetadataFilter? {
            var parts: [MetadataFilter?] = [try conjunction(&query, topLevel: topLevel)]
            while isKeyword("OR") {
                let at = current.offset
                pos += 1
                let right = try conjunction(&query, topLevel: false)
                guard parts.last! != nil, right != nil else { throw fail("OR cannot combine search predicates (MATCH, NEAR, SPARSE, NGRAM)", at: at) }
                parts.append(right)
            }
            if parts.count == 1 { return parts[0] }
            return .or(parts.compactMap { $0 })
        }

        mutating func conjunction(_ query: inout Query, topLevel: Bool) throws(ParseError) -> MetadataFilter? {
            var parts: [MetadataFilter] = []
            repeat {
                if let f = try negation(&query, topLevel: topLevel) { parts.append(f) }
            } while accept("AND")
            if parts.isEmpty { return nil }
            return parts.count == 1 ? parts[0] : .and(parts)
        }

        mutating func negation(_ query: inout Query, topLevel: Bool) throws(ParseError) -> MetadataFilter? {
            if isKeyword("NOT") {
                let at = current.offset
                pos += 1
                guard let inner = try negation(&query, topLevel: false) else { throw fail("NOT cannot apply to a search predicate", at: at) }
                return .not(inner)
            }
            return try primary(&query, topLevel: topLevel)
        }

        mutating func primary(_ query: inout Query, topLevel: Bool) throws(ParseError) -> MetadataFilter? {
            let at = current.offset
            if acceptSymbol("(") {
                let inner = try condition(&query, topLevel: topLevel)
                try expectSymbol(")")
                return inner
            }
            for fn in ["MATCH", "NEAR", "SPARSE", "NGRAM"] where isKeyword(fn) {
                guard topLevel else { throw fail("\(fn) may only be ANDed at the top of WHERE, not under OR or NOT", at: at) }
                pos += 1
                try expectSymbol("(")
                switch fn {
                case "MATCH":
                    let text = try string("the text to match")
                    query.text = [query.text, text].compactMap { $0 }.joined(separator: " ")
                case "NEAR":
                    let space = try identifier("a vector space name")
                    try expectSymbol(",")
                    let vat = current.offset
                    var v: [Float] = []
                    if acceptSymbol("[") {
                        if !acceptSymbol("]") {
                            repeat { v.append(Float(try number("a vector element"))) } while acceptSymbol(",")
                            try expectSymbol("]")
                        }
                    } else {
                        let ref = try string("a vector: [numbers] or '@FILE.npy:ROW'")
                        do { v = try vectorLoader(ref) } catch { throw fail("\(error)", at: vat) }
                    }
                    guard !v.isEmpty, v.allSatisfy(\.isFinite) else { throw fail("a query vector needs finite numbers", at: vat) }
                    query.vectors[space] = v
                case "SPARSE":
                    let space = try identifier("a sparse space name")
                    try expectSymbol(",")
                    try expectSymbol("{")
                    var terms: [String: Float] = [:]
                    if !acceptSymbol("}") {
                        repeat {
                            let term = try string("a term")
                            try expectSymbol(":")
                            let wat = current.offset
                            let w = try number("a weight")
                            guard w >= 0, w.isFinite else { throw fail("weights must be finite and ≥ 0", at: wat) }
                            terms[term] = Float(w)
                        } while acceptSymbol(",")
                        try expectSymbol("}")
                    }
                    query.sparse[space] = terms
                default:
                    repeat { query.ngrams.append(try string("an n-gram")) } while acceptSymbol(",")
                }
                try expectSymbol(")")
                return nil
            }
            let field = try identifier("a metadata field, MATCH, NEAR, SPARSE, NGRAM, NOT or '('")
            if accept("IN") { return .oneOf(field, try list()) }
            if isKeyword("NOT") {
                pos += 1
                try expectKeyword("IN")
                return .not(.oneOf(field, try list()))
            }
            if accept("LIKE") {
                let pat = current.offset
                let p = try string("a pattern 'prefix%'")
                guard p.hasSuffix("%"), !p.dropLast().contains("%"), !p.contains("_") else {
                    throw fail("LIKE takes a prefix pattern: 'text%' (one trailing %, no _)", at: pat)
                }
                return .prefix(field, String(p.dropLast()))
            }
            let opAt = current.offset
            guard case .symbol(let s) = current.token, let op = MetadataFilter.Comparison(rawValue: s) else {
                throw fail("expected a comparison (=, !=, <, <=, >, >=), IN or LIKE after \(field), found \(describe(current.token))", at: opAt)
            }
            pos += 1
            return .compare(field, op, try literal())
        }

        mutating func list() throws(ParseError) -> [MetadataValue] {
            try expectSymbol("(")
            var out: [MetadataValue] = []
            repeat { out.append(try literal()) } while acceptSymbol(",")
            try expectSymbol(")")
            return out
        }

        mutating func statement() throws(ParseError) -> Statement {
            var explain = Statement.Explain.none
            if accept("EXPLAIN") { explain = accept("ANALYZE") ? .analyze : .plan }
            try expectKeyword("SELECT")
            var columns: [String] = []
            if acceptSymbol("*") {
                columns = ["chunk", "doc", "score", "text"]
            } else {
                repeat {
                    let at = current.offset
                    guard case .word(let w) = current.token else { throw fail("expected a column, found \(describe(current.token))") }
                    pos += 1
                    let c = w.lowercased()
                    guard QueryLanguage.columns.contains(c) else {
                        throw fail("unknown column \(c); columns are \(QueryLanguage.columns.joined(separator: ", ")) or *", at: at)
                    }
                    columns.append(c)
                } while acceptSymbol(",")
            }
            try expectKeyword("FROM")
            let collection = try identifier("a collection name")
            var query = Query(k: 10)
            if accept("WHERE") { query.filter = try condition(&query, topLevel: true) }
            while true {
                let at = current.offset
                if accept("FUSION") {
                    if accept("RRF") { query.fusion = .reciprocalRank(k: 60) }
                    else if accept("DENSE") { query.fusion = .dense }
                    else if accept("WEIGHTED") {
                        try expectSymbol("(")
                        let a = try number("a weight between 0 and 1")
                        guard (0...1).contains(a) else { throw fail("the weight must be between 0 and 1", at: at) }
                        try expectSymbol(")")
                        query.fusion = .weighted(alpha: a)
                    } else { throw fail("expected RRF, WEIGHTED(α) or DENSE after FUSION") }
                } else if accept("CANDIDATES") {
                    query.candidates = try integer("the candidate depth")
                    guard query.candidates >= 1 else { throw fail("CANDIDATES must be at least 1", at: at) }
                } else if accept("PROBES") {
                    query.probes = try integer("the IVF lists to probe")
                } else if accept("LIMIT") {
                    query.k = try integer("the number of results")
                    guard query.k >= 1 else { throw fail("LIMIT must be at least 1", at: at) }
                } else if accept("BUDGET") {
                    query.budget = try integer("the token budget")
                    guard query.budget! >= 1 else { throw fail("BUDGET must be at least 1", at: at) }
                    _ = accept("TOKENS")
                } else if accept("KV") {
                    query.kvProfile = try string("a KV profile name")
                } else {
                    break
                }
            }
            _ = acceptSymbol(";")
            guard case .end = current.token else { throw fail("expected the end of the statement, found \(describe(current.token))") }
            return Statement(explain: explain, collection: collection, columns: columns, query: query)
        }
    }

    /// Parses one statement.
    ///
    /// - Parameter vectorLoader: resolves `'@FILE.npy:ROW'` vector references.
    /// - Throws: `ParseError` pointing at the offending token.
    public static func parse(_ source: String, vectorLoader: @escaping (String) throws -> [Float] = { _ in throw RAGDBError(.invalidInput, "vector files are not available here") }) throws(ParseError) -> Statement {
        var p = Parser(tokens: try lex(source), source: source, vectorLoader: vectorLoader)
        return try p.statement()
    }

    /// Parses a bare metadata filter (the WHERE clause of `ragdb search --where`): search
    /// predicates are not allowed.
    public static func parseFilter(_ source: String) throws(ParseError) -> MetadataFilter {
        var p = Parser(tokens: try lex(source), source: source, vectorLoader: { _ in [] })
        var q = Query()
        let f = try p.condition(&q, topLevel: false)
        guard case .end = p.current.token else { throw p.fail("expected the end of the filter, found \(p.describe(p.current.token))") }
        guard let f else { throw p.fail("expected a filter") }
        return f
    }
}
