public import RAGDBStorage

/// One posting: a chunk, how often the term occurs in it, and the chunk's length in terms.
public struct Posting: Hashable, Sendable {
    /// The chunk id.
    public var chunk: UInt64
    /// Term frequency in the chunk.
    public var tf: UInt32
    /// The chunk's length in analyzed terms.
    public var length: UInt32

    /// Creates a posting.
    public init(chunk: UInt64, tf: UInt32, length: UInt32) {
        self.chunk = chunk
        self.tf = tf
        self.length = length
    }
}

/// A block of up to 128 postings of one term, in chunk-id order (Format.md §"sparse_postings"):
///
///     u8      format tag, 1
///     u8      count n (1...128)
///     u32 LE  the largest tf in the block
///     u32 LE  the smallest chunk length in the block
///     n ×     varint chunk-id delta (the first is the chunk id itself), varint tf, varint length
///
/// The two bounds make the block's best possible BM25 contribution computable at query time
/// for any collection statistics, so block-max pruning never uses a stale bound.
public enum PostingBlock {
    /// The most postings in one block.
    public static let capacity = 128

    /// Encodes `postings` (1 to 128, increasing chunk ids).
    public static func encode(_ postings: ArraySlice<Posting>, into w: inout ByteWriter) {
        precondition(!postings.isEmpty && postings.count <= capacity, "block of \(postings.count) postings")
        var maxTF: UInt32 = 0, minLength = UInt32.max
        for p in postings {
            maxTF = max(maxTF, p.tf)
            minLength = min(minLength, p.length)
        }
        w.reserve(10 + 20 * postings.count)  // varints: at most 10 + 5 + 5 bytes a posting
        w.write(UInt8(1))
        w.write(UInt8(postings.count))
        w.write(maxTF)
        w.write(minLength)
        var previous: UInt64 = 0
        for p in postings {
            precondition(p.chunk > previous || previous == 0, "postings out of order")
            w.writeVarint(p.chunk - previous)
            w.writeVarint(UInt64(p.tf))
            w.writeVarint(UInt64(p.length))
            previous = p.chunk
        }
    }

    /// Decodes a block, appending its postings to `out`.
    ///
    /// - Throws: `.corruptValue` for a bad tag, count, varint or order, or trailing bytes.
    public static func decode(_ bytes: RawSpan, into out: inout [Posting]) throws(StorageError) {
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(StorageError) in
            func bad(_ d: String) -> StorageError { StorageError(.corruptValue, operation: "decode posting block", detail: d) }
            guard p.count >= 10, p[0] == 1 else { throw bad("bad header") }
            let n = Int(p[1])
            guard n >= 1 && n <= capacity else { throw bad("count \(n)") }
            var i = 10
            func varint() throws(StorageError) -> UInt64 {
                var v: UInt64 = 0
                var shift: UInt64 = 0
                while true {
                    guard i < p.count, shift < 64 else { throw bad("varint runs past the block") }
                    let b = p[i]
                    i += 1
                    v |= UInt64(b & 0x7F) << shift
                    if b < 0x80 { return v }
                    shift += 7
                }
            }
            var chunk: UInt64 = 0
            for k in 0..<n {
                let delta = try varint()
                guard k == 0 || delta > 0 else { throw bad("chunk ids out of order") }
                chunk &+= delta
                let tf = try varint(), length = try varint()
                // Length 0: an impact posting of a learned sparse field (no length).
                guard tf >= 1, tf <= UInt64(UInt32.max), length >= tf || length == 0, length <= UInt64(UInt32.max) else { throw bad("tf \(tf) / length \(length)") }
                out.append(Posting(chunk: chunk, tf: UInt32(tf), length: UInt32(length)))
            }
            guard i == p.count else { throw bad("trailing bytes") }
        }
    }

    /// The block's (largest tf, smallest length), read from its header.
    public static func bounds(_ bytes: RawSpan) throws(StorageError) -> (maxTF: UInt32, minLength: UInt32) {
        guard bytes.byteCount >= 10 else { throw StorageError(.corruptValue, operation: "decode posting block", detail: "short header") }
        return (UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 2, as: UInt32.self)),
                UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: 6, as: UInt32.self)))
    }

}
