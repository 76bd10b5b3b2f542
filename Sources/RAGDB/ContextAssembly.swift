public import RAGDBChunks
import Foundation
import RAGDBSparse

/// Weights of budgeted context assembly (docs/planner.md):
///
///     U(S) = Σ_t w_t·[t covered by S] + μ·Σ_{i∈S} r_i − ρ·Σ_{i<j∈S} red(i, j) − λ·Σ_{i∈S} c_i / B
///
/// with w_t the query terms' idf scaled to sum to 1, r_i the chunk's fused score normalised to [0, 1], c_i its
/// tokens, B the budget, and red(i, j) the overlap of two chunks of one document
/// (|s_i ∩ s_j| / min(|s_i|, |s_j|) over byte spans) or, across documents, how near their
/// vectors are: max(0, cos − τ)/(1 − τ).
public struct AssemblyOptions: Sendable, Hashable {
    /// μ: weight of relevance against full query-term coverage (default 3; BENCHMARKS.md,
    /// "Planner", for how it was chosen).
    public var relevance = 3.0
    /// ρ: weight of redundancy (default 3, equal to μ, so that a full duplicate of a chosen
    /// chunk never adds utility).
    public var redundancy = 3.0
    /// λ: weight of the budget share used (default 0.5).
    public var cost = 0.5
    /// γ: relevance is the min-max-normalised fused score raised to this power (default 4).
    /// Above 1 it sharpens the head of the ranking, so that cheap chunks from the tail cannot
    /// buy their way in by gain per token.
    public var sharpness = 4.0
    /// τ: cosine above which two chunks count as near-duplicates (default 0.9).
    public var duplicateCosine = 0.9
    /// How the set is chosen: `.greedy` (gain per token, CORAG-style) or `.truncate`
    /// (the ranked list in order until the next chunk does not fit), the baseline.
    public var method: Method = .greedy

    /// Assembly methods.
    public enum Method: String, Sendable, Hashable, CaseIterable {
        /// Cost-benefit greedy with positive-gain stopping, against the best singleton.
        case greedy
        /// Plain top-k truncation at the budget.
        case truncate
    }

    /// The defaults.
    public init() {}
}

/// The context chosen for a token budget.
public struct AssembledContext: Sendable {
    /// One passage of the prompt: adjacent or overlapping chunks of one document, merged.
    public struct Passage: Sendable {
        /// The document.
        public var documentID: String
        /// Its chunks, in document order.
        public var chunks: [ChunkID]
        /// The byte span covered in the source (first chunk's start to last chunk's end).
        public var span: ByteSpan
        /// Tokens of its chunks.
        public var tokens: Int
    }
    /// The chunks in prompt order.
    public var chunks: [ChunkID]
    /// The passages in prompt order (best first).
    public var passages: [Passage]
    /// The budget.
    public var budget: Int
    /// Tokens used (never more than `budget`).
    public var tokens: Int
    /// U of the chosen set, and its four terms.
    public var utility: Double
    /// Σ w_t over covered terms.
    public var coverage: Double
    /// μ·Σ r_i.
    public var relevance: Double
    /// ρ·Σ red(i, j).
    public var redundancy: Double
    /// λ·Σ c_i / B.
    public var cost: Double
    /// The greedy steps: each chunk added with its marginal gain.
    public var trace: [(chunk: ChunkID, gain: Double)]
}

/// Budgeted context assembly: choose a set of chunks under a token budget by the utility of
/// the set (coverage, relevance, redundancy, cost), not of each chunk alone. Pure functions;
/// `Searcher` feeds them from a query's candidates.
public enum ContextAssembly {
    /// One candidate: its cost in tokens, relevance in [0, 1], and the query terms it covers.
    public struct Item: Sendable, Hashable {
        /// Tokens.
        public var cost: Int
        /// Relevance in [0, 1].
        public var relevance: Double
        /// Indices of the query terms it contains.
        public var terms: Set<Int>
        /// A candidate.
        public init(cost: Int, relevance: Double, terms: Set<Int>) {
            self.cost = cost
            self.relevance = relevance
            self.terms = terms
        }
    }

