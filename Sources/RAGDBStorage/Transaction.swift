internal import CRAGDBLMDB

/// An open LMDB transaction, as seen by the reading operations shared by read and write
/// transactions. Not constructible outside the storage layer.
public struct TransactionHandle {
    let pointer: OpaquePointer
}

@available(*, unavailable)
extension TransactionHandle: Sendable {}

/// What a scan's closure asks for next.
public enum ScanStep: Sendable {
    /// Go on to the next entry.
    case next
    /// End the scan.
    case stop
}

/// The reading operations of a transaction: look-ups, scans and cursors, all zero-copy.
///
/// Every byte view handed to a closure points into the memory map: it is valid only while
/// the closure runs, and only until the next write in the same transaction.
public protocol TransactionReading: ~Copyable {
    /// The underlying transaction.
    var handle: TransactionHandle { get }
}

/// A read-only snapshot, valid only inside `Environment.read(_:)`.
///
/// Explicitly not `Sendable`: it belongs to the closure that received it.
public struct ReadTransaction: ~Copyable, TransactionReading {
    public let handle: TransactionHandle

    init(handle: OpaquePointer) { self.handle = TransactionHandle(pointer: handle) }

    deinit { mdb_txn_abort(handle.pointer) }

    /// The id of the snapshot (LMDB's transaction id: the last committed write it sees). Two
    /// read transactions with the same id see exactly the same data, so work can be split
    /// between threads, each with its own transaction, and still read one snapshot.
    public var snapshotID: Int { Int(mdb_txn_id(handle.pointer)) }
}

@available(*, unavailable)
extension ReadTransaction: Sendable {}

/// The reading operations of a transaction that the caller holds open, for a view object
/// that must read on demand (layer by layer) inside `Environment.read(_:)`.
///
/// - Warning: valid only while the transaction whose `handle` it copies is open; the type
///   cannot enforce that, so keep it inside the closure that received the transaction.
public struct TransactionReference: TransactionReading {
    public let handle: TransactionHandle

    /// A reference to the open transaction `transaction`.
    public init(_ transaction: borrowing some TransactionReading & ~Copyable) { handle = transaction.handle }
}

@available(*, unavailable)
extension TransactionReference: Sendable {}

/// A read-write transaction, valid only inside `Environment.write(_:)`; committed when the
/// closure returns, discarded when it throws.
///
/// Explicitly not `Sendable`: LMDB ties a write transaction to the thread that began it.
public struct WriteTransaction: ~Copyable, TransactionReading {
    public let handle: TransactionHandle
    // Unmanaged keeps every stored property trivial, which `discard self` requires;
    // `Environment.write` owns the state for longer than the transaction lives.
    private let state: Unmanaged<WriteState>

    init(handle: OpaquePointer, state: WriteState) {
        self.handle = TransactionHandle(pointer: handle)
        self.state = Unmanaged.passUnretained(state)
    }

    consuming func commit() throws(StorageError) {
        let rc = mdb_txn_commit(handle.pointer)
        discard self  // mdb_txn_commit frees the transaction whether it succeeds or not
        if rc == MDB_MAP_FULL {
            throw storageError(rc, "commit")
        }
        try lmdbCheck(rc, "commit")
    }

    deinit { mdb_txn_abort(handle.pointer) }

    /// Records a full map even if the caller catches the error, so that `write` grows the
    /// map and runs the transaction again.
    func noting(_ rc: Int32) -> Int32 {
        if rc == MDB_MAP_FULL { state.takeUnretainedValue().mapFull = true }
        return rc
    }

    // MARK: Writes

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// - Complexity: one B-tree descent; copies `value` into the map once.
    /// - Throws: `.mapFull` (handled by `Environment.write`, which grows and retries),
    ///   `.badKey` for an empty key or one over 511 bytes.
    public func put(_ value: [UInt8], forKey key: [UInt8], in table: Table) throws(StorageError) {
        try withBytes(value) { (v: UnsafeRawBufferPointer) throws(StorageError) in
            try putBytes(v, forKey: key, in: table)
        }
    }

