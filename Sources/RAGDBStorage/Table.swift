internal import CRAGDBLMDB

/// A named table (an LMDB named database) of byte keys ordered lexicographically, opened
/// through `Environment.table(_:create:)`.
///
/// A `Table` is a small handle; copying it is free and it stays valid while its environment
/// is open.
public struct Table: Sendable, Hashable, CustomStringConvertible {
    /// The name under which the table is stored in the environment's main database.
    public let name: String
    let dbi: MDB_dbi

    public var description: String { name }
}

/// A range of keys for scans: from `lower` (inclusive) to `upper` (exclusive); a `nil` bound
/// is open.
public struct KeyRange: Sendable, Equatable {
    /// The first key in the range, or `nil` for the table's first key.
    public var lower: [UInt8]?
    /// The first key past the range, or `nil` for the end of the table.
    public var upper: [UInt8]?

    /// The whole table.
    public static let all = KeyRange(lower: nil, upper: nil)

    /// Creates a range `[lower, upper)`.
    public init(lower: [UInt8]?, upper: [UInt8]?) {
        self.lower = lower
        self.upper = upper
    }

    /// Every key that starts with `prefix`.
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        KeyRange(lower: prefix, upper: successor(ofPrefix: prefix))
    }

    /// The smallest key greater than every key that starts with `prefix`, or `nil` if there
    /// is none (the prefix is empty or all 0xFF).
    static func successor(ofPrefix prefix: [UInt8]) -> [UInt8]? {
        var bytes = prefix
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return bytes
            }
            bytes.removeLast()
        }
        return nil
    }

    /// Whether `key` (compared bytewise) lies before `upper`.
    func isBelowUpper(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let upper else { return true }
        return upper.withUnsafeBytes { u in compareBytes(key, u) < 0 }
    }
}

/// Lexicographic comparison of byte strings, as LMDB orders keys by default.
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = memcmp(a.baseAddress!, b.baseAddress!, n)
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
