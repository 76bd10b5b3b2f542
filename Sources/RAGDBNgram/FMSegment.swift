import RAGDBStorage

/// One static FM-index segment over the symbols of a set of chunks: the bytes of their
/// normalised text, or the token ids a caller's tokenizer gave them (`Alphabet`).
///
/// Layout (SEAL's reversed concatenation, Format.md 5.13): the text is
/// `R = Π_chunks (SEP · reverse(symbols(chunk))) · 0`, where values (bytes or token ids) are
/// renamed to a compact alphabet (0 = terminator, 1 = SEP = chunk separator, 2… = the values
/// that occur, in ascending order). Backward search over R consumes a pattern in its forward
/// order, so the BWT symbols of a pattern's row range are the values that *follow* it in the
/// chunks (SEP: the chunk ends there). No pattern contains SEP, so no match spans two chunks.
///
/// Structures: the BWT as a Huffman-shaped wavelet tree with rank, the C array, suffix-array
/// samples in SA order (every `rate`-th row, so no marking bitvector: a locate walks `rate` LF
/// steps on average), chunk beginnings and ids, and the row of each chunk's SEP (for the LF
/// walk that masks a deleted chunk).
public struct FMSegment: Sendable, Equatable {
    /// What a segment's symbols are.
    public enum Alphabet: UInt8, Sendable {
        /// UTF-8 bytes of normalised chunk text.
        case bytes = 0
        /// Token ids supplied with the chunks (any `UInt32`).
        case tokens = 1
    }

    /// Bytes or token ids.
    public let kind: Alphabet
    /// Symbols in R (with SEPs and the terminator).
    public let length: Int
    /// Chunk ids, in segment order (ascending).
    public let chunkIDs: [UInt64]
    /// Position of each chunk's SEP in R, ascending.
    let beginnings: [UInt32]
    /// Row of each chunk's SEP.
    let sepRows: [UInt32]
    /// Compact symbol → value (entries 0 and 1 unused, then strictly ascending).
    let values: [UInt32]
    /// Byte → compact symbol (0 = the byte does not occur); empty for token segments.
    let symbolOfByte: [UInt32]
    /// C[s] = symbols of R smaller than s; `alphabet + 1` entries.
    let c: [Int]
    let bwt: HuffmanWaveletTree
    /// samples[i] = SA[i · rate]: the text position of every `rate`-th row. Owned, or read
    /// in place from the map.
    let samples: MappedArray<UInt32>
    /// Sampling rate in rows.
    public let rate: Int
    /// Rows of deleted chunks, sorted (suffixes that start inside them, their SEP included).
    public internal(set) var dead: [UInt32]
    /// The row range of every two-symbol pattern, (lo << 32 | hi) at s₁·σ + s₂, so a backward
    /// search starts two symbols in without a rank; empty for segments too small to repay
    /// σ² entries (fewer than 64·σ² symbols). Derived at build and load, never stored.
    let pairRanges: [UInt64]

