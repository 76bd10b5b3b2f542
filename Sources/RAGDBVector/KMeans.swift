import Dispatch
import Synchronization

/// Lloyd's k-means over float32 points, for IVF list centroids.
///
/// Assignment uses the register-tiled batch kernel (|x − c|² = |x|² − 2x·c + |c|², and |x|²
/// does not change the winner), in blocks spread over all cores. Deterministic for a given
/// seed and thread count: each block's result only depends on its points.
enum KMeans {
    /// A small deterministic generator (SplitMix64), so training is reproducible.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Trains `k` centroids on `points` (`d` floats each) in `iterations` rounds.
    ///
    /// - Returns: `k × d` floats. Empty clusters are re-seeded from a point of the largest one.
    /// - Complexity: O(iterations · n · k · d) flops, on all cores.
    static func train(points: [Float], dimensions d: Int, k: Int, iterations: Int = 12, seed: UInt64 = 0x5EED) -> [Float] {
        let n = points.count / d
        precondition(n >= k && k >= 1)
        var rng = Random(state: seed)
        // Initial centroids: k distinct points, chosen by a partial Fisher–Yates shuffle.
        var order = Array(0..<n)
        for i in 0..<k { order.swapAt(i, i + rng.below(n - i)) }
        var centroids = [Float](repeating: 0, count: k * d)
        for i in 0..<k { for j in 0..<d { centroids[i * d + j] = points[order[i] * d + j] } }
        var assignment = [Int32](repeating: 0, count: n)
        for _ in 0..<iterations {
            assignment = assign(points: points, dimensions: d, centroids: centroids)
            var sums = [Double](repeating: 0, count: k * d)
            var counts = [Int](repeating: 0, count: k)
            for p in 0..<n {
                let c = Int(assignment[p])
                counts[c] += 1
                for j in 0..<d { sums[c * d + j] += Double(points[p * d + j]) }
            }
            let largest = counts.indices.max { counts[$0] < counts[$1] }!
            for c in 0..<k {
                if counts[c] == 0 {
                    // Re-seed from a random member of the largest cluster, nudged apart.
                    var member = rng.below(n)
                    for _ in 0..<64 where Int(assignment[member]) != largest { member = rng.below(n) }
                    for j in 0..<d { centroids[c * d + j] = points[member * d + j] * 1.001 }
                } else {
                    let inv = 1 / Double(counts[c])
                    for j in 0..<d { centroids[c * d + j] = Float(sums[c * d + j] * inv) }
                }
            }
        }
        return centroids
    }

    /// For each point, the index of its nearest centroid (L2).
    ///
    /// - Complexity: n · k · d multiply-adds in the batch kernel, in blocks of 256 points.
    static func assign(points: [Float], dimensions d: Int, centroids: [Float]) -> [Int32] {
        let n = points.count / d
        let k = centroids.count / d
        let half: [Float] = (0..<k).map { c in
            var s: Float = 0
            for j in 0..<d { s += centroids[c * d + j] * centroids[c * d + j] }
            return s / 2
        }
        let block = 256
        let blocks = (n + block - 1) / block
        let parts = Mutex<[[Int32]]>(Array(repeating: [], count: blocks))
        DispatchQueue.concurrentPerform(iterations: blocks) { b in
            let lo = b * block, hi = min(n, lo + block)
            let rows = Array(points[(lo * d)..<(hi * d)])
            var dots: [Float] = []
            Kernels.dotBatch(queries: centroids, dimensions: d, rows: rows, rowCount: hi - lo, into: &dots)
            var local = [Int32](repeating: 0, count: hi - lo)
            for r in 0..<(hi - lo) {
                var best = 0
                var bestValue = Float.infinity
                for c in 0..<k {
                    let v = half[c] - dots[c * (hi - lo) + r]
                    if v < bestValue { bestValue = v; best = c }
                }
                local[r] = Int32(best)
            }
            parts.withLock { $0[b] = local }
        }
        return parts.withLock { $0.flatMap { $0 } }
    }
}

