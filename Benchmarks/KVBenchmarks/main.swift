// KV-cache store benchmark: put and get throughput for caches of 1 MiB to 256 MiB next to
// memcpy of the same bytes and plain-file writes and reads in the same run, and shuffle+LZ4
// on real captured tensors. Prints one JSON object per line.
//
// Usage: kv-bench DIR [--capture /tmp/kvcap] [--sizes 1,4,16,64,256] [--repeat 5] [--retain-heap]
//   DIR: a scratch directory on the disk under test (a database and plain files go there).
//   --capture: a directory written by Benchmarks/kvcache/capture_minilm.py; its .kv files
//   fill the synthetic caches (real MiniLM keys and values, repeated) and are measured for
//   compression. Without it the caches are filled with a smooth f16 signal.
//   --retain-heap: call Database.retainFreedHeap() first, as the ragdb tool does.
import Foundation
import RAGDB
import RAGDBStorage

let args = CommandLine.arguments
guard args.count >= 2 else { FileHandle.standardError.write(Data("usage: kv-bench DIR [--capture DIR] [--sizes 1,4,16,64,256]\n".utf8)); exit(64) }
func option(_ name: String) -> String? { args.firstIndex(of: name).map { args[$0 + 1] } }
let dir = args[1]
let sizes = (option("--sizes") ?? "1,4,16,64,256").split(separator: ",").compactMap { Int($0) }
let repeats = option("--repeat").flatMap(Int.init) ?? 5
let retainHeap = args.contains("--retain-heap")
if retainHeap { Database.retainFreedHeap() }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
}

try? FileManager.default.removeItem(atPath: dir)
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

// Real tensors, when given.
let captured: [[UInt8]] = try {
    guard let cap = option("--capture") else { return [] }
    let names = try FileManager.default.contentsOfDirectory(atPath: cap).filter { $0.hasSuffix(".kv") }.sorted()
    return try names.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: cap + "/" + $0))) }
}()
let bytesPerToken = 6 * 2 * 12 * 32 * 2  // MiniLM: 6 layers × K,V × 12 heads × 32 × f16
func fill(_ count: Int, _ captured: [[UInt8]]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count)
    if captured.isEmpty {
        var i = 0
        while out.count < count {
            withUnsafeBytes(of: Float16(sin(Float(i) * 0.01) * 2).bitPattern.littleEndian) { out.append(contentsOf: $0) }
            i += 1
        }
    } else {
        var i = 0
        while out.count < count { out.append(contentsOf: captured[i % captured.count].prefix(count - out.count)); i += 1 }
    }
    return out
}

