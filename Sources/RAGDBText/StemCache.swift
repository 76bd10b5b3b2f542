#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-thread memo of stems: English text repeats its words, and stemming is the largest
/// cost of analysis (about 16 % of an import's CPU before this cache, BENCHMARKS.md), so each
/// preparing thread keeps the stems it has computed across documents and batches.
///
/// Direct-mapped over 2¹⁷ slots (6 MiB a thread): a word of at most 16 lowercase letters is
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
        private struct Entry {
            var key = SIMD2<UInt64>(0, 0)
            var value = SIMD2<UInt64>(0, 0)
            var length: UInt8 = 0          // stem length + 1; 0 = empty
            var stemmer: UInt8 = 0
        }
        private static let slots = 1 << 17
        // One entry per slot, 48 bytes: a hit reads one or two cache lines.
        private var entries = [Entry](repeating: Entry(), count: slots)

        @inline(__always)
        private static func slot(_ k: SIMD2<UInt64>, _ stemmer: UInt8) -> Int {
            let h = (k[0] &* 0x9E37_79B9_7F4A_7C15) ^ (k[1] &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(stemmer)
            return Int(truncatingIfNeeded: h >> 47) & (slots - 1)
        }

        /// The stem of the word packed in `key` (`Analyzer.pack`: at most 16 lowercase ASCII
        /// letters, little-endian) and its length, if this table holds it.
        ///
        /// - Complexity: one multiply and one slot.
        @inline(__always)
        func lookup(_ key: SIMD2<UInt64>, stemmer: UInt8) -> (stem: SIMD2<UInt64>, length: Int)? {
            entries.withUnsafeBufferPointer { e in
                let i = Self.slot(key, stemmer)
                guard e[i].length != 0 && e[i].key == key && e[i].stemmer == stemmer else { return nil }
                return (e[i].value, Int(e[i].length) - 1)
            }
        }

        /// Remembers that the word packed in `key` stems to `stem` (`length` bytes, at most 16,
        /// packed the same way), evicting whatever held its slot.
        @inline(__always)
        mutating func insert(_ key: SIMD2<UInt64>, stemmer: UInt8, stem: SIMD2<UInt64>, length: Int) {
            entries.withUnsafeMutableBufferPointer { e in
                e[Self.slot(key, stemmer)] = Entry(key: key, value: stem, length: UInt8(length + 1), stemmer: stemmer)
            }
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
