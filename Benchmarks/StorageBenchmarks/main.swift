// Storage benchmark: chunk insert throughput and warm point-get latency through RAGDB, with
// raw LMDB C calls on the same data as the floor, in one process. Peers (SQLite, Python's
// lmdb) run from Benchmarks/peers/storage_peers.py on the same chunk file; see
// Benchmarks/run-storage.sh, which runs both and writes the side-by-side table.
//
// Usage: storage-bench CHUNKS.jsonl [--gets N] [--batch N]
//   CHUNKS.jsonl: one {"text": ...} per line (written by storage_peers.py --dump).
// Output: one JSON line per system and workload on stdout.
import CRAGDBLMDB
import Foundation
import RAGDB
import RAGDBChunks
import RAGDBStorage

#if canImport(Glibc)
import Glibc
#endif

@inline(__always) func nowNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data([0x0A]))
}

// MARK: arguments
var args = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, _ def: Int, _ args: inout [String]) -> Int {
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { args.removeSubrange(i...i + 1); return v }
    return def
}
let gets = option("--gets", 100_000, &args)
let batch = option("--batch", 10_000, &args)
guard let chunkFile = args.first else {
    FileHandle.standardError.write(Data("usage: storage-bench CHUNKS.jsonl [--gets N] [--batch N]\n".utf8))
    exit(64)
}

// MARK: micro: costs inside one get
do {
    let sample = Array(String(repeating: "retrieval augmented generation stores chunks. ", count: 22).utf8.prefix(1000))
    var acc: UInt32 = 0
    var t = nowNanos()
    for i in 0..<200_000 { acc &+= XXHash.xxh32(sample, seed: UInt32(i & 1)) }
    emit(["system": "micro", "workload": "xxh32 1000 B", "ns": Double(nowNanos() - t) / 200_000])
    let framed = try FramedValue.encode(sample, policy: .whenItPays)
    t = nowNanos()
    for _ in 0..<200_000 { acc &+= UInt32(try FramedValue.decode(framed, context: "x").count) }
    emit(["system": "micro", "workload": "frame decode 1000 B (lz4 \(framed.count) B)", "ns": Double(nowNanos() - t) / 200_000])
    t = nowNanos()
    for _ in 0..<200_000 { acc &+= UInt32(String(decoding: sample, as: UTF8.self).utf8.count) }
    emit(["system": "micro", "workload": "String from 1000 B", "ns": Double(nowNanos() - t) / 200_000])
    if acc == 42 { print("") }
}

// MARK: workload
var texts: [String] = []
for line in try String(contentsOfFile: chunkFile, encoding: .utf8).split(separator: "\n") {
    let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    texts.append(obj["text"] as! String)
}
let textBytes = texts.reduce(0) { $0 + $1.utf8.count }
do {
    // Micro: decoding one real chunk record (frame + record), in cache.
    let record = ChunkRecord(id: ChunkID(rawValue: 1), documentID: "doc-1", ordinal: 0, span: ByteSpan(start: 0, end: UInt64(texts[0].utf8.count)),
                             tokenCount: 100, text: texts[0], metadata: [:])
    let framed = try ChunkStore.encodeForBenchmark(record)
    var acc = 0
    var t = nowNanos()
    for _ in 0..<200_000 { acc &+= try FramedValue.decode(framed, context: "x").count }
    emit(["system": "micro", "workload": "frame decode of a real chunk (\(framed.count) B stored)", "ns": Double(nowNanos() - t) / 200_000])
    t = nowNanos()
    for _ in 0..<200_000 { acc &+= try ChunkStore.decodeForBenchmark(framed).text.utf8.count }
    emit(["system": "micro", "workload": "frame + record decode of a real chunk", "ns": Double(nowNanos() - t) / 200_000])
    if acc == 42 { print("") }
}
let mb = Double(textBytes) / 1_000_000
FileHandle.standardError.write(Data("\(texts.count) chunks, \(String(format: "%.1f", mb)) MB of text\n".utf8))

// Documents of 8 chunks each, in order; a document's text is its chunks joined by "\n"
// so every chunk has an exact span.
struct Doc { var id: String; var text: String; var chunks: [ChunkInput] }
var docs: [Doc] = []
var i = 0
while i < texts.count {
    let part = Array(texts[i..<min(i + 8, texts.count)])
    var chunks: [ChunkInput] = []
    var offset: UInt64 = 0
    for t in part {
        let n = UInt64(t.utf8.count)
        chunks.append(ChunkInput(text: t, span: ByteSpan(start: offset, end: offset + n), tokenCount: UInt32(t.split(separator: " ").count)))
        offset += n + 1
    }
    docs.append(Doc(id: "doc-\(i / 8)", text: part.joined(separator: "\n"), chunks: chunks))
    i += 8
}
let docsPerBatch = max(1, batch / 8)

