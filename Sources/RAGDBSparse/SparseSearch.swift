/// One term's postings in memory, as parallel arrays (no per-posting objects).
public struct TermPostings: Sendable {
    /// Chunk ids, increasing.
    public let chunks: [UInt64]
    /// Term frequencies.
    public let tfs: [UInt32]
    /// Chunk lengths in terms.
    public let lengths: [UInt32]
    /// Largest tf and smallest length: the bound of the term's best contribution.
    public let maxTF: UInt32
    /// See `maxTF`.
    public let minLength: UInt32
    /// Dense document numbers (positions in `SparseSnapshot.chunkIDs`), for array accumulators.
    public internal(set) var docs: [Int32] = []

    init(_ p: [Posting]) {
        chunks = p.map(\.chunk)
        tfs = p.map(\.tf)
        lengths = p.map(\.length)
        maxTF = tfs.max() ?? 0
        minLength = lengths.min() ?? 0
    }

    /// Postings held.
    public var count: Int { chunks.count }
}

/// BM25 parameters (Lucene's formula).
public struct BM25: Sendable, Hashable {
    /// Term-frequency saturation.
    public var k1: Double
    /// Length normalisation.
    public var b: Double

    /// k1 = 1.2, b = 0.75 (Lucene's defaults).
    public init(k1: Double = 1.2, b: Double = 0.75) {
        self.k1 = k1
        self.b = b
    }

    /// Lucene's idf: ln(1 + (N − df + 0.5) / (df + 0.5)).
    public func idf(documents n: Int, df: Int) -> Double {
        log(1 + (Double(n) - Double(df) + 0.5) / (Double(df) + 0.5))
    }

    /// One term's contribution: idf · tf / (tf + k1 · (1 − b + b · length / avgLength)).
    @inline(__always)
    public func score(idf: Double, tf: UInt32, length: UInt32, avgLength: Double) -> Double {
        let t = Double(tf)
        return idf * t / (t + normalizer(length: length, avgLength: avgLength))
    }

    /// k1 · (1 − b + b · length / avgLength), the denominator's length term.
    @inline(__always)
    public func normalizer(length: UInt32, avgLength: Double) -> Double {
        k1 * (1 - b + b * Double(length) / avgLength)
    }
}

/// A search hit: a chunk and its score.
public struct SparseHit: Sendable, Hashable {
    /// The chunk id.
    public var chunk: UInt64
    /// Its BM25 score.
    public var score: Double
}

/// A collection's sparse index held in memory, read-only; searches are thread-safe.
public final class SparseSnapshot: Sendable {
    /// Postings by term.
    public let terms: [String: TermPostings]
    /// Chunks indexed.
    public let documents: Int
    /// Sum of chunk lengths.
    public let totalLength: Int

    /// Every chunk id with a posting, increasing; a chunk's position is its dense number.
    public let chunkIDs: [UInt64]
    /// The length of each dense document.
    let docLengths: [UInt32]

    init(terms: [String: TermPostings], documents: Int, totalLength: Int) {
        var lengthOf: [UInt64: UInt32] = [:]
        for list in terms.values { for i in 0..<list.count { lengthOf[list.chunks[i]] = list.lengths[i] } }
        let ids = lengthOf.keys.sorted()
        var number: [UInt64: Int32] = [:]
        number.reserveCapacity(ids.count)
        for (n, id) in ids.enumerated() { number[id] = Int32(n) }
        var numbered = terms
        for (t, var list) in terms {
            list.docs = list.chunks.map { number[$0]! }
            numbered[t] = list
        }
        self.terms = numbered
        self.chunkIDs = ids
        self.docLengths = ids.map { lengthOf[$0]! }
        self.documents = documents
        self.totalLength = totalLength
    }

    /// Per dense document, BM25's length normaliser k1 · (1 − b + b · length / avgLength).
    public func normalizers(_ bm25: BM25) -> [Double] {
        let avg = averageLength
        return docLengths.map { bm25.normalizer(length: $0, avgLength: avg) }
    }

