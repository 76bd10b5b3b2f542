import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes command output: one JSON document per line for `--json`, text otherwise.
enum Output {
    /// Prints `value` as compact JSON with sorted keys, on one line.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data([0x0A]))
    }

    /// Prints a line to standard output.
    static func line(_ s: String) {
        print(s)
    }

    /// Prints a line to standard error.
    static func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// Writes `s` to standard error as is (no newline).
    static func errorRaw(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    /// Renders rows as an aligned text table.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        func fmt(_ r: [String]) -> String {
            r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([fmt(header)] + rows.map(fmt)).joined(separator: "\n")
    }
}

/// Bytes in a human unit (KiB, MiB, GiB).
func humanBytes(_ n: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}
