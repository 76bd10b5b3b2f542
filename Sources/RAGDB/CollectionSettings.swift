public import RAGDBText
import Foundation
/// A named vector space of a collection: one embedding model's vectors.
public struct VectorSpace: Codable, Sendable, Hashable {
    /// Similarity measure.
    public enum Metric: String, Codable, Sendable, CaseIterable { case cosine, dot, l2 }
    /// Stored element type of the full-precision vectors.
    public enum ElementType: String, Codable, Sendable, CaseIterable { case float32, float16, int8 }

    /// The space's name (`minilm`).
    public var name: String
    /// Number of dimensions (1–65535).
    public var dimensions: Int
    /// Similarity measure.
    public var metric: Metric
    /// Stored element type.
    public var elementType: ElementType

    /// Creates a space.
    public init(name: String, dimensions: Int, metric: Metric = .cosine, elementType: ElementType = .float32) {
        self.name = name
        self.dimensions = dimensions
        self.metric = metric
        self.elementType = elementType
    }

    enum CodingKeys: String, CodingKey {
        case name, dimensions, metric
        case elementType = "element_type"
    }
}

/// How text is analysed into terms, at index and query time alike.
public struct AnalyzerSettings: Codable, Sendable, Hashable {
    /// Fold case (Unicode lowercase).
    public var caseFolding = true
    /// Fold diacritics (é → e).
    public var diacriticsFolding = true
    /// Stop-word list: `"english"` or `"none"`.
    public var stopWords = "english"
    /// Stemmer: `"english"` (Snowball English, "Porter2"), `"porter"` (Porter 1980) or `"none"`.
    public var stemmer = "english"

    /// English defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case caseFolding = "case_folding"
        case diacriticsFolding = "diacritics_folding"
        case stopWords = "stop_words"
        case stemmer
    }

    /// Decodes stored settings; a key missing from an older record takes its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        caseFolding = try c.decodeIfPresent(Bool.self, forKey: .caseFolding) ?? true
        diacriticsFolding = try c.decodeIfPresent(Bool.self, forKey: .diacriticsFolding) ?? true
        stopWords = try c.decodeIfPresent(String.self, forKey: .stopWords) ?? "english"
        stemmer = try c.decodeIfPresent(String.self, forKey: .stemmer) ?? "english"
    }
}

extension AnalyzerSettings {
    /// The analyzer these settings describe.
    public var analyzer: Analyzer {
        Analyzer(caseFolding: caseFolding, diacriticsFolding: diacriticsFolding,
                 stopWords: stopWords == "english", stemmer: Analyzer.Stemmer(rawValue: stemmer) ?? .english)
    }
}

/// How documents are cut into chunks unless an import says otherwise.
public struct ChunkingSettings: Codable, Sendable, Hashable {
    /// The chunker.
    public enum Strategy: String, Codable, Sendable, CaseIterable {
        /// A fixed window of `size` tokens, `overlap` tokens shared between neighbours.
        case fixed
        /// Whole sentences packed up to `size` tokens.
        case sentence
        /// Markdown structure: headings start chunks; code blocks and tables stay whole.
        case markdown
        /// One chunk per document.
        case none
    }
    /// The chunker.
    public var strategy: Strategy = .fixed
    /// Window or packing size in tokens.
    public var size = 128
    /// Tokens shared between neighbouring fixed windows.
    public var overlap = 16

    /// Fixed windows of 128 tokens with 16 tokens of overlap.
    public init() {}

    /// Creates settings.
    public init(strategy: Strategy, size: Int = 128, overlap: Int = 16) {
        self.strategy = strategy
        self.size = size
        self.overlap = overlap
    }

    enum CodingKeys: String, CodingKey { case strategy, size, overlap }

    /// Decodes stored settings; a key missing from an older record takes its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try c.decodeIfPresent(Strategy.self, forKey: .strategy) ?? .fixed
        size = try c.decodeIfPresent(Int.self, forKey: .size) ?? 128
        overlap = try c.decodeIfPresent(Int.self, forKey: .overlap) ?? 16
    }
}

/// A learned sparse space (SPLADE-style term → weight vectors supplied with the chunks),
/// indexed as quantized impacts for exact top-k dot-product search.
public struct SparseSpace: Codable, Sendable, Hashable {
    /// The space's name (`splade`).
    public var name: String
    /// Creates a space.
    public init(name: String) { self.name = name }
}

