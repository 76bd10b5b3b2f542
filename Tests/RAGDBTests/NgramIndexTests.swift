import Foundation
import RAGDB
import RAGDBNgram
import RAGDBTestSupport
import Testing

/// The n-gram index through the library: segments, pending chunks, deletes, replacements and
/// compaction, always equal to a naive scan of the live chunks' normalised text.
@Suite struct NgramIndexTests {
    static func liveTexts(_ c: Collection, _ settings: NgramSettings) throws -> [(UInt64, [UInt8])] {
        var out: [(UInt64, [UInt8])] = []
        try c.forEachChunk { chunk in out.append((chunk.id.rawValue, settings.normalize(chunk.text))); return true }
        return out
    }

    static func compare(_ c: Collection, patterns: [String]) throws {
        let settings = try #require(c.settings.ngramIndex)
        let index = try c.loadNgramIndex()
        let live = try Self.liveTexts(c, settings)
        for pattern in patterns {
            let p = index.normalized(pattern)
            var expected = Set<NgramOccurrence>()
            var next: [Int: Int] = [:]
            for (id, t) in live where p.count <= t.count {
                for i in 0...(t.count - p.count) where t[i..<(i + p.count)].elementsEqual(p) {
                    expected.insert(NgramOccurrence(chunk: id, offset: max(0, i - 1), length: p.count - (i == 0 ? 1 : 0)))
                    next[i + p.count < t.count ? Int(t[i + p.count]) : -1, default: 0] += 1
                }
            }
            #expect(index.count(bytes: p) == expected.count, "count \(pattern)")
            #expect(Set(index.locate(bytes: p, limit: .max)) == expected, "locate \(pattern)")
            var got: [Int: Int] = [:]
            for n in index.next(bytes: p) { got[n.byte.map(Int.init) ?? -1] = n.count }
            #expect(got == next, "next \(pattern)")
            // Offsets point into the source text: the located bytes are the pattern's.
            for o in expected.prefix(5) {
                let chunk = try #require(try c.chunk(ChunkIdentifier(rawValue: o.chunk)))
                let source = Array(chunk.text.utf8)[o.offset..<(o.offset + o.length)]
                #expect(Array(settings.normalize(String(decoding: source, as: UTF8.self)).dropFirst()) == Array(p.suffix(o.length)))
            }
        }
    }

