import Foundation
import RAGDBKVCache
import RAGDBStorage
import Synchronization

/// A scripted clock for eviction traces.
final class TestClock: Sendable {
    let now = Mutex(1_000_000.0)
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    var closure: @Sendable () -> Double { { [self] in self.now.withLock { $0 } } }
}

/// An environment with the KV-cache tables and a store over it.
func withKVStore<R>(clock: TestClock = TestClock(), _ body: (KVCacheStore, Environment) throws -> R) throws -> R {
    let dir = NSTemporaryDirectory() + "ragdb-kv-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let env = try Environment.open(path: dir)
    let tables = try env.createTables(KVCacheStore.tableNames) { _, t in t }
    return try body(KVCacheStore(env: env, tables: tables, clock: clock.closure), env)
}

/// Deterministic pseudo-random bytes.
func randomBytes(_ n: Int, seed: UInt64) -> [UInt8] {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    return (0..<n).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return UInt8(truncatingIfNeeded: s)
    }
}

/// Half-precision values of a smooth signal: compressible after a byte-plane shuffle, like
/// real activations.
func f16Signal(_ count: Int, seed: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count * 2)
    for i in 0..<count {
        let x = Float16(sin(Float(i + seed) * 0.01) * 2)
        withUnsafeBytes(of: x.bitPattern.littleEndian) { out.append(contentsOf: $0) }
    }
    return out
}

func smallProfile(_ name: String = "tiny", type: KVElementType = .f16, layers: Int = 3, heads: Int = 2, dim: Int = 8,
                  segment: Int = 1 << 20, compression: KVCompression = .none, budget: UInt64 = 0) -> KVModelProfile {
    KVModelProfile(name: name, modelID: "test/model", tokenizerID: "test/tok", layers: layers, kvHeads: heads, headDim: dim,
                   elementType: type, budgetBytes: budget, segmentBytes: segment, compression: compression)
}
