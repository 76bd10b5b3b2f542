internal import CRAGDBLZ4

/// Raw LZ4 blocks (the LZ4 block format, no frame), for modules that frame their own values
/// (the KV-cache store's segments). Only the storage layer links LZ4.
public enum LZ4Block {
    /// The largest compressed size of `count` input bytes (`LZ4_compressBound`).
    public static func bound(_ count: Int) -> Int { Int(LZ4_compressBound(Int32(clamping: count))) }

    /// Compresses `source` into `destination` and returns the compressed size, or `nil` when
    /// it does not fit in `destination` (then the bytes are incompressible enough to store
    /// raw).
    ///
    /// - Complexity: O(*n*), about 400–700 MB/s on this machine (LZ4 default level).
    public static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Int? {
        guard source.count > 0, source.count < Int(LZ4_MAX_INPUT_SIZE), destination.count > 0 else { return nil }
        let n = LZ4_compress_default(
            source.baseAddress!.assumingMemoryBound(to: CChar.self),
            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(clamping: destination.count))
        return n > 0 ? Int(n) : nil
    }

    /// Decompresses `source` into exactly `destination.count` bytes.
    ///
    /// - Returns: `false` when the block is malformed or does not decode to exactly that
    ///   many bytes (`LZ4_decompress_safe` never writes out of bounds).
    public static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard source.count > 0, destination.count > 0 else { return source.count == 0 && destination.count == 0 }
        let n = LZ4_decompress_safe(
            source.baseAddress!.assumingMemoryBound(to: CChar.self),
            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(clamping: source.count), Int32(clamping: destination.count))
        return Int(n) == destination.count
    }
}