    /// Stores the bytes of `value` under `key`, replacing any previous value.
    ///
    /// - Complexity: one B-tree descent; copies `value` into the map once.
    public func put(_ value: RawSpan, forKey key: [UInt8], in table: Table) throws(StorageError) {
        try value.withUnsafeBytes { (v: UnsafeRawBufferPointer) throws(StorageError) in
            try putBytes(v, forKey: key, in: table)
        }
    }

    func putBytes(_ value: UnsafeRawBufferPointer, forKey key: [UInt8], in table: Table) throws(StorageError) {
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in
                withVal(value) { vv in mdb_put(handle.pointer, table.dbi, &kv, &vv, 0) }
            }
        }
        try lmdbCheck(noting(rc), "put into \(table.name)")
    }

    /// Stores `value` under `key`, which the caller expects to sort after every key in the
    /// table (new ids): appended with `MDB_APPEND`, which fills pages completely instead of
    /// splitting them in half; falls back to an ordinary put when the key is not the last.
    ///
    /// - Complexity: no B-tree descent when appending; one otherwise.
    public func putAppending(_ value: [UInt8], forKey key: [UInt8], in table: Table) throws(StorageError) {
        var rc = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                withVal(k) { kv in
                    withVal(v) { vv in mdb_put(handle.pointer, table.dbi, &kv, &vv, UInt32(MDB_APPEND)) }
                }
            }
        }
        if rc == MDB_KEYEXIST {
            // > MDB_APPEND: "Loading unsorted keys with this flag will cause a MDB_KEYEXIST
            // > error." (lmdb.h) — nothing was written; store it the ordinary way.
            rc = key.withUnsafeBytes { k in
                value.withUnsafeBytes { v in
                    withVal(k) { kv in withVal(v) { vv in mdb_put(handle.pointer, table.dbi, &kv, &vv, 0) } }
                }
            }
        }
        try lmdbCheck(noting(rc), "append to \(table.name)")
    }

    /// Stores `value` under `key` only if the key is absent.
    ///
    /// - Returns: `false` (and writes nothing) when the key already exists.
    public func insert(_ value: [UInt8], forKey key: [UInt8], in table: Table) throws(StorageError) -> Bool {
        let rc = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                withVal(k) { kv in
                    withVal(v) { vv in mdb_put(handle.pointer, table.dbi, &kv, &vv, UInt32(MDB_NOOVERWRITE)) }
                }
            }
        }
        if rc == MDB_KEYEXIST { return false }
        try lmdbCheck(noting(rc), "insert into \(table.name)")
        return true
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place in the map
    /// (`MDB_RESERVE`): no staging copy for large values.
    ///
    /// - Warning: `fill` must write every byte; the reserved bytes start undefined.
    public func putReserving(
        count: Int, forKey key: [UInt8], in table: Table,
        _ fill: (inout MutableRawSpan) throws -> Void
    ) throws {
        var out: UnsafeMutableRawBufferPointer? = nil
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in
                var vv = MDB_val(mv_size: count, mv_data: nil)
                let rc = mdb_put(handle.pointer, table.dbi, &kv, &vv, UInt32(MDB_RESERVE))
                if rc == MDB_SUCCESS { out = UnsafeMutableRawBufferPointer(start: vv.mv_data, count: count) }
                return rc
            }
        }
        try lmdbCheck(noting(rc), "reserve in \(table.name)")
        var span = unsafe MutableRawSpan(_unsafeBytes: out!)
        try fill(&span)
    }

    /// Deletes `key`.
    ///
    /// - Returns: whether the key existed.
    @discardableResult
    public func delete(forKey key: [UInt8], in table: Table) throws(StorageError) -> Bool {
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in mdb_del(handle.pointer, table.dbi, &kv, nil) }
        }
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(noting(rc), "delete from \(table.name)")
        return true
    }

    /// Deletes every key in `range`.
    ///
    /// - Complexity: one cursor step per deleted key.
    /// - Returns: how many keys were deleted.
    @discardableResult
    public func deleteRange(_ range: KeyRange, in table: Table) throws(StorageError) -> Int {
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle.pointer, table.dbi, &cursor), "open cursor on \(table.name)")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var rc: Int32
        if let lower = range.lower {
            rc = lower.withUnsafeBytes { l in
                withVal(l) { lv in
                    key = lv
                    return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
                }
            }
        } else {
            rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        }
        var deleted = 0
        while rc == MDB_SUCCESS && range.isBelowUpper(buffer(key)) {
            try lmdbCheck(noting(mdb_cursor_del(cursor, 0)), "delete from \(table.name)")
            deleted += 1
            // After mdb_cursor_del the cursor sits on the following entry; GET_CURRENT reads it.
            rc = mdb_cursor_get(cursor, &key, &value, MDB_GET_CURRENT)
            if rc == MDB_SUCCESS { continue }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        guard rc == MDB_SUCCESS || rc == MDB_NOTFOUND else { throw storageError(rc, "scan \(table.name)") }
        return deleted
    }

    /// Deletes every entry of `table`, keeping the table.
    public func clear(_ table: Table) throws(StorageError) {
        try lmdbCheck(noting(mdb_drop(handle.pointer, table.dbi, 0)), "clear \(table.name)")
    }
}

