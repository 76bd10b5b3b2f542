import RAGDBStorage

/// One static FM-index segment over the byte text of a set of chunks.
///
/// Layout (SEAL's reversed concatenation, Format.md 5.13): the text is
/// `R = Π_chunks (SEP · reverse(symbols(text))) · 0`, where byte values are renamed to a
/// compact alphabet (0 = terminator, 1 = SEP = chunk separator, 2… = the bytes that occur, in
/// byte order). Backward search over R consumes a pattern in its forward order, so the BWT
/// symbols of a pattern's row range are the bytes that *follow* it in the chunks (SEP: the
/// chunk ends there). No pattern contains SEP, so no match spans two chunks.
///
/// Structures: the BWT as a Huffman-shaped wavelet tree with rank, the C array, suffix-array
/// samples in SA order (every `rate`-th row, so no marking bitvector: a locate walks `rate` LF
/// steps on average), chunk beginnings and ids, and the row of each chunk's SEP (for the LF
/// walk that masks a deleted chunk).
public struct FMSegment: Sendable, Equatable {
    /// Symbols in R (with SEPs and the terminator).
    public let length: Int
    /// Chunk ids, in segment order (ascending).
    public let chunkIDs: [UInt64]
    /// Position of each chunk's SEP in R, ascending.
    let beginnings: [UInt32]
    /// Row of each chunk's SEP.
    let sepRows: [UInt32]
    /// Byte → compact symbol (0 = the byte does not occur).
    let symbolOfByte: [UInt16]
    /// Compact symbol → byte (entries 0 and 1 unused).
    let byteOfSymbol: [UInt8]
    /// C[s] = symbols of R smaller than s; `alphabet + 1` entries.
    let c: [Int]
    let bwt: HuffmanWaveletTree
    /// samples[i] = SA[i · rate]: the text position of every `rate`-th row.
    let samples: [UInt32]
    /// Sampling rate in rows.
    public let rate: Int
    /// Rows of deleted chunks, sorted (suffixes that start inside them, their SEP included).
    public internal(set) var dead: [UInt32]
    /// The row range of every two-symbol pattern, (lo << 32 | hi) at s₁·σ + s₂, so a backward
    /// search starts two symbols in without a rank; empty for segments too small to repay
    /// σ² entries (fewer than 64·σ² symbols). Derived at build and load, never stored.
    let pairRanges: [UInt64]

    init(length: Int, chunkIDs: [UInt64], beginnings: [UInt32], sepRows: [UInt32], symbolOfByte: [UInt16], byteOfSymbol: [UInt8],
         c: [Int], bwt: HuffmanWaveletTree, samples: [UInt32], rate: Int, dead: [UInt32]) {
        self.length = length
        self.chunkIDs = chunkIDs
        self.beginnings = beginnings
        self.sepRows = sepRows
        self.symbolOfByte = symbolOfByte
        self.byteOfSymbol = byteOfSymbol
        self.c = c
        self.bwt = bwt
        self.samples = samples
        self.rate = rate
        self.dead = dead
        let sigma = byteOfSymbol.count
        guard length >= 64 * sigma * sigma else { pairRanges = []; return }
        // For each first symbol s₁ (rows C[s₁]..<C[s₁+1]), the ranks of every s₂ at both ends.
        var table = [UInt64](repeating: 0, count: sigma * sigma)
        var below = [Int](repeating: 0, count: sigma), upTo = [Int](repeating: 0, count: sigma)
        for s1 in 2..<sigma {
            bwt.ranks(at: c[s1], into: &below)
            bwt.ranks(at: c[s1 + 1], into: &upTo)
            for s2 in 0..<sigma {
                table[s1 * sigma + s2] = UInt64(c[s2] + below[s2]) << 32 | UInt64(c[s2] + upTo[s2])
            }
        }
        pairRanges = table
    }

    /// Compact alphabet size (with terminator and SEP).
    var alphabet: Int { byteOfSymbol.count }
    /// Chunks in the segment.
    public var chunkCount: Int { chunkIDs.count }

