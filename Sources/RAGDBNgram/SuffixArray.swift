import CRAGDBKernels

/// Suffix array construction by induced sorting (SA-IS: Nong, Zhang and Chan, "Two Efficient
/// Algorithms for Linear Time Suffix Array Construction", 2011), in C (`sais.c`): the Swift
/// version of the same code built 2.1 MB/s of text; docs/ngram.md has the figures.
///
/// Linear time; memory: the Int32 result, one type byte per symbol, the bucket arrays, and the
/// reduced problem (at most half the size, inside the result) in recursion.
enum SuffixArray {
    /// The suffix array of `text`, whose last symbol must be 0 and unique (the sentinel), all
    /// symbols in `0..<alphabet`.
    ///
    /// - Precondition: `text.last == 0`, no other 0, `text.count < Int32.max`.
    static func build(_ text: [Int32], alphabet: Int) -> [Int32] {
        precondition(text.last == 0 && text.count < Int(Int32.max), "the text must end with the sentinel 0")
        var sa = [Int32](repeating: -1, count: text.count)
        let rc = text.withUnsafeBufferPointer { t in
            sa.withUnsafeMutableBufferPointer { s in ragdb_sais_i32(t.baseAddress, s.baseAddress, Int32(t.count), Int32(alphabet)) }
        }
        precondition(rc == 0, "suffix array construction ran out of memory")
        return sa
    }

    /// The FM-index layout of byte text `r` in one C pass: SA-IS in huge pages (freed before
    /// returning), then the BWT, the SA-order samples (SA of every `rate`-th row), and the row
    /// of each chunk's SEP (at `beginnings`).
    static func layout(bytes r: [UInt8], alphabet: Int, rate: Int, beginnings: [UInt32]) -> (bwt: [UInt8], samples: [UInt32], sepRows: [UInt32]) {
        let n = r.count
        precondition(r.last == 0 && n < Int(Int32.max) && alphabet <= 256)
        var bwt = [UInt8](repeating: 0, count: n)
        var samples = [UInt32](repeating: 0, count: (n + rate - 1) / rate)
        var sepRows = [UInt32](repeating: 0, count: beginnings.count)
        let rc = r.withUnsafeBufferPointer { rp in
            beginnings.withUnsafeBufferPointer { bp in
                bwt.withUnsafeMutableBufferPointer { wp in
                    samples.withUnsafeMutableBufferPointer { sp in
                        sepRows.withUnsafeMutableBufferPointer { qp in
                            ragdb_fm_layout_u8(rp.baseAddress, Int32(n), Int32(alphabet), Int32(rate), bp.baseAddress, Int32(bp.count),
                                               wp.baseAddress, sp.baseAddress, qp.baseAddress)
                        }
                    }
                }
            }
        }
        precondition(rc == 0, "suffix array construction ran out of memory")
        return (bwt, samples, sepRows)
    }
}
