import RAGDBNgram
import Testing

/// SEAL's formulas against the worked numbers in PAPERS.md §1.4 (an independent derivation).
@Suite struct SEALScoringTests {
    @Test("n-gram weights: with a language model's log-probability and SEAL-lite")
    func weights() {
        let p = SEALParameters()
        #expect(abs(p.weight(frequency: 3, total: 1000, logProbability: -2.0) - 8.825193277) < 1e-8)
        #expect(abs(p.weight(frequency: 40, total: 1000, logProbability: -1.0) - 6.345088648) < 1e-8)
        #expect(abs(p.weight(frequency: 200, total: 1000, logProbability: -0.5) - 3.219705839) < 1e-8)
        #expect(p.weight(frequency: 0, total: 1000, logProbability: -0.5) == 0)
        #expect(abs(p.weight(frequency: 3, total: 1000) - 23.28360915) < 1e-7)
        #expect(abs(p.weight(frequency: 40, total: 1000) - 9.365257337) < 1e-8)
        #expect(abs(p.weight(frequency: 200, total: 1000) - 1.853959322) < 1e-8)
        // More frequent than half the corpus: negative log-odds, weight 0.
        #expect(p.weight(frequency: 900, total: 1000) == 0)
    }

    @Test("aggregation fixture: 5.0 + 0.6 + 1.0 = 6.6, (4,1) skipped")
    func aggregation() {
        typealias K = SEALAggregation.Key<Int, Int>
        let keys = [K(symbols: [1, 2, 3], weight: 5, types: [1, 2, 3]), K(symbols: [1, 2], weight: 3, types: [1, 2]),
                    K(symbols: [4, 1], weight: 2, types: [4, 1]), K(symbols: [9], weight: 1, types: [9])]
        let (score, parts) = SEALAggregation.score([7, 1, 2, 3, 4, 1, 2, 9], keys: keys, beta: 0.8)
        #expect(abs(score - 6.6) < 1e-12)
        #expect(parts.map(\.key) == [0, 1, 3])
        #expect(parts.map(\.start) == [1, 5, 7])
        #expect(zip(parts.map(\.value), [5.0, 0.6, 1.0]).allSatisfy { abs($0 - $1) < 1e-12 })
        // The order in which keys are given changes nothing.
        let (shuffled, _) = SEALAggregation.score([7, 1, 2, 3, 4, 1, 2, 9], keys: keys.reversed(), beta: 0.8)
        #expect(abs(shuffled - 6.6) < 1e-12)
    }

    @Test("query n-grams: 1-3 word spans, space-prefixed, distinct")
    func ngramsOfText() {
        let grams = queryNgrams(Array("copy files and copy".utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(grams == [" copy", " copy files", " copy files and", " files", " files and", " files and copy", " and", " and copy"])
    }
}
