import RAGDBTestSupport
import RAGDBText
import Testing

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }
private func pieces(_ c: Chunker, _ s: String) -> [String] {
    let b = text(s)
    return c.chunks(of: b).map { String(decoding: b[$0.start..<$0.end], as: UTF8.self) }
}

@Suite struct TokenizerTests {
    @Test("words, numbers and non-ASCII words are single tokens; punctuation stands alone")
    func tokens() {
        let b = text("Größe 42, naïve café—ok? x_y")
        let t = tokenize(b).map { String(decoding: b[$0.start..<$0.end], as: UTF8.self) }
        #expect(t == ["Größe", "42", ",", "naïve", "café—ok", "?", "x_y"])
    }
}

@Suite struct ChunkerTests {
    @Test("fixed windows hold at most N tokens, share exactly M, and cover every token", arguments: [(5, 0), (5, 2), (1, 0), (7, 6), (100, 10)])
    func fixed(size: Int, overlap: Int) {
        var rng = SeededGenerator(seed: UInt64(size * 31 + overlap))
        let b = text(generatedText(words: 137, using: &rng) + ". End!")
        let tokens = tokenize(b)
        let chunks = Chunker.fixed(size: size, overlap: overlap).chunks(of: b)
        #expect(chunks.allSatisfy { $0.tokenCount <= size && $0.tokenCount > 0 })
        // Windows start every (size - overlap) tokens and the last one ends at the last token.
        for (k, c) in chunks.enumerated() {
            #expect(c.start == tokens[k * (size - overlap)].start)
        }
        #expect(chunks.last!.end == tokens.last!.end)
        #expect(chunks.first!.start == tokens.first!.start)
        #expect(chunks.dropLast().allSatisfy { $0.tokenCount == size })
    }

    @Test("sentence packing keeps sentences whole unless one alone is over the limit")
    func sentences() {
        let s = "One two three. Four five six seven! \"Eight nine?\" Ten.\n\nNew paragraph here and more words than fit in it at all"
        #expect(pieces(.sentences(size: 8), s) == ["One two three.", "Four five six seven!", "\"Eight nine?\" Ten.",
                                                    "New paragraph here and more words than fit", "in it at all"])
        #expect(pieces(.sentences(size: 100), s) == [String(s)])
        #expect(pieces(.sentences(size: 12), "e.g. this is 3.5 long. Next one.") == ["e.g. this is 3.5 long.", "Next one."])
    }

    @Test("markdown: headings start chunks, code blocks and tables are never split")
    func markdown() {
        let md = """
        # Title
        Intro text. More intro.

        ## Code
        ```swift
        let a = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8
        ```

        | a | b |
        |---|---|
        | 1 | 2 |

        ## Next
        Closing words.
        """
        let p = pieces(.markdown(size: 12), md)
        #expect(p.first == "# Title\nIntro text. More intro.")
        #expect(p.contains { $0.contains("```swift") && $0.hasSuffix("```") })
        #expect(p.contains { $0.hasPrefix("| a | b |") && $0.hasSuffix("| 1 | 2 |") })
        #expect(p.last == "## Next\nClosing words.")
        for chunk in p where chunk.contains("```") { #expect(chunk.components(separatedBy: "```").count == 3) }
    }

    @Test("none returns the document trimmed of outer whitespace; empty text has no chunks")
    func noneAndEmpty() {
        #expect(pieces(.none, "  hello world \n") == ["  hello world \n"])
        #expect(pieces(.none, " \n\t ").isEmpty)
        #expect(pieces(.fixed(size: 4, overlap: 1), "").isEmpty)
    }

    @Test("every chunker's spans lie inside the text on token boundaries, for random texts", arguments: [1, 2, 3, 4])
    func spansAreExact(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var s = ""
        for _ in 0..<40 {
            switch rng.next() % 5 {
            case 0: s += "\n\n# Heading \(rng.next() % 100)\n"
            case 1: s += "\n```\ncode line \(rng.next())\n```\n"
            case 2: s += generatedText(words: Int(rng.next() % 30), using: &rng) + ". "
            case 3: s += "| x | \(rng.next() % 9) |\n"
            default: s += generatedText(words: 5, using: &rng) + "? "
            }
        }
        let b = text(s)
        let tokens = tokenize(b)
        let starts = Set(tokens.map(\.start)), ends = Set(tokens.map(\.end))
        let whole = Chunker.none.chunks(of: b)
        #expect(whole == [ChunkSpan(start: 0, end: b.count, tokenCount: tokens.count)])
        for c in [Chunker.fixed(size: 16, overlap: 4), .sentences(size: 20), .markdown(size: 24)] {
            let chunks = c.chunks(of: b)
            #expect(!chunks.isEmpty)
            for ch in chunks {
                #expect(starts.contains(ch.start) && ends.contains(ch.end), "\(c) \(ch)")
                #expect(tokenize(Array(b[ch.start..<ch.end])).count == ch.tokenCount)
            }
            // Every token is inside some chunk.
            var covered = 0
            for t in tokens where chunks.contains(where: { $0.start <= t.start && t.end <= $0.end }) { covered += 1 }
            #expect(covered == tokens.count, "\(c)")
        }
    }
}

@Suite struct CountTokensTests {
    @Test("the vectorised token count equals the tokenizer's count at every length and alignment", arguments: [1, 2, 3])
    func agreesWithTokenize(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let alphabet = Array(" \t\n\r\u{0B}\u{0C}aZ09_.,!-()\"'é€".utf8)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            #expect(countTokens(bytes) == tokenize(bytes).count, "seed \(seed), bytes \(bytes)")
        }
    }
}