    /// Builds a segment over `chunks` (id ascending, bytes already normalised).
    ///
    /// - Complexity: linear time (SA-IS); memory about 8 bytes per input byte while building.
    public static func build(_ chunks: consuming [(id: UInt64, bytes: [UInt8])], rate: Int = 32) -> FMSegment {
        var present = [Bool](repeating: false, count: 256)
        var total = 1
        for i in chunks.indices {
            total += chunks[i].bytes.count + 1
            for b in chunks[i].bytes { present[Int(b)] = true }
        }
        var symbolOfByte = [UInt16](repeating: 0, count: 256)
        var byteOfSymbol: [UInt8] = [0, 0]
        for b in 0..<256 where present[b] {
            symbolOfByte[b] = UInt16(byteOfSymbol.count)
            byteOfSymbol.append(UInt8(b))
        }
        let alphabet = byteOfSymbol.count
        // The text in the narrowest integer type its alphabet allows (bytes almost always).
        let beginnings: [UInt32], c: [Int], samples: [UInt32], sepRows: [UInt32]
        let tree: HuffmanWaveletTree
        let ids = chunks.map(\.id)
        if alphabet <= 256 {
            let l = Self.layoutBytes(consume chunks, symbolOfByte, total: total, alphabet: alphabet, rate: rate)
            (beginnings, c, samples, sepRows) = (l.beginnings, l.c, l.samples, l.sepRows)
            tree = HuffmanWaveletTree(l.bwt, counts: (0..<alphabet).map { c[$0 + 1] - c[$0] })
        } else {
            let l = Self.layout(consume chunks, symbolOfByte, total: total, alphabet: alphabet, rate: rate)
            (beginnings, c, samples, sepRows) = (l.beginnings, l.c, l.samples, l.sepRows)
            tree = HuffmanWaveletTree(l.bwt, counts: (0..<alphabet).map { c[$0 + 1] - c[$0] })
        }
        return FMSegment(length: total, chunkIDs: ids, beginnings: beginnings, sepRows: sepRows,
                         symbolOfByte: symbolOfByte, byteOfSymbol: byteOfSymbol, c: c,
                         bwt: tree, samples: samples, rate: rate, dead: [])
    }

    /// The byte-alphabet layout (σ ≤ 256): R as bytes and the C layout pass (BWT as bytes).
    private static func layoutBytes(
        _ chunks: consuming [(id: UInt64, bytes: [UInt8])], _ symbolOfByte: [UInt16], total: Int, alphabet: Int, rate: Int
    ) -> (beginnings: [UInt32], c: [Int], bwt: [UInt8], samples: [UInt32], sepRows: [UInt32]) {
        var r = [UInt8](repeating: 0, count: total)
        var beginnings: [UInt32] = []
        beginnings.reserveCapacity(chunks.count)
        var p = 0
        for i in chunks.indices {
            beginnings.append(UInt32(p))
            r[p] = 1
            p += 1
            for b in chunks[i].bytes.reversed() { r[p] = UInt8(symbolOfByte[Int(b)]); p += 1 }
        }
        // The chunk texts are in R now: release them before the suffix array is built.
        _ = consume chunks
        var c = [Int](repeating: 0, count: alphabet + 1)
        for s in r { c[Int(s) + 1] += 1 }
        for i in 0..<alphabet { c[i + 1] += c[i] }
        let l = SuffixArray.layout(bytes: r, alphabet: alphabet, rate: rate, beginnings: beginnings)
        return (beginnings, c, l.bwt, l.samples, l.sepRows)
    }

    /// The general layout (σ > 256, symbols above 255 occur): R, its suffix array, and from
    /// them the BWT, C, the text-order samples and the SEP rows, freed on return.
    private static func layout(
        _ chunks: [(id: UInt64, bytes: [UInt8])], _ symbolOfByte: [UInt16], total: Int, alphabet: Int, rate: Int
    ) -> (beginnings: [UInt32], c: [Int], bwt: [UInt16], samples: [UInt32], sepRows: [UInt32]) {
        var r = [Int32](repeating: 0, count: total)
        var beginnings: [UInt32] = []
        beginnings.reserveCapacity(chunks.count)
        var p = 0
        for ch in chunks {
            beginnings.append(UInt32(p))
            r[p] = 1
            p += 1
            for b in ch.bytes.reversed() { r[p] = Int32(symbolOfByte[Int(b)]); p += 1 }
        }
        r[p] = 0
        var c = [Int](repeating: 0, count: alphabet + 1)
        for s in r { c[Int(s) + 1] += 1 }
        for i in 0..<alphabet { c[i + 1] += c[i] }
        let sa = SuffixArray.build(r, alphabet: alphabet)
        var bwt = [UInt16](repeating: 0, count: total)
        var samples: [UInt32] = []
        samples.reserveCapacity(total / rate + 1)
        var sepRows = [UInt32](repeating: 0, count: chunks.count)
        for (row, s) in sa.enumerated() {
            let pos = Int(s)
            bwt[row] = UInt16(pos == 0 ? r[total - 1] : r[pos - 1])
            if row % rate == 0 { samples.append(UInt32(pos)) }
            if r[pos] == 1, let j = Self.chunkIndex(ofPosition: pos, beginnings) {
                sepRows[j] = UInt32(row)
            }
        }
        return (beginnings, c, bwt, samples, sepRows)
    }

