/// Writes little-endian value layouts (Format.md: "values are little-endian").
///
/// Reuse one writer across records (`reset()`) to encode with no allocation.
public struct ByteWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// An empty writer with room for `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the writer, keeping its storage.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// Appends one byte.
    public mutating func write(_ v: UInt8) { bytes.append(v) }
    /// Appends a little-endian `UInt16`.
    public mutating func write(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// Appends a little-endian `UInt32`.
    public mutating func write(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// Appends a little-endian `UInt64`.
    public mutating func write(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    /// Appends a little-endian two's-complement `Int64`.
    public mutating func write(_ v: Int64) { write(UInt64(bitPattern: v)) }
    /// Appends the IEEE 754 binary64 bits of `v`, little-endian.
    public mutating func write(_ v: Double) { write(v.bitPattern) }
    /// Appends raw bytes.
    public mutating func write(bytes part: some Sequence<UInt8>) { bytes.append(contentsOf: part) }

    /// Appends `value` as an unsigned LEB128 varint: 7 bits a byte, lowest first, the high
    /// bit set on every byte but the last (1 byte below 128, at most 10).
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Makes room for `count` more bytes, so that appending them does not reallocate
    /// (growing at least geometrically, so repeated calls stay linear).
    public mutating func reserve(_ count: Int) {
        let needed = bytes.count + count
        if bytes.capacity < needed { bytes.reserveCapacity(max(needed, 2 * bytes.capacity)) }
    }

    /// Appends the IEEE 754 binary32 bits of each of `values`, little-endian.
    ///
    /// - Complexity: one copy of the array on little-endian hosts (a loop over the values
    ///   elsewhere).
    public mutating func write(floats values: [Float]) {
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for v in values { write(v.bitPattern) }
        #endif
    }

    /// Appends the bits of each of `values`, little-endian.
    public mutating func write(uint16s values: [UInt16]) {
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for v in values { write(v) }
        #endif
    }

    /// Appends a u32 little-endian byte count and the UTF-8 bytes of `string`.
    public mutating func writeString32(_ string: String) {
        var s = string
        s.withUTF8 { utf8 in
            write(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends a u16 little-endian byte count and the UTF-8 bytes of `string`.
    public mutating func writeString16(_ string: String) {
        let utf8 = Array(string.utf8)
        precondition(utf8.count <= Int(UInt16.max), "string over 65535 bytes")
        write(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}

/// Reads little-endian value layouts with bounds checks: a short or malformed value throws
/// `.corruptValue`, never traps and never reads past the end.
public struct ByteReader {
    private let bytes: [UInt8]
    /// The read position.
    public private(set) var offset: Int
    /// What is being decoded, for error messages ("chunk record"); a static string, so
    /// that making a reader costs nothing.
    public let context: StaticString

    /// A reader over `bytes`, starting at `offset`.
    public init(_ bytes: [UInt8], offset: Int = 0, context: StaticString) {
        self.bytes = bytes
        self.offset = offset
        self.context = context
    }

    /// Bytes left to read.
    public var remaining: Int { bytes.count - offset }

    /// A `.corruptValue` error naming the context and position.
    public func corrupt(_ detail: String) -> StorageError {
        StorageError(.corruptValue, operation: "decode \(context)", detail: "\(detail) at byte \(offset)")
    }

    private mutating func take(_ n: Int) throws(StorageError) -> Int {
        guard n >= 0, n <= remaining else { throw corrupt("value ends early (need \(n) bytes, \(remaining) left)") }
        defer { offset += n }
        return offset
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) throws(StorageError) -> T {
        let at = try take(MemoryLayout<T>.size)
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: T.self)) }
    }

    /// Reads one byte.
    public mutating func readUInt8() throws(StorageError) -> UInt8 { bytes[try take(1)] }
    /// Reads a little-endian `UInt16`.
    public mutating func readUInt16() throws(StorageError) -> UInt16 { try load(UInt16.self) }
    /// Reads a little-endian `UInt32`.
    public mutating func readUInt32() throws(StorageError) -> UInt32 { try load(UInt32.self) }
    /// Reads a little-endian `UInt64`.
    public mutating func readUInt64() throws(StorageError) -> UInt64 { try load(UInt64.self) }
    /// Reads a little-endian `Int64`.
    public mutating func readInt64() throws(StorageError) -> Int64 { Int64(bitPattern: try load(UInt64.self)) }
    /// Reads an IEEE 754 binary64.
    public mutating func readDouble() throws(StorageError) -> Double { Double(bitPattern: try load(UInt64.self)) }

    /// Reads `count` raw bytes.
    public mutating func readBytes(_ count: Int) throws(StorageError) -> ArraySlice<UInt8> {
        let at = try take(count)
        return bytes[at..<at + count]
    }

    /// Reads a string written by `writeString32`, validating its UTF-8.
    public mutating func readString32() throws(StorageError) -> String {
        try utf8(try readBytes(Int(try readUInt32())))
    }

    /// Reads a string written by `writeString16`, validating its UTF-8.
    public mutating func readString16() throws(StorageError) -> String {
        try utf8(try readBytes(Int(try readUInt16())))
    }

    private func utf8(_ slice: ArraySlice<UInt8>) throws(StorageError) -> String {
        // Validating through a buffer pointer takes the standard library's fast path.
        let s = slice.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) }
        guard let s else { throw corrupt("invalid UTF-8") }
        return s
    }

    /// Throws unless every byte was read.
    public func expectEnd() throws(StorageError) {
        guard remaining == 0 else { throw corrupt("\(remaining) unexpected trailing bytes") }
    }
}
