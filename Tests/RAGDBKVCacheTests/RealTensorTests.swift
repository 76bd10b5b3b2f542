import Foundation
import RAGDBKVCache
import Testing

/// Real attention keys and values: all-MiniLM-L6-v2 run on the shipped sample corpus by
/// Benchmarks/kvcache/capture_minilm.py (--fixture), 3 chunks of 4 tokens, each standalone
/// and after up to 2 preceding chunks, f16.
@Suite struct RealTensorTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Meta: Decodable {
        var tokens: Int
        var position: Int
        var prefix: [UInt64]
        var prefix_scores: [Float]?
        var cci: Float?
        var cci_terms: Terms?
        var importance: [Float]
        struct Terms: Decodable { var a: [Double]?; var b: [Double]? }
    }

    static func load(_ name: String) throws -> (Meta, [UInt8]) {
        let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: fixtures.appendingPathComponent(name + ".json")))
        let bytes = [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name + ".kv")))
        return (meta, bytes)
    }

    static func minilm(_ name: String, compression: KVCompression) -> KVModelProfile {
        KVModelProfile(name: name, modelID: "sentence-transformers/all-MiniLM-L6-v2", tokenizerID: "bert-base-uncased",
                       layers: 6, kvHeads: 12, headDim: 32, elementType: .f16,
                       positionNotes: "absolute learned position embeddings; bidirectional encoder", compression: compression)
    }

    @Test("captured MiniLM caches round-trip bit-exact, raw and shuffled+LZ4, and their reuse plans follow the stored metadata")
    func capturedCaches() throws {
        try withKVStore { store, _ in
            for compression in [KVCompression.none, .shuffleLZ4] {
                let name = "minilm-\(compression)"
                try store.createProfile(Self.minilm(name, compression: compression))
                var stored = 0, raw = 0
                for c in 0..<3 {
                    for kind in ["standalone", "ctx"] {
                        let (meta, bytes) = try Self.load("c\(c)-\(kind)")
                        if kind == "standalone" && !meta.prefix.isEmpty { Issue.record("standalone with a prefix") }
                        // The CCI the capturer wrote is sigmoid(ā / b̄) of its per-layer terms.
                        if let t = meta.cci_terms, let ta = t.a, let tb = t.b, let cci = meta.cci {
                            let a = ta.reduce(0, +) / Double(ta.count), b = tb.reduce(0, +) / Double(tb.count)
                            #expect(abs(1 / (1 + exp(-a / b)) - Double(cci)) < 1e-6)
                        }
                        let info = try store.put(profile: name, chunk: UInt64(c), tokens: meta.tokens,
                                                 context: KVCacheContext(prefix: meta.prefix, position: meta.position, prefixScores: meta.prefix_scores,
                                                                         cci: meta.cci, importance: meta.importance),
                                                 source: .bytes(bytes))
                        stored += Int(info.storedBytes)
                        raw += bytes.count
                        let back = try store.withCache(profile: name, chunk: UInt64(c), variant: info.key.variant) { try $0.bytes() }
                        #expect(back == bytes)
                    }
                }
                if compression == .none { #expect(stored > raw) }
                // In prompt order [0, 1, 2] every chunk finds the cache made in exactly that context.
                let plan = try store.planReuse(profile: name, chunks: [0, 1, 2])
                #expect(plan.allSatisfy { $0.exactContext && $0.recompute.isEmpty })
                // Reversed, chunk 1 follows [2]: its context cache (made after [0]) has β = 0
                // and would recompute ⌈CCI·4⌉; its standalone cache needs ⌈0.15·4⌉ = 1: chosen.
                let reversed = try store.planReuse(profile: name, chunks: [2, 1])
                #expect(reversed[1].cache?.key.variant == 0 && reversed[1].recompute.count == 1)
                let (meta1, _) = try Self.load("c1-standalone")
                #expect(reversed[1].recompute == kvRecomputePositions(importance: meta1.importance, tokens: 4, count: 1))
                #expect(try store.check().isEmpty)
            }
        }
    }
}
