internal import CRAGDBLMDB
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How an environment is opened.
public struct EnvironmentOptions: Sendable {
    /// How much a commit waits for the disk.
    public enum Durability: Sendable {
        /// Every commit is flushed to disk before it returns (LMDB's default). A crash loses
        /// nothing that was committed.
        case full
        /// The data is flushed on commit, the meta page is not (`MDB_NOMETASYNC`): a crash may
        /// lose the last transaction but never corrupts the database.
        case noMetaSync
        /// Nothing is flushed on commit (`MDB_NOSYNC`): for throwaway builds; a system crash
        /// may lose or corrupt recent transactions. Call `Environment.sync()` when done.
        case none
    }

    /// The map size the environment starts with, in bytes. The map grows on demand by
    /// doubling up to 1 GiB, then by 1 GiB steps, up to `maximumMapSize`.
    public var initialMapSize: Int = 16 << 20
    /// The largest map size growth may reach, in bytes (address space, not disk).
    public var maximumMapSize: Int = 1 << 40
    /// The most named tables the environment can hold.
    public var maximumTables: Int = 64
    /// Reader slots in the lock file; one per concurrently open read transaction across all
    /// processes (each costs one cache line in `lock.mdb`).
    public var maximumReaders: Int = 1024
    /// Opens the environment read-only (`MDB_RDONLY`): writes throw `.readOnly`.
    public var readOnly: Bool = false
    /// Creates the directory when it does not exist.
    public var create: Bool = true
    /// Commit durability.
    public var durability: Durability = .full
    /// How long growing the map may wait for this process's open transactions, in seconds.
    public var growthTimeout: Int = 30

    /// The defaults: 16 MiB initial map, full durability, read-write, create if missing.
    public init() {}
}

/// Table-level statistics, from `mdb_stat`.
public struct TableStatistics: Sendable, Equatable {
    /// Number of key/value pairs.
    public var entries: Int
    /// Depth of the B-tree.
    public var depth: Int
    /// Branch (internal) pages.
    public var branchPages: Int
    /// Leaf pages.
    public var leafPages: Int
    /// Overflow pages (values too large for a leaf).
    public var overflowPages: Int
    /// The page size in bytes.
    public var pageSize: Int
    /// All pages times the page size.
    public var bytes: Int { (branchPages + leafPages + overflowPages) * pageSize }
}

/// One LMDB environment: a directory holding `data.mdb` and `lock.mdb`, shared by every
/// thread of this process and by other processes.
///
/// Opened through `Environment.open(path:options:)`, which hands out the same instance for a
/// directory that is already open in this process (lmdb.h: "Do not have open an LMDB database
/// twice in the same process at the same time"). Closed when the last reference goes.
///
/// Transactions are scoped by synchronous closures (`read`, `write`), so a write transaction
/// never moves to another thread. There is one writer at a time (LMDB serialises writers
/// across threads and processes); readers never block and never block the writer.
public final class Environment: @unchecked Sendable {
    // @unchecked Sendable: an MDB_env is thread-safe (lmdb.h); the map size is only changed
    // under `resize` held exclusively, table handles under `tables`' mutex.
    let handle: OpaquePointer
    /// The directory, as given to `open`.
    public let path: String
    /// The options it was opened with.
    public let options: EnvironmentOptions
    private let identity: FileIdentity
    private let resize = ResizeLock()
    private let tables = Mutex<[String: Table]>([:])
    private let growths = Atomic<Int>(0)

    private struct FileIdentity: Hashable { var device: UInt64; var inode: UInt64 }
    private final class WeakEnvironment { weak var value: Environment? ; init(_ v: Environment) { value = v } }
    private struct Registry: ~Copyable { var open: [FileIdentity: WeakEnvironment] = [:] }
    /// The one piece of process-wide state: environments open in this process, by directory.
    private static let registry = Mutex(Registry())

    /// Keeps the memory that write transactions free in the process heap instead of returning
    /// it to the system, so large writes stop faulting fresh pages in.
    ///
    /// LMDB builds every dirty page, and every multi-page value, in malloc'd memory and frees
    /// it at commit. glibc serves blocks of 128 KiB and more with `mmap` and trims the heap
    /// top, so a put of a 64 MiB value otherwise pays a page fault per 4 KiB, twice (measured
    /// in BENCHMARKS.md, "KV-cache store": 0.29× a plain file write without it, about 1× with
    /// it). This raises glibc's mmap threshold to `mmapThreshold` bytes and turns trimming
    /// off. It is a process-wide allocator policy, so the library never sets it by itself:
    /// the `ragdb` tool calls it at start, and a service embedding ragdb decides for itself.
    ///
    /// - Returns: whether the allocator took both settings (false off glibc).
    /// - Complexity: two `mallopt` calls; afterwards the heap keeps its high-water mark.
    @discardableResult
    public static func retainFreedHeap(mmapThreshold: Int = 32 << 20) -> Bool {
        ragdb_retain_freed_heap(Int32(clamping: mmapThreshold)) == 1
    }

