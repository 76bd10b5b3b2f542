#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-thread memo of stems: English text repeats its words, and stemming is the largest
/// cost of analysis (about 16 % of an import's CPU before this cache, BENCHMARKS.md), so each
/// preparing thread keeps the stems it has computed across documents and batches.
///
/// Direct-mapped over 2¹⁵ slots (1 MiB a thread): a word of at most 16 lowercase letters is
/// its own 128-bit key (letters are never zero, so the packing is exact); the stem, at most
/// 16 bytes, is stored beside it. A collision evicts. Longer words are stemmed every time.
/// One thread uses one cache, so no locks and no atomic operations are involved; the stemmer
/// is part of the key, so analyzers with different stemmers never share an entry.
///
/// A text's analysis moves the table out of the thread's holder (`take`) and back (`put`)
/// once, so the per-word look-ups work on a local value: no dynamic exclusivity check and no
/// reference counting per word.
final class StemCache {
    /// The slots. A value type, used as a local variable between `take` and `put`.
    struct Table {
        /// A word and its stem, both packed (`Analyzer.pack`); the word's free top bit (ASCII
        /// letters are below 0x80) tells the stemmers apart, a zero word marks an empty slot,
        /// and the stem's length is the count of its non-zero bytes.
        private struct Entry {
            var key = SIMD2<UInt64>(0, 0)
            var stem = SIMD2<UInt64>(0, 0)
        }
        // 2¹⁵ slots of 32 bytes: 1 MiB, about a core's L2 cache. On manpages-dev a
        // table this size misses 2.8 % of look-ups against 1.8 % for 2¹⁷ slots, but a 4 MiB
        // table missed the L2 cache on most look-ups of rarer words, which cost more.
        private static let slots = 1 << 15
        private var entries = [Entry](repeating: Entry(), count: slots)

        @inline(__always)
        private static func tagged(_ k: SIMD2<UInt64>, _ stemmer: UInt8) -> SIMD2<UInt64> {
            stemmer == 2 ? SIMD2(k[0], k[1] | 1 << 63) : k
        }

        @inline(__always)
        private static func slot(_ k: SIMD2<UInt64>) -> Int {
            let h = (k[0] &* 0x9E37_79B9_7F4A_7C15) ^ (k[1] &* 0xC2B2_AE3D_27D4_EB4F)
            return Int(truncatingIfNeeded: ((h ^ h >> 29) &* 0xBF58_476D_1CE4_E5B9) >> UInt64(64 - slots.trailingZeroBitCount))
        }

        @inline(__always)
        private static func byteCount(_ x: UInt64) -> Int { (71 - x.leadingZeroBitCount) >> 3 }

        /// The stem of the word packed in `key` (`Analyzer.pack`: at most 16 lowercase ASCII
        /// letters, little-endian) under stemmer number `stemmer` (1 or 2) and its length, if
        /// this table holds it.
        ///
        /// - Complexity: two multiplies and one slot.
        @inline(__always)
        func lookup(_ key: SIMD2<UInt64>, stemmer: UInt8) -> (stem: SIMD2<UInt64>, length: Int)? {
            let k = Self.tagged(key, stemmer)
            return entries.withUnsafeBufferPointer { e in
                let entry = e[Self.slot(k)]
                guard entry.key == k else { return nil }
                let s = entry.stem
                return (s, s[1] != 0 ? 8 + Self.byteCount(s[1]) : Self.byteCount(s[0]))
            }
        }

        /// Remembers that the word packed in `key` stems to `stem` (at most 16 letters, packed
        /// the same way) under stemmer number `stemmer`, evicting whatever held its slot.
        @inline(__always)
        mutating func insert(_ key: SIMD2<UInt64>, stemmer: UInt8, stem: SIMD2<UInt64>) {
            let k = Self.tagged(key, stemmer)
            entries.withUnsafeMutableBufferPointer { e in e[Self.slot(k)] = Entry(key: k, stem: stem) }
        }
    }

    private var table: Table?

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        // The destructor frees a thread's cache when the thread exits.
        pthread_key_create(&k) { p in if let p { Unmanaged<StemCache>.fromOpaque(p).release() } }
        return k
    }()

    /// This thread's cache. Fetch it once per text, not per word.
    static var current: StemCache {
        if let p = pthread_getspecific(key) { return Unmanaged<StemCache>.fromOpaque(p).takeUnretainedValue() }
        let cache = StemCache()
        pthread_setspecific(key, Unmanaged.passRetained(cache).toOpaque())
        return cache
    }

    /// Moves the table out (a fresh one if it is already out, as in a nested analysis).
    func take() -> Table {
        if let t = table { table = nil; return t }
        return Table()
    }

    /// Moves `table` back in, for the thread's next text.
    func put(_ t: Table) { table = t }
}