for durable in [true, false] {
    var options = Database.Options()
    options.durability = durable ? .full : .none
    let path = dir + "/db-\(durable ? "durable" : "nosync")"
    let db = try Database.open(at: path, options: options)
    try db.kvCaches.createProfile(KVModelProfile(name: "minilm", modelID: "all-MiniLM-L6-v2", tokenizerID: "bert", layers: 6, kvHeads: 12,
                                                 headDim: 32, elementType: .f16))
    var chunk: UInt64 = 0
    for mib in sizes {
        let tokens = max(1, (mib << 20) / bytesPerToken)
        let bytes = fill(tokens * bytesPerToken, captured)
        let n = bytes.count
        var dest = [UInt8](repeating: 1, count: n)
        // memcpy of the same bytes (destination already faulted in).
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = now()
            dest.withUnsafeMutableBytes { d in bytes.withUnsafeBytes { s in d.baseAddress!.copyMemory(from: s.baseAddress!, byteCount: n) } }
            best = min(best, now() - t0)
        }
        let memcpyGBs = Double(n) / best / 1e9
        // Plain file: write (+ fsync when durable), then read back (page cache).
        let file = dir + "/plain.bin"
        var writeBest = Double.infinity, readBest = Double.infinity
        for _ in 0..<repeats {
            unlink(file)
            let t0 = now()
            let fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            bytes.withUnsafeBytes { b in var done = 0; while done < n { let w = write(fd, b.baseAddress! + done, n - done); if w <= 0 { break }; done += w } }
            if durable { fsync(fd) }
            close(fd)
            writeBest = min(writeBest, now() - t0)
            let t1 = now()
            let rfd = open(file, O_RDONLY)
            dest.withUnsafeMutableBytes { d in var done = 0; while done < n { let r = read(rfd, d.baseAddress! + done, n - done); if r <= 0 { break }; done += r } }
            close(rfd)
            readBest = min(readBest, now() - t1)
        }
        unlink(file)
        // ragdb put (one transaction each; a new chunk id each time, the previous one deleted
        // afterwards so the file does not grow without bound).
        var putBest = Double.infinity
        for _ in 0..<repeats {
            chunk += 1
            let t0 = now()
            try db.kvCaches.put(profile: "minilm", chunk: chunk, tokens: tokens, context: .init(), source: .bytes(bytes))
            putBest = min(putBest, now() - t0)
            if chunk > 1 { try db.kvCaches.delete(profile: "minilm", chunk: chunk - 1) }
        }
        // ragdb get: zero-copy views of every segment, verified (CRC-32C) — what a serving
        // engine gets before it uploads; and the same views copied into a destination buffer.
        var viewBest = Double.infinity, copyBest = Double.infinity
        var sink: UInt8 = 0
        for _ in 0..<repeats {
            var t0 = now()
            try db.kvCaches.withCache(profile: "minilm", chunk: chunk) { view in
                for l in 0..<6 { for t in [KVTensor.keys, .values] { try view.forEachSegment(layer: l, tensor: t) { s in sink ^= s.withUnsafeBytes { $0[0] } } } }
            }
            viewBest = min(viewBest, now() - t0)
            t0 = now()
            try dest.withUnsafeMutableBytes { d in
                var at = 0
                try db.kvCaches.withCache(profile: "minilm", chunk: chunk) { view in
                    for l in 0..<6 {
                        for t in [KVTensor.keys, .values] {
                            try view.forEachSegment(layer: l, tensor: t) { s in
                                s.withUnsafeBytes { (d.baseAddress! + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count); at += $0.count }
                            }
                        }
                    }
                }
            }
            copyBest = min(copyBest, now() - t0)
        }
        guard dest == bytes else { fatalError("get returned different bytes") }
        emit(["bench": "kv-put-get", "durable": durable, "retain_heap": retainHeap, "mib": Double(n) / 1_048_576, "tokens": tokens,
              "memcpy_gbs": memcpyGBs, "file_write_gbs": Double(n) / writeBest / 1e9, "file_read_gbs": Double(n) / readBest / 1e9,
              "put_gbs": Double(n) / putBest / 1e9, "get_view_gbs": Double(n) / viewBest / 1e9, "get_copy_gbs": Double(n) / copyBest / 1e9,
              "put_vs_file_write": writeBest / putBest, "get_view_vs_memcpy": best / viewBest, "get_copy_vs_memcpy": best / copyBest,
              "sink": Int(sink)])
    }
}

// Compression on real tensors: shuffle+LZ4 against plain LZ4, per 1 MiB segment as stored.
if !captured.isEmpty {
    var options = Database.Options()
    options.durability = .none
    let db = try Database.open(at: dir + "/db-packed", options: options)
    try db.kvCaches.createProfile(KVModelProfile(name: "packed", modelID: "all-MiniLM-L6-v2", tokenizerID: "bert", layers: 6, kvHeads: 12,
                                                 headDim: 32, elementType: .f16, compression: .shuffleLZ4))
    var raw = 0, stored = 0
    var t0 = now()
    for (i, c) in captured.enumerated() {
        let info = try db.kvCaches.put(profile: "packed", chunk: UInt64(i + 1), tokens: c.count / bytesPerToken, context: .init(), source: .bytes(c))
        raw += Int(info.rawBytes)
        stored += Int(info.storedBytes)
    }
    let putSeconds = now() - t0
    t0 = now()
    var check = 0
    for i in captured.indices {
        check &+= try db.kvCaches.withCache(profile: "packed", chunk: UInt64(i + 1)) { try $0.bytes().count } ?? 0
    }
    let getSeconds = now() - t0
    // Plain LZ4 of the same bytes without the shuffle, for reference.
    var plain = 0
    for c in captured {
        var out = [UInt8](repeating: 0, count: LZ4Block.bound(c.count))
        plain += c.withUnsafeBytes { s in out.withUnsafeMutableBytes { LZ4Block.compress(s, into: $0) ?? c.count } }
    }
    emit(["bench": "kv-compression", "caches": captured.count, "raw_bytes": raw, "stored_bytes": stored,
          "shuffle_lz4_ratio": Double(raw) / Double(stored), "plain_lz4_ratio": Double(raw) / Double(plain),
          "put_gbs": Double(raw) / putSeconds / 1e9, "get_gbs": Double(raw) / getSeconds / 1e9, "check": check])
}
try? FileManager.default.removeItem(atPath: dir)
