/// A chunk's identifier: unique within a database, assigned in increasing order, never
/// reused after its chunk is deleted.
public struct ChunkID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The stored 64-bit value (ids start at 1).
    public let rawValue: UInt64
    /// Wraps a stored value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: ChunkID, b: ChunkID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A collection's internal number, the first component of every key it owns.
public struct CollectionID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The stored 32-bit value (ids start at 1).
    public let rawValue: UInt32
    /// Wraps a stored value.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: CollectionID, b: CollectionID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A byte range `[start, end)` in the UTF-8 bytes of a chunk's source document.
public struct ByteSpan: Hashable, Sendable, Codable, CustomStringConvertible {
    /// First byte of the chunk in the source.
    public var start: UInt64
    /// One past the last byte.
    public var end: UInt64
    /// Creates a span; `start <= end`.
    public init(start: UInt64, end: UInt64) {
        precondition(start <= end, "span start after end")
        self.start = start
        self.end = end
    }
    /// `end - start`.
    public var count: UInt64 { end - start }
    public var description: String { "\(start)..<\(end)" }
}
