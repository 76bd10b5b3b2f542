public import RAGDBStorage

/// An error from the public library: bad input named by field, a missing database or
/// collection, a database this build cannot read, or a storage failure underneath.
public struct RAGDBError: Error, Sendable, CustomStringConvertible {
    /// A stable error kind; `name` appears in `--json` output.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name.
        public let name: String
        init(_ name: String) { self.name = name }
        public var description: String { name }

        /// No database, collection or document of that name.
        public static let notFound = Code("ragdb.not_found")
        /// A collection or document with that name already exists.
        public static let alreadyExists = Code("ragdb.already_exists")
        /// An argument or record field is invalid; `field` names it.
        public static let invalidInput = Code("ragdb.invalid_input")
        /// The directory holds something that is not a ragdb database.
        public static let notADatabase = Code("ragdb.not_a_database")
        /// The database's format version is not one this build can read.
        public static let unsupportedFormat = Code("ragdb.unsupported_format")
        /// The database is damaged (a missing table or record, a bad value).
        public static let corrupt = Code("ragdb.corrupt")
        /// The storage layer failed; `underlying` has its error.
        public static let storage = Code("ragdb.storage")
    }

    /// What went wrong.
    public let code: Code
    /// The input field at fault, for `.invalidInput` ("metadata.year", "chunks[2].span").
    public let field: String?
    /// The document at fault, when there is one.
    public let documentID: String?
    /// A human explanation that names positions and fields, never stored text.
    public let message: String
    /// The storage error underneath, for `.storage` and `.corrupt`.
    public let underlying: StorageError?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil, documentID: String? = nil,
                underlying: StorageError? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.documentID = documentID
        self.underlying = underlying
    }

    public var description: String {
        var parts: [String] = []
        if let documentID { parts.append("document \"\(documentID)\"") }
        if let field { parts.append("field \"\(field)\"") }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// Wraps a storage error: a damaged value becomes `.corrupt`, anything else `.storage`.
    static func wrapping(_ error: StorageError) -> RAGDBError {
        switch error.code {
        case .corruptValue, .corruptFile:
            RAGDBError(.corrupt, error.description, underlying: error)
        default:
            RAGDBError(.storage, error.description, underlying: error)
        }
    }
}

/// Runs `body`, turning any error into a `RAGDBError` (the public API's one error type).
func rethrowingAsRAGDB<R>(_ body: () throws -> R) throws(RAGDBError) -> R {
    do {
        return try body()
    } catch let e as RAGDBError {
        throw e
    } catch let e as StorageError {
        throw RAGDBError.wrapping(e)
    } catch {
        throw RAGDBError(.storage, String(describing: error))
    }
}
