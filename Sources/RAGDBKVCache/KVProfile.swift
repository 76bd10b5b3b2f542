import RAGDBStorage

/// The element type of stored key/value tensors.
public enum KVElementType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE binary16.
    case f16 = 1
    /// bfloat16 (the top half of a binary32).
    case bf16 = 2
    /// IEEE binary32.
    case f32 = 3
    /// OCP 8-bit float E4M3 (fp8-e4m3).
    case fp8e4m3 = 4

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .f16, .bf16: 2
        case .f32: 4
        case .fp8e4m3: 1
        }
    }

    /// The name used by the CLI and in JSON: `f16`, `bf16`, `f32`, `fp8-e4m3`.
    public var description: String {
        switch self {
        case .f16: "f16"
        case .bf16: "bf16"
        case .f32: "f32"
        case .fp8e4m3: "fp8-e4m3"
        }
    }

    /// Parses a name as printed by `description`.
    public init?(name: String) {
        guard let t = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = t
    }
}

/// How a profile's segments are stored.
public enum KVCompression: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Always raw: gets are zero-copy views into the map.
    case none = 0
    /// Byte-plane shuffle by element width, then LZ4, kept per segment only when it saves at
    /// least 10 %; other segments stay raw. Gets of compressed segments decode into a buffer.
    case shuffleLZ4 = 1

    /// `none` or `shuffle-lz4`.
    public var description: String { self == .none ? "none" : "shuffle-lz4" }

    /// Parses a name as printed by `description`.
    public init?(name: String) {
        guard let c = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = c
    }
}

/// A model profile: the shape of the key/value tensors one model produces, and the policy for
/// its caches. A cache is only ever served to the profile it was stored under.
///
/// Tensor layout of every cache of the profile (Format.md 5.17): for each layer `l` in order,
/// the keys `K_l` then the values `V_l`, each `[tokens, kvHeads, headDim]` row-major
/// (token-major) of `elementType`, little-endian.
public struct KVModelProfile: Sendable, Equatable {
    /// The profile's id in the database (assigned at creation; 0 before).
    public internal(set) var id: UInt32 = 0
    /// The profile's unique name (what callers pass).
    public var name: String
    /// The model identity (e.g. "meta-llama/Llama-3-8B", or a checkpoint hash).
    public var modelID: String
    /// The tokenizer identity; token counts and positions refer to it.
    public var tokenizerID: String
    /// Transformer layers.
    public var layers: Int
    /// Key/value heads per layer (fewer than query heads under grouped-query attention).
    public var kvHeads: Int
    /// Dimensions per head.
    public var headDim: Int
    /// The stored element type.
    public var elementType: KVElementType
    /// The RoPE base θ, when the model uses rotary positions (nil otherwise).
    public var ropeBase: Double?
    /// Whether keys were captured before the rotary embedding (so re-positioning them is a
    /// pure rotation; CacheBlend stores them that way).
    public var keysArePreRoPE: Bool
    /// Free-form notes on positions (RoPE scaling, absolute embeddings, system prefix).
    public var positionNotes: String
    /// The byte budget for this profile's caches (stored bytes); 0 means unlimited.
    public var budgetBytes: UInt64
    /// Relative prefill cost of one token (weights eviction across profiles; default 1).
    public var prefillCostPerToken: Double
    /// Half-life of a cache's hit frequency, in seconds (default one day).
    public var frequencyHalfLife: Double
    /// The largest raw segment in bytes (default 1 MiB); a tensor larger than this is split.
    public var segmentBytes: Int
    /// Segment compression.
    public var compression: KVCompression

    /// A profile with the given shape, no budget, raw segments of 1 MiB.
    public init(name: String, modelID: String, tokenizerID: String, layers: Int, kvHeads: Int, headDim: Int,
                elementType: KVElementType, ropeBase: Double? = nil, keysArePreRoPE: Bool = false,
                positionNotes: String = "", budgetBytes: UInt64 = 0, prefillCostPerToken: Double = 1,
                frequencyHalfLife: Double = 86_400, segmentBytes: Int = 1 << 20, compression: KVCompression = .none) {
        self.name = name
        self.modelID = modelID
        self.tokenizerID = tokenizerID
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.elementType = elementType
        self.ropeBase = ropeBase
        self.keysArePreRoPE = keysArePreRoPE
        self.positionNotes = positionNotes
        self.budgetBytes = budgetBytes
        self.prefillCostPerToken = prefillCostPerToken
        self.frequencyHalfLife = frequencyHalfLife
        self.segmentBytes = segmentBytes
        self.compression = compression
    }

