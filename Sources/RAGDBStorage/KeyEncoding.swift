/// Builds order-preserving binary keys: comparing two built keys bytewise (as LMDB does)
/// orders them as their components compare, component by component.
///
/// Encodings (all in Format.md):
/// - unsigned integers: big-endian;
/// - signed integers: big-endian with the sign bit flipped;
/// - doubles: IEEE 754 bits, sign bit flipped for positives, all bits flipped for negatives;
/// - strings inside a composite key: `terminated` (0x00 → 0x00 0xFF, then 0x00 0x00), which
///   keeps lexicographic order, or `lengthPrefixed` (u16 big-endian length, then the bytes),
///   which orders by length first;
/// - the last component may be raw bytes (`tail`).
///
/// Reuse one builder across a loop (`reset()`) to build keys with no allocation.
public struct KeyBuilder: Sendable, Equatable {
    /// The key built so far.
    public private(set) var bytes: [UInt8]

    /// An empty key with room for `capacity` bytes.
    public init(capacity: Int = 32) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the key, keeping its storage.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// Appends one byte.
    public mutating func append(_ value: UInt8) { bytes.append(value) }

    /// Appends a big-endian `UInt16`.
    public mutating func append(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends a big-endian `UInt32`.
    public mutating func append(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends a big-endian `UInt64`.
    public mutating func append(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends an `Int64` so that negative values sort before positive ones.
    public mutating func append(_ value: Int64) {
        append(UInt64(bitPattern: value) ^ (1 << 63))
    }

    /// Appends a `Double` in total order: −∞ < negatives < −0 < +0 < positives < +∞ < NaN
    /// (positive NaNs; negative NaNs sort first).
    public mutating func append(_ value: Double) {
        let bits = value.bitPattern
        append(bits & (1 << 63) != 0 ? ~bits : bits ^ (1 << 63))
    }

    /// Appends a string that sorts lexicographically inside a composite key: each 0x00 byte
    /// is written as 0x00 0xFF and the string ends with 0x00 0x00.
    public mutating func appendTerminated(_ string: some StringProtocol) {
        for byte in string.utf8 {
            bytes.append(byte)
            if byte == 0 { bytes.append(0xFF) }
        }
        bytes.append(0)
        bytes.append(0)
    }

    /// Appends a u16 big-endian length and the bytes. Keys then order by length first.
    public mutating func appendLengthPrefixed(_ part: some Collection<UInt8>) {
        precondition(part.count <= Int(UInt16.max), "key component over 65535 bytes")
        append(UInt16(part.count))
        bytes.append(contentsOf: part)
    }

    /// Appends raw bytes; only meaningful as the last component.
    public mutating func appendTail(_ part: some Sequence<UInt8>) {
        bytes.append(contentsOf: part)
    }
}

/// Reads the components of a key built by `KeyBuilder`, in the same order.
public struct KeyReader {
    private let bytes: [UInt8]
    /// The read position.
    public private(set) var offset: Int = 0

    /// A reader over a copy of `key`.
    public init(_ key: [UInt8]) { bytes = key }

    /// A reader over a copy of the bytes of `key`.
    public init(_ key: RawSpan) { bytes = key.withUnsafeBytes { Array($0) } }

    private mutating func take(_ n: Int) throws(StorageError) -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else {
            throw StorageError(.corruptValue, operation: "decode key", detail: "key ends early at byte \(offset)")
        }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// Whether every byte was read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// Reads one byte.
    public mutating func readUInt8() throws(StorageError) -> UInt8 { try take(1).first! }

    /// Reads a big-endian `UInt16`.
    public mutating func readUInt16() throws(StorageError) -> UInt16 {
        try take(2).reduce(0) { $0 << 8 | UInt16($1) }
    }

    /// Reads a big-endian `UInt32`.
    public mutating func readUInt32() throws(StorageError) -> UInt32 {
        try take(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Reads a big-endian `UInt64`.
    public mutating func readUInt64() throws(StorageError) -> UInt64 {
        try take(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Reads an `Int64` written by `KeyBuilder.append(_: Int64)`.
    public mutating func readInt64() throws(StorageError) -> Int64 {
        Int64(bitPattern: try readUInt64() ^ (1 << 63))
    }

    /// Reads a `Double` written by `KeyBuilder.append(_: Double)`.
    public mutating func readDouble() throws(StorageError) -> Double {
        let bits = try readUInt64()
        return Double(bitPattern: bits & (1 << 63) != 0 ? bits ^ (1 << 63) : ~bits)
    }

    /// Reads a string written by `appendTerminated`.
    public mutating func readTerminated() throws(StorageError) -> String {
        var out: [UInt8] = []
        while true {
            let byte = try readUInt8()
            if byte != 0 { out.append(byte); continue }
            let next = try readUInt8()
            if next == 0 { break }
            guard next == 0xFF else {
                throw StorageError(.corruptValue, operation: "decode key", detail: "bad escape at byte \(offset - 1)")
            }
            out.append(0)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads a component written by `appendLengthPrefixed`.
    public mutating func readLengthPrefixed() throws(StorageError) -> [UInt8] {
        Array(try take(Int(try readUInt16())))
    }

    /// Reads the rest of the key.
    public mutating func readTail() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}
