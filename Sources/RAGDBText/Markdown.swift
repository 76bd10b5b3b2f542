extension Chunker {
    /// A Markdown block: its token range and kind.
    enum BlockKind { case heading, code, table, text }

    /// Splits Markdown into blocks by lines: ATX headings, fenced code blocks (``` or ~~~),
    /// tables (consecutive lines starting with `|`), and text (paragraphs, lists) separated
    /// by blank lines. Returns chunks packed as `.markdown` documents.
    static func markdown(_ text: UnsafeBufferPointer<UInt8>, tokens: [TokenSpan], size: Int) -> [ChunkSpan] {
        // 1. Line starts and block kinds by byte range.
        var blocks: [(start: Int, end: Int, kind: BlockKind)] = []
        var lineStart = 0
        let n = text.count
        var fence: UInt8? = nil
        var current: (start: Int, end: Int, kind: BlockKind)? = nil
        func close() { if let c = current { blocks.append(c) }; current = nil }
        while lineStart < n {
            var lineEnd = lineStart
            while lineEnd < n && text[lineEnd] != 0x0A { lineEnd += 1 }
            var first = lineStart
            while first < lineEnd && (text[first] == 0x20 || text[first] == 0x09) { first += 1 }
            let blank = first == lineEnd
            let startsFence = lineEnd - first >= 3 && (text[first] == UInt8(ascii: "`") || text[first] == UInt8(ascii: "~"))
                && text[first + 1] == text[first] && text[first + 2] == text[first]
            if let f = fence {
                current!.end = lineEnd
                if startsFence && text[first] == f { fence = nil; close() }
            } else if startsFence {
                close()
                fence = text[first]
                current = (lineStart, lineEnd, .code)
            } else if blank {
                close()
            } else if text[first] == UInt8(ascii: "#") {
                close()
                blocks.append((lineStart, lineEnd, .heading))
            } else if text[first] == UInt8(ascii: "|") {
                if current?.kind != .table { close(); current = (lineStart, lineEnd, .table) } else { current!.end = lineEnd }
            } else {
                if current?.kind != .text { close(); current = (lineStart, lineEnd, .text) } else { current!.end = lineEnd }
            }
            lineStart = lineEnd + 1
        }
        close()

        // 2. Map blocks to token ranges; text blocks become sentence units.
        var units: [Range<Int>] = []
        var breaks = Set<Int>()
        var atomic = Set<Int>()
        var t = 0
        for block in blocks {
            while t < tokens.count && tokens[t].end <= block.start { t += 1 }
            var e = t
            while e < tokens.count && tokens[e].start < block.end { e += 1 }
            guard e > t else { continue }
            switch block.kind {
            case .heading:
                breaks.insert(units.count)
                units.append(t..<e)
            case .code, .table:
                atomic.insert(units.count)
                units.append(t..<e)
            case .text:
                for s in sentenceRanges(text, tokens[t..<e]) { units.append(s) }
            }
            t = e
        }
        return pack(units, tokens: tokens, size: size, breaks: breaks, atomic: atomic)
    }
}
