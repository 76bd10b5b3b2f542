import Foundation

/// SEAL's n-gram scoring ("Autoregressive Search Engines", Bevilacqua et al. 2022,
/// `seal/keys.py`), with SEAL's defaults.
///
/// Weight of an n-gram n with corpus frequency F among N symbols, given the query q:
///
///     P(n)   = (F + s) / (N + s)
///     w(n,q) = max(0, log[P(n|q)·(1 − P(n)) / (P(n)·(1 − P(n|q)))])^α
///
/// Without a language model ("SEAL-lite") P(n|q) = ½, and w = max(0, log((1 − P(n))/P(n)))^α.
/// A chunk's score greedily takes n-gram occurrences in (weight descending, n-gram bytes, start)
/// order, skips occurrences that overlap positions already taken, lets each n-gram score once,
/// and discounts an n-gram whose words were already covered:
/// cover = 1 − β + β·|types(n) \ V| / |types(n)|, V the types of the n-grams scored so far.
public struct SEALParameters: Sendable, Hashable {
    /// Smoothing s of P(n).
    public var smoothing = 5.0
    /// Exponent α of the weight.
    public var alpha = 2.0
    /// Repetition penalty β of the coverage discount.
    public var beta = 0.8
    /// N-grams with at most this many occurrences are "rare": they propose candidates, and at
    /// most this many of their occurrences are located.
    public var maxHits = 1500
    /// Candidates scored in full.
    public var fullyScore = 1500
    /// N-grams more frequent than this are dropped.
    public var skipFrequent = 10_000_000
    /// SEAL's defaults.
    public init() {}

    /// The weight of an n-gram of frequency `frequency` among `total` symbols, with
    /// log P(n|q) = `logProbability` (nil: ½).
    public func weight(frequency: Int, total: Int, logProbability: Double? = nil) -> Double {
        guard frequency > 0 else { return 0 }
        let pn = (Double(frequency) + smoothing) / (Double(total) + smoothing)
        let pq = logProbability.map { exp($0 - 1e-10) } ?? 0.5
        let odds = log(pq * (1 - pn) / (pn * (1 - pq)))
        return odds > 0 ? pow(odds, alpha) : 0
    }
}

/// Stage-2 ("intersective") scoring of one document.
public enum SEALAggregation {
    /// An n-gram as the aggregation sees it.
    public struct Key<Symbol: Hashable & Comparable, Type: Hashable>: Sendable where Symbol: Sendable, Type: Sendable {
        /// The n-gram's symbols.
        public var symbols: [Symbol]
        /// Its weight.
        public var weight: Double
        /// The types the coverage discount counts (SEAL: its tokens; ragdb's byte n-grams: their words).
        public var types: Set<Type>
        /// Creates a key.
        public init(symbols: [Symbol], weight: Double, types: Set<Type>) {
            self.symbols = symbols
            self.weight = weight
            self.types = types
        }
    }

    /// One n-gram's share of a score.
    public struct Contribution: Sendable, Hashable {
        /// Index of the n-gram in the keys given.
        public var key: Int
        /// Start of the occurrence that scored.
        public var start: Int
        /// Coverage factor.
        public var cover: Double
        /// weight × cover.
        public var value: Double
    }

    /// The score of `document` for `keys`, and what each n-gram contributed.
    ///
    /// - Complexity: O(|document| · Σ|key|) to find occurrences, then a sort of them.
    public static func score<Symbol: Hashable & Comparable & Sendable, Type: Hashable & Sendable>(
        _ document: [Symbol], keys: [Key<Symbol, Type>], beta: Double
    ) -> (score: Double, contributions: [Contribution]) {
        var hits: [AggregationHit] = []
        for (k, key) in keys.enumerated() where key.weight > 0 && !key.symbols.isEmpty && key.symbols.count <= document.count {
            let m = key.symbols.count
            for i in 0...(document.count - m) where document[i] == key.symbols[0] {
                var ok = true
                for t in 1..<max(m, 1) where document[i + t] != key.symbols[t] { ok = false; break }
                if ok { hits.append(AggregationHit(key: k, start: i, end: i + m)) }
            }
        }
        hits.sort { a, b in
            let ka = keys[a.key], kb = keys[b.key]
            if ka.weight != kb.weight { return ka.weight > kb.weight }
            if ka.symbols != kb.symbols { return ka.symbols.lexicographicallyPrecedes(kb.symbols) }
            return a.start < b.start
        }
        var used = [Bool](repeating: false, count: document.count)
        var scored = Set<Int>()
        var covered = Set<Type>()
        var contributions: [Contribution] = []
        var total = 0.0
        for h in hits {
            guard !used[h.start..<h.end].contains(true) else { continue }
            for i in h.start..<h.end { used[i] = true }
            guard scored.insert(h.key).inserted else { continue }
            let types = keys[h.key].types
            let fresh = types.isEmpty ? 1 : Double(types.subtracting(covered).count) / Double(types.count)
            let cover = 1 - beta + beta * fresh
            let value = keys[h.key].weight * cover
            covered.formUnion(types)
            contributions.append(Contribution(key: h.key, start: h.start, cover: cover, value: value))
            total += value
        }
        return (total, contributions)
    }
}

/// An occurrence of a key during aggregation.
struct AggregationHit { var key: Int; var start: Int; var end: Int }

/// Query n-grams from plain text, as SEAL-lite uses them: every span of 1 to 3 words, each
/// prefixed by one space (words start at a space in the index's text), distinct, in order.
public func queryNgrams(_ text: [UInt8], maxWords: Int = 3) -> [[UInt8]] {
    let words = text.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }).map(Array.init)
    var seen = Set<[UInt8]>()
    var out: [[UInt8]] = []
    for i in words.indices {
        for n in 1...maxWords where i + n <= words.count {
            var g: [UInt8] = []
            for w in words[i..<(i + n)] { g.append(0x20); g += w }
            if seen.insert(g).inserted { out.append(g) }
        }
    }
    return out
}

/// The words of an n-gram (its coverage types).
public func ngramWords(_ g: [UInt8]) -> Set<[UInt8]> {
    Set(g.split(separator: 0x20).map(Array.init))
}
