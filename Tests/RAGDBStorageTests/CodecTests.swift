import Foundation
import RAGDBStorage
import RAGDBTestSupport
import Testing

@Suite struct KeyEncodingTests {
    @Test("integer, signed, double and string key components round-trip")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let a = UInt32(truncatingIfNeeded: rng.next()), b = rng.next()
            let c = Int64(bitPattern: rng.next()), d = Double(bitPattern: rng.next())
            let s = generatedText(words: Int(rng.next() % 4), using: &rng) + "\u{0}x"
            var k = KeyBuilder()
            k.append(a); k.append(b); k.append(c); k.append(d)
            k.appendTerminated(s); k.appendLengthPrefixed(Array(s.utf8)); k.appendTail([1, 2, 3])
            var r = KeyReader(k.bytes)
            #expect(try r.readUInt32() == a)
            #expect(try r.readUInt64() == b)
            #expect(try r.readInt64() == c)
            let back = try r.readDouble()
            #expect(back.bitPattern == d.bitPattern)
            #expect(try r.readTerminated() == s)
            #expect(try r.readLengthPrefixed() == Array(s.utf8))
            #expect(r.readTail() == [1, 2, 3])
            #expect(r.isAtEnd)
        }
    }

    @Test("encoded keys compare bytewise as their values compare", arguments: [1, 2, 3])
    func orderPreserving(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        func key(_ f: (inout KeyBuilder) -> Void) -> [UInt8] { var k = KeyBuilder(); f(&k); return k.bytes }
        let specials: [Double] = [-.infinity, -1e300, -1, -0.5, -Double.leastNonzeroMagnitude, -0.0, 0.0,
                                  Double.leastNonzeroMagnitude, 0.5, 1, 1e300, .infinity]
        for i in 0..<specials.count - 1 {
            let (x, y) = (specials[i], specials[i + 1])
            #expect(key { $0.append(x) }.lexicographicallyPrecedes(key { $0.append(y) }) || (x == y), "seed \(seed): \(x) vs \(y)")
        }
        for _ in 0..<3000 {
            let x = Int64(bitPattern: rng.next()) >> (rng.next() % 60), y = Int64(bitPattern: rng.next()) >> (rng.next() % 60)
            #expect((x < y) == key { $0.append(x) }.lexicographicallyPrecedes(key { $0.append(y) }), "seed \(seed): \(x) vs \(y)")
            let dx = Double(x) / 7, dy = Double(y) / 3
            #expect((dx < dy) == key { $0.append(dx) }.lexicographicallyPrecedes(key { $0.append(dy) }), "seed \(seed): \(dx) vs \(dy)")
            let ux = rng.next() >> (rng.next() % 64), uy = rng.next() >> (rng.next() % 64)
            #expect((ux < uy) == key { $0.append(ux) }.lexicographicallyPrecedes(key { $0.append(uy) }))
            // Terminated strings keep lexicographic order even with embedded NULs and
            // as the first of two components.
            let sx = String(decoding: (0..<rng.next() % 5).map { _ in UInt8(rng.next() % 3) }, as: UTF8.self)
            let sy = String(decoding: (0..<rng.next() % 5).map { _ in UInt8(rng.next() % 3) }, as: UTF8.self)
            let kx = key { $0.appendTerminated(sx); $0.append(UInt32(9)) }, ky = key { $0.appendTerminated(sy); $0.append(UInt32(1)) }
            if sx != sy {
                #expect(sx.utf8.lexicographicallyPrecedes(sy.utf8) == kx.lexicographicallyPrecedes(ky), "\(Array(sx.utf8)) vs \(Array(sy.utf8))")
            }
        }
    }

    @Test("a truncated key throws instead of trapping")
    func truncated() {
        var k = KeyBuilder()
        k.append(UInt64(5))
        var r = KeyReader(Array(k.bytes.prefix(5)))
        #expect(throws: StorageError.self) { try r.readUInt64() }
    }
}

