#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRAGDBKernels

/// A strict JSON (RFC 8259) parser over UTF-8 bytes, written for the importer's hot loop:
/// one pass, no intermediate `Data`, strings without escapes decoded straight from the
/// buffer, and numbers kept as written — an integer literal (no fraction, no exponent) is an
/// `int`, anything else a `double` — which Foundation's decoder cannot tell apart.
///
/// - Complexity: O(*n*) over the bytes; one allocation per string, array and object.
struct JSONParser {
    enum Failure: Error { case malformed(offset: Int, reason: String) }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0
    private static let maxDepth = 128

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// Parses one JSON text that fills `bytes` (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) -> JSONValue {
        var p = JSONParser(bytes)
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("trailing characters after the JSON value") }
        return v
    }

    /// Parses the JSON text in `bytes`.
    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        let r: Result<JSONValue, Failure> = bytes.withUnsafeBufferPointer { b in Result { () throws(Failure) in try parse(b) } }
        return try r.get()
    }

    private func fail(_ reason: String) -> Failure { .malformed(offset: i, reason: reason) }

    @inline(__always) private mutating func skipSpace() {
        while i < bytes.count {
            let b = bytes[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    private mutating func value() throws(Failure) -> JSONValue {
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("unexpected character") }
        i += n
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) levels") }
    }

    private mutating func object() throws(Failure) -> JSONValue {
        try enter()
        i += 1
        var out: [String: JSONValue] = [:]
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(out) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipSpace()
            guard out.updateValue(try value(), forKey: key) == nil else { throw fail("duplicate key") }
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
            i += 1
            depth -= 1
            return .object(out)
        }
    }

    private mutating func array() throws(Failure) -> JSONValue {
        try enter()
        i += 1
        var out: [JSONValue] = []
        skipSpace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(out) }
        while true {
            skipSpace()
            out.append(try value())
            skipSpace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
            i += 1
            depth -= 1
            return .array(out)
        }
    }

    private mutating func string() throws(Failure) -> String {
        i += 1  // opening quote
        let start = i
        var out: [UInt8]? = nil  // used only once an escape is met
        var runStart = i
        while true {
            // To the next quote, backslash or control byte, 16 bytes a step (a C kernel: Swift's
            // SIMD reductions are not vectorised for baseline x86-64).
            if i < bytes.count { i += ragdb_json_string_scan(bytes.baseAddress! + i, bytes.count - i) }
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == 0x22 {
                let s: String?
                if var o = out {
                    o.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                    s = String(validating: o, as: UTF8.self)
                } else {
                    s = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                }
                guard let s else { throw fail("invalid UTF-8 in a string") }
                i += 1
                return s
            }
            if b < 0x20 { throw fail("control character in a string") }
            // A backslash: copy the run before it, then decode the escape.
            if out == nil { out = []; out!.reserveCapacity(i - start + 256) }
            out!.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            guard i + 1 < bytes.count else { throw fail("unexpected end") }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out!.append(0x22)
            case UInt8(ascii: "\\"): out!.append(0x5C)
            case UInt8(ascii: "/"): out!.append(0x2F)
            case UInt8(ascii: "b"): out!.append(0x08)
            case UInt8(ascii: "f"): out!.append(0x0C)
            case UInt8(ascii: "n"): out!.append(0x0A)
            case UInt8(ascii: "r"): out!.append(0x0D)
            case UInt8(ascii: "t"): out!.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("unpaired surrogate escape")
                }
                out!.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
            default:
                throw fail("invalid escape")
            }
            runStart = i
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("unexpected end") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - 0x41 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private static let pow10: [Double] = (0...22).map { e in (0..<e).reduce(1.0) { x, _ in x * 10 } }

    private mutating func number() throws(Failure) -> JSONValue {
        let start = i
        var negative = false
        if bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("invalid number") }
        if bytes[i] == 0x30 && i + 1 < bytes.count && (0x30...0x39).contains(bytes[i + 1]) { throw fail("leading zero in a number") }
        var mantissa: UInt64 = 0
        var digits = 0
        while i < bytes.count, (0x30...0x39).contains(bytes[i]) {
            if digits < 19 { mantissa = mantissa * 10 + UInt64(bytes[i] - 0x30) }
            digits += 1
            i += 1
        }
        var isInteger = true
        var fractionDigits = 0
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(bytes[i] - 0x30); fractionDigits += 1 }
                digits += 1
                i += 1
            }
        }
        var exponent = 0
        if i < bytes.count && (bytes[i] | 0x20) == UInt8(ascii: "e") {
            isInteger = false
            i += 1
            var expNegative = false
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { expNegative = bytes[i] == UInt8(ascii: "-"); i += 1 }
            guard i < bytes.count, (0x30...0x39).contains(bytes[i]) else { throw fail("invalid number") }
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[i] - 0x30) }
                i += 1
            }
            if expNegative { exponent = -exponent }
        }
        if isInteger && digits <= 19 {
            if negative {
                if mantissa <= UInt64(Int64.max) + 1 { return .int(mantissa == UInt64(Int64.max) + 1 ? .min : -Int64(mantissa)) }
            } else if mantissa <= UInt64(Int64.max) {
                return .int(Int64(mantissa))
            }
        }
        // Exact fast path (Clinger): a mantissa below 2^53 scaled by a power of ten ≤ 22.
        let e10 = exponent - fractionDigits
        if digits <= 15 && abs(e10) <= 22 {
            var d = Double(mantissa)
            d = e10 >= 0 ? d * Self.pow10[e10] : d / Self.pow10[-e10]
            return .double(negative ? -d : d)
        }
        // Anything else: the C library's correctly rounded conversion.
        var text = [CChar](repeating: 0, count: i - start + 1)
        for k in start..<i { text[k - start] = CChar(bitPattern: bytes[k]) }
        return .double(strtod(text, nil))
    }
}
