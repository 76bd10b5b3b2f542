@testable import RAGDB
import RAGDBTestSupport
import Testing

@Suite struct TermInternerTests {
    @Test("terms of every length up to 40 bytes, sharing prefixes, get one number each, from bytes or from a carried-over hash")
    func numbersEachTermOnce() {
        var rng = SeededGenerator(seed: 7)
        let alphabet = Array("ab1é".utf8)
        var terms: [String] = []
        for _ in 0..<3000 {
            let n = Int.random(in: 1...40, using: &rng)
            terms.append(String(decoding: (0..<n).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self))
        }
        // Prefixes of one another, and equal up to the 16th byte.
        terms += ["abababababababab", "abababababababab1", "abababababababab11", "a", "aa", String(repeating: "b", count: 16), String(repeating: "b", count: 17)]
        var interner = TermInterner()
        var first: [String: Int32] = [:]
        for t in terms + terms.reversed() {
            var copy = t
            let id = copy.withUTF8 { interner.id($0) }
            if let seen = first[t] { #expect(seen == id, "\(t)") } else { first[t] = id }
        }
        #expect(interner.names.count == Set(terms).count)
        for (t, id) in first { #expect(interner.names[Int(id)] == t) }
        // A second interner fed by name and hash agrees on every term.
        var merged = TermInterner()
        for (name, h) in zip(interner.names, interner.hashes) { _ = merged.id(name, hash: h) }
        for (name, h) in zip(interner.names.reversed(), interner.hashes.reversed()) {
            #expect(merged.names[Int(merged.id(name, hash: h))] == name)
        }
        #expect(merged.names.count == interner.names.count)
    }
}
