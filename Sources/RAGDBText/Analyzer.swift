import Foundation

/// Turns text into index terms, identically at index and query time: Unicode-aware word
/// segmentation, case folding, diacritics folding, optional English stop words and an
/// English stemmer (Snowball English by default, or Porter's original).
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
    /// The stemmer applied to ASCII terms.
    public var stemmer: Stemmer

    /// Stemmers for English.
    public enum Stemmer: String, Sendable, Hashable, CaseIterable {
        /// No stemming.
        case none
        /// Porter's original algorithm (1980): `PorterStemmer`.
        case porter
        /// Snowball English, "Porter2": `EnglishStemmer` (the default).
        case english
    }

    /// An analyzer; the defaults are the English settings.
    public init(caseFolding: Bool = true, diacriticsFolding: Bool = true, stopWords: Bool = true, stemmer: Stemmer = .english) {
        self.caseFolding = caseFolding
        self.diacriticsFolding = diacriticsFolding
        self.stopWords = stopWords
        self.stemmer = stemmer
    }

    @inline(__always)
    private func stem(_ word: inout [UInt8]) {
        switch stemmer {
        case .none: break
        case .porter: PorterStemmer.stem(&word)
        case .english: EnglishStemmer.stem(&word)
        }
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

    @inline(__always)
    static func pack(_ w: [UInt8]) -> SIMD2<UInt64> {
        var lo: UInt64 = 0, hi: UInt64 = 0
        for (i, b) in w.enumerated() {
            if i < 8 { lo |= UInt64(b) << (8 * UInt64(i)) } else { hi |= UInt64(b) << (8 * UInt64(i - 8)) }
        }
        return SIMD2(lo, hi)
    }

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
        forEachTermWithOffset(text) { term, _ in body(term) }
    }

    /// Calls `body` with each term of `text` and the byte offset where its word starts in the
    /// UTF-8 text (so that terms can be assigned to chunks by their spans).
    public func forEachTermWithOffset(_ text: String, _ body: (String, Int) -> Void) {
        forEachTermBytes(text) { bytes, at in body(String(decoding: bytes, as: UTF8.self), at) }
    }

    /// Calls `body` with the UTF-8 bytes of each term of `text` (valid only during the call)
    /// and the byte offset where its word starts: no string is made for ASCII terms.
    ///
    /// - Complexity: O(*n*) over the bytes; allocation only for non-ASCII terms.
    public func forEachTermBytes(_ text: String, _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        var text = text
        let holder = StemCache.current
        var cache = holder.take()
        defer { holder.put(cache) }
        let stops = stopWords ? StopWordTable.shared : nil
        text.withUTF8 { bytes in
            var i = 0
            let n = bytes.count
            var word: [UInt8] = []
            word.reserveCapacity(32)
            while i < n {
                let b = bytes[i]
                if b < 0x80 {
                    // ASCII: letters and digits form words, everything else separates them.
                    if isASCIIWordByte(b) {
                        let start = i
                        var ascii = true
                        i += 1
                        while i < n {
                            let c = bytes[i]
                            if c < 0x80 { if isASCIIWordByte(c) { i += 1; continue } else { break } }
                            // A non-ASCII letter continues the word.
                            let (scalar, len) = decodeScalar(bytes, i)
                            guard isWordScalar(scalar) else { break }
                            ascii = false
                            i += len
                        }
                        let raw = UnsafeBufferPointer(rebasing: bytes[start..<i])
                        if ascii && raw.count <= 16 {
                            emitShort(raw, stops: stops, into: &word, cache: &cache) { body($0, start) }
                        } else {
                            emit(raw, ascii: ascii, into: &word) { body($0, start) }
                        }
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
                        if c < 0x80 { if isASCIIWordByte(c) { i += 1; continue } else { break } }
                        let (s2, l2) = decodeScalar(bytes, i)
                        guard isWordScalar(s2) else { break }
                        i += l2
                    }
                    emit(UnsafeBufferPointer(rebasing: bytes[start..<i]), ascii: false, into: &word) { body($0, start) }
                }
            }
        }
    }

    /// The common case: an ASCII word of at most 16 letters and digits. The word is folded
    /// straight into its packed 128-bit form, which is the stop-word key, the stem cache key
    /// and (little-endian) the term's bytes, so a cached word makes no array and no copy.
    @inline(__always)
    private func emitShort(_ raw: UnsafeBufferPointer<UInt8>, stops: StopWordTable?, into word: inout [UInt8],
                           cache: inout StemCache.Table, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var lo: UInt64 = 0, hi: UInt64 = 0
        var lettersOnly = true
        let fold: UInt8 = caseFolding ? 0x20 : 0
        for j in 0..<raw.count {
            let c = raw[j]
            let l = c &- 0x41 < 26 ? c | fold : c
            lettersOnly = lettersOnly && l &- 0x61 < 26
            if j < 8 { lo |= UInt64(l) << (8 * UInt64(j)) } else { hi |= UInt64(l) << (8 * UInt64(j - 8)) }
        }
        let key = SIMD2(lo, hi)
        if let stops, stops.contains(key) { return }
        var term = key
        var length = raw.count
        if lettersOnly && stemmer != .none {
            let kind: UInt8 = stemmer == .english ? 1 : 2
            if let hit = cache.lookup(key, stemmer: kind) {
                (term, length) = hit
            } else {
                word.removeAll(keepingCapacity: true)
                withUnsafeBytes(of: SIMD2(lo.littleEndian, hi.littleEndian)) { word.append(contentsOf: $0[0..<raw.count]) }
                stem(&word)
                if word.count <= 16 { cache.insert(key, stemmer: kind, stem: Self.pack(word)) }
                if word.isEmpty { return }
                word.withUnsafeBufferPointer(body)
                return
            }
        }
        if length == 0 { return }
        withUnsafeBytes(of: SIMD2(term[0].littleEndian, term[1].littleEndian)) {
            body(UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: length))
        }
    }

    /// Any other word: longer ASCII words, and words with non-ASCII letters (folded through
    /// `String`).
    private func emit(_ raw: UnsafeBufferPointer<UInt8>, ascii: Bool, into word: inout [UInt8],
                      _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var term: String
        if ascii {
            word.removeAll(keepingCapacity: true)
            var lettersOnly = true
            if caseFolding {
                for c in raw {
                    let l = c >= 0x41 && c <= 0x5A ? c | 0x20 : c
                    lettersOnly = lettersOnly && l >= 0x61
                    word.append(l)
                }
            } else {
                word.append(contentsOf: raw)
                lettersOnly = word.allSatisfy { $0 >= 0x61 && $0 <= 0x7A }
            }
            if stopWords && word.count <= 16 && StopWordTable.shared.contains(Self.pack(word)) { return }
            if lettersOnly && stemmer != .none { stem(&word) }
            if word.isEmpty { return }
            word.withUnsafeBufferPointer(body)
            return
        } else {
            term = String(decoding: raw, as: UTF8.self)
            if caseFolding { term = term.lowercased() }
            if diacriticsFolding { term = Self.foldDiacritics(term) }
            if stopWords && Self.englishStopWords.contains(term) { return }
            if stemmer != .none, term.utf8.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) {
                var bytes = Array(term.utf8)
                stem(&bytes)
                term = String(decoding: bytes, as: UTF8.self)
            }
        }
        if term.isEmpty { return }
        term.withUTF8(body)
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

