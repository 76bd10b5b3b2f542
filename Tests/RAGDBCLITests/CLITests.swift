import Foundation
import RAGDB
import RAGDBStorage
import RAGDBTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Writes `count` JSONL documents of about `words` words each to `path`.
func writeCorpus(_ path: String, count: Int, words: Int, seed: UInt64 = 1, idPrefix: String = "doc") throws {
    var rng = SeededGenerator(seed: seed)
    var out = Data()
    for i in 0..<count {
        let text = generatedText(words: words, using: &rng)
        let line = #"{"id": "\#(idPrefix)-\#(i)", "title": "Document \#(i)", "text": "\#(text)", "metadata": {"n": \#(i), "even": \#(i % 2 == 0), "w": 0.5, "tags": ["x"]}}"#
        out.append(contentsOf: Array(line.utf8))
        out.append(0x0A)
    }
    try out.write(to: URL(fileURLWithPath: path))
}

@Suite(.serialized) struct CLITests {
    @Test("init, import, collections, stats, get and check work end to end with stable JSON")
    func endToEnd() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            var r = try runRAGDB(["init", db])
            #expect(r.status == 0 && r.stdout.contains("created"))
            try writeCorpus(dir + "/c.jsonl", count: 50, words: 30)
            r = try runRAGDB(["import", db, "--collection", "docs", dir + "/c.jsonl", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let summary = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(summary?["documents"] as? Int == 50 && summary?["inserted"] as? Int == 50)
            // Importing the same input again adds nothing.
            r = try runRAGDB(["import", db, "--collection", "docs", dir + "/c.jsonl", "--json"])
            let again = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(again?["unchanged"] as? Int == 50 && again?["chunks"] as? Int == 0)

            r = try runRAGDB(["stats", db, "--json"])
            #expect(r.status == 0)
            let stats = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(stats["format_version"] as? Int == 5)
            let colls = try #require(stats["collections"] as? [[String: Any]])
            #expect(colls.count == 1 && colls[0]["name"] as? String == "docs" && colls[0]["documents"] as? Int == 50 && colls[0]["chunks"] as? Int == 50)
            let tables = try #require(stats["tables"] as? [[String: Any]]).compactMap { $0["name"] as? String }
            #expect(Set(tables) == ["main", "meta", "collections", "documents", "chunks", "sources", "collection_counters", "vectors", "sparse_terms", "sparse_postings", "sparse_stats", "dense_models", "dense_codes", "ngram_segments", "ngram_dead", "ngram_pending", "sparse_vectors",
                                 "kv_profiles", "kv_entries", "kv_segments", "kv_stats", "metadata_index", "metadata_stats",
                                 "chunk_tokens", "ngram_token_segments", "ngram_token_dead", "ngram_token_pending"])

