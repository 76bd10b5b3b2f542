public import RAGDBStorage

extension FMSegment {
    /// Version of the stored segment layout (Format.md 5.13).
    public static let layoutVersion: UInt8 = 1

    /// The stored form: one framed value (codec raw: the bitvectors do not compress).
    ///
    /// - Complexity: one pass over the structures; about 1.2 bytes per text byte for English.
    public func serialized() throws(StorageError) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + length * 2)
        w.write(Self.layoutVersion)
        w.write(UInt8(0))
        w.write(UInt16(0))
        w.write(UInt32(rate))
        w.write(UInt64(length))
        w.write(UInt32(chunkIDs.count))
        w.write(UInt32(alphabet))
        w.write(UInt32(bwt.levels.count))
        w.write(bytes: byteOfSymbol)
        for x in c { w.write(UInt64(x)) }
        for x in chunkIDs { w.write(x) }
        for x in beginnings { w.write(x) }
        for x in sepRows { w.write(x) }
        for z in bwt.zeros { w.write(UInt64(z)) }
        func bits(_ b: RankedBits) {
            for x in b.lines { w.write(x) }
        }
        for level in bwt.levels { bits(level) }
        bits(marks)
        w.write(UInt32(samples.count))
        for x in samples { w.write(x) }
        return try FramedValue.encode(w.bytes, policy: .never)
    }

    /// Decodes a stored segment; `dead` comes from its own record.
    ///
    /// - Throws: `.corruptValue` for a damaged value, an unknown layout version, or
    ///   structures that contradict each other.
    public static func deserialize(_ stored: RawSpan, dead: [UInt32]) throws(StorageError) -> FMSegment {
        let raw = try FramedValue.decode(stored, context: "n-gram segment")
        var r = ByteReader(raw, context: "n-gram segment")
        let version = try r.readUInt8()
        guard version == layoutVersion else { throw r.corrupt("layout version \(version), expected \(layoutVersion)") }
        _ = try r.readUInt8()
        _ = try r.readUInt16()
        let rate = Int(try r.readUInt32())
        let length = Int(try r.readUInt64())
        let chunks = Int(try r.readUInt32())
        let alphabet = Int(try r.readUInt32())
        let levels = Int(try r.readUInt32())
        guard rate >= 1, length >= 1, length < Int(Int32.max), (2...258).contains(alphabet),
              levels == WaveletMatrix.bits(alphabet), chunks < length else {
            throw r.corrupt("implausible header: rate \(rate), length \(length), \(chunks) chunks, alphabet \(alphabet), \(levels) levels")
        }
        let byteOfSymbol = Array(try r.readBytes(alphabet))
        var symbolOfByte = [UInt16](repeating: 0, count: 256)
        for s in 2..<alphabet { symbolOfByte[Int(byteOfSymbol[s])] = UInt16(s) }
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
        let c = try u64s(alphabet + 1).map { Int($0) }
        let ids = try u64s(chunks)
        let beginnings = try u32s(chunks)
        let sepRows = try u32s(chunks)
        let zeros = try u64s(levels).map { Int($0) }
        let lineWords = RankedBits.lineCount(length) * 8
        func bits() throws(StorageError) -> RankedBits {
            RankedBits(lines: try u64s(lineWords), count: length)
        }
        var bwtLevels: [RankedBits] = []
        for _ in 0..<levels { bwtLevels.append(try bits()) }
        let marks = try bits()
        let sampleCount = Int(try r.readUInt32())
        guard sampleCount == marks.ones else { throw r.corrupt("\(sampleCount) samples for \(marks.ones) marked rows") }
        let samples = try u32s(sampleCount)
        try r.expectEnd()
        guard c.last == length, zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }),
              beginnings.allSatisfy({ Int($0) < length }), sepRows.allSatisfy({ Int($0) < length }),
              dead.allSatisfy({ Int($0) < length }) else {
            throw r.corrupt("structures contradict each other")
        }
        return FMSegment(length: length, chunkIDs: ids, beginnings: beginnings, sepRows: sepRows, symbolOfByte: symbolOfByte,
                         byteOfSymbol: byteOfSymbol, c: c, bwt: WaveletMatrix(levels: bwtLevels, zeros: zeros, count: length),
                         marks: marks, samples: samples, rate: rate, dead: dead)
    }
}
