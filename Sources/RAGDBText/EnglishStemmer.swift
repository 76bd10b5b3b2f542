/// The Snowball English stemmer ("Porter2", M. F. Porter, 2002), the stemmer most search
/// engines use for English (Lucene's EnglishAnalyzer uses Porter; tantivy's en_stem, bm25s with
/// PyStemmer and Snowball itself use this one). Own implementation of the published
/// algorithm; tests compare it word for word with Snowball's output.
///
/// Works on lowercase ASCII letters and apostrophes; other words are returned unchanged.
///
/// - Complexity: O(*n*) for a word of *n* letters.
public enum EnglishStemmer {
    /// The stem of `word`.
    public static func stem(_ word: String) -> String {
        var bytes = Array(word.utf8)
        stem(&bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let a = UInt8(ascii: "a"), e = UInt8(ascii: "e"), i = UInt8(ascii: "i"), o = UInt8(ascii: "o")
    private static let u = UInt8(ascii: "u"), y = UInt8(ascii: "y"), Y = UInt8(ascii: "Y"), apostrophe = UInt8(ascii: "'")

    @inline(__always) static func isVowel(_ c: UInt8) -> Bool { c == a || c == e || c == i || c == o || c == u || c == y }

    private static let exceptions1: [String: String] = [
        "skis": "ski", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "idly": "idl", "gently": "gentl",
        "ugly": "ugli", "early": "earli", "only": "onli", "singly": "singl", "sky": "sky", "news": "news", "howe": "howe",
        "atlas": "atlas", "cosmos": "cosmos", "bias": "bias", "andes": "andes",
        // Snowball 2's output for the "past" family (its R1 exception keeps their e).
        "paste": "paste", "pastes": "paste", "pasted": "paste", "pasting": "paste",
    ]
    private static let exceptions2: Set<String> = ["inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed", "evening"]

    // Suffix tables, built once.
    static let step2Rules: [(StaticString, StaticString)] = [
                ("ization", "ize"), ("ational", "ate"), ("fulness", "ful"), ("ousness", "ous"), ("iveness", "ive"), ("ogist", "og"),
                ("tional", "tion"), ("biliti", "ble"), ("lessli", "less"), ("entli", "ent"), ("ation", "ate"),
                ("alism", "al"), ("aliti", "al"), ("ousli", "ous"), ("iviti", "ive"), ("fulli", "ful"), ("enci", "ence"),
                ("anci", "ance"), ("abli", "able"), ("izer", "ize"), ("ator", "ate"), ("alli", "al"), ("bli", "ble"),
                ("ogi", "og"), ("li", ""),
            ]
    static let step3Rules: [(StaticString, StaticString)] = [
                ("ational", "ate"), ("tional", "tion"), ("alize", "al"), ("icate", "ic"), ("iciti", "ic"), ("ative", ""),
                ("ical", "ic"), ("ness", ""), ("ful", ""),
            ]
    static let step4Suffixes: [StaticString] = ["ement", "ance", "ence", "able", "ible", "ment", "ant", "ent", "ism", "ate", "iti", "ous",
                                            "ive", "ize", "ion", "al", "er", "ic"]
    static let step0Suffixes: [StaticString] = ["'s'", "'s", "'"]
    static let eedSuffixes: [StaticString] = ["eedly", "eed"]
    static let edSuffixes: [StaticString] = ["ingly", "edly", "ing", "ed"]
    static let r1Prefixes: [StaticString] = ["gener", "commun", "arsen", "past", "univers", "later", "emerg", "organ", "inter"]

    /// Stems lowercase ASCII in place.
    public static func stem(_ w: inout [UInt8]) {
        guard w.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || $0 == apostrophe }) else { return }
        if w.count <= 2 { return }
        if w.count <= 7, let ex = exceptions1[String(decoding: w, as: UTF8.self)] { w = Array(ex.utf8); return }
        // Initial apostrophe; y at the start or after a vowel is a consonant (Y).
        if w.first == apostrophe { w.removeFirst() }
        if w.first == y { w[0] = Y }
        if w.count > 1 { for k in 1..<w.count where w[k] == y && isVowel(w[k - 1]) { w[k] = Y } }
        let (r1, r2) = regions(w)
        var s = Word(w: w, r1: r1, r2: r2)
        s.step0()
        s.step1a()
        if (6...7).contains(s.w.count) && exceptions2.contains(String(decoding: s.w, as: UTF8.self)) { w = s.w; return }
        s.step1b()
        s.step1c()
        s.step2()
        s.step3()
        s.step4()
        s.step5()
        w = s.w.map { $0 == Y ? y : $0 }
    }

    /// R1: after the first non-vowel following a vowel (or after gener/commun/arsen); R2: the
    /// same within R1.
    static func regions(_ w: [UInt8]) -> (Int, Int) {
        func after(_ from: Int) -> Int {
            var k = from + 1
            while k < w.count {
                if !isVowel(w[k]) && isVowel(w[k - 1]) { return k + 1 }
                k += 1
            }
            return w.count
        }
        var r1 = after(0)
        for prefix in r1Prefixes {
            let n = prefix.utf8CodeUnitCount
            if w.count >= n && (0..<n).allSatisfy({ w[$0] == prefix.utf8Start[$0] }) { r1 = n; break }
        }
        let r2 = r1 < w.count ? after(r1) : w.count
        return (min(r1, w.count), min(r2, w.count))
    }

    struct Word {
        var w: [UInt8]
        var r1: Int
        var r2: Int