            r = try runRAGDB(["collections", db, "--json"])
            #expect(r.stdout.contains(#""name":"docs""#))
            r = try runRAGDB(["get", db, "--collection", "docs", "--doc", "doc-7", "--json"])
            #expect(r.status == 0)
            let got = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(got["id"] as? String == "doc-7")
            #expect((got["metadata"] as? [String: Any])?["n"] as? Int == 7)
            #expect((got["chunks"] as? [[String: Any]])?.count == 1)
            r = try runRAGDB(["check", db])
            #expect(r.status == 0 && r.stdout.hasPrefix("ok:"))
        }
    }

    @Test("user errors are one line on stderr with a documented exit code, never a trace")
    func userErrors() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            _ = try runRAGDB(["init", db])
            var r = try runRAGDB(["get", dir + "/nope", "--collection", "c", "--doc", "x"])
            #expect(r.status == 66 && r.stderr.hasPrefix("ragdb: error: no database"))
            r = try runRAGDB(["get", db, "--collection", "c", "--doc", "x", "--json"])
            #expect(r.status == 66 && r.stderr.contains(#""code":"ragdb.not_found""#))
            r = try runRAGDB(["stats"])
            #expect(r.status == 64)
            r = try runRAGDB(["frobnicate"])
            #expect(r.status == 64)
            r = try runRAGDB(["import", "--help"])
            #expect(r.status == 0 && r.stdout.contains("Example"))
            for cmd in ["init", "collections", "stats", "get", "check"] {
                let h = try runRAGDB([cmd, "--help"])
                #expect(h.status == 0 && h.stdout.contains("Example"), "\(cmd) --help lacks an example")
            }
            #expect(!r.stderr.contains("Fatal error"))
        }
    }

    @Test("a bad record names file, line and field; its batch is not written", arguments: [
        (#"{"id": "x", "text": "#, "malformed JSON"),
        (#"{"text": "no id"}"#, #"field "id""#),
        (#"{"id": "x"}"#, #"field "text""#),
        (#"{"id": "x", "text": "t", "metadata": {"m": {"a": 1}}}"#, #"field "metadata.m""#),
        (#"{"id": 5, "text": 7}"#, #"field "text""#),
    ])
    func badInput(line: String, expected: String) throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            let good = #"{"id": "ok1", "text": "fine"}"#
            try Data((good + "\n" + good.replacingOccurrences(of: "ok1", with: "ok2") + "\n" + line + "\n").utf8)
                .write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
            let r = try runRAGDB(["import", db, "--collection", "c", dir + "/bad.jsonl"])
            #expect(r.status == 65, "\(r.stderr)")
            #expect(r.stderr.contains("bad.jsonl:3:"), "\(r.stderr)")
            #expect(r.stderr.contains(expected), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count <= 2)
            let s = try runRAGDB(["stats", db, "--json"])
            #expect(s.stdout.contains(#""documents":0"#) || !s.stdout.contains(#""documents":2"#))
            #expect(try runRAGDB(["check", db]).status == 0)
        }
    }

    @Test("readers in other processes see consistent snapshots while this process writes")
    func crossProcessReaders() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            let db = try Database.open(at: path)
            let c = try db.createCollection("docs")
            var rng = SeededGenerator(seed: 11)
            try c.insert((0..<200).map { DocumentInput(id: "seed-\($0)", text: generatedText(words: 50, using: &rng)) })
            // Child processes run `ragdb check` (a full snapshot verification of counters
            // against the records) while this process commits batches.
            let writer = Thread {
                var rng = SeededGenerator(seed: 12)
                for batch in 0..<40 {
                    let docs = (0..<50).map { DocumentInput(id: "b\(batch)-\($0)", text: generatedText(words: 80, using: &rng)) }
                    _ = try? c.upsert(docs)
                    _ = try? c.delete(["b\(batch)-0"])
                }
            }
            writer.start()
            var checks = 0
            while !writer.isFinished || checks < 3 {
                let r = try runRAGDB(["check", path, "--json"])
                #expect(r.status == 0, "check in a second process failed: \(r.stdout) \(r.stderr)")
                checks += 1
                if checks > 200 { break }
            }
            while !writer.isFinished { usleep(10_000) }
            #expect(try c.counters().documents == 200 + 40 * 49)
            let final = try runRAGDB(["stats", path, "--json"])
            #expect(final.stdout.contains(#""documents":\#(200 + 40 * 49)"#))
        }
    }

    @Test("an import killed with SIGKILL leaves a database that opens and checks clean, and re-running it gives exactly the content of an uninterrupted run", .tags(.slow),
          arguments: [150_000, 400_000, 900_000])
    func killedImport(afterMicroseconds delay: UInt32) throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            try writeCorpus(dir + "/big.jsonl", count: 3_000, words: 120)
            // The token-id index too: its pending and segment records follow the byte index's life
            // cycle (the corpus has no token ids, so every chunk is an empty sequence there).
            let args = ["--collection", "docs", "--chunk-size", "64", "--chunk-overlap", "8", "--ngram-index", "lowercase", "--ngram-tokens", dir + "/big.jsonl"]
            let child = try startRAGDB(["import", path, "--batch", "500"] + args)
            usleep(delay)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            if FileManager.default.fileExists(atPath: path + "/data.mdb") {
                let r = try runRAGDB(["check", path])
                #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
            }
            // Running the same import again finishes it.
            var r = try runRAGDB(["import", path, "--json"] + args)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try runRAGDB(["check", path]).status == 0)
            // Same content as an import that was never interrupted.
            r = try runRAGDB(["import", dir + "/reference"] + args)
            #expect(r.status == 0)
            let resumed = try runRAGDB(["export", path, "--collection", "docs", "--chunks"])
            let reference = try runRAGDB(["export", dir + "/reference", "--collection", "docs", "--chunks"])
            #expect(resumed.stdout.split(separator: "\n").count == 3_000)
            #expect(resumed.stdout == reference.stdout)
            // The n-gram index answers as the uninterrupted one does.
            let counts = try [path, dir + "/reference"].map { try runRAGDB(["ngram", "count", $0, "--collection", "docs", " the", "--json"]).stdout }
            #expect(counts[0] == counts[1] && counts[0].contains("occurrences"))
            // Both indexes are complete: nothing left pending after the re-run.
            let stats = try JSONSerialization.jsonObject(with: Data(try runRAGDB(["stats", path, "--json"]).stdout.utf8)) as? [String: Any]
            let collection = (stats?["collections"] as? [[String: Any]])?.first
            for key in ["ngram_index", "token_ngram_index"] {
                #expect((collection?[key] as? [String: Any])?["pending_chunks"] as? Int == 0, "\(key): \(String(describing: collection?[key]))")
            }
        }
    }

    @Test("a reader whose map another process grew adopts the new size (MDB_MAP_RESIZED)")
    func mapGrownByAnotherProcess() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            var options = Database.Options()
            options.initialMapSize = 1 << 20
            let db = try Database.open(at: path, options: options)
            let c = try db.createCollection("docs")
            try c.insert([DocumentInput(id: "first", text: "before the other process wrote")])
            // Another process writes far more than this process's 1 MiB map holds.
            try writeCorpus(dir + "/big.jsonl", count: 3_000, words: 200)
            let r = try runRAGDB(["import", path, "--collection", "docs", dir + "/big.jsonl"])
            #expect(r.status == 0, "\(r.stderr)")
            // This process reads and writes on, adopting the larger map.
            #expect(try c.counters().documents == 3_001)
            #expect(db.env.mapSize > 1 << 20, "the map size was not adopted")
            #expect(try c.document("doc-2999") != nil)
            try c.insert([DocumentInput(id: "last", text: "after")])
            #expect(try db.check().isClean)
        }
    }

    @Test("a byte damaged on disk is found by check, which exits 2")
    func damagedFile() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            let text = String(repeating: "zebra quagga okapi narwhal ", count: 400)
            try Data(#"{"id": "d", "text": "\#(text)"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/one.jsonl"))
            #expect(try runRAGDB(["import", path, "--collection", "c", dir + "/one.jsonl"]).status == 0)
            // Find the stored chunk value in the file (its framed bytes), flip a payload byte.
            var stored: [UInt8] = []
            do {
                let db = try Database.open(at: path)
                _ = db
            }
            var file = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let needle = Data("zebra".utf8)
            // The chunk and the source are both LZ4-compressed; damage every occurrence of a
            // literal run so both values are hit.
            var at = file.startIndex
            var hits = 0
            while let r = file.range(of: needle, in: at..<file.endIndex) {
                file[r.lowerBound + 1] ^= 0x20
                at = r.upperBound
                hits += 1
            }
            stored.append(UInt8(hits))
            #expect(hits >= 1)
            try file.write(to: URL(fileURLWithPath: path + "/data.mdb"))
            let r = try runRAGDB(["check", path])
            #expect(r.status == 2, "\(r.stdout)")
            #expect(r.stdout.contains("damaged: chunks") || r.stdout.contains("damaged: sources"))
            let g = try runRAGDB(["get", path, "--collection", "c", "--doc", "d"])
            #expect(g.status == 2 || g.status == 0)
            #expect(!g.stderr.contains("Fatal error"))
        }
    }

    @Test("an unknown format version is refused by the CLI with exit 66")
    func unknownVersion() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            _ = try runRAGDB(["init", path])
            // Rewrite the version record's value in the file: the 4-byte value follows the
            // key "format_version" in the meta table's leaf page.
            var file = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let key = Data("format_version".utf8)
            let r = try #require(file.range(of: key))
            #expect(file[r.upperBound] == 5)
            file[r.upperBound] = 7
            try file.write(to: URL(fileURLWithPath: path + "/data.mdb"))
            let out = try runRAGDB(["stats", path])
            #expect(out.status == 66)
            #expect(out.stderr.contains("format version 7"), "\(out.stderr)")
        }
    }

    @Test("a version-3 database with n-gram segments upgrades: segments are rebuilt in the new layout and answer as before")
    func upgradeFromVersion3() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            let lines = (0..<30).map { "{\"id\": \"d\($0)\", \"text\": \"Document \($0) says the cat sat on mat \($0 % 7).\"}" }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            #expect(try runRAGDB(["import", path, "--collection", "c", "--chunker", "none", "--ngram-index", "lowercase", dir + "/in.jsonl"]).status == 0)
            // A second import replaces documents: the first segment has dead chunks.
            try Data((lines.prefix(4).map { $0.replacingOccurrences(of: "cat", with: "dog") }.joined(separator: "\n") + "\n").utf8)
                .write(to: URL(fileURLWithPath: dir + "/in2.jsonl"))
            #expect(try runRAGDB(["import", path, "--collection", "c", "--chunker", "none", dir + "/in2.jsonl"]).status == 0)
            let patterns = [" the cat", "mat 3", "dog", " document 1"]
            func counts() throws -> [String] {
                try patterns.map { try runRAGDB(["ngram", "count", path, "--collection", "c", $0, "--json"]).stdout }
            }
            let before = try counts()
            try rewriteFormatVersion(of: path, to: 3)
            let refused = try runRAGDB(["ngram", "count", path, "--collection", "c", "cat"])
            #expect(refused.status == 66 && refused.stderr.contains("ragdb upgrade"), "\(refused.stderr)")
            let upgraded = try runRAGDB(["upgrade", path])
            #expect(upgraded.status == 0 && upgraded.stdout.contains("n-gram index rebuilt over 30 chunks"), "\(upgraded.stdout)\(upgraded.stderr)")
            #expect(try counts() == before)
            #expect(try runRAGDB(["check", path]).status == 0)
            let stats = try runRAGDB(["stats", path, "--json"]).stdout
            #expect(stats.contains("\"format_version\":5") || stats.contains("\"format_version\" : 5"), "\(stats)")
        }
    }

    @Test("a version-4 database with an int8 dense index upgrades to version 5 and answers as before; pca8 codes build after")
    func upgradeFromVersion4() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            var lines: [String] = []
            for i in 0..<60 {
                let v = (0..<8).map { j in String(format: "%.3f", sin(Double(i * 8 + j))) }.joined(separator: ",")
                lines.append("{\"id\": \"d\(i)\", \"text\": \"document \(i)\", \"dense\": {\"e\": [\(v)]}}")
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            #expect(try runRAGDB(["import", path, "--collection", "c", "--chunker", "none", "--space", "e:8:cosine", dir + "/in.jsonl"]).status == 0)
            #expect(try runRAGDB(["index", path, "--collection", "c", "--codes", "int8"]).status == 0)
            let query = ["search", path, "--collection", "c", "--vector", "[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]", "--k", "5", "--json", "--no-text"]
            let before = try runRAGDB(query)
            #expect(before.status == 0, "\(before.stderr)")
            try rewriteFormatVersion(of: path, to: 4)
            let refused = try runRAGDB(query)
            #expect(refused.status == 66 && refused.stderr.contains("format version 4") && refused.stderr.contains("ragdb upgrade"), "\(refused.stderr)")
            let upgraded = try runRAGDB(["upgrade", path])
            #expect(upgraded.status == 0 && upgraded.stdout.contains("format version 5"), "\(upgraded.stdout)\(upgraded.stderr)")
            #expect(try runRAGDB(query).stdout == before.stdout)
            #expect(try runRAGDB(["check", path]).status == 0)
            let pca = try runRAGDB(["index", path, "--collection", "c", "--codes", "pca8", "--pca-axes", "6", "--prefix-axes", "3"])
            #expect(pca.status == 0 && pca.stdout.contains("pca8 codes of 6 bytes"), "\(pca.stdout)\(pca.stderr)")
            #expect(try runRAGDB(["check", path]).status == 0)
            let bad = try runRAGDB(["index", path, "--collection", "c", "--codes", "int8", "--pca-axes", "6"])
            #expect(bad.status != 0 && bad.stderr.contains("pca8 only"), "\(bad.stderr)")
        }
    }

    @Test("a version-1 database is refused with a hint until `ragdb upgrade` converts it")
    func upgradeFromVersion1() throws {
        try withTemporaryDirectory { dir in
            let path = dir + "/db"
            _ = try runRAGDB(["init", path])
            var file = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            let r = try #require(file.range(of: Data("format_version".utf8)))
            file[r.upperBound] = 1
            try file.write(to: URL(fileURLWithPath: path + "/data.mdb"))
            let refused = try runRAGDB(["stats", path])
            #expect(refused.status == 66 && refused.stderr.contains("ragdb upgrade"), "\(refused.stderr)")
            #expect(try runRAGDB(["upgrade", path]).status == 0)
            #expect(try runRAGDB(["stats", path]).status == 0)
            #expect(try runRAGDB(["check", path]).status == 0)
        }
    }
}

