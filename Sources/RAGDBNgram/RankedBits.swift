import CRAGDBKernels
import RAGDBStorage

/// A bitvector with constant-time rank, stored in 64-byte lines: the number of ones before
/// the line, then 7 words (448 bits). A rank reads one cache line (the first layout, words and
/// a separate count per 512 bits, read two: count 1.8–2.3 µs per pattern byte on 130 MB).
/// Rank runs in the C kernel (popcnt where the CPU has it).
struct RankedBits: Sendable, Equatable {
    /// Bits per line.
    static let lineBits = 448
    /// Lines of 8 words: ones before the line, then bits 448·k … 448·k + 447 (bit j of the line
    /// is bit j % 64 of word 1 + j / 64). Owned, or read in place from the map.
    let lines: MappedArray<UInt64>
    /// Length in bits.
    let count: Int

    /// Lines needed for `count` bits (one more when `count` is a multiple of 448, so that
    /// `rank1(count)` has its line).
    static func lineCount(_ count: Int) -> Int { count / lineBits + 1 }

    /// Packs plain words (bit j in word j / 64) into lines with their counts.
    init(words: [UInt64], count: Int) {
        self.count = count
        let n = Self.lineCount(count)
        var lines = [UInt64](repeating: 0, count: n * 8)
        var ones: UInt64 = 0
        for k in 0..<n {
            lines[k * 8] = ones
            for w in 0..<7 {
                let bit = k * Self.lineBits + w * 64
                guard bit < count else { break }
                // Bits bit ..< bit + 64 of the plain words (not word-aligned: 448 = 7 × 64 is, so they are).
                let word = words[bit >> 6]
                lines[k * 8 + 1 + w] = word
                ones += UInt64(word.nonzeroBitCount)
            }
        }
        self.lines = MappedArray(lines)
    }

    init(lines: MappedArray<UInt64>, count: Int) {
        self.lines = lines
        self.count = count
    }

    @inline(__always)
    subscript(i: Int) -> Bool {
        let k = i / Self.lineBits, b = i - k * Self.lineBits
        return lines[k * 8 + 1 + b >> 6] >> UInt64(b & 63) & 1 == 1
    }

    /// Ones among bits `0..<i`.
    @inline(__always)
    func rank1(_ i: Int) -> Int {
        lines.withUnsafeBufferPointer { Int(ragdb_rank1_lines($0.baseAddress, UInt64(i))) }
    }

    /// Zeros among bits `0..<i`.
    @inline(__always)
    func rank0(_ i: Int) -> Int { i - rank1(i) }

    /// Ones in the whole vector.
    var ones: Int { rank1(count) }

    /// Whether every line's count word equals the ones before it and no bit at or beyond
    /// `count` is set: what a stored bitvector must satisfy before ranks over it are trusted.
    ///
    /// - Complexity: one pass over the words.
    func isConsistent() -> Bool {
        guard lines.count == Self.lineCount(count) * 8 else { return false }
        return lines.withUnsafeBufferPointer { l in
            var ones: UInt64 = 0
            for k in 0..<(l.count / 8) {
                guard l[k * 8] == ones else { return false }
                for w in 1..<8 {
                    let word = l[k * 8 + w]
                    let first = k * Self.lineBits + (w - 1) * 64
                    if first + 64 > count {
                        let keep = max(0, count - first)
                        if keep < 64 && word >> UInt64(keep) != 0 { return false }
                    }
                    ones &+= UInt64(word.nonzeroBitCount)
                }
            }
            return true
        }
    }
}