let root = NSTemporaryDirectory() + "ragdb-bench-\(getpid())"
try? FileManager.default.removeItem(atPath: root)
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

// MARK: RAGDB insert
var chunkIDs: [ChunkID] = []
do {
    var options = Database.Options()
    options.initialMapSize = 1 << 30
    let db = try Database.open(at: root + "/ragdb", options: options)
    var settings = CollectionSettings()
    settings.storeSource = false  // the peers store chunks only
    settings.textIndex = false    // and keep no text index (issue 4's BM25 index is measured apart)
    settings.chunking = ChunkingSettings(strategy: .none)
    let c = try db.createCollection("bench", settings: settings)
    let inputs = docs.map { DocumentInput(id: $0.id, text: $0.text, chunks: $0.chunks) }
    let t0 = nowNanos()
    var start = 0
    var prepareNanos: UInt64 = 0
    // Batch k is written (one transaction) while batch k+1 is prepared on the other core.
    let writer = PipelinedWriter(collection: c, replacing: false)
    while start < inputs.count {
        let tp = nowNanos()
        let prepared = try Collection.prepareInParallel(Array(inputs[start..<min(start + docsPerBatch, inputs.count)]), settings: c.settings, chunking: c.settings.chunking)
        prepareNanos += nowNanos() - tp
        try writer.submit(prepared)
        start += docsPerBatch
    }
    _ = try writer.finish()
    let seconds = Double(nowNanos() - t0) / 1e9
    emit(["system": "ragdb", "workload": "insert phases", "prepare_s": Double(prepareNanos) / 1e9, "total_s": seconds])
    let k = try c.counters()
    precondition(k.chunks == UInt64(texts.count), "inserted \(k.chunks) of \(texts.count)")
    emit(["system": "ragdb", "workload": "insert", "chunks": texts.count, "text_mb": mb, "seconds": seconds,
          "chunks_per_s": Double(texts.count) / seconds, "mb_per_s": mb / seconds,
          "stored_mb": Double(k.storedChunkBytes) / 1e6])
    try c.forEachChunk { chunkIDs.append($0.id); return true }

    // MARK: RAGDB point gets, warm
    var rng = SystemRandomNumberGenerator()
    let order = (0..<gets).map { _ in chunkIDs[Int.random(in: 0..<chunkIDs.count, using: &rng)] }
    var sink = 0
    try c.forEachChunk { sink &+= $0.text.utf8.count; return true }  // warm the map
    var lat = [UInt64](repeating: 0, count: gets)
    /// Times `get` once per id of `order`; `get` returns a byte count that keeps the work alive.
    func measure(_ system: String, _ mode: String, _ get: (ChunkID) throws -> Int) rethrows {
        for (j, id) in order.enumerated() {
            let t = nowNanos()
            sink &+= try get(id)
            lat[j] = nowNanos() - t
        }
        lat.sort()
        emit(["system": system, "workload": "point-get", "mode": mode, "gets": gets,
              "p50_us": percentile(lat, 0.5), "p99_us": percentile(lat, 0.99),
              "mean_us": Double(lat.reduce(0, +)) / Double(gets) / 1000])
    }
    let store = c.database.chunkStore
    let table = try c.database.env.table("chunks", create: false)!
    var scratch: [UInt8] = []
    try c.database.env.read { txn in
        // (a) one read transaction for all gets, as the peers do: the decoded record
        try measure("ragdb", "one read txn, decoded record") { try store.chunk($0, in: c.id, txn)!.text.utf8.count }
        // (a1) the text in place: checksum + LZ4 into a reused buffer, no strings
        try measure("ragdb", "one read txn, text in place (withChunkText)") { id in
            try store.withChunkText(id, in: c.id, txn, scratch: &scratch) { _, text in text.byteCount }!
        }
        // (a2) the frame alone: checksum + LZ4 into a new array, no record decoding
        try measure("ragdb", "one read txn, frame decode only") { id in
            var k = KeyBuilder(capacity: 12); k.append(c.id.rawValue); k.append(id.rawValue)
            return try txn.withValue(forKey: k.bytes, in: table) { try FramedValue.decode($0, context: "chunk").count }!
        }
    }
    // (b) the public API, a read transaction per get: text in place, and the decoded record
    let reader = ChunkTextReader(c)
    try measure("ragdb", "ChunkTextReader, txn per get") { try reader.withText($0) { _, text in text.byteCount }! }
    try measure("ragdb", "Collection.chunk, txn per get") { try c.chunk($0)!.text.utf8.count }
    // timer overhead
    for j in 0..<gets { let t = nowNanos(); lat[j] = nowNanos() - t }
    lat.sort()
    emit(["system": "timer", "workload": "empty", "p50_us": percentile(lat, 0.5)])
    if sink == 42 { print("") }
}