    /// The exact top `k`, term at a time into an array of accumulators: for each query term
    /// (in canonical order), each posting adds idf · tf / (tf + normaliser). The same sums in
    /// the same order as `searchExhaustive`, so the same scores to the last bit.
    ///
    /// - Parameter norms: `normalizers(bm25)`, computed once per index and parameters.
    /// - Complexity: O(postings of the query terms) additions, then O(touched · log k).
    public func searchAccumulating(_ query: [String], k: Int, bm25: BM25 = BM25(), norms: [Double], scratch: inout [Double],
                                   allowed: ((UInt64) -> Bool)? = nil) -> [SparseHit] {
        guard k > 0 else { return [] }
        if scratch.count != chunkIDs.count { scratch = [Double](repeating: 0, count: chunkIDs.count) }
        var touched: [Int32] = []
        for (_, list, idf) in queryLists(query) {
            list.docs.withUnsafeBufferPointer { docs in
                list.tfs.withUnsafeBufferPointer { tfs in
                    norms.withUnsafeBufferPointer { nb in
                        scratch.withUnsafeMutableBufferPointer { acc in
                            for i in 0..<docs.count {
                                let d = Int(docs[i])
                                let t = Double(tfs[i])
                                if acc[d] == 0 { touched.append(docs[i]) }
                                acc[d] += idf * t / (t + nb[d])
                            }
                        }
                    }
                }
            }
        }
        var heap = MinHeap(capacity: k)
        for d in touched {
            if allowed.map({ $0(chunkIDs[Int(d)]) }) ?? true {
                heap.offer(SparseHit(chunk: chunkIDs[Int(d)], score: scratch[Int(d)]))
            }
            scratch[Int(d)] = 0
        }
        return Self.top(heap.items, k)
    }

    /// The postings of the query's distinct terms (the work a search does; the planner's
    /// cost estimate).
    public func postingCount(_ query: [String]) -> Int {
        queryLists(query).reduce(0) { $0 + $1.list.docs.count }
    }

    /// Mean chunk length (1 for an empty index).
    public var averageLength: Double { documents > 0 ? Double(totalLength) / Double(documents) : 1 }

    /// Bytes held by the postings arrays (the resident size `ragdb stats` reports).
    public var residentBytes: Int {
        terms.reduce(0) { $0 + $1.key.utf8.count + $1.value.count * 20 + 64 }
    }

    /// The query's distinct terms that occur, in a fixed (lexicographic) order: scores are
    /// summed in this order by every search method, so they agree to the last bit.
    func queryLists(_ query: [String]) -> [(term: String, list: TermPostings, idf: Double)] {
        Array(Set(query)).sorted().compactMap { t in
            terms[t].map { (t, $0, BM25().idf(documents: documents, df: $0.count)) }
        }
    }

    /// For each of this snapshot's dense positions, the position of the same chunk in
    /// `other` (−1 when absent): lets a second field's accumulators line up with the first's.
    ///
    /// - Complexity: O(chunks) with one dictionary.
    public func positions(in other: SparseSnapshot) -> [Int32] {
        var at: [UInt64: Int32] = [:]
        at.reserveCapacity(other.chunkIDs.count)
        for (i, c) in other.chunkIDs.enumerated() { at[c] = Int32(i) }
        return chunkIDs.map { at[$0] ?? -1 }
    }

