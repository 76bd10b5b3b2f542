// A readers-writer lock that lets the environment change its map size while no transaction
// of this process is open, as LMDB requires:
// > mdb_env_set_mapsize: "It may be called at later times if no transactions are active in
// > this process." (lmdb.h) — the library does not check this itself.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every transaction holds the lock shared; growing the map takes it exclusively.
///
/// Reader-preferring (the platform default) so that a thread may open a read transaction
/// while it already holds one; growth therefore waits with a deadline instead of forever.
final class ResizeLock: @unchecked Sendable {
    // @unchecked Sendable: the pthread rwlock is itself the synchronisation; the pointer is
    // allocated once in init and freed once in deinit.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        precondition(pthread_rwlock_init(lock, nil) == 0, "pthread_rwlock_init failed")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func lockShared() {
        let rc = pthread_rwlock_rdlock(lock)
        precondition(rc == 0, "pthread_rwlock_rdlock failed: \(rc)")
    }

    func unlockShared() { pthread_rwlock_unlock(lock) }

    /// Takes the lock exclusively, giving up after `seconds`.
    /// - Returns: `false` when the deadline passed first.
    func lockExclusive(timeout seconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        return pthread_rwlock_timedwrlock(lock, &deadline) == 0
    }

    func unlockExclusive() { pthread_rwlock_unlock(lock) }
}
