import Foundation
import RAGDBKVCache
import Testing

/// The Cache-Craft reuse estimate against the worked example (PAPERS.md §2.2 and §9.3):
/// CCI = sigmoid(0.5), old prefix [C1, C2, C3] with inter scores [3.0, 1.0, 0.5], T = 100.
@Suite struct KVReuseTests {
    static let cci = Float(1 / (1 + exp(-0.5)))
    static let stored: [UInt64] = [1, 2, 3]
    static let scores: [Float] = [3.0, 1.0, 0.5]

    func estimate(_ current: [UInt64], stored: [UInt64] = stored, cci: Float? = cci) -> KVReuseEstimate {
        KVReuseEstimate.compute(stored: stored, scores: stored.isEmpty ? nil : Self.scores, cci: cci, current: current, tokens: 100)
    }

    @Test("reordered prefix with an extra chunk: β = 1, γ = 1/3, β′ = 2/3, CFO = 0.2074864437, 21 tokens")
    func reordered() {
        let e = estimate([2, 1, 3, 9])
        #expect(e.beta == 1)
        #expect(abs(e.gamma - 1.0 / 3) < 1e-12)
        #expect(abs(e.betaPrime - 2.0 / 3) < 1e-12)
        #expect(abs(e.fraction - 0.2074864437) < 1e-7)
        #expect(e.recomputeCount == 21)
    }

    @Test("a partial prefix [C1, C3]: β = 0.7778, γ = 0, CFO = 0.1383242958, 14 tokens")
    func partial() {
        let e = estimate([1, 3])
        #expect(abs(e.beta - 3.5 / 4.5) < 1e-12 && e.gamma == 0)
        #expect(abs(e.fraction - 0.1383242958) < 1e-7)
        #expect(e.recomputeCount == 14)
    }

    @Test("the identical prefix recomputes nothing; a disjoint one recomputes 63")
    func identicalAndDisjoint() {
        #expect(estimate([1, 2, 3]).recomputeCount == 0)
        let d = estimate([7])
        #expect(d.beta == 0 && abs(d.fraction - 0.6224593312) < 1e-7 && d.recomputeCount == 63)
    }

    @Test("a standalone cache: first in the prompt recomputes 0; after [C1] with no CCI, ⌈0.15·100⌉ = 15; with a CCI, ⌈CCI·100⌉")
    func standalone() {
        #expect(estimate([], stored: [], cci: nil).recomputeCount == 0)
        #expect(estimate([1], stored: [], cci: nil).recomputeCount == 15)
        #expect(estimate([1], stored: [], cci: 0.3).recomputeCount == 30)
    }

    @Test("α scales and the bounds clamp the fraction")
    func bounds() {
        var o = KVReuseOptions()
        o.alpha = 0.5
        #expect(KVReuseEstimate.compute(stored: [1], scores: nil, cci: nil, current: [2], tokens: 100, options: o).recomputeCount == 50)
        o.alpha = 1; o.maxFraction = 0.1
        #expect(KVReuseEstimate.compute(stored: [1], scores: nil, cci: nil, current: [2], tokens: 100, options: o).recomputeCount == 10)
        o.maxFraction = 1; o.minFraction = 0.05
        #expect(KVReuseEstimate.compute(stored: [1], scores: nil, cci: nil, current: [1], tokens: 100, options: o).recomputeCount == 5)
    }

    @Test("the positions to recompute are the most important by stored scores, ascending")
    func positions() {
        let importance: [Float] = [0.1, 0.9, 0.3, 0.9, 0.0, 0.5]
        #expect(kvRecomputePositions(importance: importance, tokens: 6, count: 3) == [1, 3, 5])
        #expect(kvRecomputePositions(importance: nil, tokens: 6, count: 2) == [0, 1])
        #expect(kvRecomputePositions(importance: importance, tokens: 6, count: 0).isEmpty)
    }

    @Test("lookup picks the exact-context variant first, else the lowest recompute fraction")
    func variantChoice() throws {
        try withKVStore { store, _ in
            let p = try store.createProfile(smallProfile("v"))
            let bytes = randomBytes(p.cacheBytes(tokens: 100), seed: 1)
            let importance = (0..<100).map { Float(($0 * 37) % 100) }
            let a = try store.put(profile: "v", chunk: 10, tokens: 100, context: .init(prefix: [1, 2], cci: Self.cci, importance: importance), source: .bytes(bytes))
            let b = try store.put(profile: "v", chunk: 10, tokens: 100, context: .init(prefix: [5], cci: Self.cci, importance: importance), source: .bytes(bytes))
            #expect(a.key.variant != b.key.variant && a.key.variant == KVCacheKey.variant(prefix: [1, 2]))
            let first = try store.planReuse(profile: "v", chunks: [1, 2, 10])[2]
            #expect(first.cache?.key == a.key && first.exactContext && first.estimate?.fraction == 0 && first.recompute.isEmpty)
            let second = try store.planReuse(profile: "v", chunks: [5, 9, 10])[2]
            #expect(second.cache?.key == b.key && !second.exactContext && second.estimate?.fraction == 0)
            // After [2, 7]: variant a has β = 1/2 (no scores: |O∩N|/|O|), b has β = 0.
            let third = try store.planReuse(profile: "v", chunks: [2, 7, 10])[2]
            #expect(third.cache?.key == a.key)
            let n = third.estimate!.recomputeCount
            #expect(n == Int((Double(Self.cci) * 0.5 * 100).rounded(.up)))
            #expect(third.recompute == kvRecomputePositions(importance: importance, tokens: 100, count: n))
            #expect(third.recompute == third.recompute.sorted() && third.bytesToLoad == a.storedBytes)
        }
    }
}