extension Tag {
    @Tag static var slow: Self
}

/// Whether python3 with the lmdb, lz4 and xxhash modules is available for the
/// cross-language format test.
let pythonFormatReaderAvailable: Bool = {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", "import lmdb, lz4.block, xxhash"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()

/// The repository root, found from this source file's path.
/// SHA-256 of `data` in hex, via the system's sha256sum.
/// Rewrites every copy of the database's format version record (LMDB keeps older pages
/// around) from the current version to `version`, in the file, as an older ragdb would have
/// left it.
func rewriteFormatVersion(of path: String, to version: UInt8) throws {
    var file = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
    let current = withUnsafeBytes(of: Database.formatVersion.littleEndian) { Data($0) }
    var from = file.startIndex
    while let r = file.range(of: Data("format_version".utf8), in: from..<file.endIndex) {
        if file[r.upperBound..<r.upperBound + 4] == current { file[r.upperBound] = version }
        from = r.upperBound
    }
    try file.write(to: URL(fileURLWithPath: path + "/data.mdb"))
}

func sha256Hex(_ data: Data) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sha256sum"]
    let inp = Pipe(), out = Pipe()
    p.standardInput = inp
    p.standardOutput = out
    try? p.run()
    inp.fileHandleForWriting.write(data)
    try? inp.fileHandleForWriting.close()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return String(text.prefix(64))
}

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

