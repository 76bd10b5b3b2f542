public import RAGDBStorage

/// How a space's full-precision vectors are stored.
public enum StoredElementType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The case name (`float32`, `float16`, `int8`), without reflection.
    public var description: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .int8: "int8"
        }
    }

    /// IEEE 754 binary32, little-endian: 4 bytes per dimension.
    case float32 = 1
    /// IEEE 754 binary16, little-endian: 2 bytes per dimension.
    case float16 = 2
    /// A float32 scale, then one signed byte per dimension; element = byte × scale.
    case int8 = 3

    /// Bytes of one stored vector of `dimensions`.
    public func byteCount(dimensions: Int) -> Int {
        switch self {
        case .float32: 4 * dimensions
        case .float16: 2 * dimensions
        case .int8: 4 + dimensions
        }
    }
}

/// A vector space as the store sees it: its number in the collection and its layout.
public struct StoredSpace: Sendable, Hashable {
    /// The space's number: its position in the collection's `spaces` list (spaces are only
    /// ever appended, so numbers are stable).
    public var number: UInt16
    /// Dimensions.
    public var dimensions: Int
    /// Stored element type.
    public var elementType: StoredElementType
    /// Similarity measure.
    public var metric: DenseMetric

    /// Creates a space description.
    public init(number: UInt16, dimensions: Int, elementType: StoredElementType, metric: DenseMetric = .cosine) {
        self.number = number
        self.dimensions = dimensions
        self.elementType = elementType
        self.metric = metric
    }

    /// Bytes of one stored vector.
    public var vectorBytes: Int { elementType.byteCount(dimensions: dimensions) }
}

/// Full-precision vectors on disk, one value per (collection, space, chunk), stored bare
/// (no frame) so that verification reads use them in place from the map; and each space's
/// dense index: its trained model (`dense_models`) and one compact code per vector
/// (`dense_codes`), kept in step with the vectors in the same transactions.
///
/// Key: `collection u32 BE ‖ space u16 BE ‖ chunk id u64 BE` (a space's vectors scan in
/// chunk-id order). Value: exactly `elementType.byteCount(dimensions:)` bytes; its size is
/// its validation.
public struct VectorStore: Sendable {
    /// The tables this store owns.
    public static let tableNames = ["vectors", "dense_models", "dense_codes"]
    let vectors: Table
    let models: Table
    let codes: Table

    /// A store over the tables opened by the caller.
    public init(tables: [String: Table]) {
        vectors = tables["vectors"]!
        models = tables["dense_models"]!
        codes = tables["dense_codes"]!
    }

    static func key(_ collection: UInt32, _ space: UInt16, _ chunk: UInt64) -> [UInt8] {
        var k = KeyBuilder(capacity: 14)
        k.append(collection)
        k.append(space)
        k.append(chunk)
        return k.bytes
    }

    /// Encodes `values` in the space's element type.
    ///
    /// - Precondition: `values.count == space.dimensions` and every value is finite
    ///   (callers validate input first).
    public static func encode(_ values: [Float], as type: StoredElementType) -> [UInt8] {
        var w = ByteWriter(capacity: type.byteCount(dimensions: values.count))
        switch type {
        case .float32:
            w.write(floats: values)
        case .float16:
            w.write(uint16s: values.map { Float16($0).bitPattern })
        case .int8:
            let m = values.reduce(0) { max($0, abs($1)) }
            let scale = m > 0 ? m / 127 : 1
            w.write(scale.bitPattern)
            for v in values { w.write(UInt8(bitPattern: Int8((v / scale).rounded().clamped(to: -127...127)))) }
        }
        return w.bytes
    }

