import CRAGDBKernels
import RAGDBNgram
import RAGDBStorage
import RAGDBTestSupport
import Testing

/// The FM-index against a naive scan of every chunk (the oracle), on random corpora over
/// small and large alphabets, long repeats, multi-byte UTF-8 and empty chunks.
@Suite struct FMSegmentTests {
    /// Every occurrence of `p` in `text` (overlapping ones included).
    static func occurrences(_ p: [UInt8], in text: [UInt8]) -> [Int] {
        guard !p.isEmpty, p.count <= text.count else { return [] }
        return (0...(text.count - p.count)).filter { i in text[i..<(i + p.count)].elementsEqual(p) }
    }

    static func oracleNext(_ p: [UInt8], _ chunks: [[UInt8]]) -> [String: Int] {
        var out: [String: Int] = [:]
        for t in chunks {
            if p.isEmpty { for b in t { out["\(b)", default: 0] += 1 }; continue }
            for i in occurrences(p, in: t) {
                let key = i + p.count < t.count ? "\(t[i + p.count])" : "END"
                out[key, default: 0] += 1
            }
        }
        return out
    }

    static func check(_ segment: FMSegment, _ chunks: [[UInt8]], live: Set<Int>, patterns: [[UInt8]]) {
        let liveChunks = chunks.enumerated().filter { live.contains($0.offset) }
        for p in patterns {
            var expected: [FMSegment.Occurrence] = []
            for (j, t) in liveChunks { for i in occurrences(p, in: t) { expected.append(.init(chunkIndex: j, offset: i)) } }
            let count = segment.count(p)
            if p.isEmpty {
                #expect(count == liveChunks.reduce(0) { $0 + $1.element.count })
            } else {
                #expect(count == expected.count, "count \(p)")
                #expect(Set(segment.locate(p, limit: .max)) == Set(expected), "locate \(p)")
            }
            var next: [String: Int] = [:]
            for n in segment.next(p) { next[n.byte.map { "\($0)" } ?? "END"] = n.count }
            #expect(next == oracleNext(p, liveChunks.map(\.element)), "next \(p)")
            #expect(next.values.reduce(0, +) == count, "Σ next = count for \(p)")
        }
    }