@Suite struct FormatReaderTests {
    @Test("Format.md's Appendix A is the same program as Tests/format_reader.py")
    func appendixMatchesScript() throws {
        let doc = try String(contentsOfFile: repositoryRoot + "/Format.md", encoding: .utf8)
        let script = try String(contentsOfFile: repositoryRoot + "/Tests/format_reader.py", encoding: .utf8)
        let appendix = try #require(doc.range(of: "## Appendix A"))
        let open = try #require(doc.range(of: "```python\n", range: appendix.upperBound..<doc.endIndex))
        let close = try #require(doc.range(of: "\n```", range: open.upperBound..<doc.endIndex))
        #expect(String(doc[open.upperBound..<close.lowerBound]) == script.trimmingCharacters(in: .newlines))
    }

    @Test("a reader written from Format.md alone (Tests/format_reader.py) reads what ragdb wrote",
          .enabled(if: pythonFormatReaderAvailable, "python3 with lmdb, lz4 and xxhash is not installed"))
    func pythonReader() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            var rng = SeededGenerator(seed: 21)
            var lines: [String] = []
            for i in 0..<40 {
                let text = (0..<5).map { _ in generatedText(words: 30, using: &rng) + "." }.joined(separator: " ")
                let obj: [String: Any] = ["id": "d\(i)", "text": text, "metadata": ["n": i, "f": 1.5, "b": true, "tags": ["x", "ÿ"], "s": "v"]]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            // A second import replaces some documents: dead chunks in the first n-gram segment.
            try Data((lines.prefix(5).map { $0.replacingOccurrences(of: "\"text\":\"", with: "\"text\":\"changed ") }.joined(separator: "\n") + "\n").utf8)
                .write(to: URL(fileURLWithPath: dir + "/in2.jsonl"))
            #expect(try runRAGDB(["import", db, "--collection", "c", "--chunk-size", "20", "--chunk-overlap", "4", "--ngram-index", "lowercase", dir + "/in.jsonl"]).status == 0)
            #expect(try runRAGDB(["import", db, "--collection", "c", "--chunk-size", "20", "--chunk-overlap", "4", dir + "/in2.jsonl"]).status == 0)
            // A folded n-gram index: the reader must reproduce the normalisation to read text back.
            try Data("{\"id\": \"f0\", \"text\": \"Crème Brûlée à la İzmir, naïve façade\"}\n{\"id\": \"f1\", \"text\": \"Ångström ÉCOLE déjà vu\"}\n".utf8)
                .write(to: URL(fileURLWithPath: dir + "/fold.jsonl"))
            #expect(try runRAGDB(["import", db, "--collection", "folded", "--chunk-size", "3", "--chunk-overlap", "0", "--ngram-index", "fold", dir + "/fold.jsonl"]).status == 0)
            // Token ids and their index, with a replaced document (dead chunks in a token segment).
            try Data("{\"id\": \"t0\", \"text\": \"ab\", \"chunks\": [{\"text\": \"a\", \"tokens\": [5, 70000, 5]}, {\"text\": \"b\"}]}\n{\"id\": \"t1\", \"text\": \"c\", \"tokens\": [70000, 9]}\n".utf8)
                .write(to: URL(fileURLWithPath: dir + "/tok.jsonl"))
            #expect(try runRAGDB(["import", db, "--collection", "tok", "--chunker", "none", "--ngram-index", "none", "--ngram-tokens", dir + "/tok.jsonl"]).status == 0)
            try Data("{\"id\": \"t1\", \"text\": \"c\", \"tokens\": [70000, 8]}\n".utf8).write(to: URL(fileURLWithPath: dir + "/tok2.jsonl"))
            #expect(try runRAGDB(["import", db, "--collection", "tok", "--chunker", "none", dir + "/tok2.jsonl"]).status == 0)
            try writeNpy((0..<3).map { r in (0..<4).map { Float(r * 4 + $0) } }, to: dir + "/v.npy", half: true)
            try Data("{\"id\": \"v0\", \"text\": \"a\"}\n{\"id\": \"v1\", \"text\": \"b\"}\n{\"id\": \"v2\", \"text\": \"c\"}\n".utf8)
                .write(to: URL(fileURLWithPath: dir + "/v.jsonl"))
            #expect(try runRAGDB(["import", db, "--collection", "vec", "--chunker", "none", "--vectors", "e=" + dir + "/v.npy",
                                  "--vector-type", "float16", dir + "/v.jsonl"]).status == 0)
            #expect(try runRAGDB(["index", db, "--collection", "vec", "--codes", "pq"]).status == 0)
            // A pca8 model and codes (version 5) in a second collection.
            #expect(try runRAGDB(["import", db, "--collection", "pca", "--chunker", "none", "--vectors", "e=" + dir + "/v.npy", dir + "/v.jsonl"]).status == 0)
            #expect(try runRAGDB(["index", db, "--collection", "pca", "--codes", "pca8", "--pca-axes", "3", "--prefix-axes", "2"]).status == 0)
            // KV caches: one raw, one shuffled+LZ4 in several segments (a smooth signal compresses).
            for (name, comp) in [("raw", "none"), ("packed", "shuffle-lz4")] {
                #expect(try runRAGDB(["kv", "profile", db, "--name", name, "--model", "m", "--tokenizer", "t", "--layers", "2", "--kv-heads", "4",
                                      "--head-dim", "64", "--dtype", "f16", "--segment-bytes", "4KiB", "--compression", comp]).status == 0)
            }
            var kvBytes = Data()
            for i in 0..<(2 * 2 * 20 * 4 * 64) { withUnsafeBytes(of: Float16(sin(Float(i) * 0.01)).bitPattern.littleEndian) { kvBytes.append(contentsOf: $0) } }
            for name in ["raw", "packed"] {
                let put = try runRAGDB(["kv", "put", db, "--profile", name, "--chunk", "3", "--tokens", "20", "--prefix", "1,2", "--prefix-scores", "1,2", "--cci", "0.7"], input: kvBytes)
                #expect(put.status == 0, "\(put.stderr)")
            }
            let kvReader = Process()
            kvReader.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            kvReader.arguments = ["python3", repositoryRoot + "/Tests/format_reader.py", "--kv", db]
            let kvOut = Pipe()
            kvReader.standardOutput = kvOut
            try kvReader.run()
            let kvLines = String(decoding: kvOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            kvReader.waitUntilExit()
            #expect(kvReader.terminationStatus == 0)
            let digest = sha256Hex(kvBytes)
            #expect(kvLines.count == 2 && kvLines.allSatisfy { $0.contains(digest) && $0.contains("\"prefix\": [1, 2]") }, "\(kvLines)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", repositoryRoot + "/Tests/format_reader.py", db]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(errors)")
            // Every chunk the reader saw matches the library's view of it.
            let database = try Database.open(at: db)
            let c = try database.collection("c")
            var seen = 0
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                guard obj["collection"] as? String == "c" else { continue }
                let id = ChunkIdentifier(rawValue: UInt64(try #require(obj["chunk"] as? Int)))
                let chunk = try #require(try c.chunk(id))
                #expect(obj["text"] as? String == chunk.text)
                #expect(obj["doc"] as? String == chunk.documentID)
                #expect((obj["span"] as? [Int]) == [Int(chunk.span.start), Int(chunk.span.end)])
                seen += 1
            }
            #expect(UInt64(seen) == (try c.counters().chunks))
        }
    }
}

