import RAGDBTestSupport
import RAGDBText
import Testing

@Suite struct PorterStemmerTests {
    @Test("the examples of Porter's paper stem as published")
    func paperExamples() {
        let pairs = [("caresses", "caress"), ("ponies", "poni"), ("ties", "ti"), ("cats", "cat"), ("feed", "feed"),
                     ("agreed", "agre"), ("plastered", "plaster"), ("bled", "bled"), ("motoring", "motor"), ("sing", "sing"),
                     ("conflated", "conflat"), ("troubled", "troubl"), ("sized", "size"), ("hopping", "hop"), ("tanned", "tan"),
                     ("falling", "fall"), ("hissing", "hiss"), ("fizzed", "fizz"), ("failing", "fail"), ("filing", "file"),
                     ("happy", "happi"), ("sky", "sky"), ("relational", "relat"), ("conditional", "condit"), ("rational", "ration"),
                     ("vietnamization", "vietnam"), ("predication", "predic"), ("operator", "oper"), ("hopefulness", "hope"),
                     ("triplicate", "triplic"), ("formative", "form"), ("electrical", "electr"), ("goodness", "good"),
                     ("revival", "reviv"), ("adjustable", "adjust"), ("replacement", "replac"), ("dependent", "depend"),
                     ("adoption", "adopt"), ("communism", "commun"), ("effective", "effect"), ("probate", "probat"),
                     ("rate", "rate"), ("cease", "ceas"), ("controll", "control"), ("roll", "roll"), ("generalizations", "gener"), ("conformabli", "conform"), ("bubbly", "bubbli"),
                     ("oscillators", "oscil")]
        for (w, s) in pairs { #expect(PorterStemmer.stem(w) == s, "\(w)") }
    }

    @Test("every fixture word stems as the Snowball implementation of Porter's algorithm does")
    func fixture() {
        var wrong: [String] = []
        for (w, s, _) in stemmerFixture where PorterStemmer.stem(w) != s { wrong.append("\(w): \(PorterStemmer.stem(w)) ≠ \(s)") }
        #expect(wrong.isEmpty, "\(wrong.prefix(20))")
        #expect(stemmerFixture.count > 1000)
    }
}

@Suite struct AnalyzerTests {
    @Test("the per-thread stem cache gives the stemmers' own answers, across stemmers, repeats, long words and threads")
    func stemCache() async {
        let english = Analyzer(stopWords: false, stemmer: .english), porter = Analyzer(stopWords: false, stemmer: .porter)
        // Letters only, and no word the stemmers reduce to nothing (the analyzer drops those).
        let words = stemmerFixture.filter { w in w.0.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A } && !w.1.isEmpty && !w.2.isEmpty }
        let text = words.map(\.0).joined(separator: " ")
        let expectedEnglish = words.map(\.2), expectedPorter = words.map(\.1)
        // Twice each, interleaved, so the second pass is served from the cache and a slot
        // filled by one stemmer is never taken for the other's.
        for _ in 0..<2 {
            #expect(english.terms(text) == expectedEnglish)
            #expect(porter.terms(text) == expectedPorter)
        }
        // Words longer than the cache's 16 letters are stemmed every time.
        #expect(english.terms("internationalizations internationalizations") == ["internation", "internation"])
        // Other threads keep their own caches.
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 { group.addTask { english.terms(text) == expectedEnglish } }
            for await ok in group { #expect(ok) }
        }
    }

    @Test("ASCII words of every length, case and mix of digits analyze as the rules say, with and without each option, cached or not")
    func asciiWordsAgainstRules() {
        var rng = SeededGenerator(seed: 0x5EED)
        let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), digits = Array("0123456789")
        let stops = Array(Analyzer.englishStopWords)
        var words: [String] = []
        for _ in 0..<4000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: words.append(stops.randomElement(using: &rng)!.uppercased())
            case 1: words.append(stops.randomElement(using: &rng)!)
            default:
                let n = Int.random(in: 1...20, using: &rng)
                let withDigits = Int.random(in: 0..<4, using: &rng) == 0
                words.append(String((0..<n).map { _ in withDigits && Bool.random(using: &rng) ? digits.randomElement(using: &rng)! : letters.randomElement(using: &rng)! }))
            }
        }
        let text = words.joined(separator: " ")
        for folding in [true, false] {
            for stopWords in [true, false] {
                for stemmer in Analyzer.Stemmer.allCases {
                    let a = Analyzer(caseFolding: folding, stopWords: stopWords, stemmer: stemmer)
                    var expected: [String] = []
                    for w in words {
                        let t = folding ? w.lowercased() : w
                        if stopWords && Analyzer.englishStopWords.contains(t) { continue }
                        let lettersOnly = t.utf8.allSatisfy { $0 >= 0x61 && $0 <= 0x7A }
                        let stemmed = !lettersOnly ? t : stemmer == .english ? EnglishStemmer.stem(t) : stemmer == .porter ? PorterStemmer.stem(t) : t
                        if !stemmed.isEmpty { expected.append(stemmed) }
                    }
                    // The second pass is served from the stem cache.
                    for _ in 0..<2 { #expect(a.terms(text) == expected, "folding \(folding), stop words \(stopWords), \(stemmer)") }
                }
            }
        }
    }

    @Test("English analysis: segmentation, folding, stop words, stemming")
    func english() {
        let a = Analyzer()
        #expect(a.terms("The Connections between DATABASES, and indexing!") == ["connect", "databas", "index"])
        #expect(a.terms("Café naïve Größe Ærø") == ["cafe", "naiv", "gross", "ærø"])
        #expect(Analyzer(stemmer: .porter).terms("Café naïve") == ["cafe", "naiv"])
        #expect(a.terms("don't stop-words x86_64 3.14") == ["stop", "word", "x86", "64", "3", "14"])
        #expect(a.terms("日本語のテキスト") == ["日本語のテキスト"])
        #expect(a.terms("") == [])
    }

    @Test("each step can be turned off")
    func options() {
        #expect(Analyzer(stopWords: false, stemmer: .none).terms("The Running") == ["the", "running"])
        #expect(Analyzer(caseFolding: false, stopWords: false, stemmer: .none).terms("The Café") == ["The", "Cafe"])
        #expect(Analyzer(diacriticsFolding: false, stemmer: .none).terms("Café") == ["café"])
        #expect(Analyzer(stemmer: .porter).terms("generalizations happily") == ["gener", "happili"])
        #expect(Analyzer(stemmer: .english).terms("generalizations happily") == ["general", "happili"])
    }
}

@Suite struct EnglishStemmerTests {
    @Test("every fixture word stems as Snowball's English (Porter2) stemmer does")
    func fixture() {
        var wrong: [String] = []
        for (w, _, s) in stemmerFixture where EnglishStemmer.stem(w) != s { wrong.append("\(w): \(EnglishStemmer.stem(w)) ≠ \(s)") }
        #expect(wrong.isEmpty, "\(wrong.prefix(20))")
        #expect(stemmerFixture.count > 1000)
    }
}
