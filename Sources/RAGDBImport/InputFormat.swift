import Foundation

/// The input formats `ragdb import` reads.
public enum InputFormat: String, Sendable, CaseIterable, Codable {
    /// One JSON document per line.
    case jsonl
    /// A header row, then one document per row.
    case csv
    /// A plain-text file is one document; its id is its path relative to the import root.
    case text
    /// A Markdown file is one document (title: its first heading); id as for text.
    case markdown

    /// The format a file name suggests (a trailing `.gz` is ignored), or `nil`.
    public static func guess(fromName name: String) -> InputFormat? {
        var n = name.lowercased()
        if n.hasSuffix(".gz") { n.removeLast(3) }
        switch (n as NSString).pathExtension {
        case "jsonl", "ndjson", "json": return .jsonl
        case "csv": return .csv
        case "md", "markdown", "mdown": return .markdown
        case "txt", "text": return .text
        default: return nil
        }
    }
}

/// One input file to read, with its format and, for text and Markdown, its document id.
public struct InputFileSpec: Sendable, Hashable {
    /// The path (`-` for standard input).
    public var path: String
    /// The format to read it as.
    public var format: InputFormat
    /// The path relative to the import root: the id of a text or Markdown document.
    public var relativePath: String
}

/// Expands the paths given on the command line: files stay, directories are walked
/// recursively (sorted, hidden entries skipped), `-` is standard input.
///
/// Without an explicit `format`, a file's format comes from its extension; in a directory,
/// files with no recognised extension are skipped.
///
/// - Throws: `ImportError.cannotRead` for a missing path or a file whose format cannot be
///   told.
public func expandInputs(_ paths: [String], format: InputFormat?) throws(ImportError) -> [InputFileSpec] {
    var out: [InputFileSpec] = []
    let fm = FileManager.default
    for path in paths {
        if path == "-" {
            out.append(InputFileSpec(path: "-", format: format ?? .jsonl, relativePath: "stdin"))
            continue
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ImportError(.cannotRead, file: path, line: 0, detail: "no such file or directory")
        }
        if !isDir.boolValue {
            guard let f = format ?? InputFormat.guess(fromName: path) else {
                throw ImportError(.cannotRead, file: path, line: 0, detail: "cannot tell the format from the name; give --format")
            }
            out.append(InputFileSpec(path: path, format: f, relativePath: (path as NSString).lastPathComponent))
            continue
        }
        guard let walker = fm.enumerator(atPath: path) else {
            throw ImportError(.cannotRead, file: path, line: 0, detail: "cannot list the directory")
        }
        var found: [InputFileSpec] = []
        while let rel = walker.nextObject() as? String {
            let name = (rel as NSString).lastPathComponent
            if name.hasPrefix(".") { walker.skipDescendants(); continue }
            let full = (path as NSString).appendingPathComponent(rel)
            var sub: ObjCBool = false
            guard fm.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue else { continue }
            guard let f = format ?? InputFormat.guess(fromName: name) else { continue }
            var id = rel
            if id.lowercased().hasSuffix(".gz") { id.removeLast(3) }
            found.append(InputFileSpec(path: full, format: f, relativePath: id))
        }
        out.append(contentsOf: found.sorted { $0.relativePath.utf8.lexicographicallyPrecedes($1.relativePath.utf8) })
    }
    return out
}
