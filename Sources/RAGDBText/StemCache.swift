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
final class StemCache {
    private struct Entry {
        var key = SIMD2<UInt64>(0, 0)
        var value = SIMD2<UInt64>(0, 0)
        var length: UInt8 = 0          // stem length + 1; 0 = empty
        var stemmer: UInt8 = 0
    }
    private static let slots = 1 << 17
    // One entry per slot, 48 bytes: a hit reads one or two cache lines.
    private var entries = [Entry](repeating: Entry(), count: slots)

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

    /// Stems `word` (lowercase ASCII letters) with `stemmer`, from the cache when it can.
    ///
    /// - Complexity: one multiply and one slot for words of up to 16 letters; the stemmer
    ///   itself on a miss.
    @inline(__always)
    func stem(_ word: inout [UInt8], stemmer: UInt8, _ compute: (inout [UInt8]) -> Void) {
        let n = word.count
        guard n <= 16, n > 0 else { compute(&word); return }
        let k = Analyzer.pack(word)
        let h = (k[0] &* 0x9E37_79B9_7F4A_7C15) ^ (k[1] &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(stemmer)
        let i = Int(truncatingIfNeeded: h >> 47) & (Self.slots - 1)
        entries.withUnsafeMutableBufferPointer { e in
            if e[i].length != 0 && e[i].key == k && e[i].stemmer == stemmer {
                let v = SIMD2<UInt64>(e[i].value[0].littleEndian, e[i].value[1].littleEndian)
                let len = Int(e[i].length) - 1
                word.removeAll(keepingCapacity: true)
                withUnsafeBytes(of: v) { word.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<len])) }
                return
            }
            compute(&word)
            guard word.count <= 16 else { return }
            e[i] = Entry(key: k, value: Analyzer.pack(word), length: UInt8(word.count + 1), stemmer: stemmer)
        }
    }
}