@Suite struct ByteCodingTests {
    @Test("little-endian values round-trip, and short input throws at every cut")
    func roundTripAndTruncation() throws {
        var w = ByteWriter()
        w.write(UInt8(7)); w.write(UInt16(0xBEEF)); w.write(UInt32(0xDEADBEEF)); w.write(UInt64.max - 3)
        w.write(Int64.min); w.write(-2.5); w.writeString32("héllo"); w.writeString16("wörld")
        let bytes = w.bytes
        #expect(Array(bytes[1...2]) == [0xEF, 0xBE])  // little-endian on disk
        var r = ByteReader(bytes, context: "test")
        #expect(try r.readUInt8() == 7)
        #expect(try r.readUInt16() == 0xBEEF)
        #expect(try r.readUInt32() == 0xDEADBEEF)
        #expect(try r.readUInt64() == UInt64.max - 3)
        #expect(try r.readInt64() == Int64.min)
        #expect(try r.readDouble() == -2.5)
        #expect(try r.readString32() == "héllo")
        #expect(try r.readString16() == "wörld")
        try r.expectEnd()
        for cut in 0..<bytes.count {
            var t = ByteReader(Array(bytes.prefix(cut)), context: "test")
            #expect(throws: StorageError.self) {
                _ = try t.readUInt8(); _ = try t.readUInt16(); _ = try t.readUInt32(); _ = try t.readUInt64()
                _ = try t.readInt64(); _ = try t.readDouble(); _ = try t.readString32(); _ = try t.readString16()
            }
        }
    }
}

@Suite struct ChecksumTests {
    // Reference values from the xxHash reference implementation (python-xxhash 3.x).
    @Test("XXH32 and XXH64 match the reference implementation", arguments: [
        ("", UInt32(0x02CC_5D05), UInt64(0xEF46_DB37_51D8_E999)),
        ("a", 0x550D_7456, 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0x32D1_53FF, 0x44BC_2CF5_AD77_0999),
        ("Nobody inspects the spammish repetition", 0xE229_3B2F, 0xFBCE_A83C_8A37_8BF1),
    ])
    func knownVectors(input: String, h32: UInt32, h64: UInt64) {
        #expect(XXHash.xxh32(Array(input.utf8)) == h32)
        #expect(XXHash.xxh64(Array(input.utf8)) == h64)
    }

    @Test("XXH32 and XXH64 of 768 bytes 0...255 repeated match the reference")
    func longInput() {
        let bytes = (0..<768).map { UInt8($0 % 256) }
        #expect(XXHash.xxh32(bytes) == 0xCDB9_46B1)
        #expect(XXHash.xxh64(bytes) == 0x8E03_C838_C596_036F)
    }
}

@Suite struct FramedValueTests {
    static func sample(_ n: Int, compressible: Bool, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        if compressible { return Array(generatedText(words: n / 5 + 1, using: &rng).utf8.prefix(n)) }
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test("values round-trip for every size class, compressed only when it pays",
          arguments: [0, 1, 63, 64, 100, 4096, 1 << 20], [true, false])
    func roundTrip(size: Int, compressible: Bool) throws {
        let raw = Self.sample(size, compressible: compressible, seed: UInt64(size))
        let framed = try FramedValue.encode(raw, policy: .whenItPays)
        let header = try framed.withUnsafeBytes { p in try FramedValue.header(of: unsafe RawSpan(_unsafeBytes: p), context: "t") }
        #expect(header.rawLength == raw.count)
        if compressible && size >= 4096 {
            #expect(header.codec == .lz4)
            #expect(framed.count < raw.count)
        }
        if !compressible || size < 64 { #expect(header.codec == .raw) }
        #expect(try FramedValue.decode(framed, context: "t") == raw)
        let never = try FramedValue.encode(raw, policy: .never)
        #expect(never.count == raw.count + FramedValue.headerSize)
        #expect(try FramedValue.decode(never, context: "t") == raw)
    }

    @Test("any single damaged byte or truncation of a compressed value throws a typed error")
    func corruptionIsDetected() throws {
        let raw = Self.sample(3000, compressible: true, seed: 3)
        let framed = try FramedValue.encode(raw, policy: .whenItPays)
        #expect(framed[0] == ValueCodec.lz4.rawValue)
        for i in 0..<framed.count {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = framed
                bad[i] ^= flip
                do {
                    // Decoding may only succeed if it yields exactly the original bytes
                    // (a flip inside an LZ4 match offset can point at identical bytes).
                    let out = try FramedValue.decode(bad, context: "t")
                    #expect(out == raw, "byte \(i) ^ \(flip) decoded to wrong bytes")
                } catch {
                    #expect(error.code == .corruptValue)
                }
            }
        }
        for cut in [0, 1, 15, 16, 17, framed.count / 2, framed.count - 1] {
            #expect(throws: StorageError.self) { try FramedValue.decode(Array(framed.prefix(cut)), context: "t") }
        }
    }
}