// MARK: raw LMDB through the C API, same keys and values as Python's lmdb baseline
do {
    let path = root + "/raw"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    var env: OpaquePointer?
    precondition(mdb_env_create(&env) == 0)
    mdb_env_set_mapsize(env, 8 << 30)
    mdb_env_set_maxdbs(env, 8)
    precondition(mdb_env_open(env, path, UInt32(MDB_NOTLS), 0o644) == 0)
    defer { mdb_env_close(env) }
    var txn: OpaquePointer?
    var dbi: MDB_dbi = 0, docDBI: MDB_dbi = 0
    mdb_txn_begin(env, nil, 0, &txn)
    mdb_dbi_open(txn, "chunks", UInt32(MDB_CREATE), &dbi)
    mdb_dbi_open(txn, "docs", UInt32(MDB_CREATE), &docDBI)
    mdb_txn_commit(txn)
    func value(_ j: Int) -> [UInt8] {
        // doc id (u16 length + bytes), ordinal u16, start u32, end u32, tokens u32, text
        var w = ByteWriter(capacity: 1100)
        let doc = Array("doc-\(j / 8)".utf8)
        w.write(UInt16(doc.count)); w.write(bytes: doc)
        w.write(UInt16(j % 8)); w.write(UInt32(0)); w.write(UInt32(texts[j].utf8.count)); w.write(UInt32(0))
        w.write(bytes: texts[j].utf8)
        return w.bytes
    }
    let t0 = nowNanos()
    var j = 0
    while j < texts.count {
        mdb_txn_begin(env, nil, 0, &txn)
        let end = min(j + batch, texts.count)
        while j < end {
            var k = UInt64(j + 1).bigEndian
            var v = value(j)
            let rc = withUnsafeMutableBytes(of: &k) { kp in
                v.withUnsafeMutableBytes { vp in
                    var kv = MDB_val(mv_size: 8, mv_data: kp.baseAddress)
                    var vv = MDB_val(mv_size: vp.count, mv_data: vp.baseAddress)
                    return mdb_put(txn, dbi, &kv, &vv, 0)
                }
            }
            precondition(rc == 0)
            if j % 8 == 0 {
                var doc = Array("doc-\(j / 8)".utf8)
                var first = UInt64(j + 1).bigEndian
                _ = doc.withUnsafeMutableBytes { dp in
                    withUnsafeMutableBytes(of: &first) { fp in
                        var kv = MDB_val(mv_size: dp.count, mv_data: dp.baseAddress)
                        var vv = MDB_val(mv_size: 8, mv_data: fp.baseAddress)
                        return mdb_put(txn, docDBI, &kv, &vv, 0)
                    }
                }
            }
            j += 1
        }
        precondition(mdb_txn_commit(txn) == 0)
    }
    let seconds = Double(nowNanos() - t0) / 1e9
    emit(["system": "lmdb-c", "workload": "insert", "chunks": texts.count, "text_mb": mb, "seconds": seconds,
          "chunks_per_s": Double(texts.count) / seconds, "mb_per_s": mb / seconds])

    var rng = SystemRandomNumberGenerator()
    let order = (0..<gets).map { _ in UInt64.random(in: 1...UInt64(texts.count), using: &rng) }
    var lat = [UInt64](repeating: 0, count: gets)
    var sink = 0
    mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
    for k in 1...UInt64(texts.count) {  // warm
        var key = k.bigEndian
        var kv = MDB_val(mv_size: 8, mv_data: &key), vv = MDB_val()
        _ = mdb_get(txn, dbi, &kv, &vv)
        sink &+= vv.mv_size
    }
    for (n, id) in order.enumerated() {
        let t = nowNanos()
        var key = id.bigEndian
        var kv = MDB_val(mv_size: 8, mv_data: &key), vv = MDB_val()
        precondition(mdb_get(txn, dbi, &kv, &vv) == 0)
        sink &+= vv.mv_size
        lat[n] = nowNanos() - t
    }
    mdb_txn_abort(txn)
    lat.sort()
    emit(["system": "lmdb-c", "workload": "point-get", "mode": "one read txn, mdb_get only", "gets": gets,
          "p50_us": percentile(lat, 0.5), "p99_us": percentile(lat, 0.99),
          "mean_us": Double(lat.reduce(0, +)) / Double(gets) / 1000])
    if sink == 42 { print("") }
}
