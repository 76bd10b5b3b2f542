import Foundation
import RAGDBTestSupport
import Testing

/// `ragdb kv` end to end, through real processes: profile, put from a file and from standard
/// input, get to a file, plan, ls, stats, evict, and bad input that writes nothing.
@Suite struct KVCLITests {
    @Test("kv profile, put (file and stdin), get, plan, ls, stats and evict round-trip through the CLI")
    func roundTrip() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            #expect(try runRAGDB(["init", db]).status == 0)
            let made = try runRAGDB(["kv", "profile", db, "--name", "m", "--model", "test", "--tokenizer", "t", "--layers", "2",
                                     "--kv-heads", "2", "--head-dim", "4", "--dtype", "f16", "--segment-bytes", "4KiB", "--json"])
            #expect(made.status == 0, "\(made.stderr)")
            #expect(made.stdout.contains("\"bytes_per_token\":64"), "\(made.stdout)")
            let tokens = 100
            var rng = SeededGenerator(seed: 5)
            let bytes = Data((0..<(tokens * 64)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let file = dir + "/c.kv"
            try bytes.write(to: URL(fileURLWithPath: file))
            let meta = dir + "/c.json"
            try Data(#"{"tokens": 100, "position": 7, "prefix": [1, 2], "prefix_scores": [3.0, 1.0], "cci": 0.6, "importance": \#((0..<100).map { Double($0 % 10) })}"#.utf8)
                .write(to: URL(fileURLWithPath: meta))
            let put1 = try runRAGDB(["kv", "put", db, "--profile", "m", "--chunk", "3", "--meta", meta, "--file", file])
            #expect(put1.status == 0, "\(put1.stderr)")
            let put2 = try runRAGDB(["kv", "put", db, "--profile", "m", "--chunk", "3", "--tokens", "100", "--json"], input: bytes)
            #expect(put2.status == 0 && put2.stdout.contains("\"variant\":\"standalone\""), "\(put2.stdout) \(put2.stderr)")
            let out = dir + "/out.kv"
            #expect(try runRAGDB(["kv", "get", db, "--profile", "m", "--chunk", "3", "--prefix", "1,2", "--out", out]).status == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes)
            #expect(try runRAGDB(["kv", "get", db, "--profile", "m", "--chunk", "3", "--layer", "1", "--out", out]).status == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == bytes[(bytes.count / 2)...])
            // After [2, 1]: the variant made after [1, 2] keeps β = 1 with γ = 1 → β′ = 0 → CFO = 0.6 → 60;
            // the standalone one would need 0.15 → 15: the standalone wins.
            let plan = try runRAGDB(["kv", "plan", db, "--profile", "m", "--chunks", "2,1,3,9", "--json"])
            #expect(plan.status == 0, "\(plan.stderr)")
            #expect(plan.stdout.contains(#""chunk":3,"#) && plan.stdout.contains(#""status":"missing""#), "\(plan.stdout)")
            #expect(plan.stdout.contains(#""variant":"standalone""#), "\(plan.stdout)")
            let exact = try runRAGDB(["kv", "plan", db, "--profile", "m", "--chunks", "1,2,3", "--json"])
            #expect(exact.stdout.contains(#""exact_context":true"#) && exact.stdout.contains(#""recompute":[]"#), "\(exact.stdout)")
            let ls = try runRAGDB(["kv", "ls", db, "--profile", "m", "--json"])
            #expect(ls.stdout.components(separatedBy: "\"chunk\":3").count == 3, "\(ls.stdout)")
            let stats = try runRAGDB(["kv", "stats", db, "--json"])
            #expect(stats.stdout.contains(#""entries":2"#) && stats.stdout.contains(#""lookups":9"#), "\(stats.stdout)")
            #expect(try runRAGDB(["check", db]).status == 0)
            let ev = try runRAGDB(["kv", "evict", db, "--profile", "m", "--to", "0", "--json"])
            #expect(ev.status == 0 && ev.stdout.contains("3/standalone"), "\(ev.stdout)")
            #expect(try runRAGDB(["kv", "ls", db, "--profile", "m", "--json"]).stdout == "{\"caches\":[]}\n")
            #expect(try runRAGDB(["check", db]).status == 0)
        }
    }

    @Test("bad input is refused with a message and an exit code, and writes nothing")
    func badInput() throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            _ = try runRAGDB(["init", db])
            _ = try runRAGDB(["kv", "profile", db, "--name", "m", "--model", "x", "--tokenizer", "t", "--layers", "2", "--kv-heads", "2", "--head-dim", "4", "--dtype", "f16"])
            let short = try runRAGDB(["kv", "put", db, "--profile", "m", "--chunk", "1", "--tokens", "10"], input: Data(count: 639))
            #expect(short.status == 65 && short.stderr.contains("needs 640 bytes"), "\(short.stderr)")
            let unknown = try runRAGDB(["kv", "put", db, "--profile", "nope", "--chunk", "1", "--tokens", "10"], input: Data(count: 640))
            #expect(unknown.status == 66 && unknown.stderr.contains("no KV profile named \"nope\""), "\(unknown.stderr)")
            let dtype = try runRAGDB(["kv", "profile", db, "--name", "q", "--model", "x", "--tokenizer", "t", "--layers", "2", "--kv-heads", "2", "--head-dim", "4", "--dtype", "f8"])
            #expect(dtype.status == 64 && dtype.stderr.contains("--dtype"), "\(dtype.stderr)")
            let missing = try runRAGDB(["kv", "get", db, "--profile", "m", "--chunk", "1", "--json"])
            #expect(missing.status == 66 && missing.stderr.contains("kv.not_found"), "\(missing.stderr)")
            #expect(try runRAGDB(["kv", "ls", db, "--profile", "m", "--json"]).stdout == "{\"caches\":[]}\n")
            #expect(try runRAGDB(["check", db]).status == 0)
        }
    }
}

