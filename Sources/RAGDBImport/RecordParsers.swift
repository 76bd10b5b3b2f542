import Foundation
import RAGDB

/// Where a record came from, for error messages.
struct RecordLocation: Sendable, Hashable {
    var file: String
    var line: Int
}

/// Turns one JSONL line into a document, naming the field at fault.
enum JSONLParser {
    static func parse(_ line: ArraySlice<UInt8>, at loc: RecordLocation) throws(ImportError) -> DocumentInput {
        func fail(_ code: ImportError.Code, _ field: String?, _ detail: String) -> ImportError {
            ImportError(code, file: loc.file, line: loc.line, field: field, detail: detail)
        }
        let parsed: Result<JSONValue, JSONParser.Failure> = line.withUnsafeBufferPointer { b in
            Result { () throws(JSONParser.Failure) in try JSONParser.parse(b) }
        }
        let value: JSONValue
        switch parsed {
        case .success(let v): value = v
        case .failure(.malformed(let offset, let reason)):
            if reason.hasPrefix("invalid UTF-8") || String(validating: line, as: UTF8.self) == nil {
                throw fail(.invalidUTF8, nil, "invalid UTF-8")
            }
            throw fail(.malformedJSON, nil, "malformed JSON at byte \(offset + 1): \(reason)")
        }
        guard case .object(let obj) = value else { throw fail(.badField, nil, "expected a JSON object, found \(value.kind)") }
        let id: String
        switch obj["id"] {
        case .string(let s)?: id = s
        case .int(let i)?: id = String(i)
        case nil, .null?: throw fail(.missingField, "id", "missing")
        case let other?: throw fail(.badField, "id", "expected a string, found \(other.kind)")
        }
        var title: String?
        switch obj["title"] {
        case .string(let s)?: title = s
        case nil, .null?: title = nil
        case let other?: throw fail(.badField, "title", "expected a string, found \(other.kind)")
        }
        let metadata = try metadataFrom(obj["metadata"], field: "metadata", fail)
        var chunks: [ChunkInput]?
        if let raw = obj["chunks"], raw != .null {
            guard case .array(let items) = raw else { throw fail(.badField, "chunks", "expected an array, found \(raw.kind)") }
            var list: [ChunkInput] = []
            for (i, item) in items.enumerated() {
                guard case .object(let c) = item else { throw fail(.badField, "chunks[\(i)]", "expected an object, found \(item.kind)") }
                guard case .string(let text)? = c["text"] else { throw fail(.missingField, "chunks[\(i)].text", "missing or not a string") }
                var span: Span?
                if let raw = c["span"], raw != .null {
                    guard case .array(let pair) = raw, pair.count == 2, case .int(let s) = pair[0], case .int(let e) = pair[1], s >= 0, s <= e else {
                        throw fail(.badField, "chunks[\(i)].span", "expected [start, end] byte offsets")
                    }
                    span = Span(start: UInt64(s), end: UInt64(e))
                }
                var tokens: UInt32?
                if case .int(let t)? = c["token_count"], t >= 0, t <= Int64(UInt32.max) { tokens = UInt32(t) }
                var chunk = ChunkInput(text: text, span: span, tokenCount: tokens,
                                       metadata: try metadataFrom(c["metadata"], field: "chunks[\(i)].metadata", fail),
                                       vectors: try denseFrom(c["dense"], field: "chunks[\(i)].dense", fail))
                chunk.sparse = try sparseFrom(c["sparse"], field: "chunks[\(i)].sparse", fail)
                chunk.tokens = try tokensFrom(c["tokens"], field: "chunks[\(i)].tokens", fail)
                list.append(chunk)
            }
            chunks = list
        }
        let text: String
        switch obj["text"] {
        case .string(let s)?: text = s
        case nil, .null?:
            guard let chunks, !chunks.isEmpty else { throw fail(.missingField, "text", "missing") }
            text = chunks.map(\.text).joined(separator: "\n\n")
        case let other?: throw fail(.badField, "text", "expected a string, found \(other.kind)")
        }
        var document = DocumentInput(id: id, title: title, text: text, metadata: metadata, chunks: chunks,
                                     vectors: try denseFrom(obj["dense"], field: "dense", fail))
        document.sparse = try sparseFrom(obj["sparse"], field: "sparse", fail)
        document.tokens = try tokensFrom(obj["tokens"], field: "tokens", fail)
        return document
    }