    /// The chosen items (in the order they were added) with U and its terms.
    public struct Choice: Sendable, Equatable {
        /// Indices into the items, in the order they were added.
        public var selected: [Int]
        /// U(selected).
        public var utility: Double
        /// The marginal gain of each added item.
        public var gains: [Double]
    }

    /// U(S) and its four terms (coverage, relevance, redundancy, cost).
    public static func utility(_ set: [Int], items: [Item], termWeights: [Double], redundancy red: (Int, Int) -> Double,
                               budget: Int, options: AssemblyOptions) -> (u: Double, coverage: Double, relevance: Double, redundancy: Double, cost: Double) {
        var covered = Set<Int>()
        var rel = 0.0, tokens = 0, rd = 0.0
        for (a, i) in set.enumerated() {
            covered.formUnion(items[i].terms)
            rel += items[i].relevance
            tokens += items[i].cost
            for j in set[..<a] { rd += red(min(i, j), max(i, j)) }
        }
        let cov = covered.reduce(0) { $0 + ($1 < termWeights.count ? termWeights[$1] : 0) }
        let r = options.relevance * rel, d = options.redundancy * rd, c = options.cost * Double(tokens) / Double(max(budget, 1))
        return (cov + r - d - c, cov, r, d, c)
    }

    /// Cost-benefit greedy: repeatedly add the feasible item with the largest gain per token
    /// among those with a positive gain; stop when none has one, even with budget left. Then
    /// return the better of that set and the best feasible singleton (Khuller–Moss–Naor's
    /// modified greedy; ≥ ½(1 − 1/e) of the optimum when U is monotone submodular).
    ///
    /// - Complexity: O(n² · |S|) utility terms for n items.
    public static func greedy(items: [Item], termWeights: [Double], redundancy red: (Int, Int) -> Double,
                              budget: Int, options: AssemblyOptions = .init()) -> Choice {
        func u(_ s: [Int]) -> Double { utility(s, items: items, termWeights: termWeights, redundancy: red, budget: budget, options: options).u }
        var chosen: [Int] = [], gains: [Double] = []
        var used = 0
        var current = u([])
        while true {
            var best: (i: Int, gain: Double, ratio: Double)?
            for i in items.indices where !chosen.contains(i) && used + items[i].cost <= budget {
                let gain = u(chosen + [i]) - current
                guard gain > 1e-12 else { continue }
                let ratio = gain / Double(max(items[i].cost, 1))
                if best == nil || ratio > best!.ratio + 1e-15 { best = (i, gain, ratio) }
            }
            guard let b = best else { break }
            chosen.append(b.i)
            gains.append(b.gain)
            used += items[b.i].cost
            current += b.gain
        }
        var single: (i: Int, u: Double)?
        for i in items.indices where items[i].cost <= budget {
            let v = u([i])
            if single == nil || v > single!.u { single = (i, v) }
        }
        if let s = single, s.u > current + 1e-12 {
            return Choice(selected: [s.i], utility: s.u, gains: [s.u - u([])])
        }
        return Choice(selected: chosen, utility: u(chosen), gains: gains)
    }

    /// The baseline: items in the given (ranked) order until the next one does not fit.
    public static func truncate(items: [Item], budget: Int) -> [Int] {
        var used = 0, out: [Int] = []
        for (i, item) in items.enumerated() {
            guard used + item.cost <= budget else { break }
            used += item.cost
            out.append(i)
        }
        return out
    }
}

