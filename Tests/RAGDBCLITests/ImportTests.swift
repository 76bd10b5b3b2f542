import Foundation
import RAGDB
import RAGDBTestSupport
import Testing

private func write(_ s: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(s.utf8).write(to: URL(fileURLWithPath: path))
}

private func summary(_ r: ProcessResult) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
}

@Suite struct ImportTests {
    static let markdown = """
    # Storage

    LMDB maps the file. Readers never block writers! Is that "true"? Yes.

    ```c
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    ```

    | key | value |
    |-----|-------|
    | a   | 1     |

    ## Compression — naïve café
    LZ4 is fast. It trades ratio for speed, e.g. for text.
    """

    @Test("every chunker stores spans that reproduce each chunk's text from the original bytes",
          arguments: ["fixed", "sentence", "markdown", "none"])
    func spansReproduceText(chunker: String) throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            var rng = SeededGenerator(seed: 5)
            var lines: [String] = []
            var originals: [String: String] = ["md": Self.markdown]
            for i in 0..<20 {
                let text = (0..<8).map { _ in generatedText(words: Int(rng.next() % 25) + 1, using: &rng) + ". " }.joined() + "Fin! \"Quoted.\" (x)"
                originals["d\(i)"] = text
            }
            for (id, text) in originals.sorted(by: { $0.key < $1.key }) {
                let obj = try JSONSerialization.data(withJSONObject: ["id": id, "text": text])
                lines.append(String(decoding: obj, as: UTF8.self))
            }
            try write(lines.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
            let r = try runRAGDB(["import", db, "--collection", "c", "--chunker", chunker, "--chunk-size", "12", "--chunk-overlap", "3", dir + "/in.jsonl", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let database = try Database.open(at: db)
            let c = try database.collection("c")
            var checked = 0
            for (id, text) in originals {
                let (_, chunks) = try #require(try c.documentWithChunks(id))
                let bytes = Array(text.utf8)
                #expect(!chunks.isEmpty)
                for ch in chunks {
                    #expect(String(decoding: bytes[Int(ch.span.start)..<Int(ch.span.end)], as: UTF8.self) == ch.text)
                    if chunker != "none" && chunker != "markdown" { #expect(ch.tokenCount <= 12) }
                    checked += 1
                }
                if chunker == "markdown" && id == "md" {
                    #expect(chunks.contains { $0.text.contains("```c") && $0.text.hasSuffix("```") })
                }
            }
            #expect(checked >= originals.count)
        }
    }

    @Test("gzip JSONL, CSV, and a directory of text and Markdown files import with the right ids")
    func formats() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            try write(#"{"id": "g1", "text": "gzipped document one"}"# + "\n" + #"{"id": "g2", "text": "two"}"# + "\n", to: dir + "/g.jsonl")
            let gz = Process()
            gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
            gz.arguments = [dir + "/g.jsonl"]
            try gz.run(); gz.waitUntilExit()
            var r = try runRAGDB(["import", db, "--collection", "g", dir + "/g.jsonl.gz", "--json"])
            #expect(try summary(r)["documents"] as? Int == 2)

            try write("key,body,lang,score\nk1,\"Hello, \"\"CSV\"\"\nacross lines\",en,0.5\nk2,Bonjour,fr,3\n", to: dir + "/t.csv")
            r = try runRAGDB(["import", db, "--collection", "csv", "--id-column", "key", "--text-column", "body", dir + "/t.csv", "--json"])
            #expect(try summary(r)["documents"] as? Int == 2, "\(r.stderr)")
            let c = try Database.open(at: db).collection("csv")
            #expect(try c.document("k1")?.metadata == ["lang": .string("en"), "score": .double(0.5)])
            #expect(try c.source(of: "k1") == "Hello, \"CSV\"\nacross lines")
            #expect(try c.document("k2")?.metadata["score"] == .int(3))

            try write("plain text file", to: dir + "/tree/a.txt")
            try write("# Title here\n\nBody.", to: dir + "/tree/sub/b.md")
            try write("ignored", to: dir + "/tree/.hidden/c.txt")
            try write("ignored too", to: dir + "/tree/image.png")
            r = try runRAGDB(["import", db, "--collection", "files", dir + "/tree", "--json"])
            #expect(try summary(r)["documents"] as? Int == 2, "\(r.stderr)")
            let f = try Database.open(at: db).collection("files")
            #expect(try f.document("a.txt") != nil)
            #expect(try f.document("sub/b.md")?.title == "Title here")
        }
    }

    @Test("--durability meta and none import the same content as full, the database checks clean, and a bad value is a usage error")
    func durability() throws {
        try withTemporaryDirectory { dir in
            try writeCorpus(dir + "/in.jsonl", count: 300, words: 60)
            var exports: [String] = []
            for mode in ["full", "meta", "none"] {
                let db = dir + "/" + mode
                let r = try runRAGDB(["import", db, "--collection", "c", "--batch", "50", "--durability", mode, dir + "/in.jsonl"])
                #expect(r.status == 0, "\(r.stderr)")
                #expect(try runRAGDB(["check", db]).status == 0)
                exports.append(try runRAGDB(["export", db, "--collection", "c", "--chunks"]).stdout)
            }
            #expect(exports[0] == exports[1] && exports[1] == exports[2] && !exports[0].isEmpty)
            let bad = try runRAGDB(["import", dir + "/x", "--collection", "c", "--durability", "sometimes", dir + "/in.jsonl"])
            #expect(bad.status == 64 && bad.stderr.contains("--durability"))
        }
    }

    @Test("--batch-mib 1 imports a 1.5 MB input in small transactions with the same content as the default; out-of-range values are usage errors")
    func batchBytes() throws {
        try withTemporaryDirectory { dir in
            try writeCorpus(dir + "/in.jsonl", count: 400, words: 600)
            var exports: [String] = []
            for mib in ["8", "1"] {
                let db = dir + "/db" + mib
                let r = try runRAGDB(["import", db, "--collection", "c", "--batch", "100000", "--batch-mib", mib, dir + "/in.jsonl"])
                #expect(r.status == 0, "\(r.stderr)")
                #expect(try runRAGDB(["check", db]).status == 0)
                exports.append(try runRAGDB(["export", db, "--collection", "c", "--chunks"]).stdout)
            }
            #expect(exports[0] == exports[1] && !exports[0].isEmpty)
            for bad in ["0", "2000"] {
                let r = try runRAGDB(["import", dir + "/x", "--collection", "c", "--batch-mib", bad, dir + "/in.jsonl"])
                #expect(r.status == 64 && r.stderr.contains("--batch-mib"), "\(r.stderr)")
            }
        }
    }

    @Test("stdin, --dry-run and --on-error skip")
    func modes() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            let input = #"{"id": "s1", "text": "from stdin"}"# + "\n" + #"{"id": "s2", "text": 5}"# + "\n" + #"{"id": "s3", "text": "three"}"# + "\n"
            var r = try runRAGDB(["import", db, "--collection", "c", "--dry-run", "-", "--json", "--on-error", "skip"], input: Data(input.utf8))
            #expect(r.status == 0)
            var s = try summary(r)
            #expect(s["documents"] as? Int == 2 && s["skipped"] as? Int == 1 && s["dry_run"] as? Bool == true)
            #expect(!FileManager.default.fileExists(atPath: db + "/data.mdb"), "a dry run created the database")
            #expect(r.stderr.contains("<stdin>:2: field \"text\""))

            r = try runRAGDB(["import", db, "--collection", "c", "-"], input: Data(input.utf8))
            #expect(r.status == 65 && r.stderr.contains("<stdin>:2: field \"text\""), "\(r.stderr)")
            #expect(try Database.open(at: db).collection("c").counters().documents == 0)
            r = try runRAGDB(["import", db, "--collection", "c", "-", "--json"], input: Data(input.utf8))
            #expect(r.status == 65 && r.stderr.contains(#""code":"import.bad_field""#), "\(r.stderr)")
            r = try runRAGDB(["import", db, "--collection", "c", "-", "--json", "--on-error", "skip"], input: Data(input.utf8))
            s = try summary(r)
            #expect(s["inserted"] as? Int == 2 && s["errors"] as? Int == 1)
            #expect(try Database.open(at: db).collection("c").counters().documents == 2)
        }
    }

    @Test("bad input is named by file, line and field", arguments: [
        ("{\"id\": \"x\", \"text\": \"\\udc00\"}", "malformed JSON"),
        ("{\"id\": \"\", \"text\": \"empty id\"}", "field \"id\""),
        ("{\"id\": \"x\", \"text\": \"t\", \"metadata\": {\"w\": [1, 2]}}", "field \"metadata.w\""),
        ("{\"id\": \"x\", \"text\": \"abc\", \"chunks\": [{\"text\": \"zzz\"}]}", "field \"chunks[0].text\""),
        ("[1, 2]", "expected a JSON object"),
    ])
    func badRecords(line: String, expected: String) throws {
        try withTemporaryDirectory { dir in
            try write("{\"id\": \"good\", \"text\": \"fine\"}\n" + line + "\n", to: dir + "/in.jsonl")
            let r = try runRAGDB(["import", dir + "/db", "--collection", "c", dir + "/in.jsonl"])
            #expect(r.status == 65)
            #expect(r.stderr.hasPrefix("ragdb: error: \(dir)/in.jsonl:2: "), "\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(r.stderr)")
        }
    }

    @Test("invalid UTF-8 in a text file is reported with its line")
    func invalidUTF8() throws {
        try withTemporaryDirectory { dir in
            var bytes = Data("line one\nline two\nbad \u{00}".utf8)
            bytes.append(contentsOf: [0xC3, 0x28, 0x0A])
            try FileManager.default.createDirectory(atPath: dir + "/t", withIntermediateDirectories: true)
            try bytes.write(to: URL(fileURLWithPath: dir + "/t/x.txt"))
            let r = try runRAGDB(["import", dir + "/db", "--collection", "c", dir + "/t"])
            #expect(r.status == 65)
            #expect(r.stderr.contains("x.txt:3: invalid UTF-8"), "\(r.stderr)")
        }
    }
}

