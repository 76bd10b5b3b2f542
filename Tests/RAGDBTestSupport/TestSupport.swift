// Helpers shared by ragdb's test targets: temporary directories and running the built
// `ragdb` binary as a real child process.
public import Foundation

/// Creates a fresh directory under the system temporary directory, passes its path to
/// `body`, and removes it afterwards.
public func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = NSTemporaryDirectory() + "ragdb-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// The `ragdb` executable built next to the test bundle.
public func ragdbExecutable() -> String {
    let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var candidates = [products.appendingPathComponent("ragdb").path]
    // When run from inside an .xctest bundle directory (macOS layout), look one level up.
    candidates.append(products.deletingLastPathComponent().appendingPathComponent("ragdb").path)
    if let env = ProcessInfo.processInfo.environment["RAGDB_BINARY"] { candidates.insert(env, at: 0) }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}

/// The outcome of a finished child process.
public struct ProcessResult: Sendable {
    /// Exit status (or 128 + signal number when killed).
    public var status: Int32
    /// Everything written to standard output.
    public var stdout: String
    /// Everything written to standard error.
    public var stderr: String
}

/// Runs `ragdb` with `arguments` to completion, feeding `input` on standard input.
public func runRAGDB(_ arguments: [String], input: Data? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ragdbExecutable())
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inp = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inp
    try process.run()
    if let input { inp.fileHandleForWriting.write(input) }
    try inp.fileHandleForWriting.close()
    // Read both pipes to the end before waiting, so a chatty child never blocks.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return ProcessResult(status: status, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// Starts `ragdb` with `arguments` in the background, its output discarded.
public func startRAGDB(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ragdbExecutable())
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return process
}

/// A deterministic pseudo-random generator (SplitMix64), so failures can be replayed from
/// the seed printed by the test.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// Words for generated English-like text.
public let sampleWords = ["the", "index", "chunk", "vector", "retrieval", "database", "query", "token", "cache",
                          "página", "naïve", "Größe", "memory", "map", "page", "tree", "commit", "reader", "writer",
                          "suffix", "array", "compress", "block", "score", "rank", "embedding", "sparse", "dense"]

/// `count` words of generated text.
public func generatedText(words count: Int, using rng: inout SeededGenerator) -> String {
    var parts: [String] = []
    parts.reserveCapacity(count)
    for _ in 0..<count { parts.append(sampleWords[Int(rng.next() % UInt64(sampleWords.count))]) }
    return parts.joined(separator: " ")
}