extension Searcher {
    /// Assembles a budgeted context from the fused candidates (best first).
    func assemble(_ pool: [(chunk: UInt64, score: Double, stages: [String: Double])], records: [UInt64: Chunk],
                  query q: Query, budget: Int) throws(RAGDBError) -> AssembledContext {
        let pool = pool.filter { records[$0.chunk] != nil }
        let recs = pool.map { records[$0.chunk]! }
        // Query terms with idf weights, and the terms each candidate covers.
        var termWeights: [Double] = []
        var termIndex: [String: Int] = [:]
        var itemTerms = [Set<Int>](repeating: [], count: pool.count)
        if let text = q.text, !text.isEmpty, collection.settings.textIndex {
            let index = try textIndex()
            for t in Set(index.terms(of: text)).sorted() {
                let df = index.snapshot.terms[t]?.count ?? 0
                guard df > 0 else { continue }
                termIndex[t] = termWeights.count
                termWeights.append(BM25().idf(documents: index.snapshot.documents, df: df))
            }
            // Scaled to sum to 1, so that μ weighs relevance against full coverage.
            let total = termWeights.reduce(0, +)
            if total > 0 { termWeights = termWeights.map { $0 / total } }
            for (i, r) in recs.enumerated() {
                itemTerms[i] = Set(index.terms(of: r.text).compactMap { termIndex[$0] })
            }
        }
        let scores = pool.map(\.score)
        let lo = scores.min() ?? 0, hi = scores.max() ?? 0
        let items = pool.indices.map { i in
            ContextAssembly.Item(cost: max(1, Int(recs[i].tokenCount)), relevance: pow(hi > lo ? (scores[i] - lo) / (hi - lo) : 1, q.assembly.sharpness),
                                 terms: itemTerms[i])
        }
        // Unit vectors for near-duplicate detection, when the query has a dense space.
        var unit: [[Float]?] = Array(repeating: nil, count: pool.count)
        if let space = q.vectors.keys.sorted().first {
            for (i, r) in recs.enumerated() {
                if let v = try collection.vector(of: r.id, in: space) {
                    let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
                    unit[i] = norm > 0 ? v.map { $0 / norm } : nil
                }
            }
        }
        let tau = q.assembly.duplicateCosine
        func red(_ i: Int, _ j: Int) -> Double {
            let a = recs[i], b = recs[j]
            if a.documentID == b.documentID {
                let overlap = Double(max(0, Int64(min(a.span.end, b.span.end)) - Int64(max(a.span.start, b.span.start))))
                let shorter = Double(max(1, min(a.span.end - a.span.start, b.span.end - b.span.start)))
                return overlap / shorter
            }
            guard let u = unit[i], let v = unit[j] else { return 0 }
            var cos: Float = 0
            for k in u.indices { cos += u[k] * v[k] }
            return max(0, Double(cos) - tau) / (1 - tau)
        }
        let selected: [Int]
        var trace: [(ChunkID, Double)] = []
        switch q.assembly.method {
        case .greedy:
            let choice = ContextAssembly.greedy(items: items, termWeights: termWeights, redundancy: red, budget: budget, options: q.assembly)
            selected = choice.selected
            trace = zip(choice.selected, choice.gains).map { (recs[$0].id, $1) }
        case .truncate:
            selected = ContextAssembly.truncate(items: items, budget: budget)
        }
        let parts = ContextAssembly.utility(selected, items: items, termWeights: termWeights, redundancy: red, budget: budget, options: q.assembly)
        // Passages: chunks of one document merged when adjacent (consecutive ordinals) or
        // overlapping; passages ordered by their best relevance.
        var byDoc: [String: [Int]] = [:]
        for i in selected { byDoc[recs[i].documentID, default: []].append(i) }
        var passages: [(best: Double, passage: AssembledContext.Passage)] = []
        for (doc, members) in byDoc {
            let sorted = members.sorted { recs[$0].ordinal < recs[$1].ordinal }
            var run: [Int] = []
            func flush() {
                guard let first = run.first, let last = run.last else { return }
                let best = run.map { items[$0].relevance }.max() ?? 0
                passages.append((best, AssembledContext.Passage(
                    documentID: doc, chunks: run.map { recs[$0].id },
                    span: ByteSpan(start: recs[first].span.start, end: max(recs[first].span.end, recs[last].span.end)),
                    tokens: run.reduce(0) { $0 + items[$1].cost })))
                run = []
            }
            for i in sorted {
                if let prev = run.last, !(recs[i].ordinal == recs[prev].ordinal + 1 || recs[i].span.start <= recs[prev].span.end) { flush() }
                run.append(i)
            }
            flush()
        }
        passages.sort { $0.best > $1.best || ($0.best == $1.best && $0.passage.chunks[0].rawValue < $1.passage.chunks[0].rawValue) }
        let tokens = selected.reduce(0) { $0 + items[$1].cost }
        return AssembledContext(chunks: passages.flatMap(\.passage.chunks), passages: passages.map(\.passage), budget: budget, tokens: tokens,
                                utility: parts.u, coverage: parts.coverage, relevance: parts.relevance, redundancy: parts.redundancy,
                                cost: parts.cost, trace: trace)
    }
}
