/// One chunk cut from a document: its exact byte range and its size in tokens.
public struct ChunkSpan: Hashable, Sendable {
    /// First byte in the document.
    public var start: Int
    /// One past the last byte.
    public var end: Int
    /// Tokens inside the range (see `tokenize`).
    public var tokenCount: Int

    /// Creates a chunk span.
    public init(start: Int, end: Int, tokenCount: Int) {
        self.start = start
        self.end = end
        self.tokenCount = tokenCount
    }
}

/// How documents are cut into chunks. Every chunker returns spans into the original bytes,
/// so `text[span.start..<span.end]` is exactly the chunk's text.
public enum Chunker: Hashable, Sendable {
    /// Windows of `size` tokens; consecutive windows share `overlap` tokens. A window starts
    /// at its first token and ends at its last, so it never begins or ends with whitespace.
    case fixed(size: Int, overlap: Int)
    /// Whole sentences packed up to `size` tokens; a sentence longer than `size` is cut into
    /// fixed windows. Sentences end at `.`, `!` or `?` (and closing quotes or brackets after
    /// them) followed by whitespace and a word that is not lowercase ASCII, or at a blank
    /// line.
    case sentences(size: Int)
    /// Markdown structure: a heading starts a new chunk; fenced code blocks and tables are
    /// never split (one larger than `size` becomes a chunk of its own); other blocks are
    /// packed up to `size` tokens and cut by sentences when larger.
    case markdown(size: Int)
    /// The whole document, surrounding whitespace included, as one chunk (a document with
    /// no token has none).
    case none

    /// Cuts `text` into chunks.
    ///
    /// - Complexity: O(*n*) over the bytes, plus one token array of the document.
    public func chunks(of text: [UInt8]) -> [ChunkSpan] {
        text.withUnsafeBufferPointer { chunks(of: $0) }
    }

    /// Cuts the bytes of `text` into chunks; see `chunks(of:)`.
    public func chunks(of text: UnsafeBufferPointer<UInt8>) -> [ChunkSpan] {
        if case .none = self {
            let n = countTokens(text)
            return n == 0 ? [] : [ChunkSpan(start: 0, end: text.count, tokenCount: n)]
        }
        var tokens: [TokenSpan] = []
        tokens.reserveCapacity(text.count / 5 + 1)
        tokenize(text, into: &tokens)
        guard !tokens.isEmpty else { return [] }
        switch self {
        case .none:
            return []  // handled above
        case .fixed(let size, let overlap):
            return Self.windows(tokens[...], size: size, overlap: overlap)
        case .sentences(let size):
            return Self.pack(Self.sentenceRanges(text, tokens[...]), tokens: tokens, size: size, breaks: [])
        case .markdown(let size):
            return Self.markdown(text, tokens: tokens, size: size)
        }
    }

    /// Fixed windows over a run of tokens.
    static func windows(_ tokens: ArraySlice<TokenSpan>, size: Int, overlap: Int) -> [ChunkSpan] {
        precondition(size >= 1 && overlap >= 0 && overlap < size, "invalid window \(size)/\(overlap)")
        var out: [ChunkSpan] = []
        var i = tokens.startIndex
        while i < tokens.endIndex {
            let end = min(i + size, tokens.endIndex)
            out.append(ChunkSpan(start: tokens[i].start, end: tokens[end - 1].end, tokenCount: end - i))
            if end == tokens.endIndex { break }
            i = end - overlap
        }
        return out
    }

    /// Token index ranges of sentences.
    static func sentenceRanges(_ text: UnsafeBufferPointer<UInt8>, _ tokens: ArraySlice<TokenSpan>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = tokens.startIndex
        var i = tokens.startIndex
        while i < tokens.endIndex {
            let t = tokens[i]
            var endsHere = false
            if t.end - t.start == 1, [UInt8(ascii: "."), UInt8(ascii: "!"), UInt8(ascii: "?")].contains(text[t.start]) {
                // Absorb closing quotes/brackets glued to the terminator.
                var j = i + 1
                while j < tokens.endIndex, tokens[j].start == tokens[j - 1].end,
                      [UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ")"), UInt8(ascii: "]")].contains(text[tokens[j].start]) {
                    j += 1
                }
                let after = tokens[j - 1].end
                // A boundary needs whitespace after it and no lowercase word next ("e.g. this").
                let nextIsLower = j < tokens.endIndex && text[tokens[j].start] >= 0x61 && text[tokens[j].start] <= 0x7A
                if (after >= text.count || isSpace(text[after])) && !nextIsLower {
                    i = j - 1
                    endsHere = true
                }
            }
            if !endsHere, i + 1 < tokens.endIndex, blankLineBetween(text, tokens[i].end, tokens[i + 1].start) {
                endsHere = true
            }
            if endsHere || i + 1 == tokens.endIndex {
                out.append(start..<i + 1)
                start = i + 1
            }
            i += 1
        }
        return out
    }

    static func blankLineBetween(_ text: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) -> Bool {
        var newlines = 0
        for k in a..<b where text[k] == 0x0A {
            newlines += 1
            if newlines >= 2 { return true }
        }
        return false
    }

    /// Packs consecutive token ranges (units) into chunks of at most `size` tokens. A unit
    /// larger than `size` is cut into windows unless it is `atomic`; `breaks` holds unit
    /// indices that must start a new chunk.
    static func pack(_ units: [Range<Int>], tokens: [TokenSpan], size: Int, breaks: Set<Int>, atomic: Set<Int> = []) -> [ChunkSpan] {
        var out: [ChunkSpan] = []
        var current: Range<Int>? = nil
        func flush() {
            if let c = current, !c.isEmpty {
                out.append(ChunkSpan(start: tokens[c.lowerBound].start, end: tokens[c.upperBound - 1].end, tokenCount: c.count))
            }
            current = nil
        }
        for (u, unit) in units.enumerated() where !unit.isEmpty {
            if breaks.contains(u) { flush() }
            if unit.count > size {
                flush()
                if atomic.contains(u) {
                    out.append(ChunkSpan(start: tokens[unit.lowerBound].start, end: tokens[unit.upperBound - 1].end, tokenCount: unit.count))
                } else {
                    out.append(contentsOf: windows(tokens[unit], size: size, overlap: 0))
                }
                continue
            }
            if let c = current, c.count + unit.count > size { flush() }
            current = (current?.lowerBound ?? unit.lowerBound)..<unit.upperBound
        }
        flush()
        return out
    }
}
