import ArgumentParser
import Foundation
import RAGDB
import RAGDBImport

#if canImport(Glibc)
import Glibc
#endif

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search a collection's chunks: BM25, dense, or hybrid (one query, or a batch file).",
        discussion: """
            --mode text (the default without vectors): the text is analyzed like the chunks \\
            and ranked with BM25 (Lucene's formula, k1 1.2, b 0.75), exactly.
            --mode dense (the default with a vector): the space's in-memory codes propose \\
            --candidates chunks from --probes IVF lists and exact similarity on the stored \\
            vectors picks the best k (--exact scores every stored vector instead).
            --mode hybrid: BM25 (or, with --sparse, the learned sparse space) proposes \\
            --candidates chunks, exact dense similarity rescores them, and --fusion combines \\
            the two (rrf, weighted with --alpha, or dense).
            --mode sparse (the default with --sparse): exact top-k of the learned sparse \\
            dot product.
            --explain prints the executed plan: each stage's candidates, bytes read and time.

            --mode ann is dense; --mode exact is dense with --exact.
            Query vectors: --vector '[0.1, ...]' or --vector @FILE.npy:ROW for one query; in a \\
            batch, a "vector" field per line or --query-vectors FILE.npy, one row per line.

            Batch mode reads JSONL lines {"id", "text"} and writes one JSON line per query: \\
            {"query_id", "results": [{"chunk", "doc", "score", "text"}]}, "doc" being the \\
            document's external id and "chunk" the chunk id.

            Examples:
              ragdb search my.ragdb --collection docs --text "copy-on-write b-tree" --k 5
              ragdb search my.ragdb --collection docs --queries queries.jsonl --k 100 > run.jsonl
              ragdb search my.ragdb --collection docs --space minilm --mode hybrid \\
                  --queries queries.jsonl --query-vectors queries.npy --k 100 > run.jsonl
            """)

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    @Option(name: .long, help: "The query text.")
    var text: String?

    @Option(name: .long, help: "A JSONL file of queries {\"id\", \"text\"} (or - for standard input).")
    var queries: String?

    @Option(name: .long, help: "How many results.")
    var k = 10

    @Option(name: .long, help: "BM25 k1 (term-frequency saturation).")
    var k1 = 1.2

    @Option(name: .long, help: "BM25 b (length normalisation, 0-1).")
    var b = 0.75

    @Option(name: .long, help: "Top-k method: accumulate, maxscore or exhaustive (all exact; they differ in speed).")
    var method = "accumulate"

    @Option(name: .long, help: "text, dense, hybrid or sparse (default: text, dense when a query vector is given, sparse with --sparse).")
    var mode: String?

    @Option(name: .long, help: "Sparse mode: the query's learned sparse vector, a JSON object {\"term\": weight}.")
    var sparse: String?

    @Option(name: .long, help: "Sparse mode: the sparse space (default: the collection's only one).")
    var sparseSpace: String?

    @Option(name: .long, help: "The vector space for dense and hybrid modes (default: the collection's only space).")
    var space: String?

    @Option(name: .long, help: "The query vector: a JSON array of numbers, or @FILE.npy:ROW (0-based).")
    var vector: String?

    @Option(name: .long, help: "Batch mode: a .npy file of query vectors, one row per line of --queries.")
    var queryVectors: String?

    @Option(name: .long, help: "Candidates the coarse stage passes to verification (dense: 3k, at least 30, for int8 codes, 20k, at least 200, for pq and binary; hybrid: 100).")
    var candidates: Int?

    @Option(name: .long, help: "Dense mode: IVF lists to probe (default: 1/32 of the lists, at least 8).")
    var probes: Int?

    @Flag(name: .long, help: "Dense mode: score every stored vector (exact; no codes).")
    var exact = false

    @Option(name: .long, help: "Hybrid mode: rrf (reciprocal rank, k 60), weighted or dense.")
    var fusion = "rrf"

    @Option(name: .long, help: "Hybrid mode with --fusion weighted: the dense weight (0-1).")
    var alpha = 0.5

    @Flag(name: .long, help: "Print the executed plan (with --json or in batch mode: a \"plan\" field).")
    var explain = false

    @Flag(name: .long, help: "Print JSON (always on in batch mode).")
    var json = false

    @Option(name: .long, help: "A metadata filter in the query language: \"lang = 'en' AND year >= 2020\" (README: The query language).")
    var `where`: String?

    @Option(name: .long, help: "A token budget: return the chunk set chosen by budgeted assembly instead of the top k.")
    var budget: Int?

    @Option(name: .long, help: "Assembly method with --budget: greedy (utility per token) or truncate (the ranked list until the budget is used).")
    var pack = "greedy"

    @Option(name: .long, help: "Assembly: μ, the weight of relevance against query-term coverage (default 1).")
    var assemblyRelevance: Double?

    @Option(name: .long, help: "Assembly: γ, the power the normalised relevance is raised to (default 1).")
    var assemblySharpness: Double?

    @Option(name: .long, help: "Assembly: ρ, the weight of redundancy (default 1).")
    var assemblyRedundancy: Double?

    @Option(name: .long, help: "Assembly: λ, the weight of the budget share used (default 0.5).")
    var assemblyCost: Double?

    @Option(name: .long, help: "An n-gram for the FM-index stage (SEAL scoring); repeat for several.")
    var ngram: [String] = []

    @Option(name: .long, help: "A KV-cache profile: attach each result's reuse answer.")
    var kvProfile: String?

    @Flag(name: .long, help: "Print the plan with estimates and actual rows, bytes and time per operator (EXPLAIN ANALYZE).")
    var analyze = false

    @Flag(name: .long, help: "Leave chunk text out of the results.")
    var noText = false

    @Flag(name: .long, help: "Batch mode: print timing to standard error as JSON (index load seconds, queries/s, p50/p99 latency in µs; search only, one thread).")
    var timing = false

    @Option(name: .long, help: "Batch mode: run the query file this many times and time the fastest pass (results are printed once); as peers' benchmarks take the best of several passes.")
    var passes = 1

    func validate() throws {
        guard (text != nil || vector != nil || sparse != nil || !ngram.isEmpty) != (queries != nil) else { throw ValidationError("give either --text, --vector, --sparse and/or --ngram, or --queries") }
        if let budget, budget < 1 { throw ValidationError("--budget must be at least 1") }
        guard ["greedy", "truncate"].contains(pack) else { throw ValidationError("--pack must be greedy or truncate") }
        guard k >= 1 else { throw ValidationError("--k must be at least 1") }
        guard passes >= 1 else { throw ValidationError("--passes must be at least 1") }
        if passes > 1 && queries == nil { throw ValidationError("--passes needs --queries") }
        guard k1 >= 0, (0...1).contains(b) else { throw ValidationError("--k1 must be at least 0 and --b between 0 and 1") }
        guard vector == nil || queries == nil else { throw ValidationError("--vector goes with --text; use --query-vectors with --queries") }
        guard queryVectors == nil || queries != nil else { throw ValidationError("--query-vectors needs --queries") }
        if let mode, !["text", "dense", "ann", "exact", "hybrid", "sparse"].contains(mode) {
            throw ValidationError("--mode must be text, dense (or ann), exact, hybrid or sparse, not '\(mode)'")
        }
        guard ["rrf", "weighted", "dense"].contains(fusion) else { throw ValidationError("--fusion must be rrf, weighted or dense, not '\(fusion)'") }
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha must be between 0 and 1") }
        if let candidates, candidates < 1 { throw ValidationError("--candidates must be at least 1") }
        if let probes, probes < 1 { throw ValidationError("--probes must be at least 1") }
    }

    struct Hit: Encodable {
        var chunk: UInt64
        var doc: String
        var score: Double
        var text: String?
        var dense: Double?
        var bm25: Double?

        init(chunk: UInt64, doc: String, score: Double, text: String?, dense: Double? = nil, bm25: Double? = nil) {
            (self.chunk, self.doc, self.score, self.text, self.dense, self.bm25) = (chunk, doc, score, text, dense, bm25)
        }

        /// A planner result in the scripting contract's shape; `bm25` carries the sparse
        /// stage's score (BM25, else a learned sparse space's).
        init(_ h: QueryHit, withText: Bool) {
            self.init(chunk: h.chunk.rawValue, doc: h.documentID, score: h.score, text: withText ? h.text : nil, dense: h.stageScores["dense"],
                      bm25: h.stageScores["bm25"] ?? h.stageScores.first(where: { $0.key.hasPrefix("sparse:") })?.value)
        }
    }

    func run() throws {
        let db = try openExisting(database)
        let c = try db.collection(collection)
        let hasVectors = vector != nil || queryVectors != nil
        var mode = self.mode ?? (sparse != nil ? "sparse" : hasVectors ? "dense" : "text")
        // exact: every stored vector; ann (= dense): codes, then verification.
        let exactScan = exact || mode == "exact"
        if mode == "exact" || mode == "ann" { mode = "dense" }
        if mode != "text" && mode != "sparse" && !hasVectors && queries == nil {
            throw ValidationError("--mode \(mode) needs a query vector: --vector, or --query-vectors with --queries")
        }
        let searchMethod: TextIndex.Method = try choice(method, "--method") ?? .accumulate
        let loadStart = Date()
        // Hybrid with --sparse: the learned sparse space proposes, not BM25.
        let learnedHybrid = mode == "hybrid" && sparse != nil
        let textIndex = mode == "dense" || mode == "sparse" || learnedHybrid ? nil : try c.loadTextIndex(k1: k1, b: b)
        var sparseIndex: LearnedSparseIndex?
        if mode == "sparse" || learnedHybrid {
            let names = c.settings.sparseSpaces.map(\.name)
            guard let name = sparseSpace ?? (names.count == 1 ? names[0] : nil) else {
                throw ValidationError(names.isEmpty ? "collection \"\(collection)\" has no sparse space" : "give --sparse-space (one of: \(names.joined(separator: ", ")))")
            }
            sparseIndex = try c.loadSparseIndex(space: name)
        }
        let denseIndex: DenseIndex?
        if mode == "text" || mode == "sparse" {
            denseIndex = nil
        } else {
            let names = c.settings.spaces.map(\.name)
            guard let name = space ?? (names.count == 1 ? names[0] : nil) else {
                throw ValidationError(names.isEmpty ? "collection \"\(collection)\" has no vector space" : "give --space (one of: \(names.joined(separator: ", ")))")
            }
            denseIndex = try c.loadDenseIndex(space: name)
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let fusionChoice: Fusion = fusion == "rrf" ? .reciprocalRank(k: 60) : fusion == "dense" ? .dense : .weighted(alpha: alpha)
        var latencies: [Double] = []
        var lastPlan: [PlanStage] = []
        func withText(_ ranked: [RankedChunk], _ doc: (ChunkIdentifier) -> String?) throws -> [Hit] {
            var hits = ranked.map { Hit(chunk: $0.chunk.rawValue, doc: doc($0.chunk) ?? "", score: $0.score, text: nil, dense: $0.dense, bm25: $0.bm25) }
            if !noText {
                for (i, ch) in try c.chunks(ranked.map(\.chunk)).enumerated() { hits[i].text = ch?.text }
            }
            return hits
        }
        var sparseQuery: [String: Float] = [:]
        // Batch lines go through the planner when a flag only it understands is given.
        let planned = `where` != nil || budget != nil || !ngram.isEmpty || kvProfile != nil || analyze
        let searcher = c.searcher()
        func hits(_ q: String, _ v: [Float]?) throws -> [Hit] {
            if planned {
                let query = try plannedQuery(c, searcher: searcher, text: q, vector: v, sparseQuery: sparseQuery, mode: mode, exactScan: exactScan, fusion: fusionChoice,
                                             denseSpace: denseIndex?.spaceName, sparseSpace: sparseIndex?.spaceName)
                return try searcher.run(query).hits.map { Hit($0, withText: !noText) }
            }
            switch mode {
            case "sparse":
                let found = sparseIndex!.search(sparseQuery, k: k)
                return try withText(found.map { RankedChunk(chunk: $0.chunk, score: $0.score, dense: nil, bm25: nil) }, sparseIndex!.documentID(of:))
            case "dense":
                let (r, plan) = try c.searchDense(v!, in: denseIndex!, k: k, candidates: candidates, probes: probes, exact: exactScan)
                lastPlan = plan
                return try withText(r, denseIndex!.documentID(of:))
            case "hybrid":
                let (r, plan) = learnedHybrid
                    ? try c.searchHybrid(sparse: sparseQuery, sparseIndex: sparseIndex!, vector: v!, denseIndex: denseIndex!, k: k,
                                         candidates: candidates ?? 100, fusion: fusionChoice)
                    : try c.searchHybrid(text: q, vector: v!, textIndex: textIndex!, denseIndex: denseIndex!, k: k,
                                         candidates: candidates ?? 100, fusion: fusionChoice)
                lastPlan = plan
                return try withText(r, denseIndex!.documentID(of:))
            default:
                let index = textIndex!
                if noText {
                    // Document ids come from the index's in-memory map: no chunk is read.
                    return index.search(q, k: k, method: searchMethod).map { Hit(chunk: $0.chunk.rawValue, doc: index.documentID(of: $0.chunk) ?? "", score: $0.score, text: nil) }
                }
                return try c.search(q, k: k, in: index).map { Hit(chunk: $0.chunk.id.rawValue, doc: $0.documentID, score: $0.score, text: $0.chunk.text) }
            }
        }
        func parseSparse(_ obj: Any?) throws -> [String: Float] {
            guard let obj else { return [:] }
            guard let dict = obj as? [String: NSNumber], dict.values.allSatisfy({ $0.floatValue.isFinite && $0.floatValue >= 0 }) else {
                throw ValidationError("a sparse query is a JSON object {\"term\": weight} with finite weights ≥ 0")
            }
            return dict.mapValues { $0.floatValue }
        }
        if let sparse {
            sparseQuery = try parseSparse(try? JSONSerialization.jsonObject(with: Data(sparse.utf8)))
        }
        if text != nil || vector != nil || sparse != nil || !ngram.isEmpty {
            var v: [Float]?
            if let vector, vector.hasPrefix("@") {
                // @FILE.npy:ROW — one row of a .npy file (0-based).
                guard let colon = vector.lastIndex(of: ":"), let r = Int(vector[vector.index(after: colon)...]), r >= 0 else {
                    throw ValidationError("--vector @FILE.npy:ROW needs a row number, not '\(vector)'")
                }
                let file = String(vector[vector.index(after: vector.startIndex)..<colon])
                let rows: [[Float]]
                do { rows = try NpyMatrix.read(path: file).rows } catch {
                    throw CLIError(code: "search.bad_vectors", message: "\(error)", exit: RAGDBExit.badInput)
                }
                guard r < rows.count else {
                    throw CLIError(code: "search.bad_vectors", message: "\(file): row \(r) asked for, \(rows.count) rows", exit: RAGDBExit.badInput)
                }
                v = rows[r]
            } else if let vector {
                guard let parsed = try? JSONSerialization.jsonObject(with: Data(vector.utf8)) as? [NSNumber] else {
                    throw ValidationError("--vector must be a JSON array of numbers, or @FILE.npy:ROW")
                }
                v = parsed.map { $0.floatValue }
            }
            if queries == nil {
                try runPlanned(c, text: text, vector: v, sparseQuery: sparseQuery, mode: mode, exactScan: exactScan, fusion: fusionChoice,
                               denseSpace: denseIndex?.spaceName, sparseSpace: sparseIndex?.spaceName)
                return
            }
            let results = try hits(text ?? "", v)
            if json {
                struct Payload: Encodable { var results: [Hit]; var plan: [PlanStage]? }
                try Output.json(Payload(results: results, plan: explain ? lastPlan : nil))
            } else {
                if results.isEmpty { Output.line("no results") }
                for (rank, h) in results.enumerated() {
                    Output.line("\(rank + 1). \(h.doc) (chunk \(h.chunk), score \(String(format: "%.4f", h.score)))")
                    if let t = h.text { Output.line("   " + t.prefix(200).replacingOccurrences(of: "\n", with: " ")) }
                }
                if explain && !lastPlan.isEmpty { Output.line(Self.render(lastPlan)) }
            }
            return
        }
        var vectors: [[Float]]?
        if let queryVectors {
            do {
                vectors = try NpyMatrix.read(path: queryVectors).rows
            } catch {
                throw CLIError(code: "search.bad_vectors", message: "\(error)", exit: RAGDBExit.badInput)
            }
        }
        struct Line: Encodable {
            var query_id: String
            var results: [Hit]
            var plan: [PlanStage]?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let path = queries!
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw CLIError(code: "search.cannot_open", message: "\(path): cannot read", exit: RAGDBExit.cannotOpen)
            }
            data = d
        }
        var out = Data()
        var row = 0
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        if let vectors {
            let count = lines.filter { !$0.isEmpty }.count
            guard vectors.count == count else {
                throw CLIError(code: "search.bad_vectors", message: "\(queryVectors!): \(vectors.count) rows for \(count) queries in \(path)", exit: RAGDBExit.badInput)
            }
        }
        var bestLatencies: [Double] = []
        for pass in 0..<passes {
            row = 0
            latencies.removeAll(keepingCapacity: true)
            for (n, line) in lines.enumerated() where !line.isEmpty {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): malformed JSON", exit: RAGDBExit.badInput)
                }
                let id: String
                if let s = obj["id"] as? String { id = s } else if let i = obj["id"] as? Int { id = String(i) } else {
                    throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"id\": missing or not a string", exit: RAGDBExit.badInput)
                }
                if mode == "sparse" {
                    do { sparseQuery = try parseSparse(obj["sparse"] ?? [String: NSNumber]()) } catch {
                        throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"sparse\": an object {term: weight} with finite weights ≥ 0", exit: RAGDBExit.badInput)
                    }
                }
                guard let q = obj["text"] as? String ?? (mode == "dense" || mode == "sparse" ? "" : nil) else {
                    throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"text\": missing or not a string", exit: RAGDBExit.badInput)
                }
                // The line's own "vector" field, else the aligned row of --query-vectors.
                var lineVector = vectors?[row]
                if let raw = obj["vector"] {
                    guard let numbers = raw as? [NSNumber] else {
                        throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"vector\": not an array of numbers", exit: RAGDBExit.badInput)
                    }
                    lineVector = numbers.map { $0.floatValue }
                }
                if (mode == "dense" || mode == "hybrid") && lineVector == nil {
                    throw CLIError(code: "search.bad_query", message: "\(path):\(n + 1): field \"vector\": missing (or give --query-vectors)", exit: RAGDBExit.badInput)
                }
                let t0 = DispatchTime.now().uptimeNanoseconds
                let found = try hits(q, lineVector)
                row += 1
                latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1000)
                guard pass == 0 else { continue }
                out.append(try encoder.encode(Line(query_id: id, results: found, plan: explain ? lastPlan : nil)))
                out.append(0x0A)
                if out.count > 1 << 20 { FileHandle.standardOutput.write(out); out.removeAll(keepingCapacity: true) }
            }
            if pass == 0 { FileHandle.standardOutput.write(out) }
            if bestLatencies.isEmpty || latencies.reduce(0, +) < bestLatencies.reduce(0, +) { bestLatencies = latencies }
        }
        latencies = bestLatencies
        if timing && !latencies.isEmpty {
            let sorted = latencies.sorted()
            let total = latencies.reduce(0, +) / 1e6
            struct Timing: Encodable {
                var queries: Int, load_seconds: Double, search_seconds: Double, queries_per_s: Double
                var p50_us: Double, p99_us: Double, index_terms: Int, index_chunks: Int, resident_bytes: Int
                var dense_resident_bytes: Int, mode: String, kernels: String
            }
            let t = Timing(queries: sorted.count, load_seconds: loadSeconds, search_seconds: total, queries_per_s: Double(sorted.count) / total,
                           p50_us: sorted[sorted.count / 2], p99_us: sorted[min(sorted.count - 1, sorted.count * 99 / 100)],
                           index_terms: textIndex?.termCount ?? 0, index_chunks: textIndex?.documents ?? 0, resident_bytes: textIndex?.residentBytes ?? 0,
                           dense_resident_bytes: denseIndex?.residentBytes ?? 0, mode: mode, kernels: DenseIndex.kernelLevel)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            Output.error(String(decoding: try enc.encode(t), as: UTF8.self))
        }
    }

    /// Builds the `Query` for the flags.
    func plannedQuery(_ c: Collection, searcher: Searcher, text: String?, vector: [Float]?, sparseQuery: [String: Float], mode: String, exactScan: Bool,
                      fusion: Fusion, denseSpace: String?, sparseSpace: String?) throws -> Query {
        var q = Query(text: mode == "dense" || mode == "sparse" ? nil : text, k: k)
        if let vector, let denseSpace, mode != "text" && mode != "sparse" { q.vectors = [denseSpace: vector] }
        if let sparseSpace, !sparseQuery.isEmpty, mode == "sparse" || mode == "hybrid" { q.sparse = [sparseSpace: sparseQuery]; if mode == "hybrid" { q.text = nil } }
        q.ngrams = ngram
        q.exactDense = exactScan
        q.fusion = fusion
        q.probes = probes
        if let candidates { q.candidates = candidates } else if mode == "dense", let denseSpace, let snap = try searcher.denseIndex(denseSpace).snapshot {
            q.candidates = snap.defaultCandidates(k: k)
        }
        if let w = `where` {
            do { q.filter = try QueryLanguage.parseFilter(w) } catch {
                throw CLIError(code: "search.bad_filter", message: "--where: \(error.description)", exit: RAGDBExit.usage)
            }
        }
        q.budget = budget
        q.assembly.method = pack == "truncate" ? .truncate : .greedy
        if let assemblyRelevance { q.assembly.relevance = assemblyRelevance }
        if let assemblyRedundancy { q.assembly.redundancy = assemblyRedundancy }
        if let assemblyCost { q.assembly.cost = assemblyCost }
        if let assemblySharpness { q.assembly.sharpness = assemblySharpness }
        q.kvProfile = kvProfile
        return q
    }

    /// One query through the planner (the same one `ragdb shell` uses).
    func runPlanned(_ c: Collection, text: String?, vector: [Float]?, sparseQuery: [String: Float], mode: String, exactScan: Bool,
                    fusion: Fusion, denseSpace: String?, sparseSpace: String?) throws {
        let searcher = c.searcher()
        let q = try plannedQuery(c, searcher: searcher, text: text, vector: vector, sparseQuery: sparseQuery, mode: mode, exactScan: exactScan, fusion: fusion,
                                 denseSpace: denseSpace, sparseSpace: sparseSpace)
        let result = try searcher.run(q)
        let hits = result.hits.map { Hit($0, withText: !noText) }
        if json {
            struct KV: Encodable { var status: String; var variant: String?; var recompute: [Int] }
            struct Row: Encodable { var chunk: UInt64; var doc: String; var score: Double; var text: String?; var dense: Double?; var bm25: Double?; var tokens: Int; var kv: KV? }
            struct Ctx: Encodable { var tokens: Int; var budget: Int; var utility: Double; var passages: Int }
            struct Payload: Encodable { var results: [Row]; var plan: QueryPlan?; var context: Ctx? }
            let rows = zip(hits, result.hits).map { h, r in
                Row(chunk: h.chunk, doc: h.doc, score: h.score, text: h.text, dense: h.dense, bm25: h.bm25, tokens: r.tokens,
                    kv: r.kv.map { KV(status: $0.cache == nil ? "missing" : "hit", variant: $0.cache.map { $0.key.variant == 0 ? "standalone" : String($0.key.variant, radix: 16) }, recompute: $0.recompute) })
            }
            try Output.json(Payload(results: rows, plan: explain || analyze ? result.plan : nil,
                                    context: result.context.map { Ctx(tokens: $0.tokens, budget: $0.budget, utility: $0.utility, passages: $0.passages.count) }))
            return
        }
        if hits.isEmpty { Output.line("no results") }
        for (rank, h) in hits.enumerated() {
            Output.line("\(rank + 1). \(h.doc) (chunk \(h.chunk), score \(String(format: "%.4f", h.score)))")
            if let t = h.text { Output.line("   " + t.prefix(200).replacingOccurrences(of: "\n", with: " ")) }
        }
        if let ctx = result.context {
            Output.line("context: \(ctx.chunks.count) chunks in \(ctx.passages.count) passages, \(ctx.tokens) of \(ctx.budget) tokens, utility \(String(format: "%.3f", ctx.utility))")
        }
        if explain || analyze { Output.line("plan:\n" + result.plan.render()) }
    }

    /// The plan as a text table.
    static func render(_ plan: [PlanStage]) -> String {
        "plan:\n" + Output.table(["stage", "operator", "in", "out", "scored", "vector bytes", "code bytes", "µs", "detail"],
                                 plan.enumerated().map { i, s in
                                     ["\(i + 1)", s.op, "\(s.input)", "\(s.output)", "\(s.scored)", "\(s.vectorBytesRead)", "\(s.codeBytesRead)",
                                      String(format: "%.0f", s.microseconds), s.detail]
                                 })
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build a vector space's dense index: IVF lists and compact codes, for dense search.",
        discussion: """
            Trains on the space's stored vectors (k-means on a sample for the IVF centroids; \\
            per-dimension ranges for int8 codes, means for binary codes, principal axes for \\
            pca8 codes), then codes every \\
            vector, in one transaction that replaces any previous index of the space. Later \\
            imports code their vectors as they write them; deletes remove their codes. \\
            Rebuild after the data has changed a lot, so that the lists stay balanced.

            Example:
              ragdb index my.ragdb --collection docs --space minilm --codes int8
            """)

    @Argument(help: "The database directory.")
    var database: String

    @Option(name: .long, help: "The collection.")
    var collection: String

    @Option(name: .long, help: "The vector space (default: the collection's only space).")
    var space: String?

    @Option(name: .long, help: "Code kind: int8 (1 byte per dimension), pca8 (1 byte per kept principal axis; the fastest for small collections of real embeddings), pq (1 byte per 8 dimensions) or binary (1 bit per dimension).")
    var codes = "int8"

    @Option(name: .long, help: "pca8: principal axes kept (default: those holding 98 % of the variance, rounded up to 8).")
    var pcaAxes: Int?

    @Option(name: .long, help: "pca8: axes every probed row is scored on before the best few dozen are rescored on all (default: those holding 80 % of the variance).")
    var prefixAxes: Int?

    @Option(name: .long, help: "IVF lists (default: 1 below 20,000 vectors, else about 4√n).")
    var lists: Int?

    @Option(name: .long, help: "Train on at most this many vectors.")
    var sample = 65_536

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard let kind = DenseCodeKind(name: codes) else { throw ValidationError("--codes must be int8, pca8, pq or binary, not '\(codes)'") }
        if (pcaAxes != nil || prefixAxes != nil) && kind != .pca8 { throw ValidationError("--pca-axes and --prefix-axes apply to --codes pca8 only") }
        if let pcaAxes, pcaAxes < 1 { throw ValidationError("--pca-axes must be at least 1") }
        if let prefixAxes, prefixAxes < 1 || prefixAxes > (pcaAxes ?? .max) { throw ValidationError("--prefix-axes must be between 1 and --pca-axes") }
        if let lists, lists < 1 { throw ValidationError("--lists must be at least 1") }
        guard sample >= 1 else { throw ValidationError("--sample must be at least 1") }
    }

    func run() throws {
        let db = try openExisting(database, write: true)
        let c = try db.collection(collection)
        let names = c.settings.spaces.map(\.name)
        guard let name = space ?? (names.count == 1 ? names[0] : nil) else {
            throw ValidationError(names.isEmpty ? "collection \"\(collection)\" has no vector space" : "give --space (one of: \(names.joined(separator: ", ")))")
        }
        var options = DenseIndexOptions()
        options.codes = DenseCodeKind(name: codes)!
        options.lists = lists
        options.sampleLimit = sample
        options.rotatedDimensions = pcaAxes
        options.prefixDimensions = prefixAxes
        let summary = try c.buildDenseIndex(space: name, options: options)
        if json {
            try Output.json(summary)
        } else {
            Output.line("indexed \(summary.vectors) vectors of space \(name): \(summary.lists) lists, \(summary.codes) codes of \(summary.codeBytes) bytes, trained on \(summary.trainedOn), \(String(format: "%.2f", summary.seconds)) s")
        }
    }
}
