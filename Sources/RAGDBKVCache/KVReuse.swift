/// Bounds and defaults of the reuse estimate.
public struct KVReuseOptions: Sendable, Equatable {
    /// Cache-Craft's α: scales the recompute fraction (default 1).
    public var alpha: Double = 1
    /// The smallest recompute fraction returned (default 0).
    public var minFraction: Double = 0
    /// The largest recompute fraction returned (default 1).
    public var maxFraction: Double = 1
    /// The recompute fraction of a standalone cache placed after other chunks when the
    /// capturer supplied no CCI (default 0.15, CacheBlend's recompute ratio).
    public var standaloneRatio: Double = 0.15
    /// Whether the lookup counts toward hit statistics and observed CFO (default true).
    public var recordAccess = true

    /// The defaults.
    public init() {}
}

/// How far a new context is from the one a cache was computed in, and what that costs.
///
/// For a cache computed after the ordered chunks O, placed after the chunks N:
/// - β = Σ_{j∈O∩N} s_j / Σ_{j∈O} s_j, with s_j the stored inter-attention score of prefix
///   chunk j (|O∩N| / |O| when no scores were stored): the share of the creation context's
///   influence that is present again (Cache-Craft Eq. 6);
/// - γ = D / (m(m−1)/2): the normalised Kendall-τ distance between the order of O∩N in O and
///   in N, D the discordant pairs, m = |O∩N| (γ = 0 when m < 2);
/// - β′ = β·(1 − γ);
/// - CFO = α · CCI · (1 − β′), clamped to [minFraction, maxFraction]: the fraction of tokens
///   to recompute. CCI is the stored Cache Context Impact; 1 when a prefixed cache has none.
///
/// Empty prefixes: O = N (including both empty) gives β′ = 1 and CFO = 0. O = ∅ with N ≠ ∅
/// (a standalone cache after other chunks) gives β′ = 0 and CFO = α·CCI when a CCI was
/// stored, else α·standaloneRatio.
public struct KVReuseEstimate: Sendable, Equatable {
    /// β: the prefix overlap weighted by stored inter scores.
    public var beta: Double
    /// γ: the order penalty.
    public var gamma: Double
    /// β′ = β(1 − γ).
    public var betaPrime: Double
    /// The CCI used.
    public var cci: Double
    /// The recompute fraction (CFO), after clamping.
    public var fraction: Double
    /// ⌈fraction · tokens⌉.
    public var recomputeCount: Int

    /// The estimate for a cache of `tokens` tokens computed after `stored` (with optional
    /// per-chunk `scores` and `cci`), placed after `current`.
    ///
    /// - Complexity: O(|stored| + |current|) with hashing; O(m²) for the order penalty.
    public static func compute(stored: [UInt64], scores: [Float]?, cci storedCCI: Float?, current: [UInt64],
                               tokens: Int, options: KVReuseOptions = .init()) -> KVReuseEstimate {
        var beta = 0.0, gamma = 0.0, cci = 1.0, raw: Double
        if stored == current {
            beta = 1
            raw = 0
        } else if stored.isEmpty {
            if let c = storedCCI {
                cci = Double(c)
                raw = options.alpha * cci
            } else {
                cci = options.standaloneRatio
                raw = options.alpha * options.standaloneRatio
            }
        } else {
            let positions = Dictionary(current.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            var common: [Int] = []  // positions in `current` of O∩N, in O's order
            var shared = 0.0, total = 0.0
            let useScores = scores.map { $0.count == stored.count && $0.reduce(0, +) > 0 } ?? false
            for (i, id) in stored.enumerated() {
                let w = useScores ? Double(scores![i]) : 1
                total += w
                if let p = positions[id] { shared += w; common.append(p) }
            }
            beta = total > 0 ? shared / total : 0
            let m = common.count
            if m >= 2 {
                var discordant = 0
                for a in 0..<m { for b in (a + 1)..<m where common[a] > common[b] { discordant += 1 } }
                gamma = Double(discordant) / Double(m * (m - 1) / 2)
            }
            cci = storedCCI.map(Double.init) ?? 1
            raw = options.alpha * cci * (1 - beta * (1 - gamma))
        }
        let betaPrime = stored == current ? 1 : beta * (1 - gamma)
        let fraction = min(max(raw, options.minFraction), options.maxFraction)
        // ⌈x⌉ with a small tolerance so that 0.15 × 100 is 15, not 16, and a CCI stored as f32
        // (0.3 → 0.30000001) does not add a token.
        let x = fraction * Double(tokens)
        let count = min(tokens, max(0, Int((x - max(1e-9, x * 1e-6)).rounded(.up))))
        return KVReuseEstimate(beta: beta, gamma: gamma, betaPrime: betaPrime, cci: cci, fraction: fraction, recomputeCount: count)
    }
}

/// The token positions to recompute: the `count` most important by `importance` (ties to the
/// lower position), ascending; without importance scores, the first `count` positions (the
/// tokens nearest the changed prefix).
///
/// - Complexity: O(tokens log tokens).
public func kvRecomputePositions(importance: [Float]?, tokens: Int, count: Int) -> [Int] {
    let n = min(max(count, 0), tokens)
    guard n > 0 else { return [] }
    guard let importance, importance.count == tokens else { return Array(0..<n) }
    let order = (0..<tokens).sorted { importance[$0] != importance[$1] ? importance[$0] > importance[$1] : $0 < $1 }
    return order.prefix(n).sorted()
}

/// The reuse answer for one chunk of an ordered retrieval result.
public struct KVReuseAnswer: Sendable, Equatable {
    /// The chunk.
    public var chunk: UInt64
    /// The chosen cache; nil when the chunk has none under the profile (`missing`).
    public var cache: KVCacheInfo?
    /// Whether the chosen cache was computed after exactly the same chunks.
    public var exactContext: Bool
    /// The estimate for the chosen cache (nil when missing).
    public var estimate: KVReuseEstimate?
    /// Token positions (0-based within the chunk) to recompute, ascending.
    public var recompute: [Int]
    /// Stored bytes a serving engine loads for the chosen cache.
    public var bytesToLoad: UInt64
}