        func ends(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard w.count >= n else { return false }
            let base = w.count - n
            for k in 0..<n where w[base + k] != s.utf8Start[k] { return false }
            return true
        }

        mutating func replace(_ suffix: StaticString, _ with: StaticString) {
            w.removeLast(suffix.utf8CodeUnitCount)
            for k in 0..<with.utf8CodeUnitCount { w.append(with.utf8Start[k]) }
        }

        func inR1(_ suffix: StaticString) -> Bool { w.count - suffix.utf8CodeUnitCount >= r1 }
        func inR2(_ suffix: StaticString) -> Bool { w.count - suffix.utf8CodeUnitCount >= r2 }

        /// A short syllable ending at index `end` (exclusive).
        func shortSyllable(endingAt end: Int) -> Bool {
            if end == 2 { return isVowel(w[0]) && !isVowel(w[1]) }
            guard end >= 3 else { return false }
            let c1 = w[end - 3], v = w[end - 2], c2 = w[end - 1]
            return !isVowel(c1) && isVowel(v) && !isVowel(c2) && c2 != UInt8(ascii: "w") && c2 != UInt8(ascii: "x") && c2 != Y
        }

        var isShort: Bool { r1 >= w.count && shortSyllable(endingAt: w.count) }

        mutating func step0() {
            for suffix in EnglishStemmer.step0Suffixes where ends(suffix) { w.removeLast(suffix.utf8CodeUnitCount); return }
        }

        mutating func step1a() {
            if ends("sses") { replace("sses", "ss"); return }
            if ends("ied") || ends("ies") {
                w.removeLast(3)
                w.append(i)
                if w.count <= 2 { w.append(e) }  // "ties" → "tie", "cries" → "cri"
                return
            }
            if ends("us") || ends("ss") { return }
            if ends("s") {
                // Delete if the part before the s holds a vowel not right before it.
                if w.count >= 3 && w[..<(w.count - 2)].contains(where: isVowel) { w.removeLast() }
            }
        }

        mutating func step1b() {
            for suffix in EnglishStemmer.eedSuffixes where ends(suffix) {
                if inR1(suffix) { replace(suffix, "ee") }
                return
            }
            for suffix in EnglishStemmer.edSuffixes where ends(suffix) {
                let n = suffix.utf8CodeUnitCount
                guard w[..<(w.count - n)].contains(where: isVowel) else { return }
                w.removeLast(n)
                let ing = suffix.utf8Start[0] == i
                if ing && w.count == 2 && !isVowel(w[0]) && w[1] == y {
                    w[1] = i
                    w.append(e)  // "dying" → "die", "fying" → "fie"
                } else if ends("at") || ends("bl") || ends("iz") {
                    w.append(e)
                } else if w.count >= 2, w[w.count - 1] == w[w.count - 2], "bdfgmnprt".utf8.contains(w[w.count - 1]),
                          !(w.count == 3 && isVowel(w[0]) && "bdfgr".utf8.contains(w[1])) {  // "added" → "add", "upped" → "up"
                    w.removeLast()
                } else if isShort {
                    w.append(e)
                }
                return
            }
        }

        mutating func step1c() {
            guard w.count > 2, let last = w.last, last == y || last == Y, !isVowel(w[w.count - 2]) else { return }
            w[w.count - 1] = i
        }

        mutating func step2() {
            let rules = EnglishStemmer.step2Rules
            for (suffix, with) in rules where ends(suffix) {
                guard inR1(suffix) else { return }
                if suffix.utf8CodeUnitCount == 3 && suffix.utf8Start[0] == o {  // "ogi"
                    if w.count >= 4 && w[w.count - 4] == UInt8(ascii: "l") { replace(suffix, with) }
                } else if suffix.utf8CodeUnitCount == 2 {  // "li"
                    let c = w.count >= 3 ? w[w.count - 3] : 0
                    if "cdeghkmnrt".utf8.contains(c) { replace(suffix, with) }
                } else {
                    replace(suffix, with)
                }
                return
            }
        }

        mutating func step3() {
            let rules = EnglishStemmer.step3Rules
            for (suffix, with) in rules where ends(suffix) {
                guard inR1(suffix) else { return }
                if suffix.utf8CodeUnitCount == 5 && suffix.utf8Start[0] == a && suffix.utf8Start[1] == UInt8(ascii: "t") {  // "ative"
                    if inR2(suffix) { replace(suffix, with) }
                } else {
                    replace(suffix, with)
                }
                return
            }
        }

        mutating func step4() {
            let suffixes = EnglishStemmer.step4Suffixes
            for suffix in suffixes where ends(suffix) {
                guard inR2(suffix) else { return }
                if suffix.utf8CodeUnitCount == 3 && suffix.utf8Start[0] == i && suffix.utf8Start[1] == o {  // "ion"
                    let c = w.count >= 4 ? w[w.count - 4] : 0
                    if c == UInt8(ascii: "s") || c == UInt8(ascii: "t") { w.removeLast(3) }
                } else {
                    w.removeLast(suffix.utf8CodeUnitCount)
                }
                return
            }
        }

        mutating func step5() {
            if ends("e") {
                if inR2("e") || (inR1("e") && !shortSyllable(endingAt: w.count - 1)) { w.removeLast() }
            } else if ends("l") {
                if inR2("l") && w.count >= 2 && w[w.count - 2] == UInt8(ascii: "l") { w.removeLast() }
            }
        }
    }
}
