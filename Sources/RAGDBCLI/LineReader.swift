#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file (or standard input) line by line with bounded memory: one reused buffer,
/// as long as the longest line.
final class LineReader {
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0
    /// The 1-based number of the line last returned.
    private(set) var lineNumber = 0
    /// Bytes consumed so far.
    private(set) var bytesRead = 0

    /// Opens `path`, or standard input for `-`.
    init(path: String) throws {
        if path == "-" {
            file = fdopen(STDIN_FILENO, "rb")
            ownsFile = false
        } else {
            guard let f = fopen(path, "rb") else {
                throw CLIError(code: "import.cannot_open", message: "\(path): \(String(cString: strerror(errno)))", exit: RAGDBExit.cannotOpen)
            }
            file = f
            ownsFile = true
        }
    }

    deinit {
        free(buffer)
        if ownsFile { fclose(file) }
    }

    /// The next line without its terminator, or `nil` at the end.
    func next() -> [UInt8]? {
        let n = getline(&buffer, &capacity, file)
        guard n >= 0, let buffer else { return nil }
        lineNumber += 1
        bytesRead += n
        var len = n
        if len > 0 && buffer[len - 1] == 0x0A { len -= 1 }
        if len > 0 && buffer[len - 1] == 0x0D { len -= 1 }
        return UnsafeRawBufferPointer(start: buffer, count: len).map { $0 }
    }
}