/// The n-gram (FM-index) index of a collection's chunk text.
public struct NgramSettings: Codable, Sendable, Hashable {
    /// How chunk text (and every pattern) is normalised before indexing:
    /// - `"none"`: bytes as they are;
    /// - `"lowercase"`: Unicode lowercase where it keeps the UTF-8 length (byte offsets stay
    ///   those of the source);
    /// - `"fold"`: case and diacritics folded: every scalar is replaced by the lowercase
    ///   mappings of the scalars of its canonical decomposition (NFD) that are not nonspacing
    ///   marks, so "Crème Brûlée" is indexed as "creme brulee". Lengths change; located
    ///   offsets are mapped back to the source text.
    public var normalization = "lowercase"
    /// Also keep an FM-index over the token ids supplied with the chunks (`tokens`), so
    /// continuations can be enumerated in the caller's own vocabulary (SEAL's constrained
    /// decoding). Chunks given without tokens are indexed as empty. Fixed at creation.
    public var tokens = false

    /// The normalisations ragdb knows.
    public static let normalizations = ["none", "lowercase", "fold"]

    /// An index with `normalization`, and a token-id index when `tokens`.
    public init(normalization: String = "lowercase", tokens: Bool = false) {
        self.normalization = normalization
        self.tokens = tokens
    }

    private enum CodingKeys: String, CodingKey { case normalization, tokens }

    /// Decodes the stored settings; `tokens` is absent in collections without a token index.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        normalization = try c.decode(String.self, forKey: .normalization)
        tokens = try c.decodeIfPresent(Bool.self, forKey: .tokens) ?? false
    }

    /// Encodes the settings, writing `tokens` only when it is on.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(normalization, forKey: .normalization)
        if tokens { try c.encode(tokens, forKey: .tokens) }
    }

    /// The bytes the index holds for `text`: one space (so that every word, the first
    /// included, starts after a space), then the text, normalised as configured.
    ///
    /// - Complexity: one pass; ASCII is folded without Unicode tables.
    public func normalize(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x20]
        out.reserveCapacity(text.utf8.count + 1)
        guard normalization != "none" else { out += text.utf8; return out }
        for scalar in text.unicodeScalars { append(scalar, to: &out) }
        return out
    }

    /// Appends the normalised bytes of one scalar.
    @inline(__always)
    private func append(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        if scalar.isASCII {
            let b = UInt8(scalar.value)
            out.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            return
        }
        if normalization == "fold" {
            for part in String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
            where part.properties.generalCategory != .nonspacingMark {
                out += part.properties.lowercaseMapping.utf8
            }
            return
        }
        let lower = scalar.properties.lowercaseMapping
        if lower.utf8.count == String(scalar).utf8.count { out += lower.utf8 } else { out += String(scalar).utf8 }
    }

    /// Where each normalised byte of a chunk came from in its source text.
    public struct OffsetMap: Sendable {
        /// Source byte range of the scalar that produced normalised byte i (the leading space:
        /// 0..<0).
        var starts: [Int32], ends: [Int32]

        /// The source byte range covered by normalised bytes `offset ..< offset + length`.
        public func sourceRange(offset: Int, length: Int) -> Range<Int> {
            guard length > 0, offset + length <= starts.count else { return 0..<0 }
            return Int(starts[offset])..<Int(ends[offset + length - 1])
        }
    }

    /// The normalised bytes of `text` (as `normalize`) with the source range of each.
    ///
    /// - Complexity: one pass over the text.
    public func offsetMap(_ text: String) -> OffsetMap {
        var starts: [Int32] = [0], ends: [Int32] = [0]
        var bytes: [UInt8] = []
        var at: Int32 = 0
        for scalar in text.unicodeScalars {
            let width = Int32(String(scalar).utf8.count)
            bytes.removeAll(keepingCapacity: true)
            if normalization == "none" { bytes += String(scalar).utf8 } else { append(scalar, to: &bytes) }
            for _ in bytes { starts.append(at); ends.append(at + width) }
            at += width
        }
        return OffsetMap(starts: starts, ends: ends)
    }
}

