import RAGDBStorage
internal import CRAGDBKernels

/// One stored segment: a 16-byte header and a payload (Format.md 5.18).
///
///     offset size field
///     0      1    codec: 0 raw, 1 byte-plane shuffle + LZ4 block
///     1      1    shuffle width (element bytes; 0 for raw)
///     2      2    reserved, zero
///     4      4    raw length (u32 LE)
///     8      4    stored payload length (u32 LE)
///     12     4    CRC-32C of the raw (unshuffled, decompressed) bytes
///     16     n    payload
enum KVSegment {
    static let headerSize = 16

    static func header(codec: UInt8, width: UInt8, raw: Int, stored: Int, crc: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: 16)
        w.write(codec); w.write(width); w.write(UInt16(0))
        w.write(UInt32(raw)); w.write(UInt32(stored)); w.write(crc)
        return w.bytes
    }

    /// Calls `body` with the verified raw bytes of a stored segment: in place for a raw
    /// segment, decoded into `scratch` otherwise.
    static func withRaw<R>(_ value: RawSpan, scratch: inout [UInt8], describe: () -> String,
                           _ body: (RawSpan) throws -> R) throws -> R {
        try value.withUnsafeBytes { (v: UnsafeRawBufferPointer) throws -> R in
            func bad(_ why: String) -> KVCacheError { KVCacheError(.corrupt, "\(describe()): \(why)") }
            guard v.count >= headerSize else { throw bad("segment shorter than its header") }
            let codec = v[0], width = Int(v[1])
            let raw = Int(v.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian)
            let stored = Int(v.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            let crc = v.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian
            guard stored == v.count - headerSize else { throw bad("segment length does not match its header") }
            let payload = UnsafeRawBufferPointer(rebasing: v[headerSize...])
            switch codec {
            case 0:
                guard raw == stored else { throw bad("raw segment length does not match its header") }
                guard ragdb_crc32c(0, payload.baseAddress, payload.count) == crc else { throw bad("checksum mismatch (CRC-32C)") }
                return try body(unsafe RawSpan(_unsafeBytes: payload))
            case 1:
                guard width > 0, raw % width == 0 else { throw bad("bad shuffle width") }
                if scratch.count < 2 * raw { scratch = [UInt8](repeating: 0, count: 2 * raw) }
                let ok = scratch.withUnsafeMutableBytes { s -> Bool in
                    let shuffled = UnsafeMutableRawBufferPointer(rebasing: s[raw..<2 * raw])
                    guard LZ4Block.decompress(payload, into: shuffled) else { return false }
                    ragdb_unshuffle_bytes(shuffled.baseAddress, s.baseAddress, raw / width, width)
                    return ragdb_crc32c(0, s.baseAddress, raw) == crc
                }
                guard ok else { throw bad("LZ4 payload or checksum (CRC-32C) does not match") }
                return try scratch.withUnsafeBytes { s in try body(unsafe RawSpan(_unsafeBytes: UnsafeRawBufferPointer(rebasing: s[0..<raw]))) }
            default:
                throw bad("unknown segment codec \(codec)")
            }
        }
    }
}
