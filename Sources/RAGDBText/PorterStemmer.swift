/// The Porter stemming algorithm for English (M. F. Porter, "An algorithm for suffix
/// stripping", Program 14(3), 1980) as published — the variant the Snowball project ships as
/// "porter" — without the later departures of the author's C code ("bli" → "ble", "logi" →
/// "log", short words left alone). Tests compare it with Snowball's output word for word.
///
/// Works on lowercase ASCII letters; a word with any other byte is returned unchanged.
///
/// - Complexity: O(*n*) for a word of *n* letters; no allocation beyond the result.
public enum PorterStemmer {
    /// The stem of `word`.
    public static func stem(_ word: String) -> String {
        var bytes = Array(word.utf8)
        guard bytes.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return word }
        stem(&bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Stems lowercase ASCII letters in place.
    public static func stem(_ b: inout [UInt8]) {
        guard !b.isEmpty else { return }
        var s = State(b: b, k: b.count - 1)
        s.step1ab()
        if s.k >= 0 { s.step1c() }
        if s.k >= 1 {
            s.step2()
            s.step3()
            s.step4()
            s.step5()
        }
        b = s.k >= 0 ? Array(s.b[0...s.k]) : []
    }

    private struct State {
        var b: [UInt8]
        var k: Int
        var j = 0

        func cons(_ i: Int) -> Bool {
            switch b[i] {
            case 0x61, 0x65, 0x69, 0x6F, 0x75: return false  // a e i o u
            case 0x79: return i == 0 ? true : !cons(i - 1)  // y
            default: return true
            }
        }

        /// The number of VC sequences in b[0...j].
        func m() -> Int {
            var n = 0
            var i = 0
            while true {
                if i > j { return n }
                if !cons(i) { break }
                i += 1
            }
            i += 1
            while true {
                while true {
                    if i > j { return n }
                    if cons(i) { break }
                    i += 1
                }
                i += 1
                n += 1
                while true {
                    if i > j { return n }
                    if !cons(i) { break }
                    i += 1
                }
                i += 1
            }
        }

        func vowelInStem() -> Bool { (0...max(j, 0)).contains { $0 <= j && !cons($0) } }

        func doubleConsonant(_ i: Int) -> Bool { i >= 1 && b[i] == b[i - 1] && cons(i) }

        /// consonant-vowel-consonant ending at i, the last not w, x or y.
        func cvc(_ i: Int) -> Bool {
            if i < 2 || !cons(i) || cons(i - 1) || !cons(i - 2) { return false }
            return b[i] != 0x77 && b[i] != 0x78 && b[i] != 0x79
        }

        mutating func ends(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            if n > k + 1 { return false }
            for t in 0..<n where b[k - n + 1 + t] != s.utf8Start[t] { return false }
            j = k - n
            return true
        }

        mutating func setTo(_ s: StaticString) {
            let n = s.utf8CodeUnitCount
            b.removeSubrange((j + 1)...)
            for t in 0..<n { b.append(s.utf8Start[t]) }
            k = j + n
        }

        mutating func r(_ s: StaticString) { if m() > 0 { setTo(s) } }

        mutating func step1ab() {
            if b[k] == 0x73 {  // s
                if ends("sses") { k -= 2 } else if ends("ies") { setTo("i") } else if k == 0 || b[k - 1] != 0x73 { k -= 1 }
                b.removeSubrange((k + 1)...)
                if k < 0 { return }
            }
            if ends("eed") {
                if m() > 0 { k -= 1; b.removeSubrange((k + 1)...) }
            } else if (ends("ed") || ends("ing")) && vowelInStem() {
                k = j
                b.removeSubrange((k + 1)...)
                if ends("at") { setTo("ate") } else if ends("bl") { setTo("ble") } else if ends("iz") { setTo("ize") } else if doubleConsonant(k) {
                    k -= 1
                    let ch = b[k]
                    if ch == 0x6C || ch == 0x73 || ch == 0x7A { k += 1 }  // l s z
                    b.removeSubrange((k + 1)...)
                } else if m() == 1 && cvc(k) {
                    setTo("e")
                }
            }
        }

        mutating func step1c() {
            if ends("y") && vowelInStem() { b[k] = 0x69 }
        }

        mutating func step2() {
            switch b[k - 1] {
            case 0x61: if ends("ational") { r("ate") } else if ends("tional") { r("tion") }
            case 0x63: if ends("enci") { r("ence") } else if ends("anci") { r("ance") }
            case 0x65: if ends("izer") { r("ize") }
            case 0x6C:
                if ends("abli") { r("able") } else if ends("alli") { r("al") } else if ends("entli") { r("ent") }
                else if ends("eli") { r("e") } else if ends("ousli") { r("ous") }
            case 0x6F: if ends("ization") { r("ize") } else if ends("ation") { r("ate") } else if ends("ator") { r("ate") }
            case 0x73:
                if ends("alism") { r("al") } else if ends("iveness") { r("ive") } else if ends("fulness") { r("ful") }
                else if ends("ousness") { r("ous") }
            case 0x74: if ends("aliti") { r("al") } else if ends("iviti") { r("ive") } else if ends("biliti") { r("ble") }
            default: break
            }
        }

        mutating func step3() {
            switch b[k] {
            case 0x65: if ends("icate") { r("ic") } else if ends("ative") { r("") } else if ends("alize") { r("al") }
            case 0x69: if ends("iciti") { r("ic") }
            case 0x6C: if ends("ical") { r("ic") } else if ends("ful") { r("") }
            case 0x73: if ends("ness") { r("") }
            default: break
            }
        }

        mutating func step4() {
            var matched = false
            switch b[k - 1] {
            case 0x61: matched = ends("al")
            case 0x63: matched = ends("ance") || ends("ence")
            case 0x65: matched = ends("er")
            case 0x69: matched = ends("ic")
            case 0x6C: matched = ends("able") || ends("ible")
            case 0x6E: matched = ends("ant") || ends("ement") || ends("ment") || ends("ent")
            case 0x6F: matched = (ends("ion") && j >= 0 && (b[j] == 0x73 || b[j] == 0x74)) || ends("ou")
            case 0x73: matched = ends("ism")
            case 0x74: matched = ends("ate") || ends("iti")
            case 0x75: matched = ends("ous")
            case 0x76: matched = ends("ive")
            case 0x7A: matched = ends("ize")
            default: matched = false
            }
            if matched && m() > 1 {
                k = j
                b.removeSubrange((k + 1)...)
            }
        }

        mutating func step5() {
            j = k
            if b[k] == 0x65 && k >= 1 {
                let a = m()
                if a > 1 || (a == 1 && !cvc(k - 1)) { k -= 1 }
            }
            if b[k] == 0x6C && doubleConsonant(k) && m() > 1 { k -= 1 }
            b.removeSubrange((k + 1)...)
        }
    }
}
