/// Suffix array construction by induced sorting (SA-IS: Nong, Zhang and Chan, "Two Efficient
/// Algorithms for Linear Time Suffix Array Construction", 2011).
///
/// Linear time; memory: the Int32 result, one bit of type per symbol (held as bytes here), the
/// bucket arrays, and the reduced problem (at most half the size) in recursion.
enum SuffixArray {
    /// The suffix array of `text`, whose last symbol must be 0 and unique (the sentinel), all
    /// symbols in `0..<alphabet`.
    ///
    /// - Precondition: `text.last == 0`, no other 0, `text.count < Int32.max`.
    static func build(_ text: [Int32], alphabet: Int) -> [Int32] {
        precondition(text.last == 0, "the text must end with the sentinel 0")
        var sa = [Int32](repeating: -1, count: text.count)
        sais(text, &sa, alphabet)
        return sa
    }

    private static func bucketEnds(_ t: [Int32], _ k: Int, end: Bool) -> [Int32] {
        var counts = [Int32](repeating: 0, count: k)
        for c in t { counts[Int(c)] += 1 }
        var sum: Int32 = 0
        var b = [Int32](repeating: 0, count: k)
        for i in 0..<k {
            sum += counts[i]
            b[i] = end ? sum : sum - counts[i]
        }
        return b
    }

    private static func sais(_ t: [Int32], _ sa: inout [Int32], _ k: Int) {
        let n = t.count
        if n == 1 { sa[0] = 0; return }
        // Types: true = S (smaller than the next suffix), false = L.
        var isS = [Bool](repeating: false, count: n)
        isS[n - 1] = true
        if n >= 2 {
            for i in stride(from: n - 2, through: 0, by: -1) {
                isS[i] = t[i] < t[i + 1] || (t[i] == t[i + 1] && isS[i + 1])
            }
        }
        func isLMS(_ i: Int) -> Bool { i > 0 && isS[i] && !isS[i - 1] }

        // Step 1: place LMS suffixes at their bucket ends, induce, and sort the LMS substrings.
        func induce(_ sa: inout [Int32]) {
            var heads = bucketEnds(t, k, end: false)
            for i in 0..<n {
                let j = Int(sa[i]) - 1
                if sa[i] > 0 && !isS[j] {
                    sa[Int(heads[Int(t[j])])] = Int32(j)
                    heads[Int(t[j])] += 1
                }
            }
            var tails = bucketEnds(t, k, end: true)
            for i in stride(from: n - 1, through: 0, by: -1) {
                let j = Int(sa[i]) - 1
                if sa[i] > 0 && isS[j] {
                    tails[Int(t[j])] -= 1
                    sa[Int(tails[Int(t[j])])] = Int32(j)
                }
            }
        }
        for i in 0..<n { sa[i] = -1 }
        var tails = bucketEnds(t, k, end: true)
        for i in 1..<n where isLMS(i) {
            tails[Int(t[i])] -= 1
            sa[Int(tails[Int(t[i])])] = Int32(i)
        }
        induce(&sa)

        // Step 2: name the sorted LMS substrings.
        var lmsCount = 0
        for i in 0..<n where isLMS(Int(sa[i])) {
            sa[lmsCount] = sa[i]
            lmsCount += 1
        }
        for i in lmsCount..<n { sa[i] = -1 }
        var name: Int32 = 0
        var previous = -1
        for i in 0..<lmsCount {
            let pos = Int(sa[i])
            var differ = false
            if previous < 0 {
                differ = true
            } else {
                var d = 0
                while true {
                    if t[pos + d] != t[previous + d] || isS[pos + d] != isS[previous + d] { differ = true; break }
                    if d > 0 && (isLMS(pos + d) || isLMS(previous + d)) { break }
                    d += 1
                }
            }
            if differ { name += 1; previous = pos }
            sa[lmsCount + pos / 2] = name - 1
        }
        var reduced: [Int32] = []
        reduced.reserveCapacity(lmsCount)
        for i in lmsCount..<n where sa[i] >= 0 { reduced.append(sa[i]) }

        // Step 3: sort the LMS suffixes, recursing when names repeat.
        var reducedSA = [Int32](repeating: -1, count: lmsCount)
        if Int(name) < lmsCount {
            sais(reduced, &reducedSA, Int(name))
        } else {
            for i in 0..<lmsCount { reducedSA[Int(reduced[i])] = Int32(i) }
        }
        // Map back to text positions of the LMS suffixes, in text order.
        var lmsPositions: [Int32] = []
        lmsPositions.reserveCapacity(lmsCount)
        for i in 1..<n where isLMS(i) { lmsPositions.append(Int32(i)) }
        for i in 0..<lmsCount { reducedSA[i] = lmsPositions[Int(reducedSA[i])] }

        // Step 4: place the sorted LMS suffixes at their bucket ends (in reverse) and induce.
        for i in 0..<n { sa[i] = -1 }
        tails = bucketEnds(t, k, end: true)
        for i in stride(from: lmsCount - 1, through: 0, by: -1) {
            let j = Int(reducedSA[i])
            tails[Int(t[j])] -= 1
            sa[Int(tails[Int(t[j])])] = Int32(j)
        }
        induce(&sa)
    }
}
