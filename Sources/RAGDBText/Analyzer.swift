import Foundation

/// Turns text into index terms, identically at index and query time: Unicode-aware word
/// segmentation, case folding, diacritics folding, optional English stop words and the
/// Porter stemmer.
///
/// Segmentation: a term is a maximal run of letters and digits (Unicode alphabetic or
/// numeric scalars, combining marks inside a word included); everything else separates terms,
/// apostrophes included ("don't" → "don", "t"; both are stop words).
public struct Analyzer: Sendable, Hashable {
    /// Lowercase terms (Unicode case folding).
    public var caseFolding: Bool
    /// Remove diacritics (canonical decomposition, then combining marks dropped: "café" →
    /// "cafe").
    public var diacriticsFolding: Bool
    /// Drop the English stop words (`Analyzer.englishStopWords`).
    public var stopWords: Bool
    /// Apply the Porter stemmer to ASCII terms.
    public var stemming: Bool

    /// An analyzer; the defaults are the English settings.
    public init(caseFolding: Bool = true, diacriticsFolding: Bool = true, stopWords: Bool = true, stemming: Bool = true) {
        self.caseFolding = caseFolding
        self.diacriticsFolding = diacriticsFolding
        self.stopWords = stopWords
        self.stemming = stemming
    }

    /// Common English function words: articles, pronouns, auxiliaries, prepositions,
    /// conjunctions, and the fragments apostrophes leave ("s", "t", "ll", "re", "ve", "d", "m").
    public static let englishStopWords: Set<String> = Set("""
        a about above after again against all am an and any are as at be because been before being below between both \
        but by can could d did do does doing down during each few for from further had has have having he her here \
        hers herself him himself his how i if in into is it its itself just ll m me more most my myself no nor not now \
        of off on once only or other our ours ourselves out over own re s same she should so some such t than that the \
        their theirs them themselves then there these they this those through to too under until up ve very was we \
        were what when where which while who whom why will with would you your yours yourself yourselves \
        aren couldn didn doesn don hadn hasn haven isn mustn needn shan shouldn wasn weren won wouldn
        """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))

    /// The terms of `text`, in order (repeats kept).
    ///
    /// - Complexity: O(*n*) over the bytes; one string per term; non-ASCII terms also pay for
    ///   Unicode folding.
    public func terms(_ text: String) -> [String] {
        var out: [String] = []
        forEachTerm(text) { out.append($0) }
        return out
    }

    /// Calls `body` with each term of `text`, in order.
    public func forEachTerm(_ text: String, _ body: (String) -> Void) {
        var text = text
        text.withUTF8 { bytes in
            var i = 0
            let n = bytes.count
            var word: [UInt8] = []
            word.reserveCapacity(32)
            while i < n {
                let b = bytes[i]
                if b < 0x80 {
                    // ASCII: letters and digits form words, everything else separates them.
                    if asciiWord[Int(b)] {
                        let start = i
                        var ascii = true
                        i += 1
                        while i < n {
                            let c = bytes[i]
                            if c < 0x80 { if asciiWord[Int(c)] { i += 1; continue } else { break } }
                            // A non-ASCII letter continues the word.
                            let (scalar, len) = decodeScalar(bytes, i)
                            guard isWordScalar(scalar) else { break }
                            ascii = false
                            i += len
                        }
                        emit(UnsafeBufferPointer(rebasing: bytes[start..<i]), ascii: ascii, into: &word, body)
                    } else {
                        i += 1
                    }
                } else {
                    let (scalar, len) = decodeScalar(bytes, i)
                    guard isWordScalar(scalar) else { i += len; continue }
                    let start = i
                    i += len
                    while i < n {
                        let c = bytes[i]
                        if c < 0x80 { if asciiWord[Int(c)] { i += 1; continue } else { break } }
                        let (s2, l2) = decodeScalar(bytes, i)
                        guard isWordScalar(s2) else { break }
                        i += l2
                    }
                    emit(UnsafeBufferPointer(rebasing: bytes[start..<i]), ascii: false, into: &word, body)
                }
            }
        }
    }

    private func emit(_ raw: UnsafeBufferPointer<UInt8>, ascii: Bool, into word: inout [UInt8], _ body: (String) -> Void) {
        var term: String
        if ascii {
            word.removeAll(keepingCapacity: true)
            if caseFolding {
                for c in raw { word.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c) }
            } else {
                word.append(contentsOf: raw)
            }
            if stopWords, let s = String(validating: word, as: UTF8.self), Self.englishStopWords.contains(s) { return }
            if stemming && word.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) { PorterStemmer.stem(&word) }
            if word.isEmpty { return }
            term = String(decoding: word, as: UTF8.self)
        } else {
            term = String(decoding: raw, as: UTF8.self)
            if caseFolding { term = term.lowercased() }
            if diacriticsFolding { term = Self.foldDiacritics(term) }
            if stopWords && Self.englishStopWords.contains(term) { return }
            if stemming, term.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) {
                var bytes = Array(term.utf8)
                PorterStemmer.stem(&bytes)
                term = String(decoding: bytes, as: UTF8.self)
            }
        }
        if term.isEmpty { return }
        body(term)
    }

    /// Removes combining marks after canonical decomposition, then recomposes.
    static func foldDiacritics(_ s: String) -> String {
        var scalars = String.UnicodeScalarView()
        for u in s.decomposedStringWithCanonicalMapping.unicodeScalars {
            switch u.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark: continue
            default: scalars.append(u)
            }
        }
        // ß and a few letters have no decomposition; map the common ones explicitly.
        return String(scalars).replacingOccurrences(of: "ß", with: "ss").precomposedStringWithCanonicalMapping
    }
}

private let asciiWord: [Bool] = (0..<128).map { b in
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
}

private func isWordScalar(_ s: Unicode.Scalar) -> Bool {
    let p = s.properties
    return p.isAlphabetic || p.numericType != nil || p.generalCategory == .nonspacingMark || p.generalCategory == .spacingMark
}

/// Decodes the UTF-8 scalar at `i` (the text is valid UTF-8: it came from a `String`).
@inline(__always)
private func decodeScalar(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Unicode.Scalar, Int) {
    let c0 = UInt32(b[i])
    if c0 < 0x80 { return (Unicode.Scalar(c0)!, 1) }
    if c0 < 0xE0 { return (Unicode.Scalar(((c0 & 0x1F) << 6) | (UInt32(b[i + 1]) & 0x3F)) ?? "\u{FFFD}", 2) }
    if c0 < 0xF0 {
        let v = ((c0 & 0x0F) << 12) | ((UInt32(b[i + 1]) & 0x3F) << 6) | (UInt32(b[i + 2]) & 0x3F)
        return (Unicode.Scalar(v) ?? "\u{FFFD}", 3)
    }
    let v = ((c0 & 0x07) << 18) | ((UInt32(b[i + 1]) & 0x3F) << 12) | ((UInt32(b[i + 2]) & 0x3F) << 6) | (UInt32(b[i + 3]) & 0x3F)
    return (Unicode.Scalar(v) ?? "\u{FFFD}", 4)
}