    static func patterns(_ chunks: [[UInt8]], _ alphabet: [UInt8], _ rng: inout SeededGenerator, count: Int) -> [[UInt8]] {
        var out: [[UInt8]] = [[]]
        for i in 0..<count {
            let len = 1 + Int(rng.next() % 12)
            if i % 2 == 0, let t = chunks.filter({ $0.count >= len }).randomElement(using: &rng) {
                let start = Int(rng.next() % UInt64(t.count - len + 1))
                out.append(Array(t[start..<(start + len)]))
            } else {
                out.append((0..<len).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            }
        }
        return out
    }

    @Test("count, locate and next equal a naive scan", arguments: [2, 4, 26, 255])
    func oracle(alphabetSize: Int) {
        var rng = SeededGenerator(seed: UInt64(alphabetSize))
        let alphabet = (0..<alphabetSize).map { UInt8(1 + $0) }
        for round in 0..<6 {
            let chunks: [[UInt8]] = (0..<(1 + Int(rng.next() % 40))).map { _ in
                (0..<Int(rng.next() % 80)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            }
            let segment = FMSegment.build(chunks.enumerated().map { (UInt64($0 + 1), $1) }, rate: [1, 3, 32][round % 3])
            // Odd rounds run the portable rank (no popcnt) as well; both must agree with the oracle.
            let best = ragdb_kernels_best_level()
            if round % 2 == 1 { ragdb_kernels_set_level(0) }
            Self.check(segment, chunks, live: Set(chunks.indices), patterns: Self.patterns(chunks, alphabet, &rng, count: 250))
            ragdb_kernels_set_level(best)
            for j in chunks.indices { #expect(segment.extract(chunkAt: j) == chunks[j]) }
        }
    }

    @Test("every byte value present (258 symbols, the general layout) and 255 of them (257)")
    func wideByteAlphabets() {
        for missing in [nil, UInt8(0), UInt8(200)] as [UInt8?] {
            var rng = SeededGenerator(seed: 3)
            let alphabet: [UInt8] = (0...255).map { UInt8($0) }.filter { $0 != missing }
            // Every value once, then random ones, cut into chunks.
            let all = alphabet + (0..<3000).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            let chunks: [[UInt8]] = stride(from: 0, to: all.count, by: 97).map { Array(all[$0..<min(all.count, $0 + 97)]) }
            let segment = FMSegment.build(chunks.enumerated().map { (UInt64($0 + 1), $1) }, rate: 5)
            Self.check(segment, chunks, live: Set(chunks.indices), patterns: Self.patterns(chunks, alphabet, &rng, count: 120))
            for j in chunks.indices { #expect(segment.extract(chunkAt: j) == chunks[j]) }
        }
    }

    @Test("long repeats, UTF-8 text and empty chunks")
    func repeatsAndText() {
        var rng = SeededGenerator(seed: 77)
        let chunks: [[UInt8]] = [
            Array(String(repeating: "ab", count: 300).utf8), [], Array("naïve Größe página — ok".utf8), [],
            Array(String(repeating: "a", count: 200).utf8), Array(" the cat sat on the mat ".utf8),
        ]
        let segment = FMSegment.build(chunks.enumerated().map { (UInt64($0 * 10 + 1), $1) })
        let alphabet = Array(Set(chunks.joined()))
        Self.check(segment, chunks, live: Set(chunks.indices), patterns: Self.patterns(chunks, alphabet, &rng, count: 300) + [Array("abab".utf8), Array("aaaa".utf8), Array("ö".utf8)])
    }

    @Test("the worked fixture: chunks abab, ba, abba")
    func fixture() {
        let chunks = ["abab", "ba", "abba"].map { Array($0.utf8) }
        let s = FMSegment.build(chunks.enumerated().map { (UInt64($0), $1) })
        func next(_ p: String) -> [String: Int] {
            Dictionary(uniqueKeysWithValues: s.next(Array(p.utf8)).map { ($0.byte.map { String(UnicodeScalar($0)) } ?? "END", $0.count) })
        }
        #expect(s.count(Array("a".utf8)) == 5 && next("a") == ["b": 3, "END": 2])
        #expect(s.count(Array("ab".utf8)) == 3 && next("ab") == ["END": 1, "a": 1, "b": 1])
        #expect(Set(s.locate(Array("ab".utf8), limit: 10).map { [$0.chunkIndex, $0.offset] }) == [[0, 0], [0, 2], [2, 0]])
        #expect(s.count(Array("ba".utf8)) == 3 && next("ba") == ["END": 2, "b": 1])
        #expect(s.count(Array("b".utf8)) == 5 && next("b") == ["a": 3, "END": 1, "b": 1])
        #expect(s.locate(Array("bb".utf8), limit: 10).map { [$0.chunkIndex, $0.offset] } == [[2, 1]])
        #expect(s.count(Array("aba".utf8)) == 1 && s.count(Array("abba".utf8)) == 1)
        // No match spans two chunks.
        let two = FMSegment.build([(1, Array("ab".utf8)), (2, Array("cd".utf8))])
        #expect(two.count(Array("bc".utf8)) == 0)
    }

    @Test("deleted chunks are masked from count, locate and next; the segment round-trips")
    func deletes() throws {
        var rng = SeededGenerator(seed: 5)
        let alphabet = Array("abc ".utf8)
        let chunks: [[UInt8]] = (0..<30).map { _ in (0..<Int(rng.next() % 50)).map { _ in alphabet[Int(rng.next() % 4)] } }
        var segment = FMSegment.build(chunks.enumerated().map { (UInt64($0 + 1), $1) }, rate: 4)
        var live = Set(chunks.indices)
        for _ in 0..<12 {
            let j = Int(rng.next() % 30)
            #expect(segment.delete(chunk: UInt64(j + 1)) == live.contains(j))
            live.remove(j)
            Self.check(segment, chunks, live: live, patterns: Self.patterns(chunks, alphabet, &rng, count: 40))
        }
        let stored = try segment.serialized()
        let back = try stored.withUnsafeBytes { try FMSegment.deserialize(RawSpan(_unsafeBytes: $0), dead: segment.dead) }
        #expect(back == segment)
        var damaged = stored
        damaged[damaged.count / 2] ^= 0x40
        #expect(throws: StorageError.self) { try damaged.withUnsafeBytes { try FMSegment.deserialize(RawSpan(_unsafeBytes: $0), dead: []) } }
    }

    @Test("crafted segments with valid checksums are refused, or answer without crashing or hanging")
    func craftedSegments() throws {
        var rng = SeededGenerator(seed: 99)
        let alphabet = Array("abcde ".utf8)
        let chunks: [[UInt8]] = (0..<20).map { _ in (0..<Int(1 + rng.next() % 60)).map { _ in alphabet[Int(rng.next() % 6)] } }
        let segment = FMSegment.build(chunks.enumerated().map { (UInt64($0 + 1), $1) }, rate: 4)
        let raw = try segment.serialized().withUnsafeBytes { try FramedValue.decode(RawSpan(_unsafeBytes: $0), context: "test") }
        let patterns = Self.patterns(chunks, alphabet, &rng, count: 12)
        var refused = 0
        for trial in 0..<400 {
            var bytes = raw
            // One to three changed bytes, or a header field, re-framed with a valid checksum.
            for _ in 0..<(1 + trial % 3) {
                let at = trial % 7 == 0 ? Int(rng.next() % 40) : Int(rng.next() % UInt64(bytes.count))
                bytes[at] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255)
            }
            let framed = try FramedValue.encode(bytes, policy: .never)
            do {
                let s = try framed.withUnsafeBytes { try FMSegment.deserialize(RawSpan(_unsafeBytes: $0), dead: []) }
                for p in patterns {
                    _ = s.count(p)
                    for o in s.locate(p, limit: 50) { #expect(o.chunkIndex < s.chunkCount && o.offset >= 0) }
                    _ = s.next(p)
                }
            } catch {
                refused += 1
            }
        }
        // Most single-byte changes land in the bitvector and are caught by its rank counts.
        #expect(refused > 200)
    }

    @Test("token-id segments: count, locate, next and extract equal a naive scan; round-trips through storage",
          arguments: [3, 50, 70_000])
    func tokenSegments(vocabulary: Int) throws {
        var rng = SeededGenerator(seed: UInt64(vocabulary))
        // Ids spread over a large range (a real tokenizer's vocabulary), a few of them frequent.
        let ids: [UInt32] = (0..<vocabulary).map { UInt32($0) * 37 + 5 }
        func token() -> UInt32 { rng.next() % 3 == 0 ? ids[Int(rng.next() % UInt64(min(3, ids.count)))] : ids[Int(rng.next() % UInt64(ids.count))] }
        let chunks: [[UInt32]] = (0..<60).map { i in i % 17 == 0 ? [] : (0..<Int(rng.next() % 120)).map { _ in token() } }
        var segment = FMSegment.build(tokens: chunks.enumerated().map { (UInt64($0 + 1), $1) }, rate: 8)
        #expect(segment.kind == .tokens)
        func occurrences(_ p: [UInt32], _ t: [UInt32]) -> [Int] {
            guard !p.isEmpty, p.count <= t.count else { return [] }
            return (0...(t.count - p.count)).filter { t[$0..<($0 + p.count)].elementsEqual(p) }
        }
        var live = Set(chunks.indices)
        for round in 0..<3 {
            var patterns: [[UInt32]] = [[], [ids[0]], [UInt32.max], [ids[0], ids[min(1, ids.count - 1)]]]
            for _ in 0..<60 {
                let t = chunks[Int(rng.next() % UInt64(chunks.count))]
                guard !t.isEmpty else { continue }
                let len = 1 + Int(rng.next() % UInt64(min(6, t.count)))
                let start = Int(rng.next() % UInt64(t.count - len + 1))
                patterns.append(Array(t[start..<(start + len)]))
            }
            for p in patterns {
                var expected = Set<FMSegment.Occurrence>()
                var next: [UInt32?: Int] = [:]
                for j in live.sorted() {
                    for i in occurrences(p, chunks[j]) {
                        expected.insert(.init(chunkIndex: j, offset: i))
                        next[i + p.count < chunks[j].count ? chunks[j][i + p.count] : nil, default: 0] += 1
                    }
                }
                if p.isEmpty {
                    #expect(segment.count(tokens: p) == live.reduce(0) { $0 + chunks[$1].count })
                    continue
                }
                #expect(segment.count(tokens: p) == expected.count, "count \(p)")
                #expect(Set(segment.locate(tokens: p, limit: .max)) == expected, "locate \(p)")
                var got: [UInt32?: Int] = [:]
                for n in segment.next(tokens: p) { got[n.token] = n.count }
                #expect(got == next, "next \(p)")
            }
            for j in live { #expect(segment.extractValues(chunkAt: j) == chunks[j]) }
            let stored = try segment.serialized()
            let back = try stored.withUnsafeBytes { try FMSegment.deserialize(RawSpan(_unsafeBytes: $0), dead: segment.dead) }
            #expect(back == segment, "round \(round)")
            // Delete a few chunks for the next round.
            for _ in 0..<5 {
                let j = Int(rng.next() % UInt64(chunks.count))
                #expect(segment.delete(chunk: UInt64(j + 1)) == live.contains(j))
                live.remove(j)
            }
        }
    }
}