    /// Opens (and, with `options.create`, creates) the environment in directory `path`.
    ///
    /// Returns the instance already open in this process for the same directory, if any (it
    /// keeps the options it was opened with; asking to write through one opened read-only
    /// throws `.readOnly`).
    /// Clears reader slots left by dead processes (`mdb_reader_check`).
    ///
    /// - Complexity: a few system calls; maps the file but reads no data pages.
    /// - Throws: `.cannotOpen` when the directory is missing (and not to be created) or is
    ///   not a directory; `.incompatible` when the files are not an LMDB environment.
    public static func open(path: String, options: EnvironmentOptions = .init()) throws(StorageError) -> Environment {
        var st = stat()
        if stat(path, &st) != 0 {
            guard options.create, !options.readOnly else {
                throw StorageError(.cannotOpen, operation: "open \(path)", detail: "no such directory")
            }
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw StorageError(.cannotOpen, operation: "create \(path)", detail: String(cString: strerror(errno)))
            }
            guard stat(path, &st) == 0 else {
                throw StorageError(.cannotOpen, operation: "open \(path)", detail: String(cString: strerror(errno)))
            }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw StorageError(.cannotOpen, operation: "open \(path)", detail: "not a directory")
        }
        let identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        return try registry.withLock { (registry: inout Registry) throws(StorageError) -> Environment in
            if let existing = registry.open[identity]?.value {
                // One handle per process: a read-only one cannot serve a writer.
                if existing.options.readOnly && !options.readOnly {
                    throw StorageError(.readOnly, operation: "open \(path)",
                                       detail: "already open read-only in this process; close it first")
                }
                return existing
            }
            let env = try Environment(path: path, identity: identity, options: options)
            registry.open[identity] = WeakEnvironment(env)
            return env
        }
    }

    private init(path: String, identity: FileIdentity, options: EnvironmentOptions) throws(StorageError) {
        var env: OpaquePointer?
        try lmdbCheck(mdb_env_create(&env), "create environment")
        do {
            try lmdbCheck(mdb_env_set_mapsize(env, options.initialMapSize), "set map size")
            try lmdbCheck(mdb_env_set_maxdbs(env, MDB_dbi(options.maximumTables)), "set maximum tables")
            try lmdbCheck(mdb_env_set_maxreaders(env, UInt32(options.maximumReaders)), "set maximum readers")
            var flags = UInt32(MDB_NOTLS)
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            switch options.durability {
            case .full: break
            case .noMetaSync: flags |= UInt32(MDB_NOMETASYNC)
            case .none: flags |= UInt32(MDB_NOSYNC)
            }
            try lmdbCheck(mdb_env_open(env, path, flags, 0o644), "open \(path)")
            var dead: Int32 = 0
            try lmdbCheck(mdb_reader_check(env, &dead), "clear stale readers")
        } catch {
            mdb_env_close(env)  // lmdb.h: the handle must be closed even when open fails
            throw error
        }
        self.handle = env!
        self.path = path
        self.identity = identity
        self.options = options
    }

    deinit {
        // Close under the registry lock, so that no second handle on the same files can be
        // opened while this one is still closing.
        Environment.registry.withLock { (registry: inout Registry) in
            if registry.open[identity]?.value == nil { registry.open[identity] = nil }
            mdb_env_close(handle)
        }
    }

    // MARK: Tables

    /// Opens the named table, creating it when `create` is true (in its own write
    /// transaction). Handles are cached: later calls cost one dictionary look-up.
    ///
    /// - Returns: `nil` when the table does not exist and `create` is false.
    public func table(_ name: String, create: Bool) throws(StorageError) -> Table? {
        if let t = tables.withLock({ $0[name] }) { return t }
        if create && options.readOnly {
            throw StorageError(.readOnly, operation: "create table \(name)")
        }
        // mdb_dbi_open must not run in two transactions of one process at once (lmdb.h), so
        // table opening is serialised by the mutex.
        return try tables.withLock { (cache: inout [String: Table]) throws(StorageError) -> Table? in
            if let t = cache[name] { return t }
            resize.lockShared()
            defer { resize.unlockShared() }
            var txn: OpaquePointer?
            try beginRaw(readOnly: !create, &txn)
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
            if rc == MDB_NOTFOUND { mdb_txn_abort(txn); return nil }
            if rc != MDB_SUCCESS { mdb_txn_abort(txn); throw storageError(rc, "open table \(name)") }
            let crc = mdb_txn_commit(txn)
            if crc == MDB_MAP_FULL { throw storageError(crc, "create table \(name)") }
            try lmdbCheck(crc, "open table \(name)")
            let table = Table(name: name, dbi: dbi)
            cache[name] = table
            return table
        }
    }

    /// Creates the named tables that are missing and runs `body` in the same write
    /// transaction, so that a new database's tables and its first records appear together
    /// or not at all.
    ///
    /// - Complexity: one write transaction and commit.
    public func createTables<R>(
        _ names: [String], _ body: (borrowing WriteTransaction, [String: Table]) throws -> R
    ) throws -> R {
        guard !options.readOnly else { throw StorageError(.readOnly, operation: "create tables") }
        return try tables.withLock { (cache: inout [String: Table]) throws -> R in
            resize.lockShared()
            defer { resize.unlockShared() }
            var txn: OpaquePointer?
            try beginRaw(readOnly: false, &txn)
            let state = WriteState()
            let transaction = WriteTransaction(handle: txn!, state: state)
            var opened: [String: Table] = [:]
            for name in names {
                var dbi: MDB_dbi = 0
                try lmdbCheck(mdb_dbi_open(txn, name, UInt32(MDB_CREATE), &dbi), "create table \(name)")
                opened[name] = Table(name: name, dbi: dbi)
            }
            let result = try body(transaction, opened)
            try transaction.commit()
            cache.merge(opened) { _, new in new }
            return result
        }
    }

    /// The names of the tables in this environment (the keys of LMDB's main database).
    ///
    /// - Complexity: one scan of the main database.
    public func tableNames() throws -> [String] {
        try read { (txn: borrowing ReadTransaction) throws(StorageError) -> [String] in
            var names: [String] = []
            try txn.scanMain { key in names.append(String(decoding: key, as: UTF8.self)) }
            return names
        }
    }

    /// Statistics of one table (`mdb_stat`), or of the main database when `table` is nil.
    public func statistics(of table: Table?) throws -> TableStatistics {
        try read { (txn: borrowing ReadTransaction) throws(StorageError) -> TableStatistics in
            try txn.statistics(of: table)
        }
    }

    // MARK: Transactions

    /// Runs `body` in a read transaction: a consistent snapshot as of the call, unaffected
    /// by later commits of any thread or process.
    ///
    /// - Complexity: takes one reader slot (no system call once the slot is claimed); no
    ///   allocation.
    /// - Warning: keep the closure short: an open reader keeps the pages it sees from being
    ///   reused, so the file grows while it lives. Values seen through the transaction are
    ///   valid only inside `body`.
    public func read<R>(_ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        resize.lockShared()
        defer { resize.unlockShared() }
        var txn: OpaquePointer?
        try beginRaw(readOnly: true, &txn)
        let transaction = ReadTransaction(handle: txn!)
        return try body(transaction)
    }

    /// Runs `body` in a write transaction and commits it; if `body` throws, nothing it wrote
    /// is kept.
    ///
    /// When the map is full (during `body` or at commit), the transaction is aborted, the map
    /// grows, and `body` runs again from the start: it must therefore compute its writes from
    /// what it reads in the transaction and its captured inputs, and have no other side
    /// effects it cannot repeat. Nothing committed is lost.
    ///
    /// - Complexity: one commit (about 7 ms with `.full` durability on this machine's disk).
    ///   Waits while another thread or process holds the write lock.
    /// - Warning: do not call `write` from inside `read` or `write` on the same thread: the
    ///   inner call would wait for the outer one.
    public func write<R>(_ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        guard !options.readOnly else { throw StorageError(.readOnly, operation: "begin write transaction") }
        while true {
            let observedSize = mapSize
            let state = WriteState()
            do {
                return try writeOnce(state: state, body)
            } catch let error as StorageError where error.code == .mapFull || state.mapFull {
                try grow(from: observedSize)
            } catch {
                // The body swallowed a map-full error and then failed differently, or threw
                // its own error: in the first case growing and retrying is still right.
                guard state.mapFull else { throw error }
                try grow(from: observedSize)
            }
        }
    }

    private func writeOnce<R>(state: WriteState, _ body: (borrowing WriteTransaction) throws -> R) throws -> R {
        resize.lockShared()
        defer { resize.unlockShared() }
        var txn: OpaquePointer?
        try beginRaw(readOnly: false, &txn)
        let transaction = WriteTransaction(handle: txn!, state: state)
        let result = try body(transaction)
        if state.mapFull { throw StorageError(.mapFull, operation: "write") }
        try transaction.commit()
        return result
    }

    /// Begins a raw transaction, adopting a map that another process grew.
    private func beginRaw(readOnly: Bool, _ txn: inout OpaquePointer?) throws(StorageError) {
        let flags = readOnly ? UInt32(MDB_RDONLY) : 0
        var rc = mdb_txn_begin(handle, nil, flags, &txn)
        var attempts = 0
        while rc == MDB_MAP_RESIZED && attempts < 8 {
            // > "MDB_MAP_RESIZED: the database was grown by another process; call
            // > mdb_env_set_mapsize with a size of zero to adopt the new size" (lmdb.h).
            // The caller holds the resize lock shared; trade it for exclusive to adopt.
            resize.unlockShared()
            if resize.lockExclusive(timeout: options.growthTimeout) {
                mdb_env_set_mapsize(handle, 0)
                resize.unlockExclusive()
            }
            resize.lockShared()
            rc = mdb_txn_begin(handle, nil, flags, &txn)
            attempts += 1
        }
        try lmdbCheck(rc, readOnly ? "begin read transaction" : "begin write transaction")
    }

    /// The current map size in bytes (`mdb_env_info`).
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// How many times this environment grew its map since it was opened.
    public var growthCount: Int { growths.load(ordering: .relaxed) }

    private func grow(from observed: Int, atLeast minimum: Int = 0) throws(StorageError) {
        guard resize.lockExclusive(timeout: options.growthTimeout) else {
            throw StorageError(.mapFull, operation: "grow the map",
                               detail: "read transactions of this process stayed open for \(options.growthTimeout) s")
        }
        defer { resize.unlockExclusive() }
        let current = mapSize
        if current > observed { return }  // another thread grew it meanwhile
        guard current < options.maximumMapSize else {
            throw StorageError(.mapFull, operation: "grow the map",
                               detail: "the map reached its maximum of \(options.maximumMapSize) bytes")
        }
        let step = current < (1 << 30) ? current : (1 << 30)
        let page = 1 << 20
        let next = min(max(current + step, (minimum + page - 1) / page * page), options.maximumMapSize)
        try lmdbCheck(mdb_env_set_mapsize(handle, next), "grow the map to \(next) bytes")
        growths.add(1, ordering: .relaxed)
    }

    /// Grows the map ahead of a large write so that at least `bytes` more fit after the pages
    /// in use: a write whose input cannot be replayed (a pipe) must not meet a full map and be
    /// asked to start again.
    ///
    /// - Complexity: one `mdb_env_info`; a map resize (no data copied) when it grows.
    public func reserveCapacity(_ bytes: Int) throws(StorageError) {
        while true {
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            let used = (Int(info.me_last_pgno) + 1) * pageSize
            let current = info.me_mapsize
            guard used + bytes > current else { return }
            guard current < options.maximumMapSize else {
                throw StorageError(.mapFull, operation: "reserve \(bytes) bytes", detail: "the map reached its maximum of \(options.maximumMapSize) bytes")
            }
            try grow(from: current, atLeast: used + bytes)
        }
    }

    /// Flushes the data buffers to disk (`mdb_env_sync(force: 1)`); needed only with
    /// `.none` or `.noMetaSync` durability.
    public func sync() throws(StorageError) {
        try lmdbCheck(mdb_env_sync(handle, 1), "sync \(path)")
    }

    /// Size of `data.mdb` on disk in bytes: (apparent size, allocated blocks × 512).
    public func fileSizes() -> (apparent: Int, allocated: Int) {
        var st = stat()
        guard stat(path + "/data.mdb", &st) == 0 else { return (0, 0) }
        return (Int(st.st_size), Int(st.st_blocks) * 512)
    }

    /// The page size of the environment, in bytes.
    public var pageSize: Int {
        var st = MDB_stat()
        mdb_env_stat(handle, &st)
        return Int(st.ms_psize)
    }
}

/// Per-attempt state of a write transaction, shared between the transaction and the retry
/// loop: whether LMDB reported a full map, even if `body` caught that error.
final class WriteState {
    var mapFull = false
}