@Suite struct DenseCLITests {
    @Test("index, then dense and hybrid search with --explain: stable JSON with the plan")
    func denseAndHybrid() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            var lines: [String] = []
            var rng = SeededGenerator(seed: 5)
            for i in 0..<60 {
                let v = (0..<8).map { _ in Double(Int(rng.next() % 2001) - 1000) / 1000 }
                let obj: [String: Any] = ["id": "d\(i)", "text": "document number \(i) about " + (i % 2 == 0 ? "trees" : "pages"), "dense": ["e": v]]
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self))
            }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let imported = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", "--space", "e:8", dir + "/in.jsonl"])
            #expect(imported.status == 0, "\(imported.stderr)")
            let q = "[0.5, -0.2, 0.1, 0.9, -0.7, 0.3, 0.0, 0.4]"
            let exact = try runRAGDB(["search", db, "--collection", "c", "--vector", q, "--exact", "--k", "5", "--json", "--no-text"])
            #expect(exact.status == 0, "\(exact.stderr)")
            let built = try runRAGDB(["index", db, "--collection", "c", "--lists", "4", "--json"])
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(built.stdout.utf8)) as? [String: Any])
            #expect(summary["vectors"] as? Int == 60 && summary["lists"] as? Int == 4 && summary["codes"] as? String == "int8")
            let coarse = try runRAGDB(["search", db, "--collection", "c", "--vector", q, "--probes", "4", "--candidates", "100", "--k", "5", "--json", "--no-text", "--explain"])
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(coarse.stdout.utf8)) as? [String: Any])
            // Single queries run through the planner: its plan with estimates and actuals.
            let plan = try #require((payload["plan"] as? [String: Any])?["operators"] as? [[String: Any]])
            #expect(plan.map { $0["op"] as? String } == ["ann-codes", "dense-verify", "limit"])
            #expect(plan[1]["bytes_read"] as? Int == 60 * 32)
            func ids(_ out: String) throws -> [Int] {
                let obj = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
                return (obj["results"] as? [[String: Any]] ?? []).compactMap { $0["chunk"] as? Int }
            }
            // Every list probed and 100 candidates of 60: the exact answer.
            #expect(try ids(coarse.stdout) == ids(exact.stdout) && ids(exact.stdout).count == 5)
            let hybrid = try runRAGDB(["search", db, "--collection", "c", "--mode", "hybrid", "--text", "trees", "--vector", q, "--k", "3", "--json", "--explain"])
            #expect(hybrid.status == 0, "\(hybrid.stderr)")
            let h = try #require(try JSONSerialization.jsonObject(with: Data(hybrid.stdout.utf8)) as? [String: Any])
            let results = try #require(h["results"] as? [[String: Any]])
            #expect(results.count == 3 && results.allSatisfy { ($0["text"] as? String)?.contains("trees") == true && $0["bm25"] != nil && $0["dense"] != nil })
            let stats = try #require(try JSONSerialization.jsonObject(with: Data(try runRAGDB(["stats", db, "--json"]).stdout.utf8)) as? [String: Any])
            let dense = ((stats["collections"] as? [[String: Any]])?.first?["dense_indexes"] as? [[String: Any]])?.first
            #expect(dense?["vectors"] as? Int == 60 && dense?["lists"] as? Int == 4 && (dense?["resident_bytes"] as? Int ?? 0) > 60 * 8)
            // The same query as --mode exact, from a .npy row, and as a batch line's "vector".
            try writeNpy([[0, 0, 0, 0, 0, 0, 0, 0], [0.5, -0.2, 0.1, 0.9, -0.7, 0.3, 0.0, 0.4]], to: dir + "/q.npy", half: false)
            let fromFile = try runRAGDB(["search", db, "--collection", "c", "--vector", "@" + dir + "/q.npy:1", "--mode", "exact", "--k", "5", "--json", "--no-text"])
            #expect(try ids(fromFile.stdout) == ids(exact.stdout))
            try Data(#"{"id": "q", "vector": [0.5, -0.2, 0.1, 0.9, -0.7, 0.3, 0.0, 0.4]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/q.jsonl"))
            let batch = try runRAGDB(["search", db, "--collection", "c", "--queries", dir + "/q.jsonl", "--mode", "ann", "--candidates", "100", "--probes", "4", "--k", "5", "--no-text"])
            let line = try #require(try JSONSerialization.jsonObject(with: Data(batch.stdout.utf8)) as? [String: Any])
            #expect((line["results"] as? [[String: Any]])?.compactMap { $0["chunk"] as? Int } == (try ids(exact.stdout)))
            // Several timed passes print the results once and time one pass's queries.
            let passes = try runRAGDB(["search", db, "--collection", "c", "--queries", dir + "/q.jsonl", "--mode", "ann", "--candidates", "100",
                                       "--probes", "4", "--k", "5", "--no-text", "--timing", "--passes", "3"])
            #expect(passes.status == 0 && passes.stdout == batch.stdout, "\(passes.stderr)")
            let timing = try #require(try JSONSerialization.jsonObject(with: Data((passes.stderr.split(separator: "\n").last ?? "").utf8)) as? [String: Any])
            #expect(timing["queries"] as? Int == 1 && (timing["queries_per_s"] as? Double ?? 0) > 0)
            #expect(try runRAGDB(["search", db, "--collection", "c", "--queries", dir + "/q.jsonl", "--passes", "0"]).status == 64)
            #expect(try runRAGDB(["search", db, "--collection", "c", "--vector", "[0.5, -0.2, 0.1, 0.9, -0.7, 0.3, 0.0, 0.4]", "--passes", "2"]).status == 64)
            let bad = try runRAGDB(["search", db, "--collection", "c", "--vector", "[1, 2]"])
            #expect(bad.status == 65 && bad.stderr.contains("dimensions"), "\(bad.stderr)")
        }
    }
}

