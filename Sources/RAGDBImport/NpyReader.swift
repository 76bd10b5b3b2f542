import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Streams the rows of a 2-D NumPy `.npy` file of little-endian float32 (`<f4`) or float16
/// (`<f2`), C order, one row at a time: memory is one row, whatever the file size.
///
/// Format: the NumPy format specification (`numpy.lib.format`): magic `\x93NUMPY`, major and
/// minor version, a little-endian header length (u16 in version 1, u32 in 2 and 3), then a
/// Python dict literal with `descr`, `fortran_order` and `shape`, then the data.
final class NpyReader {
    let path: String
    let rows: Int
    let dimensions: Int
    private let elementSize: Int
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8]
    /// Rows returned so far.
    private(set) var rowsRead = 0

    init(path: String) throws(ImportError) {
        self.path = path
        func bad(_ detail: String) -> ImportError { ImportError(.badSidecar, file: path, line: 0, detail: detail) }
        guard let f = fopen(path, "rb") else { throw ImportError(.cannotRead, file: path, line: 0, detail: String(cString: strerror(errno))) }
        file = f
        var head = [UInt8](repeating: 0, count: 12)
        guard fread(&head, 1, 10, f) == 10, head[0] == 0x93, Array(head[1..<6]) == Array("NUMPY".utf8) else {
            fclose(f); throw bad("not a .npy file")
        }
        var headerLength: Int
        if head[6] == 1 {
            headerLength = Int(head[8]) | Int(head[9]) << 8
        } else if head[6] == 2 || head[6] == 3 {
            guard fread(&head[10], 1, 2, f) == 2 else { fclose(f); throw bad("truncated header") }
            headerLength = Int(head[8]) | Int(head[9]) << 8 | Int(head[10]) << 16 | Int(head[11]) << 24
        } else {
            fclose(f); throw bad("unsupported .npy version \(head[6])")
        }
        guard headerLength > 0 && headerLength < 1 << 20 else { fclose(f); throw bad("implausible header length") }
        var dict = [UInt8](repeating: 0, count: headerLength)
        guard fread(&dict, 1, headerLength, f) == headerLength else { fclose(f); throw bad("truncated header") }
        let text = String(decoding: dict, as: UTF8.self)
        func value(of key: String) -> String? {
            guard let r = text.range(of: "'\(key)':") else { return nil }
            let rest = text[r.upperBound...].drop { $0 == " " }
            if rest.first == "(" { return rest.firstIndex(of: ")").map { String(rest[rest.startIndex...$0]) } }
            return rest.firstIndex(where: { $0 == "," || $0 == "}" }).map { String(rest[..<$0]).trimmingCharacters(in: .whitespaces) }
        }
        let descr = value(of: "descr")?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        switch descr {
        case "<f4": elementSize = 4
        case "<f2": elementSize = 2
        default: fclose(f); throw bad("element type \(descr ?? "?") is not little-endian float32 (<f4) or float16 (<f2)")
        }
        guard value(of: "fortran_order") == "False" else { fclose(f); throw bad("Fortran order is not supported; save with C order") }
        let dims = (value(of: "shape") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2, dims[0] >= 0, dims[1] > 0 else { fclose(f); throw bad("shape must be (rows, dimensions)") }
        rows = dims[0]
        dimensions = dims[1]
        buffer = [UInt8](repeating: 0, count: dimensions * elementSize)
        // The data must be all there.
        var st = stat()
        let dataStart = ftell(f)
        if fstat(fileno(f), &st) == 0, Int(st.st_size) - dataStart < rows * dimensions * elementSize {
            fclose(f)
            throw bad("holds fewer bytes than its shape (\(rows) × \(dimensions)) needs")
        }
    }

    deinit { fclose(file) }

    /// The next row, or `nil` after the last.
    func next() throws(ImportError) -> [Float]? {
        guard rowsRead < rows else { return nil }
        let n = buffer.count
        guard fread(&buffer, 1, n, file) == n else {
            throw ImportError(.badSidecar, file: path, line: 0, detail: "read error at row \(rowsRead + 1)")
        }
        rowsRead += 1
        return buffer.withUnsafeBytes { p in
            if elementSize == 4 {
                return (0..<dimensions).map { Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            return (0..<dimensions).map { Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
        }
    }
}

/// Whole `.npy` matrices, for inputs small enough to hold (query vectors).
public enum NpyMatrix {
    /// Every row of the 2-D float32 or float16 `.npy` file at `path`.
    ///
    /// - Complexity: reads the file once; memory: rows × dimensions floats.
    /// - Throws: `ImportError` naming the file for an unreadable or malformed file.
    public static func read(path: String) throws(ImportError) -> (rows: [[Float]], dimensions: Int) {
        let reader = try NpyReader(path: path)
        var rows: [[Float]] = []
        rows.reserveCapacity(reader.rows)
        while let r = try reader.next() { rows.append(r) }
        return (rows, reader.dimensions)
    }
}
