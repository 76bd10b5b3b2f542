/// A read-only array of fixed-size little-endian elements: either owned, or read in place
/// from the memory map (zero-copy) for the life of the read transaction it was taken in.
///
/// The in-place form is what lets a large structure stored in LMDB (an FM-index segment's
/// bitvector and samples) be queried without copying it out first. Its pointer stays inside
/// this type; callers reach it only through `withUnsafeBufferPointer`, for C kernels.
///
/// - Warning: an in-place array is valid only while the transaction it was taken in is open
///   (inside `Environment.read`); the type cannot enforce that, so keep it inside that closure.
public struct MappedArray<Element: BitwiseCopyable & Sendable>: @unchecked Sendable {
    // @unchecked Sendable: the mapped form points into read-only pages of the memory map,
    // which no one writes while the transaction that exposed them is open.
    private enum Storage {
        case owned([Element])
        case mapped(UnsafePointer<Element>, Int)
    }
    private let storage: Storage

    /// An owned array.
    public init(_ elements: [Element]) { storage = .owned(elements) }

    /// A view of `count` elements at `byteOffset` of `span` (a value read inside a read
    /// transaction), or nil when they are not aligned for `Element` there, in which case the
    /// caller copies them.
    ///
    /// - Complexity: O(1); nothing is copied.
    public static func view(_ span: RawSpan, byteOffset: Int, count: Int) -> MappedArray? {
        let size = MemoryLayout<Element>.stride
        guard byteOffset >= 0, count >= 0, byteOffset + count * size <= span.byteCount else { return nil }
        return span.withUnsafeBytes { raw -> MappedArray? in
            guard let base = raw.baseAddress else { return count == 0 ? MappedArray([]) : nil }
            let p = base + byteOffset
            guard Int(bitPattern: p) % MemoryLayout<Element>.alignment == 0 else { return nil }
            return MappedArray(storage: .mapped(p.assumingMemoryBound(to: Element.self), count))
        }
    }

    private init(storage: Storage) { self.storage = storage }

    /// Elements.
    public var count: Int {
        switch storage {
        case .owned(let a): a.count
        case .mapped(_, let n): n
        }
    }

    /// Whether the elements are read in place from the map.
    public var isMapped: Bool { if case .mapped = storage { true } else { false } }

    /// Element `i`.
    @inline(__always)
    public subscript(i: Int) -> Element {
        switch storage {
        case .owned(let a): return a[i]
        case .mapped(let p, let n):
            precondition(i >= 0 && i < n, "index out of range")
            return p[i]
        }
    }

    /// Calls `body` with the elements' memory (for C kernels).
    @inline(__always)
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let a): return try a.withUnsafeBufferPointer(body)
        case .mapped(let p, let n): return try body(UnsafeBufferPointer(start: p, count: n))
        }
    }

    /// The elements as an owned array (a copy when mapped).
    public var array: [Element] {
        switch storage {
        case .owned(let a): a
        case .mapped(let p, let n): Array(UnsafeBufferPointer(start: p, count: n))
        }
    }
}

extension MappedArray: Equatable where Element: Equatable {
    /// Element-wise equality, whatever the storage.
    public static func == (a: Self, b: Self) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.elementsEqual(y) } }
    }
}
