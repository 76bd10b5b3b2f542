/// xxHash (XXH32 and XXH64, seed 0 unless given), the non-cryptographic checksums named in
/// Format.md. Reference: the xxHash specification (xxhash_spec.md, Yann Collet).
public enum XXHash {
    private static let p32: (UInt32, UInt32, UInt32, UInt32, UInt32) = (2654435761, 2246822519, 3266489917, 668265263, 374761393)
    private static let p64: (UInt64, UInt64, UInt64, UInt64, UInt64) = (
        11400714785074694791, 14029467366897019727, 1609587929392839161, 9650029242287828579, 2870177450012600261)

    /// XXH32 of `bytes`.
    ///
    /// - Complexity: O(*n*), about 4 bytes per cycle; no allocation.
    public static func xxh32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        let n = bytes.count
        var i = 0
        var h: UInt32
        @inline(__always) func rd(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        @inline(__always) func round(_ acc: UInt32, _ lane: UInt32) -> UInt32 {
            ((acc &+ lane &* p32.1).rotl(13)) &* p32.0
        }
        if n >= 16 {
            var v1 = seed &+ p32.0 &+ p32.1, v2 = seed &+ p32.1, v3 = seed, v4 = seed &- p32.0
            while i + 16 <= n {
                v1 = round(v1, rd(i)); v2 = round(v2, rd(i + 4)); v3 = round(v3, rd(i + 8)); v4 = round(v4, rd(i + 12))
                i += 16
            }
            h = v1.rotl(1) &+ v2.rotl(7) &+ v3.rotl(12) &+ v4.rotl(18)
        } else {
            h = seed &+ p32.4
        }
        h = h &+ UInt32(truncatingIfNeeded: n)
        while i + 4 <= n {
            h = (h &+ rd(i) &* p32.2).rotl(17) &* p32.3
            i += 4
        }
        while i < n {
            h = (h &+ UInt32(bytes[i]) &* p32.4).rotl(11) &* p32.0
            i += 1
        }
        h ^= h >> 15; h = h &* p32.1; h ^= h >> 13; h = h &* p32.2; h ^= h >> 16
        return h
    }

    /// XXH32 of `bytes`.
    public static func xxh32(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { xxh32($0, seed: seed) }
    }

    /// XXH64 of `bytes`.
    ///
    /// - Complexity: O(*n*), about 8 bytes per cycle; no allocation.
    public static func xxh64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        var i = 0
        var h: UInt64
        @inline(__always) func rd64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        @inline(__always) func rd32(_ at: Int) -> UInt64 { UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        @inline(__always) func round(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
            ((acc &+ lane &* p64.1).rotl(31)) &* p64.0
        }
        @inline(__always) func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
            (acc ^ round(0, v)) &* p64.0 &+ p64.3
        }
        if n >= 32 {
            var v1 = seed &+ p64.0 &+ p64.1, v2 = seed &+ p64.1, v3 = seed, v4 = seed &- p64.0
            while i + 32 <= n {
                v1 = round(v1, rd64(i)); v2 = round(v2, rd64(i + 8)); v3 = round(v3, rd64(i + 16)); v4 = round(v4, rd64(i + 24))
                i += 32
            }
            h = v1.rotl(1) &+ v2.rotl(7) &+ v3.rotl(12) &+ v4.rotl(18)
            h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4)
        } else {
            h = seed &+ p64.4
        }
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h ^= round(0, rd64(i))
            h = h.rotl(27) &* p64.0 &+ p64.3
            i += 8
        }
        if i + 4 <= n {
            h ^= rd32(i) &* p64.0
            h = h.rotl(23) &* p64.1 &+ p64.2
            i += 4
        }
        while i < n {
            h ^= UInt64(bytes[i]) &* p64.4
            h = h.rotl(11) &* p64.0
            i += 1
        }
        h ^= h >> 33; h = h &* p64.1; h ^= h >> 29; h = h &* p64.2; h ^= h >> 32
        return h
    }

    /// XXH64 of `bytes`.
    public static func xxh64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { xxh64($0, seed: seed) }
    }
}

extension FixedWidthInteger where Self: UnsignedInteger {
    @inline(__always) fileprivate func rotl(_ r: Self) -> Self { (self << r) | (self >> (Self(Self.bitWidth) - r)) }
}