    /// The chunk index whose region holds R position `pos`.
    static func chunkIndex(ofPosition pos: Int, _ beginnings: [UInt32]) -> Int? {
        var lo = 0, hi = beginnings.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(beginnings[mid]) <= pos { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    /// End (exclusive) of chunk `j`'s region in R.
    func regionEnd(_ j: Int) -> Int { j + 1 < beginnings.count ? Int(beginnings[j + 1]) : length - 1 }

    /// The byte length of chunk `j`'s (normalised) text.
    public func textLength(ofChunkAt j: Int) -> Int { regionEnd(j) - Int(beginnings[j]) - 1 }

    // MARK: Queries

    /// The row range of the suffixes of R that start with reverse(`pattern`), or nil.
    ///
    /// - Complexity: two ranks per pattern byte and level of its Huffman code (about 4.6 for
    ///   English text).
    public func range(of pattern: [UInt8]) -> Range<Int>? {
        if pattern.isEmpty { return 0..<length }
        var symbols = [UInt16](repeating: 0, count: pattern.count)
        for (k, b) in pattern.enumerated() {
            let s = symbolOfByte[Int(b)]
            guard s >= 2 else { return nil }
            symbols[k] = s
        }
        if pattern.count >= 2 && !pairRanges.isEmpty {
            let pair = pairRanges[Int(symbols[0]) * alphabet + Int(symbols[1])]
            let lo = Int(pair >> 32), hi = Int(pair & 0xFFFF_FFFF)
            guard lo < hi else { return nil }
            return bwt.backwardSearch(Array(symbols[2...]), from: lo..<hi, c: c)
        }
        // The first symbol's range is C's; no rank needed.
        let first = Int(symbols[0])
        return bwt.backwardSearch(Array(symbols[1...]), from: c[first]..<c[first + 1], c: c)
    }

    /// Dead rows in `range`.
    func deadCount(in range: Range<Int>) -> Int {
        lowerBound(dead, UInt32(range.upperBound)) - lowerBound(dead, UInt32(range.lowerBound))
    }

    /// Live occurrences of `pattern` (overlapping ones all count). The empty pattern counts
    /// every live byte.
    public func count(_ pattern: [UInt8]) -> Int {
        if pattern.isEmpty {
            let live = (c[alphabet] - c[2]) - deadCount(in: c[2]..<c[alphabet])
            return live
        }
        guard let r = range(of: pattern) else { return 0 }
        return r.count - deadCount(in: r)
    }

    /// The row of the R position preceding the suffix of `row` (one LF step).
    @inline(__always)
    func lf(_ row: Int) -> (row: Int, symbol: Int) { bwt.lf(row, c: c) }

    /// The R positions where the suffixes of `rows` start.
    ///
    /// - Complexity: `rate` LF steps per row on average, eight walks interleaved.
    func positions(ofRows rows: [Int64]) -> [Int64] { bwt.locate(rows: rows, c: c, rate: rate, samples: samples) }

    /// A located occurrence: the chunk (its index in the segment) and the byte offset of the
    /// pattern in its normalised text.
    public struct Occurrence: Sendable, Hashable {
        /// Index of the chunk in the segment.
        public var chunkIndex: Int
        /// Byte offset in the chunk's normalised text.
        public var offset: Int
        /// Creates an occurrence.
        public init(chunkIndex: Int, offset: Int) {
            self.chunkIndex = chunkIndex
            self.offset = offset
        }
    }

    /// Up to `limit` live occurrences of `pattern`, in row order.
    ///
    /// - Complexity: per occurrence, `rate` LF steps on average.
    public func locate(_ pattern: [UInt8], limit: Int) -> [Occurrence] {
        guard !pattern.isEmpty, let r = range(of: pattern) else { return [] }
        var rows: [Int64] = []
        rows.reserveCapacity(min(r.count, limit))
        var d = lowerBound(dead, UInt32(r.lowerBound))
        for row in r {
            if rows.count >= limit { break }
            while d < dead.count && Int(dead[d]) < row { d += 1 }
            if d < dead.count && Int(dead[d]) == row { continue }
            rows.append(Int64(row))
        }
        var out: [Occurrence] = []
        out.reserveCapacity(rows.count)
        for position in positions(ofRows: rows) {
            let p = Int(position)
            guard p >= 0, let j = Self.chunkIndex(ofPosition: p, beginnings) else { continue }
            let len = textLength(ofChunkAt: j)
            let offset = len - pattern.count - (p - Int(beginnings[j]) - 1)
            // Always true in a sound segment; a damaged one never yields an offset outside the text.
            guard offset >= 0, offset + pattern.count <= len else { continue }
            out.append(Occurrence(chunkIndex: j, offset: offset))
        }
        return out
    }

    /// The bytes that follow live occurrences of `pattern`, with their counts (`nil` byte =
    /// the chunk ends there). For the empty pattern: every byte's live count.
    public func next(_ pattern: [UInt8]) -> [(byte: UInt8?, count: Int)] {
        var counts = [Int](repeating: 0, count: alphabet)
        if pattern.isEmpty {
            for s in 2..<alphabet { counts[s] = c[s + 1] - c[s] }
            // Dead rows start with the byte of their F column.
            for row in dead {
                var s = 2
                while s + 1 < c.count && c[s + 1] <= Int(row) { s += 1 }
                if Int(row) >= c[2] { counts[s] -= 1 }
            }
        } else {
            guard let r = range(of: pattern) else { return [] }
            var found: [(symbol: Int, count: Int)] = []
            bwt.distinct(r.lowerBound, r.upperBound, into: &found)
            for f in found { counts[f.symbol] += f.count }
            var d = lowerBound(dead, UInt32(r.lowerBound))
            while d < dead.count && Int(dead[d]) < r.upperBound {
                counts[bwt.access(Int(dead[d]))] -= 1
                d += 1
            }
        }
        var out: [(byte: UInt8?, count: Int)] = []
        if counts[1] > 0 { out.append((nil, counts[1])) }
        for s in 2..<alphabet where counts[s] > 0 { out.append((byteOfSymbol[s], counts[s])) }
        return out
    }

    /// The rows of chunk `j`'s region (its SEP and every byte): an LF walk from the next
    /// region's SEP (or the terminator).
    ///
    /// - Complexity: (text length + 1) LF steps.
    func rows(ofChunkAt j: Int) -> [UInt32] {
        var row = j + 1 < sepRows.count ? Int(sepRows[j + 1]) : 0
        var rows: [UInt32] = []
        let steps = textLength(ofChunkAt: j) + 1
        rows.reserveCapacity(steps)
        for _ in 0..<steps {
            row = lf(row).row
            rows.append(UInt32(row))
        }
        return rows
    }

    /// Masks chunk `id` (a no-op when it is not in the segment or already masked).
    ///
    /// - Returns: whether the chunk was in the segment and live.
    public mutating func delete(chunk id: UInt64) -> Bool {
        let j = lowerBound(chunkIDs, id)
        guard j < chunkIDs.count, chunkIDs[j] == id, !isDead(chunkAt: j) else { return false }
        dead = (dead + rows(ofChunkAt: j)).sorted()
        return true
    }

    /// Whether chunk index `j` is masked.
    public func isDead(chunkAt j: Int) -> Bool {
        let sep = sepRows[j]
        let i = lowerBound(dead, sep)
        return i < dead.count && dead[i] == sep
    }

    /// The normalised bytes of chunk `j`, recovered from the index by an LF walk (no text is
    /// stored separately).
    public func extract(chunkAt j: Int) -> [UInt8] {
        var row = j + 1 < sepRows.count ? Int(sepRows[j + 1]) : 0
        var out: [UInt8] = []
        let n = textLength(ofChunkAt: j)
        out.reserveCapacity(n)
        for _ in 0..<n {
            let (next, s) = lf(row)
            out.append(byteOfSymbol[s])
            row = next
        }
        return out
    }
}

/// The first index of `a` (sorted) whose element is not below `x`.
@inline(__always)
func lowerBound<T: Comparable>(_ a: [T], _ x: T) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
}
