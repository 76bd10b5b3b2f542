/// Bad input, located exactly: the file, the line (or CSV row) and the field.
public struct ImportError: Error, Sendable, CustomStringConvertible {
    /// A stable error kind; `name` appears in `--json` output.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The line is not valid JSON.
        public static let malformedJSON = Code("import.malformed_json")
        /// A required field is absent.
        public static let missingField = Code("import.missing_field")
        /// A field has the wrong type or an invalid value.
        public static let badField = Code("import.bad_field")
        /// The bytes are not valid UTF-8.
        public static let invalidUTF8 = Code("import.invalid_utf8")
        /// A CSV row has the wrong number of fields, or a quote is not closed.
        public static let badRow = Code("import.bad_row")
        /// A vector has the wrong dimension, or holds NaN or infinity.
        public static let badVector = Code("import.bad_vector")
        /// A vector sidecar (.npy) is malformed or does not match the input.
        public static let badSidecar = Code("import.bad_sidecar")
        /// A file cannot be opened or read.
        public static let cannotRead = Code("import.cannot_read")
        /// The record was rejected by the database's validation (id, metadata, spans).
        public static let rejected = Code("import.rejected")
    }

    /// What is wrong.
    public var code: Code
    /// The input file as given (`<stdin>` for standard input).
    public var file: String
    /// The 1-based line (JSONL, text) or row (CSV, counting the header as row 1); 0 when
    /// the problem concerns the whole file.
    public var line: Int
    /// The field at fault (`metadata.year`, `chunks[2].text`), if one is.
    public var field: String?
    /// What is wrong with it; never the offending value.
    public var detail: String

    /// Creates an error.
    public init(_ code: Code, file: String, line: Int, field: String? = nil, detail: String) {
        self.code = code
        self.file = file
        self.line = line
        self.field = field
        self.detail = detail
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        if let field { return "\(place): field \"\(field)\": \(detail)" }
        return "\(place): \(detail)"
    }
}
