/// An error raised by the storage layer: a failure of the world (I/O, a full map, a damaged
/// value), never a caller bug (those trap).
///
/// The `code` is stable and machine-readable; `operation` says what was being done
/// ("put chunks", "open /data/db"), `detail` adds what was found. Neither contains user data.
public struct StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable error kind. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name, as it appears in `--json` output.
        public let name: String
        package init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The memory map is full and could not grow (the configured maximum was reached, or
        /// read transactions in this process stayed open while it tried to grow).
        public static let mapFull = Code("storage.map_full")
        /// All reader slots of the lock file are in use.
        public static let readersFull = Code("storage.readers_full")
        /// A stored value failed validation: bad header, unknown codec, wrong length or
        /// checksum, or a layout that does not parse.
        public static let corruptValue = Code("storage.corrupt_value")
        /// LMDB reports that the file itself is damaged (`MDB_CORRUPTED`, `MDB_PAGE_NOTFOUND`).
        public static let corruptFile = Code("storage.corrupt_file")
        /// LMDB reports an incompatible environment (`MDB_INVALID`, `MDB_VERSION_MISMATCH`).
        public static let incompatible = Code("storage.incompatible")
        /// A key is empty or longer than LMDB's limit (511 bytes).
        public static let badKey = Code("storage.bad_key")
        /// The value is too large to store (over 4 GiB − 1 bytes in one framed value).
        public static let valueTooLarge = Code("storage.value_too_large")
        /// A named table does not exist (and was not to be created).
        public static let tableMissing = Code("storage.table_missing")
        /// Writing was attempted on an environment opened read-only.
        public static let readOnly = Code("storage.read_only")
        /// The path does not exist, is not a directory, or cannot be accessed.
        public static let cannotOpen = Code("storage.cannot_open")
        /// An operating-system I/O error (`errno`).
        public static let io = Code("storage.io")
        /// Any other LMDB return code; `detail` carries LMDB's message.
        public static let lmdb = Code("storage.lmdb")
    }

    /// What went wrong, as a stable code.
    public let code: Code
    /// What the storage layer was doing.
    public let operation: String
    /// What it found, for humans. Never contains stored values or keys.
    public let detail: String

    /// Creates an error.
    public init(_ code: Code, operation: String, detail: String = "") {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "\(operation): \(code.name)" : "\(operation): \(detail)"
    }
}
