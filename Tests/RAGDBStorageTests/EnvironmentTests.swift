import Foundation
import RAGDBStorage
import RAGDBTestSupport
import Synchronization
import Testing

private func key(_ i: UInt64) -> [UInt8] { var k = KeyBuilder(); k.append(i); return k.bytes }

private struct Boom: Error {}

@Suite struct EnvironmentTests {
    @Test("a write transaction whose body throws leaves nothing behind")
    func rollback() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment.open(path: dir)
            let t = try #require(try env.table("t", create: true))
            try env.write { txn throws in try txn.put([1], forKey: key(1), in: t) }
            #expect(throws: Boom.self) {
                try env.write { txn throws in
                    for i in 2..<1000 as Range<UInt64> { try txn.put([UInt8](repeating: 7, count: 100), forKey: key(i), in: t) }
                    try txn.delete(forKey: key(1), in: t)
                    throw Boom()
                }
            }
            try env.read { txn throws in
                #expect(try txn.count(of: t) == 1)
                #expect(try txn.value(forKey: key(1), in: t) == [1])
            }
        }
    }

    @Test("scans honour ranges, prefixes and direction; deleteRange removes exactly the range")
    func scans() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment.open(path: dir)
            let t = try #require(try env.table("t", create: true))
            try env.write { txn throws in
                for c: UInt32 in 1...3 {
                    for i: UInt64 in 0..<50 {
                        var k = KeyBuilder(); k.append(c); k.append(i)
                        try txn.put(Array("\(c)/\(i)".utf8), forKey: k.bytes, in: t)
                    }
                }
            }
            var p = KeyBuilder(); p.append(UInt32(2))
            try env.read { txn throws in
                var seen: [String] = []
                try txn.scan(t, range: .prefix(p.bytes)) { _, v in
                    seen.append(v.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }); return .next
                }
                #expect(seen == (0..<50).map { "2/\($0)" })
                var reversed: [String] = []
                try txn.scan(t, range: .prefix(p.bytes), reverse: true) { _, v in
                    reversed.append(v.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }); return .next
                }
                #expect(reversed == seen.reversed())
                var first3 = 0
                try txn.scan(t) { _, _ in first3 += 1; return first3 == 3 ? .stop : .next }
                #expect(first3 == 3)
                try txn.withCursor(on: t) { cursor throws in
                    var k = KeyBuilder(); k.append(UInt32(3)); k.append(UInt64(10))
                    #expect(try cursor.seek(atOrAfter: k.bytes))
                    cursor.withCurrent { _, v in #expect(v.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } == "3/10") }
                    #expect(try cursor.next())
                    #expect(cursor.currentKey.suffix(1) == [11])
                }
            }
            try env.write { txn throws in #expect(try txn.deleteRange(.prefix(p.bytes), in: t) == 50) }
            try env.read { txn throws in #expect(try txn.count(of: t) == 100) }
        }
    }

    @Test("the map grows from a tiny initial size under one large write, losing nothing")
    func mapGrowth() throws {
        try withTemporaryDirectory { dir in
            var options = EnvironmentOptions()
            options.initialMapSize = 256 << 10
            let env = try Environment.open(path: dir, options: options)
            let t = try #require(try env.table("t", create: true))
            let value = [UInt8](repeating: 0xAB, count: 4000)
            var attempts = 0
            try env.write { txn throws in
                attempts += 1
                for i: UInt64 in 0..<10_000 { try txn.put(value, forKey: key(i), in: t) }
            }
            #expect(env.growthCount > 0)
            #expect(attempts == env.growthCount + 1)
            #expect(env.mapSize >= 40_000_000)
            try env.read { txn throws in
                #expect(try txn.count(of: t) == 10_000)
                #expect(try txn.withValue(forKey: key(9_999), in: t) { $0.byteCount } == 4000)
            }
            // A body that catches the map-full error still gets retried on a bigger map.
            try env.write { txn throws in
                for i: UInt64 in 10_000..<40_000 {
                    do { try txn.put(value, forKey: key(i), in: t) } catch { return }
                }
            }
            try env.read { txn throws in #expect(try txn.count(of: t) == 40_000) }
        }
    }

    @Test("a value is read in place in the map: large values are 16-byte aligned")
    func zeroCopy() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment.open(path: dir)
            let t = try #require(try env.table("t", create: true))
            try env.write { txn throws in
                try txn.putReserving(count: 1 << 20, forKey: key(1), in: t) { span in
                    for i in 0..<(1 << 18) { span.storeBytes(of: UInt32(i), toByteOffset: i * 4, as: UInt32.self) }
                }
            }
            try env.read { txn throws in
                let ok = try txn.withValue(forKey: key(1), in: t) { v -> Bool in
                    v.withUnsafeBytes { p in
                        Int(bitPattern: p.baseAddress!) % 16 == 0 && p.load(fromByteOffset: 4 * 1000, as: UInt32.self) == 1000
                    }
                }
                #expect(ok == true)
                #expect(try txn.withValue(forKey: key(2), in: t) { _ in 1 } == nil)
            }
        }
    }

    @Test("concurrent readers keep a consistent snapshot while a writer commits")
    func snapshotIsolation() throws {
        try withTemporaryDirectory { dir in
            let env = try Environment.open(path: dir)
            let t = try #require(try env.table("t", create: true))
            let c = try #require(try env.table("count", create: true))
            // Invariant: table t holds exactly `count` entries.
            try env.write { txn throws in try txn.put(withUnsafeBytes(of: UInt64(0)) { Array($0) }, forKey: [0], in: c) }
            let failures = Atomic<Int>(0), reads = Atomic<Int>(0)
            let done = Atomic<Bool>(false)
            let readers = DispatchGroup()
            for _ in 0..<4 {
                readers.enter()
                Thread.detachNewThread {
                    defer { readers.leave() }
                    while !done.load(ordering: .acquiring) {
                        do {
                            try env.read { txn throws in
                                let stored = try txn.withValue(forKey: [0], in: c) { $0.unsafeLoadUnaligned(as: UInt64.self) } ?? 0
                                let first = try txn.count(of: t)
                                var scanned = 0
                                try txn.scan(t) { _, _ in scanned += 1; return .next }
                                // Nested read on the same thread: works only with MDB_NOTLS.
                                try env.read { inner throws in _ = try inner.count(of: t) }
                                if UInt64(first) != stored || scanned != first { failures.add(1, ordering: .relaxed) }
                            }
                            reads.add(1, ordering: .relaxed)
                        } catch {
                            failures.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            for round: UInt64 in 0..<100 {
                try env.write { txn throws in
                    for i in 0..<50 as Range<UInt64> { try txn.put([1, 2, 3], forKey: key(round * 50 + i), in: t) }
                    try txn.put(withUnsafeBytes(of: (round + 1) * 50) { Array($0) }, forKey: [0], in: c)
                }
            }
            done.store(true, ordering: .releasing)
            readers.wait()
            #expect(failures.load(ordering: .relaxed) == 0)
            #expect(reads.load(ordering: .relaxed) > 0)
        }
    }

    @Test("an environment reopens with its data after the last reference is dropped")
    func reopen() throws {
        try withTemporaryDirectory { dir in
            do {
                let env = try Environment.open(path: dir)
                let t = try #require(try env.table("t", create: true))
                try env.write { txn throws in try txn.put([9, 9], forKey: key(5), in: t) }
                // The same directory opened twice in one process yields the same instance.
                #expect(try Environment.open(path: dir) === env)
            }
            let env = try Environment.open(path: dir)
            let t = try #require(try env.table("t", create: false))
            try env.read { txn throws in #expect(try txn.value(forKey: key(5), in: t) == [9, 9]) }
            #expect(try env.table("missing", create: false) == nil)
            #expect(try env.tableNames() == ["t"])
        }
    }

    @Test("opening a missing directory without create, or a file, fails with a typed error")
    func openErrors() throws {
        try withTemporaryDirectory { dir in
            var options = EnvironmentOptions()
            options.create = false
            #expect(throws: StorageError.self) { try Environment.open(path: dir + "/nope", options: options) }
            _ = FileManager.default.createFile(atPath: dir + "/file", contents: Data([1]))
            do {
                _ = try Environment.open(path: dir + "/file")
                Issue.record("opened a plain file")
            } catch {
                #expect((error as? StorageError)?.code == .cannotOpen)
            }
        }
    }

    @Test("a read-only environment refuses writes")
    func readOnly() throws {
        try withTemporaryDirectory { dir in
            do {
                let env = try Environment.open(path: dir)
                _ = try env.table("t", create: true)
            }
            var options = EnvironmentOptions()
            options.readOnly = true
            let env = try Environment.open(path: dir, options: options)
            #expect(throws: StorageError.self) { try env.write { _ in } }
            // While it is open, the directory cannot be reopened for writing in this process.
            #expect(throws: StorageError.self) { try Environment.open(path: dir) }
            #expect(try Environment.open(path: dir, options: options) === env)
        }
    }
}