@available(*, unavailable)
extension WriteTransaction: Sendable {}

// MARK: - Reading, shared by both kinds of transaction

extension TransactionReading where Self: ~Copyable {
    /// Calls `body` with the value stored under `key`, in place in the map.
    ///
    /// - Complexity: one B-tree descent (O(log *n*) pages); no copy, no allocation.
    /// - Warning: `value` is valid only during `body`.
    /// - Returns: `nil` when the key is absent (`body` is not called).
    public func withValue<R>(forKey key: [UInt8], in table: Table, _ body: (_ value: RawSpan) throws -> R) throws -> R? {
        var value = MDB_val()
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in mdb_get(handle.pointer, table.dbi, &kv, &value) }
        }
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc, "get from \(table.name)")
        return try body(unsafe RawSpan(_unsafeBytes: buffer(value)))
    }

    /// The value stored under `key`, copied out of the map.
    ///
    /// - Complexity: one B-tree descent and one allocation of the value's size.
    public func value(forKey key: [UInt8], in table: Table) throws(StorageError) -> [UInt8]? {
        var value = MDB_val()
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in mdb_get(handle.pointer, table.dbi, &kv, &value) }
        }
        if rc == MDB_NOTFOUND { return nil }
        try lmdbCheck(rc, "get from \(table.name)")
        return Array(buffer(value))
    }

    /// Whether `key` is present.
    public func contains(_ key: [UInt8], in table: Table) throws(StorageError) -> Bool {
        var value = MDB_val()
        let rc = key.withUnsafeBytes { k in
            withVal(k) { kv in mdb_get(handle.pointer, table.dbi, &kv, &value) }
        }
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc, "get from \(table.name)")
        return true
    }

    /// Calls `body` for each entry in `range`, in key order (or reverse order), with the key
    /// and value in place in the map, until `body` returns `.stop`.
    ///
    /// - Complexity: one descent, then one cursor step per entry; no allocation.
    /// - Returns: how many entries `body` saw.
    @discardableResult
    public func scan(
        _ table: Table, range: KeyRange = .all, reverse: Bool = false,
        _ body: (_ key: RawSpan, _ value: RawSpan) throws -> ScanStep
    ) throws -> Int {
        var cursor = try Cursor(transaction: handle.pointer, table: table)
        var positioned: Bool
        if reverse {
            if let upper = range.upper {
                // The last key below `upper`: seek to `upper` and step back once.
                if try cursor.seek(atOrAfter: upper) {
                    positioned = try cursor.previous()
                } else {
                    positioned = try cursor.last()
                }
            } else {
                positioned = try cursor.last()
            }
        } else if let lower = range.lower {
            positioned = try cursor.seek(atOrAfter: lower)
        } else {
            positioned = try cursor.first()
        }
        var seen = 0
        while positioned {
            let key = buffer(cursor.key)
            if reverse {
                if let lower = range.lower, lower.withUnsafeBytes({ compareBytes(key, $0) }) < 0 { break }
            } else if !range.isBelowUpper(key) {
                break
            }
            seen += 1
            let step = try body(unsafe RawSpan(_unsafeBytes: key), unsafe RawSpan(_unsafeBytes: buffer(cursor.value)))
            if case .stop = step { break }
            positioned = reverse ? try cursor.previous() : try cursor.next()
        }
        return seen
    }

    /// Calls `body` with a cursor on `table`, for seek-heavy access patterns.
    ///
    /// - Complexity: opens one cursor (no allocation after the first in a transaction).
    public func withCursor<R>(on table: Table, _ body: (inout Cursor) throws -> R) throws -> R {
        var cursor = try Cursor(transaction: handle.pointer, table: table)
        return try body(&cursor)
    }

    /// The number of entries in `table`.
    ///
    /// - Complexity: O(1): reads the table's root record.
    public func count(of table: Table) throws(StorageError) -> Int {
        try statistics(of: table).entries
    }

    /// Statistics of `table` (`mdb_stat`), or of the main database when `nil`.
    public func statistics(of table: Table?) throws(StorageError) -> TableStatistics {
        var st = MDB_stat()
        try lmdbCheck(mdb_stat(handle.pointer, table?.dbi ?? mainTable, &st), "stat \(table?.name ?? "main")")
        return TableStatistics(
            entries: st.ms_entries, depth: Int(st.ms_depth), branchPages: st.ms_branch_pages,
            leafPages: st.ms_leaf_pages, overflowPages: st.ms_overflow_pages, pageSize: Int(st.ms_psize))
    }

    /// Calls `body` with each key of the main database (the table names).
    func scanMain(_ body: ([UInt8]) -> Void) throws(StorageError) {
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(handle.pointer, mainTable, &cursor), "open cursor on main")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val(), value = MDB_val()
        var rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        while rc == MDB_SUCCESS {
            body(Array(buffer(key)))
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
    }
}

