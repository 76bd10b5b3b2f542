import Foundation
import RAGDBTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ragdb shell` driven through standard input (scripts) and through a pseudo-terminal
/// (line editing and history), with real processes and a real database.
@Suite struct ShellTests {
    /// A database with one collection "c": 40 documents with metadata, a vector space and
    /// an n-gram index.
    static func makeDatabase(_ dir: String) throws -> String {
        let db = dir + "/db"
        var lines: [String] = []
        for i in 0..<40 {
            let words = i % 2 == 0 ? "alpha beta gamma" : "delta epsilon"
            let v = (0..<4).map { j in String(format: "%.3f", sin(Double(i * 4 + j))) }.joined(separator: ", ")
            lines.append(#"{"id": "d\#(i)", "text": "document \#(i) about \#(words) and more \#(words)", "metadata": {"n": \#(i), "lang": "\#(i % 3 == 0 ? "en" : "fr")"}, "dense": {"e": [\#(v)]}}"#)
        }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
        let r = try runRAGDB(["import", db, "--collection", "c", "--chunker", "none", "--space", "e:4", "--ngram-index", "lowercase", dir + "/in.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        return db
    }

    @Test("statements and dot-commands piped into the shell: results, modes, EXPLAIN, EXPLAIN ANALYZE, budget, errors")
    func scripted() throws {
        try withTemporaryDirectory { dir in
            let db = try Self.makeDatabase(dir)
            let script = """
                SELECT doc, score FROM c
                  WHERE MATCH('alpha') AND lang = 'en' AND n < 20
                  LIMIT 3;
                .mode json
                SELECT chunk, doc FROM c WHERE NEAR(e, [0.1, 0.2, 0.3, 0.4]) AND n IN (1, 2, 3, 4, 5) LIMIT 2;
                .mode lines
                SELECT doc, tokens FROM c WHERE MATCH('delta') AND lang LIKE 'f%' LIMIT 1;
                .mode table
                EXPLAIN SELECT * FROM c WHERE MATCH('alpha') AND NEAR(e, [1, 0, 0, 0]) AND NOT lang = 'fr';
                EXPLAIN ANALYZE SELECT * FROM c WHERE MATCH('alpha') AND NEAR(e, [1, 0, 0, 0]) FUSION WEIGHTED(0.3) LIMIT 2;
                SELECT doc, tokens FROM c WHERE MATCH('alpha gamma') BUDGET 20 TOKENS;
                SELECT doc FROM c WHERE NGRAM('epsilon and') LIMIT 2;
                SELECT doc FROM c WHERE MATCH('alpha') AND lang = ;
                SELECT doc FROM nothere WHERE MATCH('alpha');
                .ngram count c ' alpha'
                .schema c
                .collections
                .timer on
                .reload
                SELECT doc FROM c WHERE MATCH('beta') LIMIT 1;
                .bogus
                """
            let r = try runRAGDB(["shell", db], input: Data((script + "\n").utf8))
            #expect(r.status == 1, "errors make the exit status 1")
            let out = r.stdout
            // Table mode: header, then only English documents with n < 20 holding "alpha".
            #expect(out.contains("doc") && out.contains("score"))
            for id in ["d0", "d6", "d12"] { #expect(out.contains(id + " "), "\(id) in \(out)") }
            #expect(!out.contains("d18 ") && !out.contains("d2 "))
            // JSON mode: one object per row with the asked columns.
            let json = out.split(separator: "\n").filter { $0.hasPrefix("{\"chunk\"") }
            #expect(json.count == 2, "\(out)")
            // Lines mode.
            #expect(out.contains("doc    = d1") || out.contains("doc    = d") , "\(out)")
            #expect(out.contains("tokens = "))
            // EXPLAIN: operators with estimates and the filter placement note.
            #expect(out.contains("dense-verify") && out.contains("est rows") && out.contains("NOT lang = 'fr'"))
            // EXPLAIN ANALYZE: actual columns.
            #expect(out.contains("  in  ") || out.contains(" in "))
            #expect(out.contains("weighted"))
            // Budget: the context line, never over 20 tokens.
            let ctx = try #require(out.split(separator: "\n").first { $0.hasPrefix("-- context:") })
            let used = Int(ctx.split(separator: ",")[1].trimmingCharacters(in: .whitespaces).split(separator: " ")[0])!
            #expect(used <= 20, "\(ctx)")
            // N-gram search, .ngram, .schema, .collections, .timer.
            #expect(out.contains("occurrences") && out.contains("field lang") && out.contains("field n:") && out.contains("collection  documents"))
            #expect(out.contains("Run Time:"))
            // Errors: a parse error with its position and caret, an unknown collection, an unknown command.
            #expect(r.stderr.contains("parse error at line 1, column 51: expected a value"), "\(r.stderr)")
            #expect(r.stderr.contains("^"))
            #expect(r.stderr.contains("nothere"))
            #expect(r.stderr.contains("unknown command .bogus"))
        }
    }

    @Test("on a pseudo-terminal the shell has a prompt, multi-line statements and Up-arrow history")
    func pseudoTerminal() throws {
        try withTemporaryDirectory { dir in
            let db = try Self.makeDatabase(dir)
            // A pseudo-terminal pair: /dev/ptmx, unlocked, and its /dev/pts/N.
            let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
            #expect(master >= 0)
            var unlock: CInt = 0
            var number: CInt = 0
            guard master >= 0, ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0, ioctl(master, 0x8004_5430 /* TIOCGPTN */, &number) == 0 else { return }
            let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
            #expect(slave >= 0)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ragdbExecutable())
            process.arguments = ["shell", db]
            process.environment = ["HOME": dir, "TERM": "xterm", "PATH": "/usr/bin:/bin"]
            let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
            process.standardInput = handle
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            close(slave)
            var output = Data()
            func pump(until needle: String, seconds: Double = 20) -> Bool {
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                    if poll(&pfd, 1, 100) > 0 {
                        var buf = [UInt8](repeating: 0, count: 4096)
                        let n = read(master, &buf, buf.count)
                        if n > 0 { output.append(contentsOf: buf[0..<n]) } else { break }
                    }
                    if String(decoding: output, as: UTF8.self).components(separatedBy: needle).count > 1 { return true }
                }
                return false
            }
            func type(_ s: String) { _ = s.utf8CString.withUnsafeBufferPointer { write(master, $0.baseAddress, $0.count - 1) } }
            #expect(pump(until: "ragdb> "))
            // A statement over two lines: the continuation prompt, then the result.
            type("SELECT doc FROM c WHERE MATCH('epsilon')\r")
            #expect(pump(until: "...> "))
            type("AND n = 7;\r")
            #expect(pump(until: "d7"))
            output.removeAll()
            // Up-arrow recalls the statement (as one history entry); Enter runs it again.
            #expect(pump(until: "ragdb> ", seconds: 5) || true)
            type("\u{1B}[A\r")
            #expect(pump(until: "d7"), "\(String(decoding: output, as: UTF8.self))")
            type(".quit\r")
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { _ = pump(until: "\u{0}", seconds: 0.2) }
            #expect(!process.isRunning)
            close(master)
            let history = (try? String(contentsOfFile: dir + "/.ragdb_history", encoding: .utf8)) ?? ""
            #expect(history.contains("MATCH('epsilon')"), "\(history)")
        }
    }
}