    /// The exact top `k` of text score + `weight` × second-field score (a title field whose
    /// dense positions `map` sends to this snapshot's), both accumulated term at a time in
    /// arrays. Sums are formed exactly as `scores` forms them, so the result equals the
    /// dictionary reference bit for bit.
    ///
    /// - Complexity: O(postings of the query terms in both fields) additions, then
    ///   O(touched · log k); no dictionary unless a second-field chunk is missing here.
    public func searchAccumulating(_ query: [String], k: Int, bm25: BM25 = BM25(), norms: [Double], scratch: inout [Double],
                                   second: SparseSnapshot, secondNorms: [Double], map: [Int32], weight: Double,
                                   secondScratch: inout [Double], allowed: ((UInt64) -> Bool)? = nil) -> [SparseHit] {
        guard k > 0 else { return [] }
        if scratch.count != chunkIDs.count { scratch = [Double](repeating: 0, count: chunkIDs.count) }
        if secondScratch.count != chunkIDs.count { secondScratch = [Double](repeating: 0, count: chunkIDs.count) }
        var touched: [Int32] = []
        for (_, list, idf) in queryLists(query) {
            for i in 0..<list.docs.count {
                let d = Int(list.docs[i])
                let t = Double(list.tfs[i])
                if scratch[d] == 0 && secondScratch[d] == 0 { touched.append(list.docs[i]) }
                scratch[d] += idf * t / (t + norms[d])
            }
        }
        var orphans: [UInt64: Double] = [:]
        for (_, list, idf) in second.queryLists(query) {
            for i in 0..<list.docs.count {
                let t = Double(list.tfs[i])
                let x = idf * t / (t + secondNorms[Int(list.docs[i])])
                let d = Int(map[Int(list.docs[i])])
                if d < 0 { orphans[list.chunks[i], default: 0] += x; continue }
                if scratch[d] == 0 && secondScratch[d] == 0 { touched.append(Int32(d)) }
                secondScratch[d] += x
            }
        }
        var heap = MinHeap(capacity: k)
        for d in touched {
            let c = chunkIDs[Int(d)]
            let s = secondScratch[Int(d)] == 0 ? scratch[Int(d)] : scratch[Int(d)] + secondScratch[Int(d)] * weight
            if allowed.map({ $0(c) }) ?? true { heap.offer(SparseHit(chunk: c, score: s)) }
            scratch[Int(d)] = 0
            secondScratch[Int(d)] = 0
        }
        for (c, e) in orphans where allowed.map({ $0(c) }) ?? true { heap.offer(SparseHit(chunk: c, score: e * weight)) }
        return Self.top(heap.items, k)
    }

    /// The BM25 score of every chunk that holds at least one query term, summed over the terms
    /// in the same order as the searches.
    ///
    /// - Complexity: O(postings of the query terms).
    public func scores(_ query: [String], bm25: BM25 = BM25()) -> [UInt64: Double] {
        let lists = queryLists(query).map { ($0.list, bm25.idf(documents: documents, df: $0.list.count)) }
        var scores: [UInt64: Double] = [:]
        let avg = averageLength
        for (list, idf) in lists {
            for i in 0..<list.count {
                scores[list.chunks[i], default: 0] += bm25.score(idf: idf, tf: list.tfs[i], length: list.lengths[i], avgLength: avg)
            }
        }
        return scores
    }

    /// The exact top `k` by scoring every posting of every query term: the reference.
    ///
    /// - Complexity: O(total postings of the query terms) plus a sort of the matches.
    public func searchExhaustive(_ query: [String], k: Int, bm25: BM25 = BM25()) -> [SparseHit] {
        let lists = queryLists(query).map { ($0.list, bm25.idf(documents: documents, df: $0.list.count)) }
        var scores: [UInt64: Double] = [:]
        let avg = averageLength
        for (list, idf) in lists {
            for i in 0..<list.count {
                scores[list.chunks[i], default: 0] += bm25.score(idf: idf, tf: list.tfs[i], length: list.lengths[i], avgLength: avg)
            }
        }
        return Self.top(scores.map { SparseHit(chunk: $0.key, score: $0.value) }, k)
    }

    /// Ranks `hits` best first (ties: smaller chunk id first) and keeps `k`.
    public static func ranked(_ hits: [SparseHit], _ k: Int) -> [SparseHit] { top(hits, k) }

    static func top(_ hits: [SparseHit], _ k: Int) -> [SparseHit] {
        Array(hits.sorted { $0.score > $1.score || ($0.score == $1.score && $0.chunk < $1.chunk) }.prefix(k))
    }