/// A position in a table, for seek-and-step access. Only available inside
/// `withCursor(on:_:)`; closed when that closure returns.
public struct Cursor: ~Copyable {
    let pointer: OpaquePointer
    var key = MDB_val()
    var value = MDB_val()

    init(transaction: OpaquePointer, table: Table) throws(StorageError) {
        var cursor: OpaquePointer?
        try lmdbCheck(mdb_cursor_open(transaction, table.dbi, &cursor), "open cursor on \(table.name)")
        pointer = cursor!
    }

    deinit { mdb_cursor_close(pointer) }

    private mutating func move(_ op: MDB_cursor_op) throws(StorageError) -> Bool {
        let rc = mdb_cursor_get(pointer, &key, &value, op)
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc, "move cursor")
        return true
    }

    /// Moves to the first key ≥ `target` (`MDB_SET_RANGE`).
    /// - Returns: `false` when every key is smaller.
    public mutating func seek(atOrAfter target: [UInt8]) throws(StorageError) -> Bool {
        let rc = target.withUnsafeBytes { t in
            withVal(t) { tv in
                key = tv
                return mdb_cursor_get(pointer, &key, &value, MDB_SET_RANGE)
            }
        }
        if rc == MDB_NOTFOUND { return false }
        try lmdbCheck(rc, "seek cursor")
        return true
    }

    /// Moves to the first entry. - Returns: `false` when the table is empty.
    public mutating func first() throws(StorageError) -> Bool { try move(MDB_FIRST) }
    /// Moves to the last entry. - Returns: `false` when the table is empty.
    public mutating func last() throws(StorageError) -> Bool { try move(MDB_LAST) }
    /// Moves to the next entry. - Returns: `false` past the end.
    public mutating func next() throws(StorageError) -> Bool { try move(MDB_NEXT) }
    /// Moves to the previous entry. - Returns: `false` before the start.
    public mutating func previous() throws(StorageError) -> Bool { try move(MDB_PREV) }

    /// Calls `body` with the current key and value in place in the map.
    ///
    /// - Precondition: the last move returned `true`.
    public func withCurrent<R>(_ body: (_ key: RawSpan, _ value: RawSpan) throws -> R) rethrows -> R {
        precondition(key.mv_data != nil, "cursor is not positioned")
        return try body(unsafe RawSpan(_unsafeBytes: buffer(key)), unsafe RawSpan(_unsafeBytes: buffer(value)))
    }

    /// The current key, copied.
    public var currentKey: [UInt8] {
        precondition(key.mv_data != nil, "cursor is not positioned")
        return Array(buffer(key))
    }
}

@available(*, unavailable)
extension Cursor: Sendable {}