@Suite struct NgramCLITests {
    @Test("token ids: imported per chunk or per document, ngram count/locate/next --tokens, exported and re-imported unchanged, bad ids named")
    func tokens() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            let lines = [
                #"{"id": "a", "text": "one two", "chunks": [{"text": "one", "tokens": [464, 3290, 11]}, {"text": "two", "tokens": [464, 3290, 464]}]}"#,
                #"{"id": "b", "text": "three", "tokens": [7, 464, 3290, 11]}"#,
                #"{"id": "c", "text": "no tokens"}"#,
            ]
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let imported = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", "--ngram-index", "lowercase", "--ngram-tokens", dir + "/in.jsonl"])
            #expect(imported.status == 0, "\(imported.stderr)")
            func json(_ args: [String]) throws -> [String: Any] {
                let r = try runRAGDB(args + ["--json"])
                #expect(r.status == 0, "\(r.stderr)")
                return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            }
            let count = try json(["ngram", "count", db, "--collection", "c", "--tokens", "464,3290"])
            #expect(count["occurrences"] as? Int == 3 && count["chunks"] as? Int == 3)
            let next = try #require(try json(["ngram", "next", db, "--collection", "c", "--tokens", "464, 3290"])["continuations"] as? [[String: Any]])
            #expect(next.map { $0["token"] as? Int } == [11, 464] && next.map { $0["count"] as? Int } == [2, 1])
            let located = try #require(try json(["ngram", "locate", db, "--collection", "c", "--tokens", "3290,11"])["occurrences"] as? [[String: Any]])
            #expect(Set(located.map { "\($0["doc"] as? String ?? "")@\($0["offset"] as? Int ?? -1)" }) == ["a@1", "b@2"])
            let all = try json(["ngram", "count", db, "--collection", "c", "--tokens", ""])
            #expect(all["occurrences"] as? Int == 10)
            let stats = try json(["stats", db])
            let tokenIndex = (stats["collections"] as? [[String: Any]])?.first?["token_ngram_index"] as? [String: Any]
            #expect(tokenIndex?["segments"] as? Int == 1 && tokenIndex?["pending_chunks"] as? Int == 0, "\(stats)")
            #expect(try runRAGDB(["check", db]).status == 0)
            // Export with chunks carries the tokens; importing it again changes nothing.
            let exported = try runRAGDB(["export", db, "--collection", "c", "--chunks"])
            #expect(exported.status == 0 && exported.stdout.contains("\"tokens\":[464,3290,11]"), "\(exported.stdout)")
            try Data(exported.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/out.jsonl"))
            let again = try json(["import", db, "--collection", "c", dir + "/out.jsonl"])
            #expect(again["unchanged"] as? Int == 3, "\(again)")
            // Changed tokens make a changed document.
            try Data(#"{"id": "b", "text": "three", "tokens": [7, 464, 3290, 12]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/b.jsonl"))
            #expect(try json(["import", db, "--collection", "c", "--chunker", "none", dir + "/b.jsonl"])["replaced"] as? Int == 1)
            #expect(try json(["ngram", "count", db, "--collection", "c", "--tokens", "3290,11"])["occurrences"] as? Int == 1)
            // Bad input: the file, line and field are named, nothing is written.
            try Data("{\"id\": \"x\", \"text\": \"t\"}\n{\"id\": \"y\", \"text\": \"t\", \"tokens\": [1, -2]}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
            let bad = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", dir + "/bad.jsonl"])
            #expect(bad.status != 0 && bad.stderr.contains("bad.jsonl:2") && bad.stderr.contains("tokens"), "\(bad.stderr)")
            #expect(try json(["ngram", "count", db, "--collection", "c", "--tokens", ""])["occurrences"] as? Int == 10)
            let usage = try runRAGDB(["ngram", "next", db, "--collection", "c", "--tokens", "1,x"])
            #expect(usage.status == 64 && usage.stderr.contains("not a token id"), "\(usage.stderr)")
            let plain = try runRAGDB(["ngram", "count", db, "--collection", "missing", "--tokens", "1"])
            #expect(plain.status == 66)
        }
    }

    @Test("ngram count, locate, next and search, stats and compact, with stable JSON")
    func ngram() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            let docs = [["id": "a", "text": "The cat sat on the mat."], ["id": "b", "text": "A cat and a catalog."], ["id": "c", "text": "Dogs only."]]
            let lines = try docs.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let imported = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", "--ngram-index", "lowercase", dir + "/in.jsonl"])
            #expect(imported.status == 0, "\(imported.stderr)")
            func json(_ args: [String]) throws -> [String: Any] {
                let r = try runRAGDB(args + ["--json"])
                #expect(r.status == 0, "\(r.stderr)")
                return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            }
            let count = try json(["ngram", "count", db, "--collection", "c", "CAT"])
            #expect(count["occurrences"] as? Int == 3 && count["chunks"] as? Int == 2)
            let next = try json(["ngram", "next", db, "--collection", "c", " cat"])
            let items = try #require(next["continuations"] as? [[String: Any]])
            #expect(items.map { $0["text"] as? String } == [" ", "a"] && items.map { $0["count"] as? Int } == [2, 1])
            let located = try #require(try json(["ngram", "locate", db, "--collection", "c", "mat"])["occurrences"] as? [[String: Any]])
            #expect(located.count == 1 && located[0]["doc"] as? String == "a" && located[0]["offset"] as? Int == 19)
            let search = try #require(try json(["ngram", "search", db, "--collection", "c", "cat sat"])["results"] as? [[String: Any]])
            #expect(search.first?["doc"] as? String == "a")
            let stats = try json(["stats", db])
            let ngram = (stats["collections"] as? [[String: Any]])?.first?["ngram_index"] as? [String: Any]
            #expect(ngram?["segments"] as? Int == 1 && ngram?["pending_chunks"] as? Int == 0)
            #expect(try runRAGDB(["compact", db, "--collection", "c"]).status == 0)
            #expect(try runRAGDB(["check", db]).status == 0)
            let none = try runRAGDB(["ngram", "count", db, "--collection", "missing", "x"])
            #expect(none.status == 66)
        }
    }
}

