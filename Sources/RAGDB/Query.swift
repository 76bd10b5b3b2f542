public import RAGDBChunks

/// A filter over chunk metadata: a chunk's effective metadata is its document's, overlaid by
/// its own. Comparisons between a number and a value of another type are false; `!=` is
/// true only for chunks that have the field with another value (SQL's behaviour for missing
/// fields).
public indirect enum MetadataFilter: Sendable, Hashable, CustomStringConvertible {
    /// A comparison operator.
    public enum Comparison: String, Sendable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    }
    /// field op value.
    case compare(String, Comparison, MetadataValue)
    /// field IN (values).
    case oneOf(String, [MetadataValue])
    /// A string field that starts with the prefix (for a string list: any element).
    case prefix(String, String)
    /// Every filter holds.
    case and([MetadataFilter])
    /// Some filter holds.
    case or([MetadataFilter])
    /// The filter does not hold.
    case not(MetadataFilter)

    /// Whether `metadata` passes.
    ///
    /// - Complexity: O(size of the expression × list lengths).
    public func matches(_ metadata: Metadata) -> Bool {
        switch self {
        case .compare(let field, let op, let value):
            guard let v = metadata[field] else { return false }
            return Self.compare(v, op, value)
        case .oneOf(let field, let values):
            guard let v = metadata[field] else { return false }
            return values.contains { Self.compare(v, .equal, $0) }
        case .prefix(let field, let p):
            switch metadata[field] {
            case .string(let s)?: return s.hasPrefix(p)
            case .strings(let list)?: return list.contains { $0.hasPrefix(p) }
            default: return false
            }
        case .and(let parts): return parts.allSatisfy { $0.matches(metadata) }
        case .or(let parts): return parts.contains { $0.matches(metadata) }
        case .not(let inner): return !inner.matches(metadata)
        }
    }

    static func number(_ v: MetadataValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    static func compare(_ stored: MetadataValue, _ op: Comparison, _ value: MetadataValue) -> Bool {
        if case .strings(let list) = stored {
            // A list matches when one of its elements does (!= : none equals).
            if op == .notEqual { return !list.contains { compare(.string($0), .equal, value) } }
            return list.contains { compare(.string($0), op, value) }
        }
        let order: Int?
        switch (stored, value) {
        case (.string(let a), .string(let b)): order = a < b ? -1 : a == b ? 0 : 1
        case (.bool(let a), .bool(let b)): order = a == b ? 0 : (!a && b ? -1 : 1)
        default:
            if let a = number(stored), let b = number(value) { order = a < b ? -1 : a == b ? 0 : 1 } else { order = nil }
        }
        guard let order else { return false }
        switch op {
        case .equal: return order == 0
        case .notEqual: return order != 0
        case .less: return order < 0
        case .lessOrEqual: return order <= 0
        case .greater: return order > 0
        case .greaterOrEqual: return order >= 0
        }
    }

    public var description: String {
        func lit(_ v: MetadataValue) -> String {
            switch v {
            case .string(let s): "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
            case .int(let i): String(i)
            case .double(let d): String(d)
            case .bool(let b): b ? "TRUE" : "FALSE"
            case .strings(let l): "(" + l.map { lit(.string($0)) }.joined(separator: ", ") + ")"
            }
        }
        switch self {
        case .compare(let f, let op, let v): return "\(f) \(op.rawValue) \(lit(v))"
        case .oneOf(let f, let vs): return "\(f) IN (\(vs.map(lit).joined(separator: ", ")))"
        case .prefix(let f, let p): return "\(f) LIKE \(lit(.string(p + "%")))"
        case .and(let parts): return "(" + parts.map(\.description).joined(separator: " AND ") + ")"
        case .or(let parts): return "(" + parts.map(\.description).joined(separator: " OR ") + ")"
        case .not(let inner): return "NOT \(inner)"
        }
    }
}

/// One query against a collection: any mix of text (BM25), dense vectors, learned sparse
/// vectors and n-grams, with a metadata filter, a result count and an optional token budget.
/// The planner (`Searcher`) decides how to combine the stages and explains its choice.
public struct Query: Sendable {
    /// Text for BM25 over chunk text (and, when `ngrams` is empty and `textAsNgrams` is set,
    /// for SEAL n-gram search).
    public var text: String?
    /// Dense query vectors by space name (one space is used: the first by name).
    public var vectors: [String: [Float]] = [:]
    /// Learned sparse query vectors by sparse-space name.
    public var sparse: [String: [String: Float]] = [:]
    /// N-grams for the FM-index leg (SEAL scoring), as plain strings.
    public var ngrams: [String] = []
    /// The metadata filter.
    public var filter: MetadataFilter?
    /// Results wanted (default 10).
    public var k = 10
    /// Candidates each coarse stage proposes (default 100).
    public var candidates = 100
    /// How the stages' rankings combine (default reciprocal rank, k = 60).
    public var fusion: Fusion = .reciprocalRank(k: 60)
    /// IVF lists to probe (default: the index's default).
    public var probes: Int?
    /// Score every stored vector instead of using the dense index.
    public var exactDense = false
    /// A token budget: when set, the result is the chunk set chosen by budgeted assembly
    /// (`ContextAssembly`), not the top k.
    public var budget: Int?
    /// Assembly weights (used with `budget`).
    public var assembly = AssemblyOptions()
    /// A KV-cache profile: when set, each result carries the reuse answer for its position.
    public var kvProfile: String?

    /// An empty query (add text, vectors, sparse terms or n-grams).
    public init(text: String? = nil, k: Int = 10) {
        self.text = text
        self.k = k
    }
}

/// One result of a query.
public struct QueryHit: Sendable {
    /// The chunk.
    public var chunk: ChunkID
    /// Its document's external id.
    public var documentID: String
    /// The final score.
    public var score: Double
    /// Each stage's own score for this chunk ("bm25", "dense", "sparse:NAME", "ngram").
    public var stageScores: [String: Double]
    /// The chunk's byte span in its source.
    public var span: ByteSpan
    /// Its ordinal in the document.
    public var ordinal: Int
    /// Its token count (the chunker's tokens).
    public var tokens: Int
    /// The chunk text.
    public var text: String
    /// The KV-cache reuse answer, when the query named a profile.
    public var kv: KVReuseAnswer?
}

/// What a query returned: hits best first (or, with a budget, in prompt order), the plan with
/// estimates and actuals, and the assembled context when a budget was given.
public struct QueryResult: Sendable {
    /// The results.
    public var hits: [QueryHit]
    /// The plan as executed.
    public var plan: QueryPlan
    /// The budgeted context, when the query had a budget.
    public var context: AssembledContext?
}
