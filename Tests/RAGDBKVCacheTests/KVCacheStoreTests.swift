import CRAGDBKernels
import Foundation
import RAGDBKVCache
import RAGDBStorage
import Testing

@Suite struct KVKernelTests {
    @Test("CRC-32C matches the standard check value and the table-driven reference at every kernel level, length and alignment")
    func crc32c() {
        #expect(ragdb_crc32c(0, "123456789", 9) == 0xE306_9283)
        let data = randomBytes(200_100, seed: 7)
        let best = ragdb_kernels_best_level()
        defer { ragdb_kernels_set_level(best) }
        // Lengths around each kernel's thresholds: the three-lane loop (12 KiB) and the
        // carry-less fold (1 KiB, 256-byte rounds, a 64-byte state).
        let lengths = [0, 1, 7, 8, 9, 63, 64, 255, 256, 1023, 1024, 1025, 1279, 1280, 1281, 2047, 2048, 4095,
                       12_287, 12_288, 12_289, 65_536 + 5, 200_000]
        for n in lengths {
            for offset in [0, 1, 3, 8, 33, 63] where offset + n <= data.count {
                ragdb_kernels_set_level(0)
                let reference = data.withUnsafeBytes { ragdb_crc32c(0x1234_5678, $0.baseAddress! + offset, n) }
                for level in 1...max(1, best) {
                    ragdb_kernels_set_level(level)
                    let fast = data.withUnsafeBytes { ragdb_crc32c(0x1234_5678, $0.baseAddress! + offset, n) }
                    #expect(fast == reference, "length \(n), offset \(offset), level \(level)")
                }
            }
            // Continuation: crc(A‖B) = crc(B, from crc(A)).
            ragdb_kernels_set_level(best)
            let whole = data.withUnsafeBytes { ragdb_crc32c(0, $0.baseAddress, n) }
            let a = n / 3
            let joined = data.withUnsafeBytes { p in ragdb_crc32c(ragdb_crc32c(0, p.baseAddress, a), p.baseAddress! + a, n - a) }
            #expect(joined == whole, "continued at \(a) of \(n)")
        }
    }

    @Test("keeping the freed heap takes effect on glibc, and a large put and get still round-trip")
    func retainFreedHeap() throws {
        #if canImport(Glibc)
        #expect(Environment.retainFreedHeap())
        #endif
        try withKVStore { store, _ in
            // 3 layers × K,V × 512 tokens × 32 heads × 64 × f16 = 12 MiB, in 1 MiB segments.
            let p = try store.createProfile(smallProfile("big", layers: 3, heads: 32, dim: 64))
            let tokens = 512
            let bytes = randomBytes(p.cacheBytes(tokens: tokens), seed: 11)
            for round in 0..<2 {
                try store.put(profile: "big", chunk: 7, tokens: tokens, context: .init(), source: .bytes(bytes))
                let got = try store.withCache(profile: "big", chunk: 7) { try $0.bytes() }
                #expect(got == bytes, "round \(round)")
            }
            #expect(try store.check().isEmpty)
        }
    }

