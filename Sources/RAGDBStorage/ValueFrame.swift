internal import CRAGDBLZ4

/// How the payload of a framed value is stored.
public enum ValueCodec: UInt8, Sendable, CaseIterable {
    /// The payload is the raw bytes.
    case raw = 0
    /// The payload is one LZ4 block (the LZ4 block format, no frame header).
    case lz4 = 1
}

/// When `FramedValue.encode` compresses.
public enum CompressionPolicy: Sendable {
    /// Always store raw (small integers, already-compressed bytes).
    case never
    /// Compress with LZ4 when the raw value has at least 64 bytes and compression saves at
    /// least one eighth of it; otherwise store raw.
    case whenItPays
}

/// The decoded 16-byte header of a framed value.
public struct FrameHeader: Sendable, Equatable {
    /// How the payload is stored.
    public var codec: ValueCodec
    /// Length of the raw (decoded) bytes.
    public var rawLength: Int
    /// Length of the payload as stored after the header.
    public var storedLength: Int
    /// XXH32 (seed 0) of the raw bytes.
    public var checksum: UInt32
}

/// Framed values: a 16-byte header (codec, raw length, stored length, checksum) and a
/// payload, so that a damaged value is detected on read instead of returning wrong bytes.
///
/// Layout (little-endian; Format.md §"Framed values"):
///
///     offset  size  field
///     0       1     codec (0 raw, 1 LZ4 block)
///     1       3     reserved, zero
///     4       4     raw length
///     8       4     stored payload length
///     12      4     XXH32 (seed 0) of the raw bytes
///     16      n     payload
public enum FramedValue {
    /// Size of the header in bytes.
    public static let headerSize = 16
    /// The largest raw value a frame can hold.
    public static let maximumRawLength = Int(UInt32.max)

    /// Frames `raw`, compressing it when `policy` says it pays.
    ///
    /// - Complexity: one XXH32 pass over `raw`, one LZ4 compression attempt when the policy
    ///   allows (about 200–400 MB/s here), one allocation for the result.
    /// - Throws: `.valueTooLarge` above 4 GiB − 1 bytes.
    public static func encode(_ raw: [UInt8], policy: CompressionPolicy) throws(StorageError) -> [UInt8] {
        try withBytes(raw) { (r: UnsafeRawBufferPointer) throws(StorageError) -> [UInt8] in try encode(r, policy: policy) }
    }

    /// Frames the bytes of `raw`; see `encode(_:policy:)`.
    public static func encode(_ raw: UnsafeRawBufferPointer, policy: CompressionPolicy) throws(StorageError) -> [UInt8] {
        guard raw.count <= maximumRawLength else {
            throw StorageError(.valueTooLarge, operation: "frame value", detail: "\(raw.count) bytes")
        }
        let checksum = XXHash.xxh32(raw)
        if case .whenItPays = policy, raw.count >= 64, raw.count < Int(LZ4_MAX_INPUT_SIZE) {
            let bound = Int(LZ4_compressBound(Int32(raw.count)))
            let budget = raw.count - raw.count / 8  // must save at least 1/8 to be worth it
            var out = [UInt8](unsafeUninitializedCapacity: headerSize + bound) { buffer, initialized in
                let dst = UnsafeMutableRawPointer(buffer.baseAddress! + headerSize).assumingMemoryBound(to: CChar.self)
                let src = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
                let n = Int(LZ4_compress_default(src, dst, Int32(raw.count), Int32(bound)))
                initialized = n > 0 && n <= budget ? headerSize + n : 0
            }
            if !out.isEmpty {
                writeHeader(into: &out, FrameHeader(codec: .lz4, rawLength: raw.count, storedLength: out.count - headerSize, checksum: checksum))
                return out
            }
        }
        var out = [UInt8](repeating: 0, count: headerSize)
        out.reserveCapacity(headerSize + raw.count)
        out.append(contentsOf: raw)
        writeHeader(into: &out, FrameHeader(codec: .raw, rawLength: raw.count, storedLength: raw.count, checksum: checksum))
        return out
    }

    private static func writeHeader(into out: inout [UInt8], _ h: FrameHeader) {
        out[0] = h.codec.rawValue
        out[1] = 0; out[2] = 0; out[3] = 0
        out.withUnsafeMutableBytes { p in
            p.storeBytes(of: UInt32(h.rawLength).littleEndian, toByteOffset: 4, as: UInt32.self)
            p.storeBytes(of: UInt32(h.storedLength).littleEndian, toByteOffset: 8, as: UInt32.self)
            p.storeBytes(of: h.checksum.littleEndian, toByteOffset: 12, as: UInt32.self)
        }
    }