/// A put killed with SIGKILL, mid-stream or mid-commit, leaves a database that checks clean
/// and holds either the old caches or the new one, never part of it.
@Suite struct KVKillTests {
    @Test("kv put killed while reading its input or committing: check is clean, the budget holds, nothing partial is served",
          .tags(.slow), arguments: [5_000, 40_000, 120_000])
    func killedPut(afterMicroseconds delay: UInt32) throws {
        try withTemporaryDirectory { dir in
            let db = dir + "/db"
            _ = try runRAGDB(["init", db])
            // 6 layers × 2 × 8 heads × 128 × f16 = 24 KiB a token; 2,048 tokens = 48 MiB.
            #expect(try runRAGDB(["kv", "profile", db, "--name", "m", "--model", "x", "--tokenizer", "t", "--layers", "6", "--kv-heads", "8",
                                  "--head-dim", "128", "--dtype", "f16", "--budget", "100MiB"]).status == 0)
            let tokens = 2048
            let size = tokens * 24 * 1024
            let file = dir + "/c.kv"
            var rng = SeededGenerator(seed: 1)
            try Data((0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }).write(to: URL(fileURLWithPath: file))
            for chunk in 1...2 {
                #expect(try runRAGDB(["kv", "put", db, "--profile", "m", "--chunk", "\(chunk)", "--tokens", "\(tokens)", "--file", file]).status == 0)
            }
            // The third put must evict one cache to fit; kill it part-way.
            let child = Process()
            child.executableURL = URL(fileURLWithPath: ragdbExecutable())
            child.arguments = ["kv", "put", db, "--profile", "m", "--chunk", "3", "--tokens", "\(tokens)", "--file", file]
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            try child.run()
            usleep(delay)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            let check = try runRAGDB(["check", db])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            let ls = try runRAGDB(["kv", "ls", db, "--profile", "m", "--json"])
            let chunks = ls.stdout.components(separatedBy: "\"chunk\":").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
            // Either the put never committed (chunks 1 and 2) or it did, evicting one (2 of 1, 2, 3 with 3 among them).
            #expect(chunks == [1, 2] || (chunks.count == 2 && chunks.contains(3)), "\(ls.stdout)")
            for c in chunks {
                let out = dir + "/out\(c).kv"
                #expect(try runRAGDB(["kv", "get", db, "--profile", "m", "--chunk", "\(c)", "--out", out]).status == 0)
                #expect(try Data(contentsOf: URL(fileURLWithPath: out)).count == size)
            }
        }
    }
}
