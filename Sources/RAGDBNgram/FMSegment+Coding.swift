import CRAGDBKernels
public import RAGDBStorage

extension FMSegment {
    /// Version of the stored segment layout (Format.md 5.13).
    public static let layoutVersion: UInt8 = 2

    /// The stored form: one framed value (codec raw: the bitvectors do not compress).
    ///
    /// - Complexity: one pass over the structures; about 0.8 bytes per text byte for English.
    public func serialized() throws(StorageError) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + length * 2)
        w.write(Self.layoutVersion)
        w.write(kind.rawValue)
        w.write(UInt16(0))
        w.write(UInt32(rate))
        w.write(UInt64(length))
        w.write(UInt32(chunkIDs.count))
        w.write(UInt32(alphabet))
        w.write(UInt64(bwt.bits.count))
        if kind == .bytes { w.write(bytes: values.map { UInt8(truncatingIfNeeded: $0) }) } else { for v in values { w.write(v) } }
        for x in c { w.write(UInt64(x)) }
        for x in chunkIDs { w.write(x) }
        for x in beginnings { w.write(x) }
        for x in sepRows { w.write(x) }
        for node in bwt.nodes {
            w.write(node.start)
            w.write(node.ones_before)
            w.write(UInt32(bitPattern: node.child.0))
            w.write(UInt32(bitPattern: node.child.1))
        }
        // Zero bytes so that the lines start 32 bytes past a 64-byte boundary of the raw value:
        // in LMDB's overflow pages (data at page + 16) after the 16-byte frame header, that
        // puts every rank line on its own cache line when read in place.
        w.write(bytes: repeatElement(UInt8(0), count: Self.padding(before: w.bytes.count)))
        bwt.bits.lines.withUnsafeBufferPointer { for x in $0 { w.write(x) } }
        samples.withUnsafeBufferPointer { for x in $0 { w.write(x) } }
        return try FramedValue.encode(w.bytes, policy: .never)
    }

    /// Zero bytes before the tree's lines when `offset` bytes of the raw value precede them.
    static func padding(before offset: Int) -> Int { (64 - (32 + offset) % 64) % 64 }

    /// Decodes a stored segment; `dead` comes from its own record.
    ///
    /// With `inPlace` (inside a read transaction, for a raw-codec value), the bitvector and
    /// the samples — nearly all of the segment — are read in place from the map rather than
    /// copied; only the small tables are decoded. Such a segment is valid only while that
    /// transaction is open.
    ///
    /// - Complexity: one checksum pass and one validation pass over the bitvector; a copy of
    ///   the whole value unless `inPlace`.
    /// - Throws: `.corruptValue` for a damaged value, an unknown layout version, or
    ///   structures that contradict each other.
    public static func deserialize(_ stored: RawSpan, dead: [UInt32], inPlace: Bool = false) throws(StorageError) -> FMSegment {
        if inPlace, try FramedValue.header(of: stored, context: "n-gram segment").codec == .raw {
            var scratch: [UInt8] = []
            do {
                return try FramedValue.withDecoded(stored, scratch: &scratch, context: "n-gram segment") { raw in
                    try parse(raw, dead: dead, mapped: true)
                }
            } catch let e as StorageError {
                throw e
            } catch {
                throw StorageError(.corruptValue, operation: "decode n-gram segment", detail: "\(error)")
            }
        }
        let raw = try FramedValue.decode(stored, context: "n-gram segment")
        do {
            return try raw.withUnsafeBytes { p in try parse(RawSpan(_unsafeBytes: p), dead: dead, mapped: false) }
        } catch let e as StorageError {
            throw e
        } catch {
            throw StorageError(.corruptValue, operation: "decode n-gram segment", detail: "\(error)")
        }
    }

    /// Parses the raw layout (Format.md 5.13); the lines and samples are views into `raw` when
    /// `mapped` and aligned, copies otherwise.
    private static func parse(_ raw: RawSpan, dead: [UInt32], mapped: Bool) throws(StorageError) -> FMSegment {
        // The fixed header, then the small tables up to the lines, decoded from a copy.
        let headerBytes = 32
        guard raw.byteCount >= headerBytes else { throw StorageError(.corruptValue, operation: "decode n-gram segment", detail: "shorter than its header") }
        func copy(_ range: Range<Int>) -> [UInt8] { raw.withUnsafeBytes { Array(UnsafeRawBufferPointer(rebasing: $0[range])) } }
        var r = ByteReader(copy(0..<headerBytes), context: "n-gram segment")
        let version = try r.readUInt8()
        guard version == layoutVersion else { throw r.corrupt("layout version \(version), expected \(layoutVersion)") }
        guard let kind = Alphabet(rawValue: try r.readUInt8()) else { throw r.corrupt("unknown alphabet") }
        _ = try r.readUInt16()
        let rate = Int(try r.readUInt32())
        let length = Int(clamping: try r.readUInt64())
        let chunks = Int(try r.readUInt32())
        let alphabet = Int(try r.readUInt32())
        let treeBits = Int(clamping: try r.readUInt64())
        // A byte segment has the terminator, SEP and at least the leading space; a token
        // segment at least the terminator and SEP, and at most one symbol per position.
        let alphabets = kind == .bytes ? 3...258 : 2...Int(Int32.max)
        guard rate >= 1, rate <= 1 << 16, length >= 1, length < Int(Int32.max), alphabets.contains(alphabet), alphabet <= length + 1,
              chunks >= 1, chunks < length,
              treeBits >= length, treeBits <= length * Int(RAGDB_HWT_MAX_DEPTH) else {
            throw r.corrupt("implausible header: rate \(rate), length \(length), \(chunks) chunks, alphabet \(alphabet), \(treeBits) tree bits")
        }
        let valueBytes = kind == .bytes ? alphabet : 4 * alphabet
        let tablesEnd = headerBytes + valueBytes + 8 * (alphabet + 1) + 16 * chunks + 24 * (alphabet - 1)
        let linesOffset = tablesEnd + padding(before: tablesEnd)
        let lineWords = RankedBits.lineCount(treeBits) * 8
        let sampleCount = (length + rate - 1) / rate
        guard linesOffset + 8 * lineWords + 4 * sampleCount == raw.byteCount else {
            throw StorageError(.corruptValue, operation: "decode n-gram segment", detail: "\(raw.byteCount) bytes, the header implies \(linesOffset + 8 * lineWords + 4 * sampleCount)")
        }
        r = ByteReader(copy(0..<linesOffset), offset: headerBytes, context: "n-gram segment")
        var values = [UInt32](repeating: 0, count: alphabet)
        if kind == .bytes {
            for (s, b) in try r.readBytes(alphabet).enumerated() { values[s] = UInt32(b) }
        } else {
            for s in 0..<alphabet { values[s] = try r.readUInt32() }
        }
        for s in 3..<max(3, alphabet) where values[s] <= values[s - 1] { throw r.corrupt("symbol values are not strictly ascending") }
        func u64s(_ n: Int) throws(StorageError) -> [UInt64] {
            var out = [UInt64](repeating: 0, count: n)
            for i in 0..<n { out[i] = try r.readUInt64() }
            return out
        }
        func u32s(_ n: Int) throws(StorageError) -> [UInt32] {
            var out = [UInt32](repeating: 0, count: n)
            for i in 0..<n { out[i] = try r.readUInt32() }
            return out
        }
        let cRaw = try u64s(alphabet + 1)
        guard cRaw.first == 0, cRaw.last == UInt64(length), zip(cRaw, cRaw.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw r.corrupt("C is not strictly increasing from 0 to the length")
        }
        let c = cRaw.map { Int($0) }
        let ids = try u64s(chunks)
        let beginnings = try u32s(chunks)
        let sepRows = try u32s(chunks)
        var nodes: [ragdb_hwt_node] = []
        nodes.reserveCapacity(alphabet - 1)
        for _ in 0..<(alphabet - 1) {
            var node = ragdb_hwt_node()
            node.start = try r.readUInt64()
            node.ones_before = try r.readUInt64()
            node.child = (Int32(bitPattern: try r.readUInt32()), Int32(bitPattern: try r.readUInt32()))
            nodes.append(node)
        }
        // The two large arrays: in place when asked and aligned, else copied (little-endian).
        func array<T: FixedWidthInteger & BitwiseCopyable & Sendable>(_ offset: Int, _ count: Int, _: T.Type) -> MappedArray<T> {
            if mapped, let view = MappedArray<T>.view(raw, byteOffset: offset, count: count) { return view }
            return raw.withUnsafeBytes { p in
                MappedArray((0..<count).map { T(littleEndian: p.loadUnaligned(fromByteOffset: offset + $0 * MemoryLayout<T>.size, as: T.self)) })
            }
        }
        let bits = RankedBits(lines: array(linesOffset, lineWords, UInt64.self), count: treeBits)
        let samples = array(linesOffset + 8 * lineWords, sampleCount, UInt32.self)
        let sampleRange = samples.withUnsafeBufferPointer { $0.allSatisfy { Int($0) < length } }
        guard zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }), zip(beginnings, beginnings.dropFirst()).allSatisfy({ $0 < $1 }),
              beginnings.first == 0, beginnings.allSatisfy({ Int($0) < length - 1 }), sepRows.allSatisfy({ Int($0) < length }),
              sampleRange, dead.allSatisfy({ Int($0) < length }) else {
            throw r.corrupt("structures contradict each other")
        }
        // A checksum catches damage, not a crafted value: prove the tree before any kernel
        // walks it, so that every rank stays inside the bitvector.
        guard bits.isConsistent() else { throw r.corrupt("the wavelet tree's rank counts are wrong") }
        let counts = (0..<alphabet).map { c[$0 + 1] - c[$0] }
        if let problem = HuffmanWaveletTree.validate(nodes: nodes, bits: bits, count: length, counts: counts) {
            throw r.corrupt("wavelet tree: \(problem)")
        }
        let tree = HuffmanWaveletTree(bits: bits, nodes: nodes, count: length, alphabet: alphabet)
        return FMSegment(kind: kind, length: length, chunkIDs: ids, beginnings: beginnings, sepRows: sepRows, values: values,
                         c: c, bwt: tree, samples: samples, rate: rate, dead: dead)
    }
}