    /// Reads and validates the header of a stored value (not its checksum).
    ///
    /// - Throws: `.corruptValue` for a short value, an unknown codec, non-zero reserved
    ///   bytes, or lengths that disagree with the value's size.
    public static func header(of stored: RawSpan, context: @autoclosure () -> String) throws(StorageError) -> FrameHeader {
        try stored.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(StorageError) -> FrameHeader in try header(p, context: context()) }
    }

    static func header(_ p: UnsafeRawBufferPointer, context: @autoclosure () -> String) throws(StorageError) -> FrameHeader {
        func bad(_ detail: String) -> StorageError {
            StorageError(.corruptValue, operation: "decode \(context())", detail: detail)
        }
        guard p.count >= headerSize else { throw bad("value of \(p.count) bytes is shorter than its header") }
        guard let codec = ValueCodec(rawValue: p[0]) else { throw bad("unknown codec \(p[0])") }
        guard p[1] == 0, p[2] == 0, p[3] == 0 else { throw bad("reserved header bytes are not zero") }
        let raw = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let stored = Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)))
        let checksum = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard stored == p.count - headerSize else {
            throw bad("header says \(stored) payload bytes, value holds \(p.count - headerSize)")
        }
        if codec == .raw && raw != stored { throw bad("raw value with raw length \(raw) ≠ stored length \(stored)") }
        // LZ4 expands at most 255× (lz4_Block_format.md), and its API takes Int32 sizes: a
        // larger claim is damage, refused before allocating anything.
        if codec == .lz4 && (raw == 0 || stored == 0 || raw > stored * 255 + 16 || raw > Int(Int32.max) || stored > Int(Int32.max)) {
            throw bad("LZ4 raw length \(raw) is impossible for \(stored) payload bytes")
        }
        return FrameHeader(codec: codec, rawLength: raw, storedLength: stored, checksum: checksum)
    }

    /// Decodes a stored value into its raw bytes, verifying header, length and checksum.
    ///
    /// - Complexity: one copy (raw) or one LZ4 decompression (about 0.5–1 GB/s), one XXH32
    ///   pass, one allocation of the raw size.
    /// - Throws: `.corruptValue` when anything does not match; never returns wrong bytes.
    public static func decode(_ stored: RawSpan, context: @autoclosure () -> String) throws(StorageError) -> [UInt8] {
        try stored.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(StorageError) -> [UInt8] in try decode(p, context: context()) }
    }

    /// Decodes a stored value held in an array; see `decode(_:context:)`.
    public static func decode(_ stored: [UInt8], context: @autoclosure () -> String) throws(StorageError) -> [UInt8] {
        try withBytes(stored) { (p: UnsafeRawBufferPointer) throws(StorageError) -> [UInt8] in try decode(p, context: context()) }
    }

    /// Calls `body` with the raw bytes of a stored value, verified: in place in the map for a
    /// raw value, decompressed into `scratch` for an LZ4 value (`scratch` grows as needed and
    /// is meant to be reused, so a loop of reads allocates nothing).
    ///
    /// - Complexity: one XXH32 pass; one LZ4 decompression for compressed values; no
    ///   allocation once `scratch` is large enough.
    /// - Warning: `raw` is valid only during `body`.
    public static func withDecoded<R>(
        _ stored: RawSpan, scratch: inout [UInt8], context: @autoclosure () -> String,
        _ body: (_ raw: RawSpan) throws -> R
    ) throws -> R {
        try stored.withUnsafeBytes { p in
            let h = try header(p, context: context())
            let payload = UnsafeRawBufferPointer(rebasing: p[headerSize...])
            switch h.codec {
            case .raw:
                guard XXHash.xxh32(payload) == h.checksum else {
                    throw StorageError(.corruptValue, operation: "decode \(context())", detail: "checksum mismatch")
                }
                return try body(unsafe RawSpan(_unsafeBytes: payload))
            case .lz4:
                if scratch.count < h.rawLength { scratch = [UInt8](repeating: 0, count: max(h.rawLength, scratch.count * 2)) }
                let ok = scratch.withUnsafeMutableBytes { out -> Bool in
                    let n = LZ4_decompress_safe(
                        payload.baseAddress!.assumingMemoryBound(to: CChar.self),
                        out.baseAddress!.assumingMemoryBound(to: CChar.self),
                        Int32(payload.count), Int32(h.rawLength))
                    return Int(n) == h.rawLength && XXHash.xxh32(UnsafeRawBufferPointer(rebasing: out[0..<h.rawLength])) == h.checksum
                }
                guard ok else {
                    throw StorageError(.corruptValue, operation: "decode \(context())", detail: "LZ4 payload or checksum does not match")
                }
                return try scratch.withUnsafeBytes { out in try body(unsafe RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: out[0..<h.rawLength]))) }
            }
        }
    }

    static func decode(_ p: UnsafeRawBufferPointer, context: @autoclosure () -> String) throws(StorageError) -> [UInt8] {
        let h = try header(p, context: context())
        let payload = UnsafeRawBufferPointer(rebasing: p[headerSize...])
        let raw: [UInt8]
        switch h.codec {
        case .raw:
            raw = Array(payload)
        case .lz4:
            var ok = true
            raw = [UInt8](unsafeUninitializedCapacity: h.rawLength) { buffer, initialized in
                guard h.rawLength > 0, payload.count > 0 else { ok = false; initialized = 0; return }
                let n = LZ4_decompress_safe(
                    payload.baseAddress!.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(payload.count), Int32(h.rawLength))
                // > LZ4_decompress_safe: "returns the number of bytes decompressed into
                // > destination buffer (necessarily <= dstCapacity); if the source stream is
                // > detected malformed, the function stops decoding and returns a negative
                // > result." (lz4.h) — a short result is damage too.
                ok = Int(n) == h.rawLength
                initialized = ok ? h.rawLength : 0
            }
            guard ok else {
                throw StorageError(.corruptValue, operation: "decode \(context())", detail: "LZ4 payload does not decompress to \(h.rawLength) bytes")
            }
        }
        let sum = raw.withUnsafeBytes { XXHash.xxh32($0) }
        guard sum == h.checksum else {
            throw StorageError(.corruptValue, operation: "decode \(context())", detail: "checksum mismatch")
        }
        return raw
    }
}
