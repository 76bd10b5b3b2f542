import RAGDB
import RAGDBChunks

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
