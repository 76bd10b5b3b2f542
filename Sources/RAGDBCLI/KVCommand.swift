import ArgumentParser
import Foundation
import RAGDB

/// `ragdb kv`: the chunk KV-cache store (Cache-Craft).
struct KVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Per-chunk LLM key/value caches: profiles, put, get, reuse plans, budgets.",
        discussion: """
            A cache holds, for each layer, the keys then the values of one chunk's tokens, each \\
            [tokens, kv_heads, head_dim] of the profile's element type, little-endian. A cache \\
            is keyed by (profile, chunk id, context variant): the variant is "standalone" or \\
            a hash of the ordered chunk ids that preceded the chunk when it was computed.

            Examples:
              ragdb kv profile my.ragdb --name llama3-8b --model meta-llama/Meta-Llama-3-8B \\
                  --tokenizer llama3 --layers 32 --kv-heads 8 --head-dim 128 --dtype f16 --budget 8GiB
              ragdb kv put my.ragdb --profile llama3-8b --chunk 17 --meta c17.json --file c17.kv
              ragdb kv get my.ragdb --profile llama3-8b --chunk 17 --out - > c17.kv
              ragdb kv plan my.ragdb --profile llama3-8b --chunks 17,4,9
              ragdb kv ls my.ragdb --profile llama3-8b
              ragdb kv stats my.ragdb
              ragdb kv evict my.ragdb --profile llama3-8b --to 4GiB
            """,
        subcommands: [Profile.self, Put.self, Get.self, Plan.self, List.self, Stats.self, Evict.self])

    /// Parses "123", "64KiB", "1.5GiB", "10MB" (powers of 1024 for both spellings).
    static func parseBytes(_ s: String, field: String) throws -> UInt64 {
        let g = 1_073_741_824.0, m = 1_048_576.0, k = 1024.0
        let units: [(String, Double)] = [("gib", g), ("gb", g), ("g", g), ("mib", m), ("mb", m), ("m", m), ("kib", k), ("kb", k), ("k", k), ("b", 1)]
        let lower = s.lowercased().trimmingCharacters(in: .whitespaces)
        for (u, m) in units where lower.hasSuffix(u) {
            if let v = Double(lower.dropLast(u.count).trimmingCharacters(in: .whitespaces)), v >= 0 { return UInt64(v * m) }
        }
        if let v = UInt64(lower) { return v }
        throw ValidationError("\(field): \"\(s)\" is not a byte count (e.g. 1048576, 64MiB, 2GiB)")
    }

    static func parseIDs(_ s: String, field: String) throws -> [UInt64] {
        if s.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
        return try s.split(separator: ",").map {
            guard let v = UInt64($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("\(field): \"\($0)\" is not a chunk id") }
            return v
        }
    }

    struct Target: ParsableArguments {
        @Argument(help: "The database directory.") var database: String
        @Flag(name: .long, help: "Print JSON.") var json = false
    }

    struct Profile: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a model profile (the tensor shape and cache policy of one model).")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile's name.") var name: String
        @Option(name: .long, help: "The model identity.") var model: String
        @Option(name: .long, help: "The tokenizer identity.") var tokenizer: String
        @Option(name: .long, help: "Transformer layers.") var layers: Int
        @Option(name: .long, help: "Key/value heads per layer.") var kvHeads: Int
        @Option(name: .long, help: "Dimensions per head.") var headDim: Int
        @Option(name: .long, help: "Element type: f16, bf16, f32, fp8-e4m3.") var dtype: String
        @Option(name: .long, help: "RoPE base θ, when the model uses rotary positions.") var ropeBase: Double?
        @Flag(name: .long, help: "Keys are captured before the rotary embedding.") var preRope = false
        @Option(name: .long, help: "Notes on positions (RoPE scaling, absolute embeddings, system prefix).") var positionNotes = ""
        @Option(name: .long, help: "Byte budget for the profile's caches (0 = unlimited).") var budget = "0"
        @Option(name: .long, help: "Largest raw segment.") var segmentBytes = "1MiB"
        @Option(name: .long, help: "Segment compression: none or shuffle-lz4.") var compression = "none"
        @Option(name: .long, help: "Relative prefill cost per token (eviction weight).") var prefillCost = 1.0

        func run() throws {
            guard let type = KVElementType(name: dtype) else { throw ValidationError("--dtype: \"\(dtype)\" is not one of f16, bf16, f32, fp8-e4m3") }
            guard let comp = KVCompression(name: compression) else { throw ValidationError("--compression: \"\(compression)\" is not none or shuffle-lz4") }
            let db = try openExisting(target.database, write: true)
            let p = try db.kvCaches.createProfile(KVModelProfile(
                name: name, modelID: model, tokenizerID: tokenizer, layers: layers, kvHeads: kvHeads, headDim: headDim,
                elementType: type, ropeBase: ropeBase, keysArePreRoPE: preRope, positionNotes: positionNotes,
                budgetBytes: try KVCommand.parseBytes(budget, field: "--budget"), prefillCostPerToken: prefillCost,
                segmentBytes: Int(try KVCommand.parseBytes(segmentBytes, field: "--segment-bytes")), compression: comp))
            if target.json { try Output.json(ProfileOut(p)) } else {
                Output.line("profile \"\(p.name)\" (id \(p.id)): \(p.layers) layers × \(p.kvHeads) KV heads × \(p.headDim) × \(p.elementType), \(p.cacheBytes(tokens: 1)) bytes per token")
            }
        }
    }

    struct ProfileOut: Encodable {
        var id: UInt32, name: String, model: String, tokenizer: String, layers: Int, kv_heads: Int, head_dim: Int, dtype: String
        var rope_base: Double?, pre_rope: Bool, budget_bytes: UInt64, segment_bytes: Int, compression: String, bytes_per_token: Int
        init(_ p: KVModelProfile) {
            id = p.id; name = p.name; model = p.modelID; tokenizer = p.tokenizerID; layers = p.layers; kv_heads = p.kvHeads
            head_dim = p.headDim; dtype = p.elementType.description; rope_base = p.ropeBase; pre_rope = p.keysArePreRoPE
            budget_bytes = p.budgetBytes; segment_bytes = p.segmentBytes; compression = p.compression.description
            bytes_per_token = p.cacheBytes(tokens: 1)
        }
    }

    /// The reuse metadata of a put, as a JSON sidecar (the capture script writes these).
    struct Meta: Decodable {
        var tokens: Int?
        var position: Int?
        var prefix: [UInt64]?
        var prefix_scores: [Float]?
        var cci: Float?
        var importance: [Float]?
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a chunk's cache, read from a file or standard input (streamed: memory stays at one segment).")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile.") var profile: String
        @Option(name: .long, help: "The chunk id.") var chunk: UInt64
        @Option(name: .long, help: "Tokens in the cache (or `tokens` in --meta).") var tokens: Int?
        @Option(name: .long, help: "Comma-separated ids of the chunks that preceded it (empty: standalone).") var prefix: String?
        @Option(name: .long, help: "Comma-separated inter-attention scores, one per prefix chunk.") var prefixScores: String?
        @Option(name: .long, help: "Absolute position of the chunk's first token.") var position: Int?
        @Option(name: .long, help: "Cache Context Impact measured at capture.") var cci: Float?
        @Option(name: .long, help: "A JSON file with tokens, position, prefix, prefix_scores, cci, importance.") var meta: String?
        @Option(name: .long, help: "The tensor bytes: a file, or - for standard input.") var file = "-"

        func run() throws {
            var m = Meta()
            if let meta {
                guard let data = FileManager.default.contents(atPath: meta) else { throw CLIError(code: "ragdb.cannot_read", message: "cannot read \(meta)", exit: RAGDBExit.cannotOpen) }
                do { m = try JSONDecoder().decode(Meta.self, from: data) } catch {
                    throw CLIError(code: "ragdb.invalid_input", message: "\(meta): not a KV metadata object (\(error))", exit: RAGDBExit.badInput)
                }
            }
            if let tokens { m.tokens = tokens }
            if let prefix { m.prefix = try KVCommand.parseIDs(prefix, field: "--prefix") }
            if let prefixScores {
                m.prefix_scores = try prefixScores.split(separator: ",").map {
                    guard let v = Float($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--prefix-scores: \"\($0)\" is not a number") }
                    return v
                }
            }
            if let position { m.position = position }
            if let cci { m.cci = cci }
            guard let t = m.tokens else { throw ValidationError("give --tokens or a --meta file with \"tokens\"") }
            let fd: Int32 = file == "-" ? 0 : open(file, O_RDONLY)
            guard fd >= 0 else { throw CLIError(code: "ragdb.cannot_read", message: "cannot open \(file): \(String(cString: strerror(errno)))", exit: RAGDBExit.cannotOpen) }
            defer { if fd != 0 { close(fd) } }
            let db = try openExisting(target.database, write: true)
            let info = try db.kvCaches.put(
                profile: profile, chunk: chunk, tokens: t,
                context: KVCacheContext(prefix: m.prefix ?? [], position: m.position ?? 0, prefixScores: m.prefix_scores, cci: m.cci, importance: m.importance),
                source: .fileDescriptor(fd))
            if target.json { try Output.json(CacheOut(info)) } else {
                Output.line("stored chunk \(chunk) variant \(CacheOut.variantName(info.key.variant)): \(info.tokens) tokens, \(info.rawBytes) bytes (\(info.storedBytes) stored)")
            }
        }
    }

    struct CacheOut: Encodable {
        var chunk: UInt64, variant: String, tokens: Int, position: Int, prefix: [UInt64], cci: Float?
        var raw_bytes: UInt64, stored_bytes: UInt64, hits: UInt64, created: Double, last_access: Double, priority: Double, mean_cfo: Float
        static func variantName(_ v: UInt64) -> String { v == 0 ? "standalone" : String(format: "%016llx", v) }
        init(_ i: KVCacheInfo) {
            chunk = i.key.chunk; variant = Self.variantName(i.key.variant); tokens = i.tokens; position = i.context.position
            prefix = i.context.prefix; cci = i.context.cci; raw_bytes = i.rawBytes; stored_bytes = i.storedBytes; hits = i.hits
            created = i.created; last_access = i.lastAccess; priority = i.priority; mean_cfo = i.meanObservedCFO
        }
    }

    static func variant(prefix: String?, variant: String?) throws -> UInt64 {
        if let variant {
            if variant == "standalone" { return 0 }
            guard let v = UInt64(variant, radix: 16) else { throw ValidationError("--variant: \"\(variant)\" is not standalone or a hex variant id") }
            return v
        }
        return KVCacheKey.variant(prefix: try parseIDs(prefix ?? "", field: "--prefix"))
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a chunk's cache (or one layer) to a file or standard output, verified segment by segment.")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile.") var profile: String
        @Option(name: .long, help: "The chunk id.") var chunk: UInt64
        @Option(name: .long, help: "The variant's prefix chunk ids (comma-separated; empty: standalone).") var prefix: String?
        @Option(name: .long, help: "The variant id (hex, or standalone), as `kv ls` prints it.") var variant: String?
        @Option(name: .long, help: "Only this layer.") var layer: Int?
        @Option(name: .long, help: "Where to write the bytes: a file, or - for standard output. Without it, print the metadata.") var out: String?

        func run() throws {
            let db = try openExisting(target.database, write: true)
            let v = try KVCommand.variant(prefix: prefix, variant: variant)
            var fd: Int32 = -1
            if let out { fd = out == "-" ? 1 : open(out, O_CREAT | O_TRUNC | O_WRONLY, 0o644) }
            if out != nil && fd < 0 { throw CLIError(code: "ragdb.cannot_write", message: "cannot open \(out!): \(String(cString: strerror(errno)))", exit: RAGDBExit.io) }
            defer { if fd > 1 { close(fd) } }
            let info = try db.kvCaches.withCache(profile: profile, chunk: chunk, variant: v) { view -> KVCacheInfo in
                if fd >= 0 { try view.write(to: fd, layer: layer) }
                return view.info
            }
            try db.kvCaches.flushAccessStatistics()
            guard let info else {
                throw KVCacheError(.notFound, "no cache for chunk \(chunk) variant \(CacheOut.variantName(v)) under profile \"\(profile)\"")
            }
            if out == nil {
                if target.json { try Output.json(CacheOut(info)) } else {
                    Output.line("chunk \(info.key.chunk) variant \(CacheOut.variantName(info.key.variant)): \(info.tokens) tokens at position \(info.context.position), prefix \(info.context.prefix), \(info.rawBytes) bytes")
                }
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reuse lookup for an ordered list of retrieved chunks: the best cache of each and the tokens to recompute.")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile.") var profile: String
        @Option(name: .long, help: "The chunk ids in prompt order, comma-separated.") var chunks: String
        @Option(name: .long, help: "Cache-Craft α (scales the recompute fraction).") var alpha = 1.0
        @Option(name: .long, help: "Smallest recompute fraction.") var minFraction = 0.0
        @Option(name: .long, help: "Largest recompute fraction.") var maxFraction = 1.0

        func run() throws {
            let db = try openExisting(target.database, write: true)
            var o = KVReuseOptions()
            o.alpha = alpha; o.minFraction = minFraction; o.maxFraction = maxFraction
            let answers = try db.kvCaches.planReuse(profile: profile, chunks: try KVCommand.parseIDs(chunks, field: "--chunks"), options: o)
            try db.kvCaches.flushAccessStatistics()
            struct Row: Encodable {
                var chunk: UInt64, status: String, variant: String?, exact_context: Bool, tokens: Int?, beta: Double?, gamma: Double?, beta_prime: Double?
                var cci: Double?, fraction: Double?, recompute: [Int], bytes_to_load: UInt64
            }
            let rows = answers.map { (a: KVReuseAnswer) -> Row in
                let e = a.estimate
                let variant: String? = a.cache.map { CacheOut.variantName($0.key.variant) }
                return Row(chunk: a.chunk, status: a.cache == nil ? "missing" : "hit", variant: variant,
                           exact_context: a.exactContext, tokens: a.cache?.tokens, beta: e?.beta, gamma: e?.gamma,
                           beta_prime: e?.betaPrime, cci: e?.cci, fraction: e?.fraction, recompute: a.recompute,
                           bytes_to_load: a.bytesToLoad)
            }
            if target.json {
                struct Out: Encodable { var chunks: [Row] }
                try Output.json(Out(chunks: rows))
            } else {
                let table = rows.map { (r: Row) -> [String] in
                    let tokens: String = r.tokens.map { String($0) } ?? "-"
                    let betaPrime: String = r.beta_prime.map { String(format: "%.3f", $0) } ?? "-"
                    return [String(r.chunk), r.status, r.variant ?? "-", tokens, betaPrime, String(r.recompute.count), String(r.bytes_to_load)]
                }
                Output.line(Output.table(["chunk", "status", "variant", "tokens", "β′", "recompute", "bytes"], table))
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a profile's caches.")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile.") var profile: String

        func run() throws {
            let db = try openExisting(target.database)
            let infos = try db.kvCaches.list(profile: profile)
            if target.json {
                struct Out: Encodable { var caches: [CacheOut] }
                try Output.json(Out(caches: infos.map(CacheOut.init)))
            } else {
                Output.line(Output.table(["chunk", "variant", "tokens", "prefix", "bytes", "hits"], infos.map { i in
                    [String(i.key.chunk), CacheOut.variantName(i.key.variant), String(i.tokens),
                     i.context.prefix.map(String.init).joined(separator: ","), String(i.storedBytes), String(i.hits)]
                }))
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Per-profile counters: caches, bytes and budget, hit rate, bytes served, prefill tokens saved, evictions.")
        @OptionGroup var target: Target
        @Option(name: .long, help: "Only this profile.") var profile: String?

        func run() throws {
            let db = try openExisting(target.database)
            struct Row: Encodable {
                var profile: ProfileOut, entries: UInt64, stored_bytes: UInt64, puts: UInt64, lookups: UInt64, hits: UInt64, hit_rate: Double
                var bytes_served: UInt64, prefill_tokens_saved: UInt64, evictions: UInt64, bytes_evicted: UInt64
            }
            let rows = try db.kvCaches.profiles().filter { profile == nil || $0.name == profile }.map { p in
                let s = try db.kvCaches.statistics(profile: p.name)
                return Row(profile: ProfileOut(p), entries: s.entries, stored_bytes: s.storedBytes, puts: s.puts, lookups: s.lookups, hits: s.hits,
                           hit_rate: s.hitRate, bytes_served: s.bytesServed, prefill_tokens_saved: s.prefillTokensSaved,
                           evictions: s.evictions, bytes_evicted: s.bytesEvicted)
            }
            if let profile, rows.isEmpty { throw KVCacheError(.unknownProfile, "no KV profile named \"\(profile)\"") }
            if target.json {
                struct Out: Encodable { var profiles: [Row] }
                try Output.json(Out(profiles: rows))
            } else {
                Output.line(Output.table(["profile", "caches", "bytes", "budget", "hit rate", "served", "tokens saved", "evictions"], rows.map { r in
                    [r.profile.name, String(r.entries), String(r.stored_bytes), r.profile.budget_bytes == 0 ? "unlimited" : String(r.profile.budget_bytes),
                     String(format: "%.3f", r.hit_rate), String(r.bytes_served), String(r.prefill_tokens_saved), String(r.evictions)]
                }))
            }
        }
    }

    struct Evict: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Evict by priority down to a size, delete one chunk's caches, or set the budget (evicting down to it).")
        @OptionGroup var target: Target
        @Option(name: .long, help: "The profile.") var profile: String
        @Option(name: .long, help: "Evict the lowest-priority caches until this many bytes remain.") var to: String?
        @Option(name: .long, help: "Delete this chunk's caches.") var chunk: UInt64?
        @Option(name: .long, help: "With --chunk: only this variant (hex or standalone).") var variant: String?
        @Option(name: .long, help: "Set the profile's budget (0 = unlimited) and evict down to it.") var budget: String?

        func validate() throws {
            guard [to != nil, chunk != nil, budget != nil].filter({ $0 }).count == 1 else { throw ValidationError("give exactly one of --to, --chunk, --budget") }
        }

        func run() throws {
            let db = try openExisting(target.database, write: true)
            var evicted: [KVCacheKey] = []
            var deleted = 0
            if let to { evicted = try db.kvCaches.evict(profile: profile, toBytes: try KVCommand.parseBytes(to, field: "--to")) }
            if let budget { evicted = try db.kvCaches.setBudget(profile: profile, bytes: try KVCommand.parseBytes(budget, field: "--budget")) }
            if let chunk { deleted = try db.kvCaches.delete(profile: profile, chunk: chunk, variant: try variant.map { try KVCommand.variant(prefix: nil, variant: $0) }) }
            struct Out: Encodable { var evicted: [String]; var deleted: Int }
            let out = Out(evicted: evicted.map { "\($0.chunk)/\(CacheOut.variantName($0.variant))" }, deleted: deleted)
            if target.json { try Output.json(out) } else { Output.line("evicted \(evicted.count), deleted \(deleted)") }
        }
    }
}
