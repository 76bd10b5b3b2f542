// The only file that turns LMDB return codes into Swift errors; every mdb_* call in
// RAGDBStorage passes its return code through `lmdbCheck`.
internal import CRAGDBLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// LMDB return codes under Swift names.
enum LMDBCode {
    static let success: Int32 = MDB_SUCCESS
    static let notFound: Int32 = MDB_NOTFOUND
    static let keyExists: Int32 = MDB_KEYEXIST
    static let mapFull: Int32 = MDB_MAP_FULL
    static let mapResized: Int32 = MDB_MAP_RESIZED
    static let readersFull: Int32 = MDB_READERS_FULL
    static let badTxn: Int32 = MDB_BAD_TXN
}

/// Maps an LMDB return code to a typed error.
func storageError(_ rc: Int32, _ operation: String) -> StorageError {
    let message = String(cString: mdb_strerror(rc))
    let code: StorageError.Code
    switch rc {
    case MDB_MAP_FULL: code = .mapFull
    case MDB_READERS_FULL: code = .readersFull
    case MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_BAD_DBI: code = .corruptFile
    case MDB_INVALID, MDB_VERSION_MISMATCH, MDB_INCOMPATIBLE: code = .incompatible
    case MDB_BAD_VALSIZE: code = .badKey
    case MDB_NOTFOUND: code = .tableMissing
    case EACCES, EROFS: code = .readOnly
    case ENOENT, ENOTDIR: code = .cannotOpen
    case _ where rc > 0: code = .io
    default: code = .lmdb
    }
    return StorageError(code, operation: operation, detail: message)
}

/// Throws a typed error unless `rc` is `MDB_SUCCESS`.
@inline(__always)
func lmdbCheck(_ rc: Int32, _ operation: @autoclosure () -> String) throws(StorageError) {
    guard rc == MDB_SUCCESS else { throw storageError(rc, operation()) }
}

/// Builds an `MDB_val` over bytes that LMDB only reads (keys, values for `mdb_put`).
///
/// LMDB's API takes a mutable pointer even for inputs; it never writes through it for
/// these calls (lmdb.h: "The memory pointed to by the returned values is owned by the
/// database" — inputs are copied in).
@inline(__always)
func withVal<R>(_ bytes: UnsafeRawBufferPointer, _ body: (inout MDB_val) throws -> R) rethrows -> R {
    var val = MDB_val(
        mv_size: bytes.count,
        mv_data: bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) })
    return try body(&val)
}

/// The bytes an `MDB_val` returned by LMDB points at, in place in the map.
@inline(__always)
func buffer(_ val: MDB_val) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: val.mv_data, count: val.mv_size)
}

/// `Array.withUnsafeBytes` rethrows untyped errors; this keeps a typed `StorageError`.
@inline(__always)
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(StorageError) -> R) throws(StorageError) -> R {
    let result: Result<R, StorageError> = array.withUnsafeBytes { p in
        Result { () throws(StorageError) -> R in try body(p) }
    }
    return try result.get()
}

/// LMDB's main database, which holds the names of the named tables. (lmdb.h numbers it 1;
/// 0 is the free-page list.)
let mainTable: MDB_dbi = 1
