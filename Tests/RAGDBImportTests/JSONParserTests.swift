import Foundation
import RAGDBTestSupport
import Testing
@testable import RAGDBImport

private func parse(_ s: String) throws -> JSONValue { try JSONParser.parse(Array(s.utf8)) }

@Suite struct JSONParserTests {
    @Test("values parse exactly; integer literals stay integers", arguments: [
        (#"{"a": 1, "b": 1.0, "c": -0, "d": 1e2, "e": true, "f": null, "g": [], "h": {}}"#,
         JSONValue.object(["a": .int(1), "b": .double(1), "c": .int(0), "d": .double(100), "e": .bool(true), "f": .null, "g": .array([]), "h": .object([:])])),
        (#"[9223372036854775807, -9223372036854775808, 9223372036854775808]"#,
         .array([.int(.max), .int(.min), .double(9223372036854775808)])),
        (#"[0.1, 2.5e-3, -1.25E+2, 123456789.123456789, 1e400]"#,
         .array([.double(0.1), .double(2.5e-3), .double(-125), .double(123456789.123456789), .double(.infinity)])),
        (#""\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 ok""#, .string("\"\\/\u{08}\u{0C}\n\r\té😀 ok")),
        (#"  "naïve café"  "#, .string("naïve café")),
    ])
    func valid(text: String, expected: JSONValue) throws {
        #expect(try parse(text) == expected)
    }

    @Test("malformed JSON is refused", arguments: [
        "", "{", #"{"a" 1}"#, #"{"a": 1,}"#, "[1,]", "01", "1.", "-", ".5", "1e", #""\x""#, #""\ud800""#, #""\udc00x""#,
        "\"tab\there\"", #"{"a": 1} x"#, "tru", "nul", #"{"a": 1, "a": 2}"#, String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
    ])
    func invalid(text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("an escape, a quote or a raw control byte is found at every position around the scan's 16-byte steps")
    func specialBytesAtEveryPosition() throws {
        let escaped = Array(#"\n\u00e9\""#.utf8)
        for length in 0..<70 {
            for at in 0...length {
                let run = Array("é".utf8) + Array(repeating: UInt8(ascii: "x"), count: length)
                let prefix = Array(run[..<at]), rest = Array(run[at...])
                guard String(validating: prefix, as: UTF8.self) != nil else { continue }  // inside é
                // Escapes inside the run decode; the text around them stays exact.
                let json = [0x22] + prefix + escaped + rest + [0x22]
                let want = String(decoding: prefix, as: UTF8.self) + "\né\"" + String(decoding: rest, as: UTF8.self)
                #expect(try JSONParser.parse(json) == .string(want), "length \(length) at \(at)")
                // A raw control byte anywhere is refused, and so is a missing closing quote.
                var control = [UInt8(0x22)] + run + [0x22]
                control[1 + at] = 0x1F
                #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(control) }
                #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22] + prefix) }
            }
        }
    }

    @Test("random documents parse as Foundation parses them", arguments: [1, 2, 3])
    func agreesWithFoundation(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        func random(_ depth: Int) -> Any {
            switch rng.next() % (depth > 3 ? 4 : 6) {
            case 0: return Int64(bitPattern: rng.next()) >> (rng.next() % 63)
            case 1: return Double(Int64(bitPattern: rng.next()) >> 20) / 1024
            case 2: return generatedText(words: Int(rng.next() % 5), using: &rng) + "\n\"\\\t\u{1F600}"
            case 3: return rng.next() % 2 == 0
            case 4: return (0..<rng.next() % 4).map { _ in random(depth + 1) }
            default:
                var o: [String: Any] = [:]
                for k in 0..<rng.next() % 4 { o["k\(k)"] = random(depth + 1) }
                return o
            }
        }
        func same(_ a: JSONValue, _ b: Any) -> Bool {
            switch a {
            case .int(let i): return (b as? NSNumber).map { $0.int64Value == i && $0.doubleValue == Double(i) } ?? false
            // Foundation on Linux returns NSDecimalNumber for some literals, whose doubleValue
            // is not correctly rounded; its decimal string is exact.
            case .double(let d): return (b as? NSNumber).map { $0.doubleValue == d || Double($0.stringValue) == d } ?? false
            case .bool(let v): return (b as? Bool) == v
            case .string(let s): return (b as? String) == s
            case .null: return b is NSNull
            case .array(let items):
                guard let arr = b as? [Any], arr.count == items.count else { return false }
                return zip(items, arr).allSatisfy { same($0, $1) }
            case .object(let o):
                guard let dict = b as? [String: Any], dict.count == o.count else { return false }
                return o.allSatisfy { k, v in dict[k].map { same(v, $0) } ?? false }
            }
        }
        for _ in 0..<300 {
            let doc = ["root": random(0)]
            let data = try JSONSerialization.data(withJSONObject: doc)
            let mine = try JSONParser.parse(Array(data))
            let theirs = try JSONSerialization.jsonObject(with: data)
            #expect(same(mine, theirs), "seed \(seed): \(String(decoding: data, as: UTF8.self))")
        }
    }
}