    /// `[ids]` → token ids: integers in 0 ..< 2³².
    static func tokensFrom(
        _ value: JSONValue?, field: String, _ fail: (ImportError.Code, String?, String) -> ImportError
    ) throws(ImportError) -> [UInt32]? {
        guard let value, value != .null else { return nil }
        guard case .array(let items) = value else { throw fail(.badField, field, "expected an array of token ids, found \(value.kind)") }
        var out: [UInt32] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .int(let n) = item, n >= 0, n <= Int64(UInt32.max) else {
                throw fail(.badField, field, "element \(i) is not a token id (an integer from 0 to 4294967295)")
            }
            out.append(UInt32(n))
        }
        return out
    }

    /// `{"space": {"term": weight}}` → sparse vectors by space name; weights must be finite
    /// and not negative.
    static func sparseFrom(
        _ value: JSONValue?, field: String, _ fail: (ImportError.Code, String?, String) -> ImportError
    ) throws(ImportError) -> [String: [String: Float]] {
        guard let value, value != .null else { return [:] }
        guard case .object(let obj) = value else { throw fail(.badVector, field, "expected an object of space name to {term: weight}, found \(value.kind)") }
        var out: [String: [String: Float]] = [:]
        for (space, v) in obj {
            guard case .object(let terms) = v else { throw fail(.badVector, "\(field).\(space)", "expected an object of term to weight, found \(v.kind)") }
            var weights: [String: Float] = [:]
            for (term, w) in terms {
                let f: Float
                switch w {
                case .int(let n): f = Float(n)
                case .double(let d): f = Float(d)
                default: throw fail(.badVector, "\(field).\(space)", "weight of \"\(term)\" is a \(w.kind), not a number")
                }
                guard f.isFinite, f >= 0 else { throw fail(.badVector, "\(field).\(space)", "weight of \"\(term)\" must be finite and not negative") }
                weights[term] = f
            }
            out[space] = weights
        }
        return out
    }

    /// `{"space": [numbers]}` → vectors by space name; numbers must be finite as floats.
    static func denseFrom(
        _ value: JSONValue?, field: String, _ fail: (ImportError.Code, String?, String) -> ImportError
    ) throws(ImportError) -> [String: [Float]] {
        guard let value, value != .null else { return [:] }
        guard case .object(let obj) = value else { throw fail(.badVector, field, "expected an object of space name to array of numbers, found \(value.kind)") }
        var out: [String: [Float]] = [:]
        for (space, v) in obj {
            guard case .array(let items) = v else { throw fail(.badVector, "\(field).\(space)", "expected an array of numbers, found \(v.kind)") }
            var floats: [Float] = []
            floats.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let f: Float
                switch item {
                case .int(let n): f = Float(n)
                case .double(let d): f = Float(d)
                default: throw fail(.badVector, "\(field).\(space)", "element \(i) is a \(item.kind), not a number")
                }
                guard f.isFinite else { throw fail(.badVector, "\(field).\(space)", "element \(i) is not finite as a 32-bit float") }
                floats.append(f)
            }
            out[space] = floats
        }
        return out
    }

    static func metadataFrom(
        _ value: JSONValue?, field: String, _ fail: (ImportError.Code, String?, String) -> ImportError
    ) throws(ImportError) -> Metadata {
        guard let value, value != .null else { return [:] }
        guard case .object(let obj) = value else { throw fail(.badField, field, "expected an object, found \(value.kind)") }
        var out = Metadata()
        for (k, v) in obj {
            guard let m = v.metadataValue else {
                throw fail(.badField, "\(field).\(k)", "expected a string, integer, number, boolean or list of strings, found \(v.kind)")
            }
            if case .double(let d) = m, !d.isFinite { throw fail(.badField, "\(field).\(k)", "NaN and infinity are not allowed") }
            out[k] = m
        }
        return out
    }
}

/// How CSV columns map to documents.
public struct CSVOptions: Sendable, Hashable {
    /// The column holding the document id.
    public var idColumn = "id"
    /// The column holding the text.
    public var textColumn = "text"
    /// The column holding the title, if any (`title` is used when present and this is nil).
    public var titleColumn: String? = nil
    /// Columns stored as metadata; `nil` means every other column. Values that read as
    /// integers, numbers or `true`/`false` are stored typed, others as strings; empty cells
    /// are left out.
    public var metadataColumns: [String]? = nil

    /// id, text, optional title, all other columns as metadata.
    public init() {}
}

/// An RFC 4180 CSV reader: quoted fields may hold commas, doubled quotes and newlines.
enum CSVParser {
    /// Splits one record into fields. `more` supplies the next physical line when a quoted
    /// field continues past the end of this one.
    static func fields(_ first: ArraySlice<UInt8>, more: () throws -> ArraySlice<UInt8>?) throws -> [String]? {
        var out: [String] = []
        var field: [UInt8] = []
        var line = first
        var i = line.startIndex
        var quoted = false
        var atFieldStart = true
        while true {
            if i == line.endIndex {
                if quoted {
                    guard let next = try more() else { return nil }
                    field.append(0x0A)
                    line = next
                    i = line.startIndex
                    continue
                }
                out.append(String(decoding: field, as: UTF8.self))
                return out
            }
            let b = line[i]
            if quoted {
                if b == 0x22 {
                    if i + 1 < line.endIndex && line[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                    quoted = false
                    i += 1
                    continue
                }
                field.append(b)
            } else if b == 0x22 && atFieldStart {
                quoted = true
                atFieldStart = false
            } else if b == 0x2C {
                out.append(String(decoding: field, as: UTF8.self))
                field.removeAll(keepingCapacity: true)
                atFieldStart = true
                i += 1
                continue
            } else {
                field.append(b)
                atFieldStart = false
            }
            i += 1
        }
    }

    /// A typed metadata value for a cell.
    static func typed(_ cell: String) -> MetadataItem {
        if let i = Int64(cell) { return .int(i) }
        if let d = Double(cell), d.isFinite, cell.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .double(d) }
        if cell == "true" { return .bool(true) }
        if cell == "false" { return .bool(false) }
        return .string(cell)
    }
}
