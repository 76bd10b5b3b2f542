internal import RAGDBStorage

/// A typed metadata value of a document or chunk.
public enum MetadataValue: Hashable, Sendable {
    /// UTF-8 text.
    case string(String)
    /// A signed 64-bit integer.
    case int(Int64)
    /// An IEEE 754 double (NaN is not allowed).
    case double(Double)
    /// A boolean.
    case bool(Bool)
    /// A list of strings (e.g. tags).
    case strings([String])

    /// The stored type tag (Format.md §"Metadata block").
    var tag: UInt8 {
        switch self {
        case .string: 1
        case .int: 2
        case .double: 3
        case .bool: 4
        case .strings: 5
        }
    }

    /// The type's name as used in JSON schemas and errors.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .double: "double"
        case .bool: "bool"
        case .strings: "string list"
        }
    }
}

/// Metadata: named typed values, stored sorted by name.
public typealias Metadata = [String: MetadataValue]

/// The binary metadata block shared by document and chunk records.
enum MetadataCoding {
    /// Writes `metadata` as: u16 count, then per entry (sorted by UTF-8 name): u16-length
    /// name, u8 tag, value.
    static func write(_ metadata: Metadata, into w: inout ByteWriter) {
        precondition(metadata.count <= Int(UInt16.max), "more than 65535 metadata entries")
        w.write(UInt16(metadata.count))
        for key in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let value = metadata[key]!
            w.writeString16(key)
            w.write(value.tag)
            switch value {
            case .string(let s): w.writeString32(s)
            case .int(let i): w.write(i)
            case .double(let d): w.write(d)
            case .bool(let b): w.write(UInt8(b ? 1 : 0))
            case .strings(let list):
                w.write(UInt32(list.count))
                for s in list { w.writeString32(s) }
            }
        }
    }

    /// Reads a block written by `write`.
    static func read(from r: inout ByteReader) throws(StorageError) -> Metadata {
        let count = Int(try r.readUInt16())
        var metadata = Metadata(minimumCapacity: count)
        var previous: String? = nil
        for _ in 0..<count {
            let key = try r.readString16()
            guard (1...255).contains(key.utf8.count) else { throw r.corrupt("metadata name of \(key.utf8.count) bytes") }
            if let previous, !previous.utf8.lexicographicallyPrecedes(key.utf8) { throw r.corrupt("metadata names out of order") }
            previous = key
            let tag = try r.readUInt8()
            let value: MetadataValue
            switch tag {
            case 1: value = .string(try r.readString32())
            case 2: value = .int(try r.readInt64())
            case 3: value = .double(try r.readDouble())
            case 4:
                let b = try r.readUInt8()
                guard b <= 1 else { throw r.corrupt("bool metadata value \(b)") }
                value = .bool(b == 1)
            case 5:
                let n = Int(try r.readUInt32())
                guard n <= r.remaining / 4 else { throw r.corrupt("string list of \(n) entries") }
                var list: [String] = []
                list.reserveCapacity(n)
                for _ in 0..<n { list.append(try r.readString32()) }
                value = .strings(list)
            default: throw r.corrupt("unknown metadata type tag \(tag)")
            }
            guard metadata.updateValue(value, forKey: key) == nil else { throw r.corrupt("duplicate metadata name") }
        }
        return metadata
    }
}
