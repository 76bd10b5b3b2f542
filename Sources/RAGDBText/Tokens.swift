import CRAGDBKernels

/// A token's byte range in a UTF-8 text.
public struct TokenSpan: Hashable, Sendable {
    /// First byte.
    public var start: Int
    /// One past the last byte.
    public var end: Int
}

/// Splits UTF-8 text into the tokens that chunk sizes are counted in: runs of letters and
/// digits (any non-ASCII byte counts as a letter, so words in every script stay whole), and
/// each ASCII punctuation or symbol character on its own. Whitespace separates tokens and
/// belongs to none.
///
/// This approximates an LLM tokenizer's count for English prose (a word piece per word, one
/// per punctuation mark) without a vocabulary, and its spans are exact byte positions.
///
/// - Complexity: O(*n*) over the bytes; appends to `tokens` without other allocation.
public func tokenize(_ text: UnsafeBufferPointer<UInt8>, into tokens: inout [TokenSpan]) {
    let n = text.count
    var i = 0
    byteClass.withUnsafeBufferPointer { cls in
        while i < n {
            let c = cls[Int(text[i])]
            if c == 0 { i += 1; continue }
            let start = i
            i += 1
            if c == 1 { while i < n && cls[Int(text[i])] == 1 { i += 1 } }
            tokens.append(TokenSpan(start: start, end: i))
        }
    }
}

/// The number of tokens in `text` (as `tokenize` counts them), without recording them.
///
/// - Complexity: O(*n*) over the bytes, 16 at a time (a C kernel: SSE2 and popcnt; Swift's
///   own SIMD types are not vectorised for baseline x86-64, FIELD-NOTES §6); no allocation.
public func countTokens(_ text: UnsafeBufferPointer<UInt8>) -> Int {
    guard let base = text.baseAddress else { return 0 }
    return ragdb_count_tokens(base, text.count)
}

/// Byte classes: 0 whitespace, 1 word byte, 2 punctuation or symbol.
let byteClass: [UInt8] = (0...255).map { b in isSpace(UInt8(b)) ? 0 : isWordByte(UInt8(b)) ? 1 : 2 }

/// The number of tokens in `text`.
public func countTokens(_ text: [UInt8]) -> Int { text.withUnsafeBufferPointer { countTokens($0) } }

/// The tokens of `text`.
public func tokenize(_ text: [UInt8]) -> [TokenSpan] {
    var out: [TokenSpan] = []
    out.reserveCapacity(text.count / 5)
    text.withUnsafeBufferPointer { tokenize($0, into: &out) }
    return out
}

@inline(__always) func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

@inline(__always) func isWordByte(_ b: UInt8) -> Bool {
    b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x5F
}