    /// Bytes of one tensor (K or V) of one layer for one token.
    public var bytesPerTokenTensor: Int { kvHeads * headDim * elementType.byteWidth }
    /// Bytes of one tensor (K or V) of one layer for `tokens` tokens.
    public func tensorBytes(tokens: Int) -> Int { tokens * bytesPerTokenTensor }
    /// Bytes of a whole cache of `tokens` tokens (all layers, K and V).
    public func cacheBytes(tokens: Int) -> Int { 2 * layers * tensorBytes(tokens: tokens) }

    /// Checks the fields; the message names the first bad one.
    func validate() throws(KVCacheError) {
        func bad(_ field: String, _ why: String) -> KVCacheError { KVCacheError(.invalidInput, "profile \(field): \(why)", field: field) }
        guard !name.isEmpty, name.utf8.count <= 200 else { throw bad("name", "must be 1–200 bytes") }
        guard (1...4096).contains(layers) else { throw bad("layers", "must be 1–4096") }
        guard (1...4096).contains(kvHeads) else { throw bad("kv_heads", "must be 1–4096") }
        guard (1...65536).contains(headDim) else { throw bad("head_dim", "must be 1–65536") }
        guard segmentBytes >= 4096, segmentBytes <= 1 << 30, segmentBytes % elementType.byteWidth == 0 else {
            throw bad("segment_bytes", "must be 4 KiB–1 GiB and a multiple of the element width")
        }
        guard prefillCostPerToken > 0, prefillCostPerToken.isFinite else { throw bad("prefill_cost", "must be positive") }
        guard frequencyHalfLife > 0, frequencyHalfLife.isFinite else { throw bad("half_life", "must be positive") }
        if let r = ropeBase, !(r > 0 && r.isFinite) { throw bad("rope_base", "must be positive") }
    }

    func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 128)
        w.write(UInt8(1))  // record version
        w.write(elementType.rawValue)
        w.write(compression.rawValue)
        w.write(UInt8((keysArePreRoPE ? 1 : 0) | (ropeBase != nil ? 2 : 0)))
        w.write(UInt32(layers))
        w.write(UInt32(kvHeads))
        w.write(UInt32(headDim))
        w.write(UInt32(segmentBytes))
        w.write(budgetBytes)
        w.write(ropeBase ?? 0)
        w.write(prefillCostPerToken)
        w.write(frequencyHalfLife)
        w.writeString32(name)
        w.writeString32(modelID)
        w.writeString32(tokenizerID)
        w.writeString32(positionNotes)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8], id: UInt32) throws(StorageError) -> KVModelProfile {
        var r = ByteReader(bytes, context: "kv_profiles")
        guard try r.readUInt8() == 1 else { throw r.corrupt("unknown KV profile record version") }
        guard let type = KVElementType(rawValue: try r.readUInt8()) else { throw r.corrupt("unknown KV element type") }
        guard let compression = KVCompression(rawValue: try r.readUInt8()) else { throw r.corrupt("unknown KV compression") }
        let flags = try r.readUInt8()
        let layers = Int(try r.readUInt32()), heads = Int(try r.readUInt32()), dim = Int(try r.readUInt32())
        let segment = Int(try r.readUInt32())
        let budget = try r.readUInt64()
        let rope = try r.readDouble()
        let cost = try r.readDouble()
        let halfLife = try r.readDouble()
        var p = KVModelProfile(
            name: try r.readString32(), modelID: try r.readString32(), tokenizerID: try r.readString32(),
            layers: layers, kvHeads: heads, headDim: dim, elementType: type,
            ropeBase: flags & 2 != 0 ? rope : nil, keysArePreRoPE: flags & 1 != 0, positionNotes: try r.readString32(),
            budgetBytes: budget, prefillCostPerToken: cost, frequencyHalfLife: halfLife, segmentBytes: segment,
            compression: compression)
        try r.expectEnd()
        p.id = id
        return p
    }
}