/// Everything a collection stores about itself: its vector spaces, analyzer, chunking
/// defaults and whether source documents are kept.
public struct CollectionSettings: Codable, Sendable, Hashable {
    /// Vector spaces, by distinct name.
    public var spaces: [VectorSpace] = []
    /// The text analyzer.
    public var analyzer = AnalyzerSettings()
    /// Default chunking.
    public var chunking = ChunkingSettings()
    /// Keep each document's full source text (needed to re-chunk and to export).
    public var storeSource = true
    /// Keep a BM25 index of chunk text (`sparse_*` tables), updated with every write.
    public var textIndex = true
    /// Keep an n-gram FM-index of chunk text (`ngram_*` tables); `nil` (the default): none.
    public var ngramIndex: NgramSettings?
    /// Learned sparse spaces, by distinct name (appended only: a space's number is its index).
    public var sparseSpaces: [SparseSpace] = []
    /// Index document titles as their own BM25 field (field 255), given to every chunk of the
    /// document, and add `titleWeight` × the title's BM25 score to the chunk text's. New
    /// collections default to 0.3 (measured on two corpora, BENCHMARKS.md); `nil`: titles are
    /// not indexed (collections created before this setting existed). Fixed at creation.
    public var titleWeight: Double? = 0.3

    /// Defaults: no vector spaces, English analyzer, fixed 128/16 chunking, sources kept, a
    /// BM25 text index.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case spaces, analyzer, chunking
        case storeSource = "store_source"
        case textIndex = "text_index"
        case ngramIndex = "ngram_index"
        case sparseSpaces = "sparse_spaces"
        case titleWeight = "title_weight"
    }

    /// Decodes stored settings; a key missing from an older record takes its default, so
    /// settings added later do not make older catalog records unreadable.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spaces = try c.decodeIfPresent([VectorSpace].self, forKey: .spaces) ?? []
        analyzer = try c.decodeIfPresent(AnalyzerSettings.self, forKey: .analyzer) ?? AnalyzerSettings()
        chunking = try c.decodeIfPresent(ChunkingSettings.self, forKey: .chunking) ?? ChunkingSettings()
        storeSource = try c.decodeIfPresent(Bool.self, forKey: .storeSource) ?? true
        textIndex = try c.decodeIfPresent(Bool.self, forKey: .textIndex) ?? true
        ngramIndex = try c.decodeIfPresent(NgramSettings.self, forKey: .ngramIndex)
        sparseSpaces = try c.decodeIfPresent([SparseSpace].self, forKey: .sparseSpaces) ?? []
        titleWeight = try c.decodeIfPresent(Double.self, forKey: .titleWeight)
    }

    /// Throws unless every setting is in range.
    func validate() throws(RAGDBError) {
        var names = Set<String>()
        for (i, s) in spaces.enumerated() {
            guard Database.isValidName(s.name) else {
                throw RAGDBError(.invalidInput, "space name must be 1–64 letters, digits, '_', '-' or '.'", field: "spaces[\(i)].name")
            }
            guard names.insert(s.name).inserted else {
                throw RAGDBError(.invalidInput, "duplicate space name \"\(s.name)\"", field: "spaces[\(i)].name")
            }
            guard (1...65535).contains(s.dimensions) else {
                throw RAGDBError(.invalidInput, "dimensions must be 1–65535, got \(s.dimensions)", field: "spaces[\(i)].dimensions")
            }
        }
        guard chunking.size >= 1 else { throw RAGDBError(.invalidInput, "chunk size must be at least 1", field: "chunking.size") }
        guard (0..<chunking.size).contains(chunking.overlap) else {
            throw RAGDBError(.invalidInput, "overlap must be at least 0 and below the chunk size", field: "chunking.overlap")
        }
        guard ["english", "none"].contains(analyzer.stopWords) else {
            throw RAGDBError(.invalidInput, "unknown stop-word list \"\(analyzer.stopWords)\"", field: "analyzer.stop_words")
        }
        var sparseNames = Set<String>()
        for (i, s) in sparseSpaces.enumerated() {
            guard Database.isValidName(s.name), sparseNames.insert(s.name).inserted else {
                throw RAGDBError(.invalidInput, "sparse space names must be distinct, 1–64 letters, digits, '_', '-' or '.'", field: "sparse_spaces[\(i)].name")
            }
        }
        guard sparseSpaces.count <= 254 else { throw RAGDBError(.invalidInput, "at most 254 sparse spaces", field: "sparse_spaces") }
        if let n = ngramIndex, !NgramSettings.normalizations.contains(n.normalization) {
            throw RAGDBError(.invalidInput, "unknown n-gram normalization \"\(n.normalization)\" (none, lowercase or fold)", field: "ngram_index.normalization")
        }
        if let w = titleWeight {
            guard w.isFinite, w >= 0 else { throw RAGDBError(.invalidInput, "the title weight must be finite and ≥ 0", field: "title_weight") }
        }
        guard ["english", "porter", "none"].contains(analyzer.stemmer) else {
            throw RAGDBError(.invalidInput, "unknown stemmer \"\(analyzer.stemmer)\"", field: "analyzer.stemmer")
        }
    }
}
