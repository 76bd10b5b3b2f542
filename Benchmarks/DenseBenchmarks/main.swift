// Dense kernel benchmark: exact flat scans over the same vectors faiss IndexFlatIP scans, held
// contiguously in memory, one query per call and batched, single-threaded. Prints one JSON
// object. Benchmarks/run-dense.sh runs it next to the peers and ragdb's LMDB-resident plans.
//
// Usage: dense-bench CORPUS.npy QUERIES.npy [--k 10] [--reps 3]
import Foundation
import RAGDBImport
import RAGDBVector

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: dense-bench CORPUS.npy QUERIES.npy [--k 10] [--reps 3]\n".utf8))
    exit(64)
}
func option(_ name: String, _ fallback: Int) -> Int {
    args.firstIndex(of: name).flatMap { Int(args[$0 + 1]) } ?? fallback
}
let k = option("--k", 10), reps = option("--reps", 3)
let (corpusRows, d) = try NpyMatrix.read(path: args[1])
let queries = try NpyMatrix.read(path: args[2]).rows
let n = corpusRows.count
let rows = corpusRows.flatMap { $0 }

func seconds(_ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<reps {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

// One query per call: a SIMD dot product per row, then the top k.
var singleResults: [[UInt64]] = []
var scores = [Float](repeating: 0, count: n)
let single = seconds {
    singleResults = queries.map { q in
        Kernels.dotMany(q, rows: rows, into: &scores)
        var top = TopK(k)
        for i in 0..<n { top.offer(UInt64(i), scores[i]) }
        return top.sorted().map(\.chunk)
    }
}
// Batched: blocks of 256 rows against all queries at once.
var batchResults: [[UInt64]] = []
let batch = seconds {
    var tops = queries.map { _ in TopK(k) }
    var out: [Float] = []
    let block = 256
    // All queries against each block of rows: a block is transposed once for every query.
    for q0 in stride(from: 0, to: queries.count, by: queries.count) {
        let qs = queries
        let flat = qs.flatMap { $0 }
        for r0 in stride(from: 0, to: n, by: block) {
            let count = min(block, n - r0)
            Kernels.dotBatch(queries: flat, dimensions: d, rows: rows, firstRow: r0, rowCount: count, into: &out)
            let nq = qs.count
            for j in 0..<nq {
                // Take the selection out of the array while filling it (no copy-on-write checks).
                var top = TopK(0)
                swap(&top, &tops[q0 + j])
                for r in 0..<count { top.offer(UInt64(r0 + r), out[j * count + r]) }
                swap(&top, &tops[q0 + j])
            }
        }
    }
    batchResults = tops.map { $0.sorted().map(\.chunk) }
}
let agree = zip(singleResults, batchResults).map { Set($0).intersection($1).count }.reduce(0, +)
let flops = 2.0 * Double(n) * Double(d) * Double(queries.count)
let report: [String: Any] = [
    "vectors": n, "dimensions": d, "queries": queries.count, "kernels": Kernels.levelName(),
    "single_queries_per_s": Double(queries.count) / single, "single_gflops": flops / single / 1e9,
    "batch_queries_per_s": Double(queries.count) / batch, "batch_gflops": flops / batch / 1e9,
    "single_batch_agreement": Double(agree) / Double(k * queries.count),
]
print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
