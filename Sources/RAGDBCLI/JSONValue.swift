import RAGDB
import RAGDBChunks

/// Any JSON value, decoded strictly: integers stay integers, `true` stays a boolean.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The typed metadata value, or `nil` when JSON has no metadata equivalent.
    var metadataValue: MetadataValue? {
        switch self {
        case .bool(let b): .bool(b)
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        case .string(let s): .string(s)
        case .array(let items):
            {
                var out: [String] = []
                for item in items {
                    guard case .string(let s) = item else { return nil }
                    out.append(s)
                }
                return .strings(out)
            }()
        case .null, .object: nil
        }
    }
}

extension MetadataValue {
    /// The JSON form used by `--json` output: string, integer, number, boolean or array.
    var jsonObject: JSONOut {
        switch self {
        case .string(let s): .string(s)
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        case .bool(let b): .bool(b)
        case .strings(let l): .array(l.map { .string($0) })
        }
    }
}

/// A JSON value for output, encoded with sorted keys.
enum JSONOut: Encodable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONOut])
    case object([String: JSONOut])

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

func metadataJSON(_ m: Metadata) -> JSONOut {
    .object(m.mapValues { $0.jsonObject })
}
