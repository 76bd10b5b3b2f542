import RAGDBStorage
#if canImport(Glibc)
import Glibc
#endif

/// Which tensor of a layer.
public enum KVTensor: Int, Sendable {
    /// The attention keys K.
    case keys = 0
    /// The attention values V.
    case values = 1
}

/// A stored cache seen inside one read transaction (`KVCacheStore.withCache`). Every segment
/// is verified (CRC-32C) as it is served; a damaged one throws `.corrupt` naming profile,
/// chunk, variant, layer and segment, and serves nothing of that segment.
///
/// - Warning: valid only inside the closure that received it, like every byte view it hands
///   out.
public struct KVCacheView {
    /// The cache's metadata.
    public let info: KVCacheInfo
    /// The profile it belongs to.
    public let profile: KVModelProfile
    let txn: TransactionReference
    let segments: Table
    let served: ServedBytes

    init(info: KVCacheInfo, profile: KVModelProfile, txn: TransactionReference, segments: Table, served: ServedBytes) {
        self.info = info
        self.profile = profile
        self.txn = txn
        self.segments = segments
        self.served = served
    }

    /// Bytes of one tensor of one layer.
    public var tensorBytes: Int { profile.tensorBytes(tokens: info.tokens) }

    /// Calls `body` with each segment of one tensor of `layer`, in order: in place in the map
    /// for raw segments (zero-copy), decoded into a reused buffer for compressed ones.
    ///
    /// - Complexity: one cursor step and one CRC-32C pass per segment.
    public func forEachSegment(layer: Int, tensor: KVTensor, _ body: (_ bytes: RawSpan) throws -> Void) throws {
        guard (0..<profile.layers).contains(layer) else {
            throw KVCacheError(.invalidInput, "layer \(layer) is outside 0..<\(profile.layers)", field: "layer")
        }
        var prefix = KeyBuilder(capacity: 23)
        prefix.append(info.key.profile)
        prefix.append(info.key.chunk)
        prefix.append(info.key.variant)
        prefix.append(UInt16(layer))
        prefix.append(UInt8(tensor.rawValue))
        var scratch: [UInt8] = []
        var part = 0
        var total = 0
        let key = info.key
        try txn.scan(segments, range: .prefix(prefix.bytes)) { _, value in
            try KVSegment.withRaw(value, scratch: &scratch, describe: {
                "KV cache \(key), layer \(layer) \(tensor == .keys ? "keys" : "values") segment \(part)"
            }) { raw in
                total += raw.byteCount
                try body(raw)
            }
            part += 1
            return .next
        }
        guard total == tensorBytes else {
            throw KVCacheError(.corrupt, "KV cache \(key), layer \(layer) \(tensor == .keys ? "keys" : "values"): \(total) bytes stored, \(tensorBytes) expected")
        }
        served.count += UInt64(total)
    }

    /// Calls `body` with the whole keys and values of `layer`: zero-copy views into the map
    /// when each tensor is one raw segment (the profile's segment size holds it), otherwise
    /// assembled into a buffer.
    public func withLayer<R>(_ layer: Int, _ body: (_ keys: RawSpan, _ values: RawSpan) throws -> R) throws -> R {
        try withTensor(layer, .keys) { k in try withTensor(layer, .values) { v in try body(k, v) } }
    }

    /// Calls `body` with the whole of one tensor; see `withLayer`.
    public func withTensor<R>(_ layer: Int, _ tensor: KVTensor, _ body: (RawSpan) throws -> R) throws -> R {
        if tensorBytes <= profile.segmentBytes && tensorBytes <= info.segmentBytes {
            var result: R?
            try forEachSegment(layer: layer, tensor: tensor) { raw in result = try body(raw) }
            return result!
        }
        var assembled: [UInt8] = []
        assembled.reserveCapacity(tensorBytes)
        try forEachSegment(layer: layer, tensor: tensor) { raw in raw.withUnsafeBytes { assembled.append(contentsOf: $0) } }
        return try assembled.withUnsafeBytes { try body(unsafe RawSpan(_unsafeBytes: $0)) }
    }

    /// The whole cache (layer-major, K then V per layer), copied out.
    ///
    /// - Complexity: one copy of `info.rawBytes` bytes, one allocation.
    public func bytes() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(info.rawBytes))
        for l in 0..<profile.layers {
            for t in [KVTensor.keys, .values] {
                try forEachSegment(layer: l, tensor: t) { raw in raw.withUnsafeBytes { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// Writes the cache, or one layer of it, to a file descriptor (a file or a pipe) straight
    /// from the map: no staging copy for raw segments.
    ///
    /// - Throws: `.invalidInput` for a bad layer; a write error names `errno`.
    public func write(to fd: Int32, layer: Int? = nil) throws {
        let layers = layer.map { [$0] } ?? Array(0..<profile.layers)
        for l in layers {
            for t in [KVTensor.keys, .values] {
                try forEachSegment(layer: l, tensor: t) { raw in
                    try raw.withUnsafeBytes { b in
                        var done = 0
                        while done < b.count {
                            let w = Glibc.write(fd, b.baseAddress! + done, b.count - done)
                            if w > 0 { done += w } else if w < 0 && errno == EINTR { continue } else {
                                throw KVCacheError(.invalidInput, "writing the cache failed: \(String(cString: strerror(errno)))", field: "out")
                            }
                        }
                    }
                }
            }
        }
    }
}
