import RAGDB
import RAGDBImport
import RAGDBStorage

/// The exit codes of `ragdb`, documented in README.md §"Exit codes".
public enum RAGDBExit {
    /// Success.
    public static let ok: Int32 = 0
    /// Any other failure.
    public static let failure: Int32 = 1
    /// `ragdb check` found damage, or a damaged value was met while reading.
    public static let damaged: Int32 = 2
    /// The command line is wrong (EX_USAGE).
    public static let usage: Int32 = 64
    /// The input data is wrong: a malformed record, a missing field, a bad value (EX_DATAERR).
    public static let badInput: Int32 = 65
    /// A database, collection, document or input file does not exist or cannot be opened,
    /// or is not a database this ragdb can read (EX_NOINPUT).
    public static let cannotOpen: Int32 = 66
    /// An I/O or storage failure: disk full, map full, permissions (EX_IOERR).
    public static let io: Int32 = 74
}

/// A failure already explained to the user, carrying the exit code.
struct CLIError: Error {
    var code: String
    var message: String
    var exit: Int32
    var hint: String?
}

/// Maps any error to (stable code, one-line message, exit code, hint).
func describe(_ error: any Error) -> CLIError {
    switch error {
    case let e as CLIError:
        return e
    case let e as ImportError:
        let exit = e.code == .cannotRead ? RAGDBExit.cannotOpen : RAGDBExit.badInput
        return CLIError(code: e.code.name, message: e.description, exit: exit, hint: nil)
    case let e as RAGDBError:
        let exit: Int32
        var hint: String?
        switch e.code {
        case .invalidInput, .alreadyExists: exit = RAGDBExit.badInput
        case .notFound: exit = RAGDBExit.cannotOpen
        case .notADatabase, .unsupportedFormat: exit = RAGDBExit.cannotOpen
        case .corrupt: exit = RAGDBExit.damaged; hint = "run 'ragdb check' on the database to list the damage"
        default:
            exit = RAGDBExit.io
            if e.underlying?.code == .mapFull { hint = "the disk or the configured map limit is full" }
        }
        if e.code == .notFound, e.message.hasPrefix("no database") { hint = "create one with 'ragdb init DB' or 'ragdb import'" }
        return CLIError(code: e.code.name, message: e.description, exit: exit, hint: hint)
    case let e as KVCacheError:
        let exit: Int32
        switch e.code {
        case .unknownProfile, .notFound: exit = RAGDBExit.cannotOpen
        case .corrupt: exit = RAGDBExit.damaged
        case .notReplayable: exit = RAGDBExit.io
        default: exit = RAGDBExit.badInput
        }
        return CLIError(code: e.code.rawValue, message: e.description, exit: exit, hint: nil)
    case let e as StorageError:
        let exit = (e.code == .corruptValue || e.code == .corruptFile) ? RAGDBExit.damaged : RAGDBExit.io
        return CLIError(code: e.code.name, message: e.description, exit: exit, hint: nil)
    default:
        return CLIError(code: "ragdb.failure", message: String(describing: error), exit: RAGDBExit.failure, hint: nil)
    }
}