/// The English stop words packed into two 64-bit words each (all are at most 16 bytes), in
/// an open-addressing table with a multiplicative hash: a look-up costs one or two probes and
/// makes no string.
final class StopWordTable: Sendable {
    static let shared = StopWordTable(Analyzer.englishStopWords)
    private let slots: [SIMD2<UInt64>]
    private let mask: Int

    init(_ words: Set<String>) {
        var size = 16
        while size < words.count * 4 { size <<= 1 }
        var table = [SIMD2<UInt64>](repeating: SIMD2(0, 0), count: size)
        for w in words {
            let key = Analyzer.pack(Array(w.utf8))
            var i = Self.slot(key, size - 1)
            while table[i] != SIMD2(0, 0) { i = (i + 1) & (size - 1) }
            table[i] = key
        }
        slots = table
        mask = size - 1
    }

    @inline(__always)
    static func slot(_ k: SIMD2<UInt64>, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: ((k.x ^ (k.y &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9) >> 40) & mask
    }

    @inline(__always)
    func contains(_ k: SIMD2<UInt64>) -> Bool {
        var i = Self.slot(k, mask)
        while true {
            let s = slots[i]
            if s == k { return true }
            if s == SIMD2(0, 0) { return false }
            i = (i + 1) & mask
        }
    }
}

/// Whether ASCII byte `b` (below 0x80) is a letter or a digit: two 64-bit masks, so the test
/// reads no table (a global array would cost a lazy-initialisation check per byte).
@inline(__always)
private func isASCIIWordByte(_ b: UInt8) -> Bool {
    let digits: UInt64 = 0x03FF_0000_0000_0000                 // 0x30...0x39
    let letters: UInt64 = 0x07FF_FFFE_07FF_FFFE                // 0x41...0x5A, 0x61...0x7A (less 0x40)
    return b < 0x40 ? (digits >> UInt64(b)) & 1 != 0 : (letters >> UInt64(b & 0x3F)) & 1 != 0
}

private func isWordScalar(_ s: Unicode.Scalar) -> Bool {
    // General Punctuation (spaces, dashes, quotes, bullets, format characters) holds no
    // letter, digit or mark: answered without the Unicode tables.
    if s.value >= 0x2000 && s.value <= 0x206F { return false }
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