    /// The exact top `k` (same chunks, same scores as `searchExhaustive`) with MaxScore
    /// dynamic pruning: terms are ordered by their best possible contribution, and a chunk
    /// that appears only in terms whose bounds together cannot beat the current k-th score is
    /// never scored.
    ///
    /// - Complexity: document-at-a-time over the essential lists; the others are probed by
    ///   binary search only for chunks that can still enter the top k.
    public func search(_ query: [String], k: Int, bm25: BM25 = BM25()) -> [SparseHit] {
        guard k > 0 else { return [] }
        let avg = averageLength
        let qs = queryLists(query)
        guard !qs.isEmpty else { return [] }
        let idfs = qs.map { bm25.idf(documents: documents, df: $0.list.count) }
        let bounds = qs.indices.map { i in bm25.score(idf: idfs[i], tf: qs[i].list.maxTF, length: qs[i].list.minLength, avgLength: avg) }
        // Terms by increasing bound: a prefix of them is "non-essential" once their bounds
        // together fall below the threshold.
        let order = qs.indices.sorted { bounds[$0] < bounds[$1] }
        var prefixBound = [Double](repeating: 0, count: order.count + 1)
        for (n, t) in order.enumerated() { prefixBound[n + 1] = prefixBound[n] + bounds[t] }
        var position = [Int](repeating: 0, count: qs.count)
        var heap = MinHeap(capacity: k)
        var firstEssential = 0
        // A safety margin so that rounding in the bounds never prunes a chunk that ties.
        let slack = 1e-9
        while true {
            // Next candidate: the smallest current chunk among essential lists.
            var candidate = UInt64.max
            for n in firstEssential..<order.count {
                let t = order[n]
                if position[t] < qs[t].list.count { candidate = min(candidate, qs[t].list.chunks[position[t]]) }
            }
            if candidate == .max { break }
            // Score it fully in canonical order (the order of `qs`), probing every list.
            var score = 0.0
            var possible = true
            var partial = 0.0
            for n in stride(from: order.count - 1, through: firstEssential, by: -1) {
                let t = order[n]
                let l = qs[t].list
                if position[t] < l.count && l.chunks[position[t]] == candidate {
                    partial += bm25.score(idf: idfs[t], tf: l.tfs[position[t]], length: l.lengths[position[t]], avgLength: avg)
                }
            }
            if heap.isFull && partial + prefixBound[firstEssential] < heap.minimum - slack { possible = false }
            if possible {
                for t in qs.indices {
                    let l = qs[t].list
                    var i = position[t]
                    if i >= l.count { continue }
                    if l.chunks[i] != candidate {
                        guard l.chunks[i] < candidate else { continue }
                        i = lowerBound(l.chunks, candidate, from: i)
                        position[t] = i
                        if i >= l.count || l.chunks[i] != candidate { continue }
                    }
                    score += bm25.score(idf: idfs[t], tf: l.tfs[i], length: l.lengths[i], avgLength: avg)
                }
                heap.offer(SparseHit(chunk: candidate, score: score))
                // Grow the non-essential prefix while its bounds cannot reach the threshold.
                if heap.isFull {
                    while firstEssential < order.count && prefixBound[firstEssential + 1] < heap.minimum - slack { firstEssential += 1 }
                }
            }
            // Advance every essential list past the candidate.
            for n in firstEssential..<order.count {
                let t = order[n]
                if position[t] < qs[t].list.count && qs[t].list.chunks[position[t]] == candidate { position[t] += 1 }
            }
        }
        return Self.top(heap.items, k)
    }
}

/// The first index ≥ `from` whose chunk is ≥ `target` (galloping, then binary search).
@inline(__always)
func lowerBound(_ a: [UInt64], _ target: UInt64, from: Int) -> Int {
    var lo = from
    var step = 1
    var hi = from
    while hi < a.count && a[hi] < target {
        lo = hi + 1
        hi += step
        step <<= 1
    }
    hi = min(hi, a.count)
    while lo < hi {
        let mid = (lo + hi) / 2
        if a[mid] < target { lo = mid + 1 } else { hi = mid }
    }
    return lo
}

/// The k best hits seen so far (ties broken toward smaller chunk ids, as the final sort does).
struct MinHeap {
    private(set) var items: [SparseHit] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        items.reserveCapacity(capacity)
    }

    var isFull: Bool { items.count >= capacity }
    var minimum: Double { items.first?.score ?? -.infinity }

    /// Whether `a` ranks below `b`.
    private static func worse(_ a: SparseHit, _ b: SparseHit) -> Bool {
        a.score < b.score || (a.score == b.score && a.chunk > b.chunk)
    }

    mutating func offer(_ h: SparseHit) {
        if items.count < capacity {
            items.append(h)
            var i = items.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.worse(items[i], items[p]) else { break }
                items.swapAt(i, p)
                i = p
            }
        } else if Self.worse(items[0], h) {
            items[0] = h
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.worse(items[l], items[m]) { m = l }
                if r < items.count && Self.worse(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