@Suite struct ExportTests {
    @Test("vectors survive export and re-import exactly, for every element type", arguments: ["float32", "float16", "int8"])
    func vectorsRoundTrip(type: String) throws {
        try withTemporaryDirectory { dir in
            var rng = SeededGenerator(seed: 4)
            var lines: [String] = []
            for i in 0..<10 {
                let vec = (0..<6).map { _ in Double(Int64(rng.next() % 2001) - 1000) / 37 }
                let obj: [String: Any] = ["id": "d\(i)", "text": "alpha beta \(i)", "chunks": [["text": "alpha", "dense": ["e": vec]], ["text": "beta \(i)"]]]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let space = ["--space", "e:6:dot:" + type]
            #expect(try runRAGDB(["import", dir + "/a", "--collection", "c"] + space + [dir + "/in.jsonl"]).status == 0)
            let first = try runRAGDB(["export", dir + "/a", "--collection", "c", "--chunks"])
            #expect(first.stdout.contains("\"dense\""))
            try Data(first.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/out.jsonl"))
            #expect(try runRAGDB(["import", dir + "/b", "--collection", "c"] + space + [dir + "/out.jsonl"]).status == 0)
            #expect(try runRAGDB(["export", dir + "/b", "--collection", "c", "--chunks"]).stdout == first.stdout)
            let again = try runRAGDB(["import", dir + "/a", "--collection", "c", dir + "/out.jsonl", "--json"])
            #expect(again.stdout.contains(#""unchanged":10"#), "\(again.stdout)")
        }
    }

    @Test("import → export → import yields identical content, with and without chunks")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            var rng = SeededGenerator(seed: 9)
            var lines: [String] = []
            for i in 0..<30 {
                let text = (0..<6).map { _ in generatedText(words: Int(rng.next() % 20) + 1, using: &rng) + "." }.joined(separator: " ")
                let obj: [String: Any] = ["id": "doc/\(i)", "title": "T\(i)", "text": text,
                                          "metadata": ["n": i, "x": 0.25, "ok": i % 2 == 0, "tags": ["a", "b"], "s": "é"]]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let args = ["--collection", "c", "--chunker", "fixed", "--chunk-size", "10", "--chunk-overlap", "2"]
            #expect(try runRAGDB(["import", dir + "/a"] + args + [dir + "/in.jsonl"]).status == 0)
            let first = try runRAGDB(["export", dir + "/a", "--collection", "c", "--chunks"])
            #expect(first.status == 0 && first.stdout.split(separator: "\n").count == 30)
            try Data(first.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/out.jsonl"))
            // Re-import with the exported chunks (spans given), then export again.
            #expect(try runRAGDB(["import", dir + "/b", "--collection", "c", dir + "/out.jsonl"]).status == 0)
            let second = try runRAGDB(["export", dir + "/b", "--collection", "c", "--chunks"])
            #expect(second.stdout == first.stdout)
            // Documents only, re-chunked with the same settings, give the same chunks.
            let docsOnly = try runRAGDB(["export", dir + "/a", "--collection", "c"])
            try Data(docsOnly.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/docs.jsonl"))
            #expect(try runRAGDB(["import", dir + "/d"] + args + [dir + "/docs.jsonl"]).status == 0)
            #expect(try runRAGDB(["export", dir + "/d", "--collection", "c", "--chunks"]).stdout == first.stdout)
            // And importing the export into the original database changes nothing.
            let again = try runRAGDB(["import", dir + "/a", "--collection", "c", dir + "/out.jsonl", "--json"])
            #expect(again.stdout.contains(#""unchanged":30"#), "\(again.stdout)")
        }
    }
}

/// Writes a float32 (or float16) C-order .npy file of `rows` (NumPy format version 1.0).
func writeNpy(_ rows: [[Float]], to path: String, half: Bool = false) throws {
    let dims = rows.first?.count ?? 0
    var header = "{'descr': '<f\(half ? 2 : 4)', 'fortran_order': False, 'shape': (\(rows.count), \(dims)), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
    data += Data(header.utf8)
    for r in rows {
        for v in r {
            if half { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { data += $0 } }
            else { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        }
    }
    try data.write(to: URL(fileURLWithPath: path))
}

@Suite struct VectorImportTests {
    static func corpus(_ dir: String, count: Int) throws {
        let lines = (0..<count).map { #"{"id": "v\#($0)", "text": "vector document \#($0)"}"# }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
    }

    @Test("an .npy sidecar stores one vector per record, in order, float32 or float16", arguments: [false, true])
    func sidecar(half: Bool) throws {
        try withTemporaryDirectory { dir in
            try Self.corpus(dir, count: 5)
            let rows = (0..<5).map { r in (0..<8).map { Float(r) + Float($0) / 8 } }
            try writeNpy(rows, to: dir + "/v.npy", half: half)
            let r = try runRAGDB(["import", dir + "/db", "--collection", "c", "--chunker", "none",
                                  "--vectors", "e=" + dir + "/v.npy", "--vector-type", half ? "float16" : "float32", dir + "/in.jsonl"])
            #expect(r.status == 0, "\(r.stderr)")
            let db = try Database.open(at: dir + "/db")
            let c = try db.collection("c")
            #expect(c.settings.spaces == [VectorSpace(name: "e", dimensions: 8, metric: .cosine, elementType: half ? .float16 : .float32)])
            for i in 0..<5 {
                let chunk = try #require(try c.documentWithChunks("v\(i)")).chunks[0]
                #expect(try c.vector(of: chunk.id, in: "e") == rows[i])
            }
            #expect(try db.check().isClean)
        }
    }

    @Test("sidecar and JSON vector errors are exact and write nothing", arguments: [
        ("rows", "has 3 rows, but the input has 4 records"),
        ("dims", "rows have 8 dimensions; space \"e\" has 4"),
        ("json-dims", "field \"dense.e\": expected 4 numbers, got 3"),
        ("json-nan", "field \"dense.e\": element 1 is not finite"),
        ("json-space", "field \"dense.nope\": the collection has no vector space"),
    ])
    func errors(kind: String, expected: String) throws {
        try withTemporaryDirectory { dir in
            try Self.corpus(dir, count: 4)
            var args = ["import", dir + "/db", "--collection", "c", "--chunker", "none", "--space", "e:4"]
            switch kind {
            case "rows":
                try writeNpy((0..<3).map { _ in [1, 2, 3, 4] }, to: dir + "/v.npy")
                args += ["--vectors", "e=" + dir + "/v.npy"]
            case "dims":
                try writeNpy((0..<4).map { _ in [Float](repeating: 1, count: 8) }, to: dir + "/v.npy")
                args += ["--vectors", "e=" + dir + "/v.npy"]
            default:
                let vec = kind == "json-dims" ? "[1, 2, 3]" : kind == "json-nan" ? "[1, 1e39, 3, 4]" : "[1, 2, 3, 4]"
                let space = kind == "json-space" ? "nope" : "e"
                try Data((#"{"id": "a", "text": "ok"}"# + "\n" + #"{"id": "b", "text": "x", "dense": {"\#(space)": \#(vec)}}"# + "\n").utf8)
                    .write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            }
            let r = try runRAGDB(args + [dir + "/in.jsonl"])
            #expect(r.status == 65, "\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(r.stderr)")
            if FileManager.default.fileExists(atPath: dir + "/db/data.mdb") {
                #expect(try Database.open(at: dir + "/db").collection("c").counters().documents == 0)
            }
        }
    }

    @Test("JSONL per-chunk vectors are stored with their chunks and removed with them")
    func perChunkVectors() throws {
        try withTemporaryDirectory { dir in
            let line = #"{"id": "d", "text": "alpha beta", "chunks": [{"text": "alpha", "dense": {"e": [1, 0]}}, {"text": "beta", "dense": {"e": [0, 1]}}]}"#
            try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            #expect(try runRAGDB(["import", dir + "/db", "--collection", "c", "--space", "e:2:dot", dir + "/in.jsonl"]).status == 0)
            let db = try Database.open(at: dir + "/db")
            let c = try db.collection("c")
            let chunks = try #require(try c.documentWithChunks("d")).chunks
            #expect(try c.vector(of: chunks[0].id, in: "e") == [1, 0])
            #expect(try c.vector(of: chunks[1].id, in: "e") == [0, 1])
            // A changed vector alone makes the document changed.
            try c.upsert([DocumentInput(id: "d", text: "alpha beta", chunks: [ChunkInput(text: "alpha", vectors: ["e": [1, 1]]),
                                                                             ChunkInput(text: "beta", vectors: ["e": [0, 1]])])])
            let after = try #require(try c.documentWithChunks("d")).chunks
            #expect(try c.vector(of: after[0].id, in: "e") == [1, 1])
            #expect(try c.vector(of: chunks[0].id, in: "e") == nil)
            try c.delete(["d"])
            #expect(try c.vector(of: after[1].id, in: "e") == nil)
            #expect(try db.check().isClean)
        }
    }
}

@Suite struct SearchCommandTests {
    @Test("ragdb search answers one query and a batch with the documented JSON")
    func searchContract() throws {
        try withTemporaryDirectory { dir in
            let docs = [#"{"id": "lmdb", "text": "LMDB maps the database file into memory; readers never block writers."}"#,
                        #"{"id": "bread", "text": "Sourdough bread needs a lively starter and a long, cool rise."}"#,
                        #"{"id": "bm25", "text": "BM25 ranks documents by term frequency and inverse document frequency."}"#]
            try Data((docs.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            #expect(try runRAGDB(["import", dir + "/db", "--collection", "c", dir + "/in.jsonl"]).status == 0)
            var r = try runRAGDB(["search", dir + "/db", "--collection", "c", "--text", "memory-mapped database readers", "--k", "2", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let one = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let results = try #require(one["results"] as? [[String: Any]])
            #expect(results.first?["doc"] as? String == "lmdb")
            #expect(results.first?["chunk"] is Int && results.first?["score"] is Double && results.first?["text"] is String)
            let queries = #"{"id": "q1", "text": "sourdough starter"}"# + "\n" + #"{"id": 2, "text": "term frequency ranking"}"# + "\n"
            try Data(queries.utf8).write(to: URL(fileURLWithPath: dir + "/q.jsonl"))
            r = try runRAGDB(["search", dir + "/db", "--collection", "c", "--queries", dir + "/q.jsonl", "--k", "1", "--no-text"])
            let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.count == 2)
            #expect(lines[0]["query_id"] as? String == "q1" && (lines[0]["results"] as? [[String: Any]])?.first?["doc"] as? String == "bread")
            #expect(lines[1]["query_id"] as? String == "2" && (lines[1]["results"] as? [[String: Any]])?.first?["text"] == nil)
            for method in ["maxscore", "exhaustive"] {
                let other = try runRAGDB(["search", dir + "/db", "--collection", "c", "--queries", dir + "/q.jsonl", "--k", "1", "--no-text", "--method", method])
                #expect(other.stdout == r.stdout)
            }
            try Data("{\"id\": \"q\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
            r = try runRAGDB(["search", dir + "/db", "--collection", "c", "--queries", dir + "/bad.jsonl"])
            #expect(r.status == 65 && r.stderr.contains("bad.jsonl:1: field \"text\""))
            #expect(try runRAGDB(["search", dir + "/db", "--collection", "c"]).status == 64)
        }
    }
}
