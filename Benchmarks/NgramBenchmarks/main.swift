// N-gram FM-index benchmark: count, locate and next over a collection's n-gram index, on
// patterns sampled from the indexed text, single-threaded. Prints one JSON object.
// Benchmarks/run-ngram.sh builds the collection and runs grep -c -F on the same patterns.
//
// Usage: ngram-bench DB COLLECTION TEXT_FILE [--patterns 2000] [--seed 1] [--dump PATTERNS_FILE]
import Foundation
import RAGDB

let args = CommandLine.arguments
guard args.count >= 4 else {
    FileHandle.standardError.write(Data("usage: ngram-bench DB COLLECTION TEXT_FILE [--patterns 2000] [--dump FILE]\n".utf8))
    exit(64)
}
func option(_ name: String) -> String? { args.firstIndex(of: name).map { args[$0 + 1] } }
let patternCount = option("--patterns").flatMap(Int.init) ?? 2000
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
var rng = SplitMix(state: UInt64(option("--seed").flatMap(Int.init) ?? 1))
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

let db = try Database.open(at: args[1], options: { var o = Database.Options(); o.create = false; o.readOnly = true; return o }())
let collection = try db.collection(args[2])
var t0 = now()
let index = try collection.loadNgramIndex()
let loadSeconds = now() - t0
let text = try Data(contentsOf: URL(fileURLWithPath: args[3]))
// Patterns: substrings of 4, 8, 16 and 32 bytes starting at a word start, lowercased like the
// index, without newlines (the import turned them into chunk text as they were).
var patterns: [[UInt8]] = []
text.withUnsafeBytes { raw in
    let bytes = raw.bindMemory(to: UInt8.self)
    while patterns.count < patternCount {
        let len = [4, 8, 16, 32][patterns.count % 4]
        var i = Int(rng.next() % UInt64(bytes.count - len - 1))
        while i > 0 && bytes[i - 1] != 0x20 { i -= 1 }
        let p = Array(bytes[i..<(i + len)])
        if p.contains(where: { $0 < 0x20 }) || String(validating: p, as: UTF8.self) == nil { continue }
        patterns.append(index.normalized(String(decoding: p, as: UTF8.self)))
    }
}
if let dump = option("--dump") {
    try Data(patterns.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dump))
}
// The same queries over the index loaded into memory, and read in place from the map
// (Collection.withNgramIndex: zero-copy, only the small tables decoded).
let queryPatterns = patterns
func measure(_ index: NgramIndex, mode: String, openSeconds: Double) -> [String: Any] {
    let patterns = queryPatterns
    var counts: [Int] = []
    var t0 = now()
    for p in patterns { counts.append(index.count(bytes: p)) }
    let countSeconds = now() - t0
    let patternBytes = patterns.reduce(0) { $0 + $1.count }
    t0 = now()
    var located = 0
    for p in patterns.prefix(500) { located += index.locate(bytes: p, limit: 100).count }
    let locateSeconds = now() - t0
    t0 = now()
    var nexts = 0
    for p in patterns.prefix(500) { nexts += index.next(bytes: p, k: 10).count }
    let nextSeconds = now() - t0
    return [
        "mode": mode, "patterns": patterns.count, "pattern_bytes": patternBytes, "load_seconds": openSeconds,
        "indexed_bytes": index.totalBytes, "segments": index.segmentCount, "in_place_segments": index.inPlaceSegmentCount,
        "count_us_per_pattern": countSeconds / Double(patterns.count) * 1e6,
        "count_us_per_byte": countSeconds / Double(patternBytes) * 1e6,
        "total_occurrences": counts.reduce(0, +),
        "locate_us_per_occurrence": located > 0 ? locateSeconds / Double(located) * 1e6 : 0, "located": located,
        "next_us_per_call": nextSeconds / 500 * 1e6,
    ]
}
for report in [measure(index, mode: "loaded", openSeconds: loadSeconds)] {
    print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
}
t0 = now()
try collection.withNgramIndex { mapped in
    let open = now() - t0
    let report = measure(mapped, mode: "in_place", openSeconds: open)
    print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
}
