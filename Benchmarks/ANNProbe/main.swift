// Per-stage timing of one dense query path on an existing collection (development probe).
// Usage: ann-probe DB COLLECTION SPACE QUERIES.npy PROBES CANDIDATES
import Foundation
import RAGDB
import RAGDBImport
import RAGDBVector

let a = CommandLine.arguments
let db = try Database.open(at: a[1])
let c = try db.collection(a[2])
let index = try c.loadDenseIndex(space: a[3])
let queries = try NpyMatrix.read(path: a[4]).rows
let probes = Int(a[5])!, cand = Int(a[6])!
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
var codesNs: [Double] = [], allNs: [Double] = [], prepNs: [Double] = []
var sink = 0
for _ in 0..<3 {
    for q in queries {
        var t = now()
        _ = index.snapshot!.search(q, candidates: cand, probes: probes)
        prepNs.append(Double(now() - t))
        t = now()
        let (h, _) = index.snapshot!.search(q, candidates: cand, probes: probes)
        codesNs.append(Double(now() - t))
        sink &+= h.count
        t = now()
        let (r, _) = try c.searchDense(q, in: index, k: 10, candidates: cand, probes: probes)
        allNs.append(Double(now() - t))
        sink &+= r.count
    }
}
func p50(_ x: [Double]) -> Double { x.sorted()[x.count / 2] / 1000 }
print("first codes p50 \(p50(prepNs)) µs; codes p50 \(p50(codesNs)) µs; searchDense p50 \(p50(allNs)) µs (sink \(sink))")