    @Test("byte-plane shuffle round-trips for every width")
    func shuffle() {
        for width in [1, 2, 4] {
            let n = 999 * width
            let src = randomBytes(n, seed: UInt64(width))
            var mid = [UInt8](repeating: 0, count: n), back = [UInt8](repeating: 0, count: n)
            src.withUnsafeBytes { s in mid.withUnsafeMutableBytes { ragdb_shuffle_bytes(s.baseAddress, $0.baseAddress, n / width, width) } }
            mid.withUnsafeBytes { s in back.withUnsafeMutableBytes { ragdb_unshuffle_bytes(s.baseAddress, $0.baseAddress, n / width, width) } }
            #expect(back == src)
            if width == 2 { #expect(mid[0] == src[0] && mid[1] == src[2] && mid[n / 2] == src[1]) }
        }
    }
}

@Suite struct KVCacheStoreTests {
    @Test("put then get is bit-exact for every element type, raw and shuffled+LZ4, in one or many segments",
          arguments: KVElementType.allCases, [KVCompression.none, .shuffleLZ4])
    func roundTrip(type: KVElementType, compression: KVCompression) throws {
        try withKVStore { store, _ in
            for segment in [4096, 1 << 20] {
                let name = "p\(segment)"
                let p = try store.createProfile(smallProfile(name, type: type, layers: 3, heads: 4, dim: 16, segment: segment, compression: compression))
                let tokens = 50
                let total = p.cacheBytes(tokens: tokens)
                // Half random, half smooth: both codecs get exercised.
                let bytes = Array(randomBytes(total / 2, seed: 1) + f16Signal((total - total / 2) / 2, seed: 3) + randomBytes((total - total / 2) % 2, seed: 2))
                #expect(bytes.count == total)
                let info = try store.put(profile: name, chunk: 42, tokens: tokens, context: .init(), source: .bytes(bytes))
                #expect(info.rawBytes == UInt64(total) && info.key.variant == 0)
                let t = p.tensorBytes(tokens: tokens)
                let got = try store.withCache(profile: name, chunk: 42) { view -> [UInt8] in
                    for l in 0..<p.layers {
                        try view.withLayer(l) { k, v in
                            k.withUnsafeBytes { #expect(Array($0) == Array(bytes[(2 * l) * t..<(2 * l + 1) * t]), "layer \(l) keys") }
                            v.withUnsafeBytes { #expect(Array($0) == Array(bytes[(2 * l + 1) * t..<(2 * l + 2) * t]), "layer \(l) values") }
                        }
                    }
                    return try view.bytes()
                }
                #expect(got == bytes)
                #expect(try store.check().isEmpty)
            }
        }
    }

    @Test("a put read from a pipe and a get written to a pipe carry the same bytes, layer by layer")
    func streaming() throws {
        try withKVStore { store, _ in
            let p = try store.createProfile(smallProfile("s", layers: 4, heads: 4, dim: 32, segment: 8192))
            let tokens = 100
            let bytes = randomBytes(p.cacheBytes(tokens: tokens), seed: 9)
            var fds: [Int32] = [0, 0]
            #expect(pipe(&fds) == 0)
            let wfd = fds[1]
            let writer = Thread {
                bytes.withUnsafeBytes { b in
                    var done = 0
                    while done < b.count { let w = write(wfd, b.baseAddress! + done, min(3000, b.count - done)); if w <= 0 { break }; done += w }
                }
                close(wfd)
            }
            writer.start()
            try store.put(profile: "s", chunk: 1, tokens: tokens, context: .init(), source: .fileDescriptor(fds[0]))
            close(fds[0])
            // Get: streamed to a temporary file, whole and one layer.
            let path = NSTemporaryDirectory() + "kv-out-\(UUID().uuidString)"
            defer { unlink(path) }
            let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
            try store.withCache(profile: "s", chunk: 1) { try $0.write(to: fd) }
            close(fd)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
            let fd2 = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
            try store.withCache(profile: "s", chunk: 1) { try $0.write(to: fd2, layer: 2) }
            close(fd2)
            let layer = p.cacheBytes(tokens: tokens) / p.layers
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes[2 * layer..<3 * layer]))
        }
    }