    @Test("segments, pending chunks, deletes, upserts and compaction agree with a naive scan")
    func lifecycle() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings(normalization: "lowercase")
            settings.chunking = ChunkingSettings(strategy: .fixed, size: 12, overlap: 2)
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 3)
            func doc(_ i: Int) -> DocumentInput {
                DocumentInput(id: "d\(i)", text: (0..<3).map { _ in generatedText(words: 10, using: &rng) + "." }.joined(separator: " ") + " Chunk Ends Here")
            }
            let patterns = ["the", " index", "chunk", "Größe", "ends here", "x y z", "e", " "]
            try c.insert((0..<20).map(doc))
            try Self.compare(c, patterns: patterns)              // all pending
            #expect(try c.buildNgramSegment() > 0)
            #expect(try c.loadNgramIndex().pendingCount == 0)
            try Self.compare(c, patterns: patterns)              // one segment
            try c.insert((20..<30).map(doc))
            try c.upsert([doc(3), doc(25)])                       // replaces a segment chunk and a pending one
            try c.delete(["d5", "d26"])
            try Self.compare(c, patterns: patterns)              // segment with dead chunks + pending
            #expect(try c.buildNgramSegment() > 0)
            try c.delete(["d21"])
            let index = try c.loadNgramIndex()
            #expect(index.segmentCount == 2)
            try Self.compare(c, patterns: patterns)
            #expect(try db.check().isClean)
            try c.compactNgramIndex()
            #expect(try c.loadNgramIndex().segmentCount == 1)
            try Self.compare(c, patterns: patterns)
            #expect(try db.check().isClean)
        }
    }

    @Test("search with unlimited hits and candidates equals stage-2 scoring of every chunk")
    func exhaustiveSearch() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings()
            settings.chunking = ChunkingSettings(strategy: .fixed, size: 16, overlap: 0)
            let c = try Database.open(at: dir + "/db").createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 8)
            try c.insert((0..<40).map { DocumentInput(id: "d\($0)", text: generatedText(words: 60, using: &rng)) })
            try c.buildNgramSegment()
            let index = try c.loadNgramIndex()
            var p = SEALParameters()
            p.maxHits = .max
            p.fullyScore = .max
            let query = "the index chunk vector retrieval page tree"
            let hits = try c.searchNgrams(text: query, in: index, k: 1000, parameters: p)
            // Oracle: every chunk scored by the stage-2 rule over all query n-grams.
            let total = index.totalBytes
            let grams = queryNgrams(Array(query.utf8))
            let keys = grams.compactMap { g -> SEALAggregation.Key<UInt8, [UInt8]>? in
                let f = index.count(bytes: g)
                let w = p.weight(frequency: f, total: total)
                return w > 0 ? .init(symbols: g, weight: w, types: ngramWords(g)) : nil
            }
            var oracle: [UInt64: Double] = [:]
            try c.forEachChunk { chunk in
                let s = SEALAggregation.score(NgramSettings().normalize(chunk.text), keys: keys, beta: p.beta).score
                if s > 0 { oracle[chunk.id.rawValue] = s }
                return true
            }
            #expect(hits.count == oracle.count)
            for h in hits { #expect(abs(h.score - (oracle[h.chunk.rawValue] ?? -1)) < 1e-9) }
            // Supplying the n-grams in another order changes nothing.
            let reversed = try c.searchNgrams(grams.reversed().map { (String(decoding: $0, as: UTF8.self), nil) }, in: index, k: 1000, parameters: p)
            #expect(reversed.map(\.chunk) == hits.map(\.chunk))
        }
    }

    @Test("fold normalisation: case and diacritics folded, counts equal a naive scan, offsets point at the source text")
    func foldNormalization() throws {
        let fold = NgramSettings(normalization: "fold")
        #expect(fold.normalize("Crème Brûlée, NAÏVE İstanbul straße") == Array(" creme brulee, naive istanbul straße".utf8))
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = fold
            settings.chunking = ChunkingSettings(strategy: .fixed, size: 8, overlap: 0)
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            let words = ["crème", "Brûlée", "naïve", "Über", "façade", "résumé", "CAFÉ", "déjà", "vu", "Ångström", "cafe", "resume", "plain", "İzmir"]
            var rng = SeededGenerator(seed: 11)
            let docs = (0..<30).map { i in
                DocumentInput(id: "d\(i)", text: (0..<20).map { _ in words[Int(rng.next() % UInt64(words.count))] }.joined(separator: " "))
            }
            try c.insert(Array(docs.prefix(15)))
            try c.buildNgramSegment()
            try c.insert(Array(docs.suffix(15)))                    // these stay pending
            let index = try c.loadNgramIndex()
            #expect(index.segmentCount == 1 && index.pendingCount > 0)
            var texts: [UInt64: String] = [:]
            try c.forEachChunk { texts[$0.id.rawValue] = $0.text; return true }
            for pattern in ["creme", "CRÈME brulee", " cafe", "resume", "angstrom", "uber facade", "izmir", "déjà vu"] {
                let p = index.normalized(pattern)
                var expected = Set<NgramOccurrence>()
                for (id, text) in texts {
                    let t = fold.normalize(text)
                    let map = fold.offsetMap(text)
                    guard p.count <= t.count else { continue }
                    for i in 0...(t.count - p.count) where t[i..<(i + p.count)].elementsEqual(p) {
                        let r = map.sourceRange(offset: i, length: p.count)
                        expected.insert(NgramOccurrence(chunk: id, offset: r.lowerBound, length: r.count))
                    }
                }
                #expect(index.count(bytes: p) == expected.count, "count \(pattern)")
                let located = Set(index.locate(bytes: p, limit: .max))
                #expect(located == expected, "locate \(pattern)")
                // The located source bytes fold to the pattern (less the leading space at a chunk start).
                for o in located {
                    let source = Array(try #require(texts[o.chunk]).utf8)[o.offset..<(o.offset + o.length)]
                    let folded = Array(fold.normalize(String(decoding: source, as: UTF8.self)).dropFirst())
                    #expect(folded == p || folded == Array(p.dropFirst()), "\(pattern) at \(o)")
                }
            }
            #expect(try db.check().isClean)
        }
    }

    @Test("token-id index: segments, pending chunks, replacements, deletes and compaction agree with a naive scan of the stored tokens")
    func tokenIndex() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings(normalization: "lowercase", tokens: true)
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 19)
            func tokens(_ n: Int) -> [UInt32] { (0..<n).map { _ in rng.next() % 4 == 0 ? 464 : UInt32(1000 + rng.next() % 50) } }
            func doc(_ i: Int, _ version: Int = 0) -> DocumentInput {
                let chunks = (0..<3).map { j -> ChunkInput in
                    var ci = ChunkInput(text: "chunk \(j) of \(i) v\(version)")
                    if (i + j) % 5 != 0 { ci.tokens = tokens(5 + Int(rng.next() % 30)) }
                    return ci
                }
                return DocumentInput(id: "d\(i)", text: chunks.map(\.text).joined(separator: " "), chunks: chunks)
            }
            func compare() throws {
                let index = try c.loadTokenNgramIndex()
                var live: [UInt64: [UInt32]] = [:]
                try c.forEachChunk { live[$0.id.rawValue] = try c.tokens(of: $0.id) ?? []; return true }
                var patterns: [[UInt32]] = [[], [464], [464, 464], [9_999_999]]
                for t in live.values.shuffled(using: &rng).prefix(15) where t.count >= 3 {
                    let s = Int(rng.next() % UInt64(t.count - 2))
                    patterns.append(Array(t[s..<(s + 1 + Int(rng.next() % 3))]))
                }
                for p in patterns {
                    var expected = Set<NgramOccurrence>()
                    var next: [UInt32?: Int] = [:]
                    var total = 0
                    for (id, t) in live {
                        total += t.count
                        guard !p.isEmpty, p.count <= t.count else { continue }
                        for i in 0...(t.count - p.count) where t[i..<(i + p.count)].elementsEqual(p) {
                            expected.insert(NgramOccurrence(chunk: id, offset: i, length: p.count))
                            next[i + p.count < t.count ? t[i + p.count] : nil, default: 0] += 1
                        }
                    }
                    #expect(index.count(tokens: p) == (p.isEmpty ? total : expected.count), "count \(p)")
                    if p.isEmpty { continue }
                    #expect(Set(index.locate(tokens: p, limit: .max)) == expected, "locate \(p)")
                    var got: [UInt32?: Int] = [:]
                    for n in index.next(tokens: p) { got[n.token] = n.count }
                    #expect(got == next, "next \(p)")
                }
                #expect(try db.check().isClean)
            }
            try c.insert((0..<20).map { doc($0) })
            try compare()                                        // all pending
            try c.buildNgramSegment()
            #expect(try c.loadTokenNgramIndex().pendingCount == 0)
            try compare()
            try c.upsert((0..<6).map { doc($0, 1) })             // replaced: dead in the segment, new ones pending
            #expect(try c.delete(["d10", "d11"]) == 2)
            try compare()
            try c.buildNgramSegment()
            #expect(try c.loadTokenNgramIndex().segmentCount == 2)
            try compare()
            try c.compactNgramIndex()
            #expect(try c.loadTokenNgramIndex().segmentCount == 1)
            try compare()
            // The same tokens again change nothing; other tokens replace the document.
            let again = try c.upsert([doc(30)])
            #expect(again.inserted == 1)
            // A collection without a token index says so.
            let plain = try db.createCollection("plain")
            #expect(throws: RAGDBError.self) { try plain.loadTokenNgramIndex() }
        }
    }

    @Test("an index read in place from the map answers exactly as one loaded into memory")
    func inPlace() throws {
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings(normalization: "lowercase")
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("c", settings: settings)
            var rng = SeededGenerator(seed: 23)
            // Enough text that the segment lives in overflow pages (aligned, read in place).
            try c.insert((0..<300).map { DocumentInput(id: "d\($0)", text: generatedText(words: 120, using: &rng)) })
            try c.buildNgramSegment()
            try c.upsert((0..<10).map { DocumentInput(id: "d\($0)", text: "replaced " + generatedText(words: 20, using: &rng)) })
            let loaded = try c.loadNgramIndex()
            #expect(loaded.inPlaceSegmentCount == 0)
            let patterns = ["the", " index", "tree pa", "replaced", "e", "zzzz", " "]
            try c.withNgramIndex { index in
                #expect(index.segmentCount == 1 && index.inPlaceSegmentCount == 1)
                for p in patterns {
                    let b = index.normalized(p)
                    #expect(index.count(bytes: b) == loaded.count(bytes: b), "count \(p)")
                    #expect(Set(index.locate(bytes: b, limit: 500)) == Set(loaded.locate(bytes: b, limit: 500)), "locate \(p)")
                    #expect(index.next(bytes: b) == loaded.next(bytes: b), "next \(p)")
                }
            }
        }
    }

    /// ../shared/data/classic-dev/corpus.jsonl beside the checkout, when it is there.
    static let classicCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/classic-dev/corpus.jsonl").path

    @Test("the classic-dev corpus (Cranfield): count, locate and next equal a naive scan, in place and loaded",
          .enabled(if: FileManager.default.fileExists(atPath: classicCorpus), "../shared/data/classic-dev is not beside the checkout"))
    func developmentCorpus() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.classicCorpus))
        var docs: [DocumentInput] = []
        for line in data.split(separator: 0x0A) {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            docs.append(DocumentInput(id: try #require(obj["id"] as? String), text: try #require(obj["text"] as? String)))
        }
        try withTemporaryDirectory { dir in
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings(normalization: "lowercase")
            settings.textIndex = false
            let db = try Database.open(at: dir + "/db")
            let c = try db.createCollection("cran", settings: settings)
            try c.insert(docs)
            try c.buildNgramSegment()
            var texts: [(UInt64, Data)] = []
            try c.forEachChunk { texts.append(($0.id.rawValue, Data(settings.ngramIndex!.normalize($0.text)))); return true }
            var rng = SeededGenerator(seed: 41)
            var patterns: [[UInt8]] = [Array(" the".utf8), Array("wing".utf8), Array(" boundary layer".utf8), Array("qqqq".utf8)]
            while patterns.count < 60 {
                let t = texts[Int(rng.next() % UInt64(texts.count))].1
                guard t.count > 20 else { continue }
                let len = 2 + Int(rng.next() % 14), start = Int(rng.next() % UInt64(t.count - len))
                patterns.append(Array(t[(t.startIndex + start)..<(t.startIndex + start + len)]))
            }
            let loaded = try c.loadNgramIndex()
            try c.withNgramIndex { mapped in
                #expect(mapped.inPlaceSegmentCount == 1)
                for p in patterns {
                    var expected = Set<NgramOccurrence>()
                    var next: [Int: Int] = [:]
                    let needle = Data(p)
                    for (id, t) in texts {
                        var from = t.startIndex
                        while let r = t.range(of: needle, in: from..<t.endIndex) {
                            let i = r.lowerBound - t.startIndex
                            expected.insert(NgramOccurrence(chunk: id, offset: max(0, i - 1), length: p.count - (i == 0 ? 1 : 0)))
                            next[r.upperBound < t.endIndex ? Int(t[r.upperBound]) : -1, default: 0] += 1
                            from = r.lowerBound + 1
                        }
                    }
                    for index in [mapped, loaded] {
                        #expect(index.count(bytes: p) == expected.count, "count \(p)")
                        #expect(Set(index.locate(bytes: p, limit: .max)) == expected, "locate \(p)")
                        var got: [Int: Int] = [:]
                        for n in index.next(bytes: p) { got[n.byte.map(Int.init) ?? -1] = n.count }
                        #expect(got == next, "next \(p)")
                    }
                }
            }
        }
    }

    @Test("an index read in place that escapes its closure stops the process instead of reading reused pages")
    func escapedInPlaceIndexTraps() async {
        await #expect(processExitsWith: .failure) {
            let dir = NSTemporaryDirectory() + "ragdb-escape-\(UUID().uuidString)"
            var settings = CollectionSettings()
            settings.ngramIndex = NgramSettings(normalization: "lowercase")
            let db = try Database.open(at: dir)
            let c = try db.createCollection("c", settings: settings)
            try c.insert([DocumentInput(id: "a", text: "an escaped index")])
            try c.buildNgramSegment()
            let escaped = try c.withNgramIndex { $0 }
            _ = escaped.count(bytes: Array("index".utf8))
        }
    }
}