    /// Decodes a stored vector to floats.
    ///
    /// - Throws: `.corruptValue` when the size does not match the space.
    public static func decode(_ bytes: RawSpan, space: StoredSpace) throws(StorageError) -> [Float] {
        guard bytes.byteCount == space.elementType.byteCount(dimensions: space.dimensions) else {
            throw StorageError(.corruptValue, operation: "decode vector",
                               detail: "\(bytes.byteCount) bytes for \(space.dimensions) dimensions of \(space.elementType)")
        }
        let d = space.dimensions
        switch space.elementType {
        case .float32:
            return (0..<d).map { Float(bitPattern: UInt32(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        case .float16:
            return (0..<d).map { Float(Float16(bitPattern: UInt16(littleEndian: bytes.unsafeLoadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
        case .int8:
            let scale = Float(bitPattern: UInt32(littleEndian: bytes.unsafeLoadUnaligned(as: UInt32.self)))
            return (0..<d).map { Float(Int8(bitPattern: bytes.unsafeLoadUnaligned(fromByteOffset: 4 + $0, as: UInt8.self))) * scale }
        }
    }

    /// Stores the vector of `chunk` in `space`, and its code when the space has a dense
    /// index (`model`, from `model(collection:space:)` in the same transaction).
    public func put(_ values: [Float], collection: UInt32, space: StoredSpace, chunk: UInt64, model: DenseModel? = nil, _ txn: borrowing WriteTransaction) throws {
        let key = Self.key(collection, space.number, chunk)
        try txn.putAppending(Self.encode(values, as: space.elementType), forKey: key, in: vectors)
        if let model { try txn.putAppending(Self.codeValue(model.encode(values)), forKey: key, in: codes) }
    }

    /// The vector of `chunk` in `space`, decoded to floats, or `nil`.
    ///
    /// - Complexity: one B-tree descent; decodes in place from the map.
    public func vector(collection: UInt32, space: StoredSpace, chunk: UInt64, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [Float]? {
        try txn.withValue(forKey: Self.key(collection, space.number, chunk), in: vectors) { try Self.decode($0, space: space) }
    }

    /// Deletes the vectors of `chunks` in every one of `spaceCount` spaces.
    public func delete(chunks: [UInt64], collection: UInt32, spaceCount: Int, _ txn: borrowing WriteTransaction) throws {
        for s in 0..<spaceCount {
            for c in chunks {
                let key = Self.key(collection, UInt16(s), c)
                try txn.delete(forKey: key, in: vectors)
                try txn.delete(forKey: key, in: codes)
            }
        }
    }

    /// Deletes every vector of `collection`.
    public func drop(collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        var k = KeyBuilder(capacity: 4)
        k.append(collection)
        try txn.deleteRange(.prefix(k.bytes), in: vectors)
        try txn.deleteRange(.prefix(k.bytes), in: models)
        try txn.deleteRange(.prefix(k.bytes), in: codes)
    }

    /// Counts the vectors of `collection` in `space`.
    ///
    /// - Complexity: one cursor step per vector.
    public func count(collection: UInt32, space: UInt16, _ txn: borrowing some TransactionReading & ~Copyable) throws -> Int {
        var k = KeyBuilder(capacity: 6)
        k.append(collection)
        k.append(space)
        return try txn.scan(vectors, range: .prefix(k.bytes)) { _, _ in .next }
    }

    /// Verifies every vector of `collection`: a known space, the right size, finite values,
    /// and a chunk that exists (`chunkExists`). Calls `report` with (entry, detail).
    ///
    /// - Returns: the number of vectors checked.
    public func check(
        collection: UInt32, spaces: [StoredSpace], chunkExists: (UInt64) throws -> Bool,
        _ txn: borrowing some TransactionReading & ~Copyable, report: (String, String) -> Void
    ) throws -> Int {
        var k = KeyBuilder(capacity: 4)
        k.append(collection)
        var checked = 0
        try txn.scan(vectors, range: .prefix(k.bytes)) { key, value in
            checked += 1
            var r = KeyReader(key)
            guard key.byteCount == 14, (try? r.readUInt32()) != nil, let s = try? r.readUInt16(), let c = try? r.readUInt64() else {
                report("collection \(collection)", "vector key of \(key.byteCount) bytes")
                return .next
            }
            let entry = "collection \(collection), space \(s), chunk \(c)"
            guard Int(s) < spaces.count else { report(entry, "no such space"); return .next }
            do {
                let v = try Self.decode(value, space: spaces[Int(s)])
                if !v.allSatisfy({ $0.isFinite }) { report(entry, "holds NaN or infinity") }
            } catch {
                report(entry, (error as? StorageError)?.detail ?? "\(error)")
            }
            if try !chunkExists(c) { report(entry, "vector of a chunk that does not exist") }
            return .next
        }
        return checked
    }
}

extension Comparable {
    fileprivate func clamped(to r: ClosedRange<Self>) -> Self { min(max(self, r.lowerBound), r.upperBound) }
}
