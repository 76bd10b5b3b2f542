import CRAGDBKernels

/// A bitvector with constant-time rank, stored in 64-byte lines: the number of ones before
/// the line, then 7 words (448 bits). A rank reads one cache line (the first layout, words and
/// a separate count per 512 bits, read two: count 1.8–2.3 µs per pattern byte on 130 MB).
/// Rank runs in the C kernel (popcnt where the CPU has it).
struct RankedBits: Sendable, Equatable {
    /// Bits per line.
    static let lineBits = 448
    /// Lines of 8 words: ones before the line, then bits 448·k … 448·k + 447 (bit j of the line
    /// is bit j % 64 of word 1 + j / 64).
    var lines: [UInt64]
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
        self.lines = lines
    }

    init(lines: [UInt64], count: Int) {
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
}

/// A wavelet matrix (Claude, Navarro and Ordóñez, 2015) over symbols `0..<alphabet`: one
/// ranked bitvector per bit of the symbol, most significant first; at each level the zeros
/// are stably moved before the ones. Access and rank cost one rank per level.
struct WaveletMatrix: Sendable, Equatable {
    /// Levels, most significant bit first.
    var levels: [RankedBits]
    /// Zeros in each level.
    var zeros: [Int]
    /// Symbols.
    let count: Int

    /// Bits per symbol for an alphabet of `alphabet` symbols.
    static func bits(_ alphabet: Int) -> Int { max(1, Int.bitWidth - (alphabet - 1).leadingZeroBitCount) }

    init(levels: [RankedBits], zeros: [Int], count: Int) {
        self.levels = levels
        self.zeros = zeros
        self.count = count
    }

    /// Builds the matrix of `symbols`.
    ///
    /// - Complexity: O(n · levels) time, n symbols of scratch.
    init(_ symbols: [UInt16], alphabet: Int) {
        self.init(count: symbols.count, alphabet: alphabet) { bits, zeros, depth in
            symbols.withUnsafeBufferPointer { ragdb_wavelet_build_u16($0.baseAddress, Int64($0.count), Int32(depth), bits, zeros) }
        }
    }

    /// Builds the matrix of byte symbols (alphabets of at most 256): half the build memory.
    init(_ symbols: [UInt8], alphabet: Int) {
        self.init(count: symbols.count, alphabet: alphabet) { bits, zeros, depth in
            symbols.withUnsafeBufferPointer { ragdb_wavelet_build_u8($0.baseAddress, Int64($0.count), Int32(depth), bits, zeros) }
        }
    }

    /// Builds the levels with `kernel` (the C builder), which fills `depth` levels of bits and
    /// the zero counts.
    ///
    /// - Complexity: O(n · levels) time, two copies of the symbols of scratch (in C).
    private init(count: Int, alphabet: Int, kernel: (UnsafeMutablePointer<UInt64>?, UnsafeMutablePointer<UInt64>?, Int) -> Int32) {
        let depth = Self.bits(alphabet)
        self.count = count
        let words = (count + 63) / 64
        var bits = [UInt64](repeating: 0, count: depth * words)
        var zeros = [UInt64](repeating: 0, count: depth)
        let rc = bits.withUnsafeMutableBufferPointer { bp in
            zeros.withUnsafeMutableBufferPointer { zp in kernel(bp.baseAddress, zp.baseAddress, depth) }
        }
        precondition(rc == 0, "wavelet matrix construction ran out of memory")
        levels = (0..<depth).map { RankedBits(words: Array(bits[($0 * words)..<(($0 + 1) * words)]), count: count) }
        self.zeros = zeros.map { Int($0) }
    }

    /// The symbol at position `i`.
    func access(_ i: Int) -> Int {
        var i = i
        var symbol = 0
        for (l, bits) in levels.enumerated() {
            if bits[i] {
                symbol = symbol << 1 | 1
                i = zeros[l] + bits.rank1(i)
            } else {
                symbol <<= 1
                i = bits.rank0(i)
            }
        }
        return symbol
    }

    /// Occurrences of `symbol` among positions `0..<i`.
    func rank(_ symbol: Int, _ i: Int) -> Int {
        var lo = 0, hi = i
        let depth = levels.count
        for (l, bits) in levels.enumerated() {
            if (symbol >> (depth - 1 - l)) & 1 == 1 {
                lo = zeros[l] + bits.rank1(lo)
                hi = zeros[l] + bits.rank1(hi)
            } else {
                lo = bits.rank0(lo)
                hi = bits.rank0(hi)
            }
        }
        return hi - lo
    }

    /// Every distinct symbol in positions `lo..<hi` with its count, in symbol order.
    ///
    /// - Complexity: O(k · levels) ranks for k distinct symbols.
    func distinct(_ lo: Int, _ hi: Int, into out: inout [(symbol: Int, count: Int)]) {
        guard hi > lo else { return }
        func walk(_ level: Int, _ lo: Int, _ hi: Int, _ prefix: Int) {
            if level == levels.count { out.append((prefix, hi - lo)); return }
            let bits = levels[level]
            let lo1 = bits.rank1(lo), hi1 = bits.rank1(hi)
            let lo0 = lo - lo1, hi0 = hi - hi1
            if hi0 > lo0 { walk(level + 1, lo0, hi0, prefix << 1) }
            if hi1 > lo1 { walk(level + 1, zeros[level] + lo1, zeros[level] + hi1, prefix << 1 | 1) }
        }
        walk(0, lo, hi, 0)
    }
}