    @Test("bad input writes nothing: unknown profile, wrong size from a buffer, a short or long pipe, a bad tensor, bad metadata")
    func badInput() throws {
        try withKVStore { store, _ in
            let p = try store.createProfile(smallProfile("b"))
            let tokens = 10
            let good = randomBytes(p.cacheBytes(tokens: tokens), seed: 1)
            func expectCode(_ code: KVCacheError.Code, _ body: () throws -> Void) {
                do { try body(); Issue.record("no error, expected \(code)") } catch let e as KVCacheError {
                    #expect(e.code == code, "\(e)")
                } catch { Issue.record("unexpected \(error)") }
            }
            expectCode(.unknownProfile) { try store.put(profile: "nope", chunk: 1, tokens: tokens, context: .init(), source: .bytes(good)) }
            expectCode(.sizeMismatch) { try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(), source: .bytes(Array(good.dropLast()))) }
            expectCode(.sizeMismatch) { try store.put(profile: "b", chunk: 1, tokens: tokens + 1, context: .init(), source: .bytes(good)) }
            for extra in [-5, 3] {
                var fds: [Int32] = [0, 0]
                _ = pipe(&fds)
                let input = extra < 0 ? Array(good.dropLast(-extra)) : good + [1, 2, 3]
                _ = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
                close(fds[1])
                expectCode(.sizeMismatch) { try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(), source: .fileDescriptor(fds[0])) }
                close(fds[0])
            }
            expectCode(.sizeMismatch) {
                try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(), source: .tensors { l, t in l == 2 && t == 1 ? [0] : Array(repeating: 0, count: p.tensorBytes(tokens: tokens)) })
            }
            expectCode(.invalidInput) { try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(importance: [1, 2]), source: .bytes(good)) }
            expectCode(.invalidInput) { try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(prefix: [1, 2], prefixScores: [1]), source: .bytes(good)) }
            expectCode(.profileExists) { try store.createProfile(smallProfile("b")) }
            expectCode(.invalidInput) { try store.createProfile(smallProfile("z", layers: 0)) }
            #expect(try store.list(profile: "b").isEmpty)
            let s = try store.statistics(profile: "b")
            #expect(s.entries == 0 && s.storedBytes == 0 && s.puts == 0)
            #expect(try store.check().isEmpty)
            // A producer that delivers the right sizes is accepted.
            try store.put(profile: "b", chunk: 1, tokens: tokens, context: .init(), source: .tensors { l, t in
                let n = p.tensorBytes(tokens: tokens)
                return Array(good[(2 * l + t) * n..<(2 * l + t + 1) * n])
            })
            #expect(try store.withCache(profile: "b", chunk: 1) { try $0.bytes() } == good)
        }
    }

    @Test("a flipped bit in any segment is reported with profile, chunk, variant, layer and segment, and nothing is served")
    func corruption() throws {
        try withKVStore { store, env in
            for compression in [KVCompression.none, .shuffleLZ4] {
                let name = "c\(compression.rawValue)"
                let p = try store.createProfile(smallProfile(name, layers: 2, heads: 4, dim: 32, segment: 4096, compression: compression))
                let tokens = 40
                let bytes = f16Signal(p.cacheBytes(tokens: tokens) / 2, seed: 5)
                let info = try store.put(profile: name, chunk: 7, tokens: tokens, context: .init(prefix: [3, 4]), source: .bytes(bytes))
                let segments = try #require(try env.table("kv_segments", create: false))
                // Damage layer 1, values, segment 1 (the second of three).
                var key = KeyBuilder(capacity: 25)
                key.append(p.id); key.append(UInt64(7)); key.append(info.key.variant); key.append(UInt16(1)); key.append(UInt8(1)); key.append(UInt16(1))
                try env.write { txn in
                    var v = try #require(try txn.value(forKey: key.bytes, in: segments))
                    v[v.count - 3] ^= 0x10
                    try txn.put(v, forKey: key.bytes, in: segments)
                }
                var servedLayer0 = false
                do {
                    try store.withCache(profile: name, chunk: 7, variant: info.key.variant) { view in
                        try view.withLayer(0) { _, _ in servedLayer0 = true }
                        try view.withLayer(1) { _, _ in Issue.record("served a damaged layer") }
                    }
                    Issue.record("no error")
                } catch let e as KVCacheError {
                    #expect(e.code == .corrupt)
                    #expect(e.message.contains("profile \(p.id)") && e.message.contains("chunk 7") && e.message.contains("layer 1 values segment 1"), "\(e.message)")
                }
                #expect(servedLayer0)
                #expect(try store.check().contains { $0.contains("chunk 7") })
                try store.delete(profile: name, chunk: 7)
                #expect(try store.check().isEmpty)
            }
        }
    }

    @Test("every cache of a profile fits its budget after each put; eviction follows the hand-computed GDSF order")
    func budgetAndGDSF() throws {
        let clock = TestClock()
        try withKVStore(clock: clock) { store, _ in
            var p = smallProfile("g", layers: 2, heads: 2, dim: 8)
            p.frequencyHalfLife = 1e12  // no decay in this trace
            try store.createProfile(p)
            let tokens = 16
            let bytes = randomBytes(p.cacheBytes(tokens: tokens), seed: 4)
            let a = try store.put(profile: "g", chunk: 1, tokens: tokens, context: .init(), source: .bytes(bytes))
            let size = a.storedBytes
            try store.setBudget(profile: "g", bytes: 3 * size)
            clock.advance(1); try store.put(profile: "g", chunk: 2, tokens: tokens, context: .init(), source: .bytes(bytes))
            clock.advance(1); try store.put(profile: "g", chunk: 3, tokens: tokens, context: .init(), source: .bytes(bytes))
            // A is used twice and B once (each first in its prompt: exact standalone, CFO 0).
            clock.advance(1)
            _ = try store.planReuse(profile: "g", chunks: [1])
            _ = try store.planReuse(profile: "g", chunks: [1])
            _ = try store.planReuse(profile: "g", chunks: [2])
            try store.flushAccessStatistics()
            // h = T/S. A: 3h, B: 2h, C: h. Put D: evict C (L = h); D = L + h = 2h.
            var order: [UInt64] = []
            func put(_ chunk: UInt64) throws {
                clock.advance(1)
                let before = Set(try store.list(profile: "g").map(\.key.chunk))
                try store.put(profile: "g", chunk: chunk, tokens: tokens, context: .init(), source: .bytes(bytes))
                let after = Set(try store.list(profile: "g").map(\.key.chunk))
                order += before.subtracting(after).sorted()
                let s = try store.statistics(profile: "g")
                #expect(s.storedBytes <= 3 * size && s.entries == 3)
            }
            try put(4)  // evicts C (h)
            try put(5)  // B (2h, older) ties D (2h): B goes; L = 2h; E = 3h
            try put(6)  // A 3h, D 2h, E 3h: D goes
            #expect(order == [3, 2, 4])
            let s = try store.statistics(profile: "g")
            #expect(s.evictions == 3 && s.bytesEvicted == 3 * size)
            let h = Double(tokens) / Double(size)
            #expect(abs(s.inflation - 2 * h) < 1e-12)
            // A cache larger than the whole budget is refused, and nothing is written.
            #expect(throws: KVCacheError.self) {
                try store.put(profile: "g", chunk: 9, tokens: 4 * tokens, context: .init(), source: .bytes(randomBytes(p.cacheBytes(tokens: 4 * tokens), seed: 1)))
            }
            #expect(try store.list(profile: "g").map(\.key.chunk) == [1, 5, 6])
            // Explicit eviction to a smaller size takes the lowest priority first (E, 3h, newer than A? A is 3h and older: A).
            let evicted = try store.evict(profile: "g", toBytes: 2 * size)
            #expect(evicted.map(\.chunk) == [1])
            #expect(try store.check().isEmpty)
        }
    }

    @Test("a reader holding a view keeps reading the old bytes while the cache is replaced and evicted")
    func readersAreUndisturbed() throws {
        try withKVStore { store, _ in
            let p = try store.createProfile(smallProfile("r", layers: 2, heads: 4, dim: 64))
            let tokens = 64
            let old = randomBytes(p.cacheBytes(tokens: tokens), seed: 1)
            try store.put(profile: "r", chunk: 1, tokens: tokens, context: .init(), source: .bytes(old))
            let (started, proceed) = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
            let writer = Thread {
                started.wait()
                try? store.put(profile: "r", chunk: 1, tokens: tokens, context: .init(), source: .bytes(randomBytes(old.count, seed: 2)))
                _ = try? store.evict(profile: "r", toBytes: 0)
                proceed.signal()
            }
            writer.start()
            try store.withCache(profile: "r", chunk: 1) { view in
                try view.withLayer(0) { k, _ in
                    let before = k.withUnsafeBytes { Array($0) }
                    started.signal()
                    proceed.wait()
                    // The writer committed a replacement and an eviction meanwhile.
                    k.withUnsafeBytes { #expect(Array($0) == before) }
                    #expect(before == Array(old[0..<p.tensorBytes(tokens: tokens)]))
                }
                #expect(try view.bytes() == old)
            }
            #expect(try store.withCache(profile: "r", chunk: 1) { _ in true } == nil)
            #expect(try store.check().isEmpty)
        }
    }

    @Test("statistics follow a scripted trace: lookups, hits, bytes served, prefill tokens saved")
    func statisticsTrace() throws {
        try withKVStore { store, _ in
            let p = try store.createProfile(smallProfile("t"))
            let bytes = randomBytes(p.cacheBytes(tokens: 100), seed: 3)
            try store.put(profile: "t", chunk: 1, tokens: 100, context: .init(), source: .bytes(bytes))
            try store.put(profile: "t", chunk: 2, tokens: 100, context: .init(prefix: [1], cci: 0.5), source: .bytes(bytes))
            // [1, 2, 3]: 1 exact standalone (saves 100), 2 exact (saves 100), 3 missing.
            var answers = try store.planReuse(profile: "t", chunks: [1, 2, 3])
            #expect(answers.map { $0.cache != nil } == [true, true, false])
            #expect(answers[0].recompute.isEmpty && answers[1].exactContext)
            // [2, 1]: 2's only cache was made after [1], now first: β = 0, CFO = 0.5 → 50;
            // 1's standalone cache after [2], no CCI → 0.15 → 15.
            answers = try store.planReuse(profile: "t", chunks: [2, 1])
            #expect(answers.map { $0.recompute.count } == [50, 15])
            _ = try store.withCache(profile: "t", chunk: 1) { v in try v.withLayer(0) { _, _ in } }
            _ = try store.withCache(profile: "t", chunk: 9) { _ in }
            let s = try store.statistics(profile: "t")
            #expect(s.lookups == 7 && s.hits == 5)
            #expect(s.prefillTokensSaved == 100 + 100 + 50 + 85)
            #expect(s.bytesServed == UInt64(2 * p.tensorBytes(tokens: 100)))
            try store.flushAccessStatistics()
            #expect(try store.statistics(profile: "t") == s)
            let infos = try store.list(profile: "t")
            #expect(infos.map(\.hits) == [3, 2])
            #expect(abs(infos[1].meanObservedCFO - 0.25) < 1e-6)  // CFO 0 then 0.5
        }
    }
}