    init(kind: Alphabet, length: Int, chunkIDs: [UInt64], beginnings: [UInt32], sepRows: [UInt32], values: [UInt32],
         c: [Int], bwt: HuffmanWaveletTree, samples: MappedArray<UInt32>, rate: Int, dead: [UInt32]) {
        self.kind = kind
        self.length = length
        self.chunkIDs = chunkIDs
        self.beginnings = beginnings
        self.sepRows = sepRows
        self.values = values
        if kind == .bytes {
            var table = [UInt32](repeating: 0, count: 256)
            for s in 2..<values.count { table[Int(values[s])] = UInt32(s) }
            symbolOfByte = table
        } else {
            symbolOfByte = []
        }
        self.c = c
        self.bwt = bwt
        self.samples = samples
        self.rate = rate
        self.dead = dead
        let sigma = values.count
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

    /// Whether the bitvector is read in place from the memory map (valid only while the read
    /// transaction it was loaded in is open).
    public var isReadInPlace: Bool { bwt.bits.lines.isMapped }

    /// Compact alphabet size (with terminator and SEP).
    var alphabet: Int { values.count }
    /// Chunks in the segment.
    public var chunkCount: Int { chunkIDs.count }

    /// The compact symbol of `value`, or nil when it does not occur.
    @inline(__always)
    func symbol(of value: UInt32) -> UInt32? {
        if kind == .bytes {
            guard value < 256 else { return nil }
            let s = symbolOfByte[Int(value)]
            return s >= 2 ? s : nil
        }
        var lo = 2, hi = values.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if values[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < values.count && values[lo] == value ? UInt32(lo) : nil
    }

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
        var values: [UInt32] = [0, 0]
        var symbolOfByte = [UInt8](repeating: 0, count: 256)
        for b in 0..<256 where present[b] {
            symbolOfByte[b] = UInt8(truncatingIfNeeded: values.count)
            values.append(UInt32(b))
        }
        let ids = chunks.map(\.id)
        if values.count <= 256 {
            // The byte path: R as bytes and the layout pass in C, about half the memory.
            let l = Self.layoutBytes(consume chunks, symbolOfByte, total: total, alphabet: values.count, rate: rate)
            let tree = HuffmanWaveletTree(l.bwt, counts: (0..<values.count).map { l.c[$0 + 1] - l.c[$0] })
            return FMSegment(kind: .bytes, length: total, chunkIDs: ids, beginnings: l.beginnings, sepRows: l.sepRows, values: values,
                             c: l.c, bwt: tree, samples: MappedArray(l.samples), rate: rate, dead: [])
        }
        // More than 254 distinct byte values: over 256 symbols, the general path.
        var wide = [UInt32](repeating: 0, count: 256)
        for s in 2..<values.count { wide[Int(values[s])] = UInt32(s) }
        let symbols = chunks.map { ch in ch.bytes.map { wide[Int($0)] } }
        return build(kind: .bytes, ids: ids, symbols: symbols, values: values, total: total, rate: rate)
    }

    /// Builds a segment over the token ids of `chunks` (id ascending).
    ///
    /// - Complexity: linear time (SA-IS over 32-bit symbols) plus sorting the distinct ids;
    ///   about 17 bytes of memory per token while building.
    public static func build(tokens chunks: [(id: UInt64, tokens: [UInt32])], rate: Int = 32) -> FMSegment {
        var total = 1
        var distinct = Set<UInt32>()
        for ch in chunks {
            total += ch.tokens.count + 1
            distinct.formUnion(ch.tokens)
        }
        let values: [UInt32] = [0, 0] + distinct.sorted()
        var symbolOf: [UInt32: UInt32] = [:]
        symbolOf.reserveCapacity(values.count)
        for s in 2..<values.count { symbolOf[values[s]] = UInt32(s) }
        let symbols = chunks.map { ch in ch.tokens.map { symbolOf[$0]! } }
        return build(kind: .tokens, ids: chunks.map(\.id), symbols: symbols, values: values, total: total, rate: rate)
    }

    /// The general layout: R over 32-bit symbols, its suffix array, and from them the BWT, C,
    /// the SA-order samples and the SEP rows.
    private static func build(kind: Alphabet, ids: [UInt64], symbols: [[UInt32]], values: [UInt32], total: Int, rate: Int) -> FMSegment {
        let alphabet = values.count
        var r = [Int32](repeating: 0, count: total)
        var beginnings: [UInt32] = []
        beginnings.reserveCapacity(symbols.count)
        var p = 0
        for ch in symbols {
            beginnings.append(UInt32(p))
            r[p] = 1
            p += 1
            for s in ch.reversed() { r[p] = Int32(s); p += 1 }
        }
        r[p] = 0
        var c = [Int](repeating: 0, count: alphabet + 1)
        for s in r { c[Int(s) + 1] += 1 }
        for i in 0..<alphabet { c[i + 1] += c[i] }
        let sa = SuffixArray.build(r, alphabet: alphabet)
        var bwt = [UInt32](repeating: 0, count: total)
        var samples: [UInt32] = []
        samples.reserveCapacity(total / rate + 1)
        var sepRows = [UInt32](repeating: 0, count: symbols.count)
        for (row, s) in sa.enumerated() {
            let pos = Int(s)
            bwt[row] = UInt32(pos == 0 ? r[total - 1] : r[pos - 1])
            if row % rate == 0 { samples.append(UInt32(pos)) }
            if r[pos] == 1, let j = Self.chunkIndex(ofPosition: pos, beginnings) {
                sepRows[j] = UInt32(row)
            }
        }
        let tree = HuffmanWaveletTree(bwt, counts: (0..<alphabet).map { c[$0 + 1] - c[$0] })
        return FMSegment(kind: kind, length: total, chunkIDs: ids, beginnings: beginnings, sepRows: sepRows, values: values,
                         c: c, bwt: tree, samples: MappedArray(samples), rate: rate, dead: [])
    }

    /// The byte-alphabet layout (σ ≤ 256): R as bytes and the C layout pass (BWT as bytes).
    private static func layoutBytes(
        _ chunks: consuming [(id: UInt64, bytes: [UInt8])], _ symbolOfByte: [UInt8], total: Int, alphabet: Int, rate: Int
    ) -> (beginnings: [UInt32], c: [Int], bwt: [UInt8], samples: [UInt32], sepRows: [UInt32]) {
        var r = [UInt8](repeating: 0, count: total)
        var beginnings: [UInt32] = []
        beginnings.reserveCapacity(chunks.count)
        var p = 0
        for i in chunks.indices {
            beginnings.append(UInt32(p))
            r[p] = 1
            p += 1
            for b in chunks[i].bytes.reversed() { r[p] = symbolOfByte[Int(b)]; p += 1 }
        }
        // The chunk texts are in R now: release them before the suffix array is built.
        _ = consume chunks
        var c = [Int](repeating: 0, count: alphabet + 1)
        for s in r { c[Int(s) + 1] += 1 }
        for i in 0..<alphabet { c[i + 1] += c[i] }
        let l = SuffixArray.layout(bytes: r, alphabet: alphabet, rate: rate, beginnings: beginnings)
        return (beginnings, c, l.bwt, l.samples, l.sepRows)
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

    /// The length of chunk `j` in symbols (bytes of normalised text, or tokens).
    public func textLength(ofChunkAt j: Int) -> Int { regionEnd(j) - Int(beginnings[j]) - 1 }

    // MARK: Queries

    /// The row range of the suffixes of R that start with reverse(`symbols`), or nil.
    ///
    /// - Complexity: two ranks per pattern symbol and level of its Huffman code (about 4.6
    ///   for English bytes); the first two symbols come from C or the pair table.
    func range(ofSymbols symbols: [UInt32]) -> Range<Int>? {
        if symbols.isEmpty { return 0..<length }
        if symbols.count >= 2 && !pairRanges.isEmpty {
            let pair = pairRanges[Int(symbols[0]) * alphabet + Int(symbols[1])]
            let lo = Int(pair >> 32), hi = Int(pair & 0xFFFF_FFFF)
            guard lo < hi else { return nil }
            return bwt.backwardSearch(Array(symbols[2...]), from: lo..<hi, c: c)
        }
        // The first symbol's range is C's; no rank needed.
        let first = Int(symbols[0])
        return bwt.backwardSearch(Array(symbols[1...]), from: c[first]..<c[first + 1], c: c)
    }

    /// The compact symbols of `pattern` (bytes or token ids), or nil when one does not occur.
    func symbols<V: BinaryInteger>(_ pattern: [V]) -> [UInt32]? {
        var out = [UInt32](repeating: 0, count: pattern.count)
        for (k, v) in pattern.enumerated() {
            guard let value = UInt32(exactly: v), let s = symbol(of: value) else { return nil }
            out[k] = s
        }
        return out
    }

    /// The row range of the suffixes of R that start with reverse(`pattern`), or nil.
    public func range(of pattern: [UInt8]) -> Range<Int>? {
        guard let s = symbols(pattern) else { return nil }
        return range(ofSymbols: s)
    }

    /// Dead rows in `range`.
    func deadCount(in range: Range<Int>) -> Int {
        lowerBound(dead, UInt32(range.upperBound)) - lowerBound(dead, UInt32(range.lowerBound))
    }

    /// Live occurrences of the compact `symbols`; the empty pattern counts every live symbol.
    func count(symbols pattern: [UInt32]?) -> Int {
        guard let pattern else { return 0 }
        if pattern.isEmpty { return (c[alphabet] - c[2]) - deadCount(in: c[2]..<c[alphabet]) }
        guard let r = range(ofSymbols: pattern) else { return 0 }
        return r.count - deadCount(in: r)
    }

    /// Live occurrences of `pattern` (overlapping ones all count). The empty pattern counts
    /// every live byte.
    public func count(_ pattern: [UInt8]) -> Int { count(symbols: symbols(pattern)) }

    /// Live occurrences of a token-id `pattern` (overlapping ones all count).
    public func count(tokens pattern: [UInt32]) -> Int { count(symbols: symbols(pattern)) }

    /// The row of the R position preceding the suffix of `row` (one LF step).
    @inline(__always)
    func lf(_ row: Int) -> (row: Int, symbol: Int) { bwt.lf(row, c: c) }

    /// The R positions where the suffixes of `rows` start.
    ///
    /// - Complexity: `rate` LF steps per row on average, eight walks interleaved.
    func positions(ofRows rows: [Int64]) -> [Int64] { bwt.locate(rows: rows, c: c, rate: rate, samples: samples) }

    /// A located occurrence: the chunk (its index in the segment) and the offset of the
    /// pattern in its symbols (bytes of normalised text, or tokens).
    public struct Occurrence: Sendable, Hashable {
        /// Index of the chunk in the segment.
        public var chunkIndex: Int
        /// Offset in the chunk's symbols.
        public var offset: Int
        /// Creates an occurrence.
        public init(chunkIndex: Int, offset: Int) {
            self.chunkIndex = chunkIndex
            self.offset = offset
        }
    }

    /// Up to `limit` live occurrences of the compact `pattern`, in row order.
    func locate(symbols pattern: [UInt32]?, limit: Int) -> [Occurrence] {
        guard let pattern, !pattern.isEmpty, let r = range(ofSymbols: pattern) else { return [] }
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

    /// Up to `limit` live occurrences of `pattern`, in row order.
    ///
    /// - Complexity: per occurrence, `rate` LF steps on average.
    public func locate(_ pattern: [UInt8], limit: Int) -> [Occurrence] { locate(symbols: symbols(pattern), limit: limit) }

    /// Up to `limit` live occurrences of a token-id `pattern`, in row order.
    public func locate(tokens pattern: [UInt32], limit: Int) -> [Occurrence] { locate(symbols: symbols(pattern), limit: limit) }

    /// The values that follow live occurrences of the compact `pattern`, with their counts
    /// (`nil` = the chunk ends there), in value order. For the empty pattern: every value's
    /// live count.
    ///
    /// - Complexity: the tree nodes above the distinct continuations; memory proportional to
    ///   them, not to the alphabet.
    func next(symbols pattern: [UInt32]?) -> [(value: UInt32?, count: Int)] {
        guard let pattern else { return [] }
        var counts: [Int: Int] = [:]
        if pattern.isEmpty {
            for s in 2..<alphabet { counts[s] = c[s + 1] - c[s] }
            // Dead rows start with the symbol of their F column.
            for row in dead where Int(row) >= c[2] {
                var lo = 2, hi = alphabet
                while lo + 1 < hi {
                    let mid = (lo + hi) / 2
                    if c[mid] <= Int(row) { lo = mid } else { hi = mid }
                }
                counts[lo, default: 0] -= 1
            }
        } else {
            guard let r = range(ofSymbols: pattern) else { return [] }
            var found: [(symbol: Int, count: Int)] = []
            bwt.distinct(r.lowerBound, r.upperBound, into: &found)
            for f in found { counts[f.symbol, default: 0] += f.count }
            var d = lowerBound(dead, UInt32(r.lowerBound))
            while d < dead.count && Int(dead[d]) < r.upperBound {
                counts[bwt.access(Int(dead[d])), default: 0] -= 1
                d += 1
            }
        }
        return counts.filter { $0.key != 0 && $0.value > 0 }.sorted { $0.key < $1.key }
            .map { (value: $0.key == 1 ? nil : values[$0.key], count: $0.value) }
    }

    /// The bytes that follow live occurrences of `pattern`, with their counts (`nil` byte =
    /// the chunk ends there). For the empty pattern: every byte's live count.
    public func next(_ pattern: [UInt8]) -> [(byte: UInt8?, count: Int)] {
        next(symbols: symbols(pattern)).map { (byte: $0.value.map { UInt8(truncatingIfNeeded: $0) }, count: $0.count) }
    }

    /// The token ids that follow live occurrences of a token `pattern`, with their counts
    /// (`nil` = the chunk ends there), in id order.
    public func next(tokens pattern: [UInt32]) -> [(token: UInt32?, count: Int)] {
        next(symbols: symbols(pattern)).map { (token: $0.value, count: $0.count) }
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

    /// The symbols (values) of chunk `j`, recovered from the index by an LF walk (no text is
    /// stored separately).
    public func extractValues(chunkAt j: Int) -> [UInt32] {
        var row = j + 1 < sepRows.count ? Int(sepRows[j + 1]) : 0
        var out: [UInt32] = []
        let n = textLength(ofChunkAt: j)
        out.reserveCapacity(n)
        for _ in 0..<n {
            let (next, s) = lf(row)
            out.append(values[s])
            row = next
        }
        return out
    }

    /// The normalised bytes of chunk `j` of a byte segment, recovered by an LF walk.
    public func extract(chunkAt j: Int) -> [UInt8] { extractValues(chunkAt: j).map { UInt8(truncatingIfNeeded: $0) } }
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
