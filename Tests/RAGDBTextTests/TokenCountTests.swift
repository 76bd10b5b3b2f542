import CRAGDBKernels
import RAGDBTestSupport
import RAGDBText
import Testing

@Suite struct TokenCountTests {
    @Test("the token-count kernel agrees with the tokenizer on random bytes of every class, length and alignment")
    func kernelEqualsTokenizer() {
        var rng = SeededGenerator(seed: 11)
        // Every byte value, weighted towards the boundaries between classes.
        let pool: [UInt8] = Array(0...255) + Array(" \t\n\r\u{0B}\u{0C}_aZz09.,-'\"(".utf8) + [0x08, 0x0E, 0x1F, 0x2F, 0x3A, 0x40, 0x5B, 0x60, 0x7B, 0x7F, 0x80, 0xFF]
        let best = ragdb_kernels_level()
        defer { ragdb_kernels_set_level(best) }
        for length in Array(0...200) + [255, 256, 257, 1000, 4099] {
            for offset in 0..<3 {
                let bytes = (0..<(length + offset)).map { _ in pool.randomElement(using: &rng)! }
                let slice = Array(bytes[offset...])
                let expected = tokenize(slice).count
                ragdb_kernels_set_level(best)
                #expect(countTokens(slice) == expected, "length \(length) offset \(offset)")
                #expect(slice.withUnsafeBufferPointer { Int(ragdb_count_tokens_scalar($0.baseAddress, $0.count)) } == expected)
                ragdb_kernels_set_level(Int32(RAGDB_LEVEL_SCALAR.rawValue))
                #expect(countTokens(slice) == expected, "scalar level, length \(length)")
            }
        }
        // Runs of word bytes across 16- and 64-byte block edges count once.
        for n in [15, 16, 17, 63, 64, 65, 127, 128, 129] {
            ragdb_kernels_set_level(best)
            #expect(countTokens(Array(repeating: UInt8(ascii: "a"), count: n)) == 1)
            #expect(countTokens(Array(repeating: UInt8(ascii: "."), count: n)) == n)
            #expect(countTokens(Array(repeating: UInt8(ascii: " "), count: n)) == 0)
        }
    }
}
