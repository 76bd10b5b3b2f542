internal import CRAGDBZlib

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read through zlib, so gzip-compressed and plain files read alike, with line
/// splitting into one reused buffer: memory stays bounded by the longest line.
final class InputFile {
    /// The name used in error messages.
    let name: String
    /// Size on disk (compressed size for .gz), or 0 for standard input.
    let size: Int
    private let file: gzFile
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false
    /// 1-based number of the last line returned.
    private(set) var lineNumber = 0

    /// Opens `path`, or standard input for `-`.
    init(path: String) throws(ImportError) {
        if path == "-" {
            name = "<stdin>"
            size = 0
            guard let f = gzdopen(dup(STDIN_FILENO), "rb") else {
                throw ImportError(.cannotRead, file: name, line: 0, detail: "cannot read standard input")
            }
            file = f
        } else {
            name = path
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw ImportError(.cannotRead, file: path, line: 0, detail: String(cString: strerror(errno)))
            }
            size = Int(st.st_size)
            guard let f = gzopen(path, "rb") else {
                throw ImportError(.cannotRead, file: path, line: 0, detail: String(cString: strerror(errno)))
            }
            file = f
        }
        gzbuffer(file, 1 << 17)
        buffer = [UInt8](repeating: 0, count: 1 << 20)
    }

    deinit { gzclose(file) }

    /// Bytes of the file consumed so far (compressed bytes for .gz).
    var offset: Int { Int(gzoffset(file)) }

    private func fill() throws(ImportError) {
        if start > 0 {
            let n = end - start
            if n > 0 { buffer.withUnsafeMutableBytes { p in _ = memmove(p.baseAddress!, p.baseAddress! + start, n) } }
            end = n
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
        let want = buffer.count - end
        let got = buffer.withUnsafeMutableBytes { p in gzread(file, p.baseAddress! + end, UInt32(want)) }
        if got < 0 {
            throw ImportError(.cannotRead, file: name, line: lineNumber + 1, detail: "read error (damaged gzip data?)")
        }
        if got == 0 { eof = true }
        end += Int(got)
    }

    /// Calls `body` with the next line (without `\n` or `\r\n`), in place in the buffer.
    /// - Returns: `false` at the end of the file.
    func nextLine(_ body: (ArraySlice<UInt8>) throws -> Void) throws -> Bool {
        while true {
            let found = buffer.withUnsafeBytes { p in
                memchr(p.baseAddress! + start, 0x0A, end - start).map { UnsafeRawPointer($0) - UnsafeRawPointer(p.baseAddress!) }
            }
            if let nl = found {
                var lineEnd = nl
                if lineEnd > start && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                lineNumber += 1
                let line = buffer[start..<lineEnd]
                start = nl + 1
                try body(line)
                return true
            }
            if eof {
                guard end > start else { return false }
                lineNumber += 1
                var lineEnd = end
                if buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                let line = buffer[start..<lineEnd]
                start = end
                try body(line)
                return true
            }
            try fill()
        }
    }

    /// Reads the rest of the file.
    func readAll() throws(ImportError) -> [UInt8] {
        while !eof { try fill() }
        defer { start = end }
        return Array(buffer[start..<end])
    }
}