@Suite struct SparseCLITests {
    @Test("JSONL sparse vectors import into a declared sparse space; search --sparse ranks by impact dot product")
    func importAndSearch() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            try Data("""
                {"id": "a", "text": "copy on write trees", "sparse": {"splade": {"copy": 1.5, "tree": 1.1}}}
                {"id": "b", "chunks": [{"text": "compressed", "sparse": {"splade": {"compress": 2}}}, {"text": "tree pages", "sparse": {"splade": {"tree": 0.5, "page": 1.3}}}]}

                """.utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
            let r = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", "--sparse-space", "splade", dir + "/in.jsonl"])
            #expect(r.status == 0, "\(r.stderr)")
            let out = try runRAGDB(["search", db, "--collection", "c", "--sparse", "{\"tree\": 1, \"page\": 0.5}", "--json", "--no-text"])
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
            let results = try #require(obj["results"] as? [[String: Any]])
            #expect(results.map { $0["doc"] as? String } == ["b", "a"])
            #expect(abs((results[0]["score"] as? Double ?? 0) - (128.0 + 0.5 * 333) / 256) < 1e-9)
            let stats = try #require(try JSONSerialization.jsonObject(with: Data(try runRAGDB(["stats", db, "--json"]).stdout.utf8)) as? [String: Any])
            let sparse = ((stats["collections"] as? [[String: Any]])?.first?["sparse_indexes"] as? [[String: Any]])?.first
            #expect(sparse?["space"] as? String == "splade" && sparse?["postings"] as? Int == 5 && sparse?["terms"] as? Int == 4)
            // Hybrid: the learned sparse space proposes, and the plan says so.
            let hybridOut = try runRAGDB(["search", db, "--collection", "c", "--mode", "hybrid", "--sparse", "{\"tree\": 1}", "--vector", "[1]",
                                          "--json", "--explain"])
            #expect(hybridOut.status != 0 && hybridOut.stderr.contains("vector space"), "no dense space: \(hybridOut.stderr)")
            try Data(#"{"id": "x", "text": "t", "sparse": {"splade": {"t": -2}}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
            let bad = try runRAGDB(["import", db, "--collection", "c", dir + "/bad.jsonl"])
            #expect(bad.status == 65 && bad.stderr.contains("bad.jsonl:1") && bad.stderr.contains("sparse.splade"), "\(bad.stderr)")
        }
    }
}
