public import RAGDBStorage

/// How a space compares vectors. Scores are always "higher is better".
public enum DenseMetric: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The case name (`cosine`, `dot`, `l2`), without the reflection a plain enum's
    /// interpolation pays (about a microsecond, on every query plan).
    public var description: String {
        switch self {
        case .cosine: "cosine"
        case .dot: "dot"
        case .l2: "l2"
        }
    }

    /// q·v / (|q| |v|).
    case cosine = 1
    /// q·v.
    case dot = 2
    /// −|q − v|² (negated so that higher is better).
    case l2 = 3

    /// The score of a stored vector from (q·v, v·v) and the query's |q|² (the query is
    /// already unit length for cosine).
    @inline(__always)
    public func score(dot: Float, norm2: Float, queryNorm2: Float) -> Float {
        switch self {
        case .dot: dot
        case .cosine: norm2 > 0 ? dot / norm2.squareRoot() : 0
        case .l2: -(queryNorm2 - 2 * dot + norm2)
        }
    }
}

/// The kind of compact code a dense index keeps in memory for each vector.
public enum CodeKind: UInt8, Sendable, CaseIterable {
    /// One bit per dimension: whether the value is above the training mean. Decodes to
    /// mean ± standard deviation per dimension and is compared asymmetrically: the float query
    /// against the decoded code, through per-byte lookup tables. d/8 bytes (rounded up to whole
    /// 64-bit words).
    case binary = 1
    /// One byte per dimension: the value quantized linearly between the training minimum
    /// and maximum of its dimension. Compared asymmetrically (float query · decoded code).
    case scalar8 = 2
    /// Product quantization: the vector cut into m sub-vectors of d/m dimensions (8 when d
    /// allows), each replaced by the nearest of 256 centroids trained for its subspace. One
    /// byte per sub-vector; compared through per-query tables (asymmetric distance).
    case pq = 3
    /// One byte per dimension of the vector rotated onto the sample's principal axes (PCA)
    /// and cut to its r leading axes (default: those holding 98 % of the variance), each
    /// quantized linearly as int8 codes are. Kept in memory as two planes: a search scans
    /// the first p axes (default: 80 % of the variance) of every probed row, then rescores the best few dozen
    /// rows on all r. Fewer bytes per query than `scalar8` for the same recall on embeddings
    /// whose variance concentrates in few directions (docs/dense.md, "PCA codes"). Training
    /// adds an O(d³) eigen-decomposition: 0.8 s at d = 384, about 8× per doubling of d.
    case pca8 = 4

    /// A name for messages and settings.
    public var name: String {
        switch self { case .binary: "binary"; case .scalar8: "int8"; case .pq: "pq"; case .pca8: "pca8" }
    }
    /// Parses `binary`, `int8`, `pq` or `pca8`.
    public init?(name: String) {
        switch name {
        case "binary": self = .binary
        case "int8", "scalar8": self = .scalar8
        case "pq": self = .pq
        case "pca8", "pca": self = .pca8
        default: return nil
        }
    }
}

/// What a dense index learned from a space's vectors: the IVF centroids that split the space
/// into lists and the parameters of its compact codes. Immutable; stored as one framed value.
public struct DenseModel: Sendable {
    /// Version of the stored model layout.
    public static let layoutVersion: UInt8 = 1
    /// Code kind.
    public let kind: CodeKind
    /// Metric of the space.
    public let metric: DenseMetric
    /// Dimensions.
    public let dimensions: Int
    /// Number of IVF lists (1 = a flat scan of all codes).
    public let lists: Int
    /// How many vectors the model was trained on.
    public let trainedOn: Int
    /// `lists × dimensions` centroids.
    let centroids: [Float]
    /// Binary: per-dimension threshold. Scalar8: per-dimension minimum. PCA8: per-axis
    /// minimum of the rotated sample (`rotatedDimensions` values).
    let offset: [Float]
    /// Scalar8 (and PCA8 per axis): per-dimension step ((max − min) / 255). Binary:
    /// per-dimension standard deviation.
    let step: [Float]
    /// PCA8: the axes kept (r); 0 for other kinds.
    public let rotatedDimensions: Int
    /// PCA8: the axes a search scans first (p ≤ r); 0 for other kinds.
    public let prefixDimensions: Int
    /// PCA8: the sample mean, subtracted before rotating (`dimensions` values).
    let mean: [Float]
    /// PCA8: the principal axes, largest variance first, `rotatedDimensions × dimensions`
    /// bytes: axis i's component j is `rotationScales[i] × (byte − 128)`.
    let rotation: [UInt8]
    /// PCA8: one scale per axis.
    let rotationScales: [Float]
    /// PQ: sub-vector dimensions (d / m); 0 for other kinds.
    let subDimensions: Int
    /// PQ: `m × 256 × subDimensions` centroids, subspace 0 first; empty for other kinds.
    let codebooks: [Float]
    /// Half the squared norm of each centroid (list choice: |x − c|² ∝ |c|²/2 − x·c).
    let centroidHalfNorms: [Float]

    init(kind: CodeKind, metric: DenseMetric, dimensions: Int, lists: Int, trainedOn: Int, centroids: [Float], offset: [Float], step: [Float],
         subDimensions: Int = 0, codebooks: [Float] = [], rotatedDimensions: Int = 0, prefixDimensions: Int = 0,
         mean: [Float] = [], rotation: [UInt8] = [], rotationScales: [Float] = []) {
        self.rotatedDimensions = rotatedDimensions
        self.prefixDimensions = prefixDimensions
        self.mean = mean
        self.rotation = rotation
        self.rotationScales = rotationScales
        self.subDimensions = subDimensions
        self.codebooks = codebooks
        self.kind = kind
        self.metric = metric
        self.dimensions = dimensions
        self.lists = lists
        self.trainedOn = trainedOn
        self.centroids = centroids
        self.offset = offset
        self.step = step
        centroidHalfNorms = (0..<lists).map { c in
            var s: Float = 0
            for j in 0..<dimensions { s += centroids[c * dimensions + j] * centroids[c * dimensions + j] }
            return s / 2
        }
    }

    /// Bytes of one code.
    public var codeBytes: Int {
        switch kind {
        case .binary: ((dimensions + 63) / 64) * 8
        case .scalar8: dimensions
        case .pq: dimensions / subDimensions
        case .pca8: rotatedDimensions
        }
    }
    /// Bytes of codes a search reads for each row of a probed list: the code, or for PCA8
    /// the 4-bit prefix (each rescored row then adds `codeBytes`).
    public var scannedBytesPerRow: Int { kind == .pca8 ? (prefixDimensions + 7) / 8 * 4 : codeBytes }
    /// Bytes of codes held in memory per vector: the code, plus the 4-bit prefix for PCA8.
    public var residentCodeBytesPerRow: Int { kind == .pca8 ? codeBytes + scannedBytesPerRow : codeBytes }
    /// Bytes the model itself holds in memory.
    public var residentBytes: Int {
        4 * (centroids.count + offset.count + step.count + codebooks.count + mean.count + rotationScales.count) + rotation.count
    }

    /// The number of leading axes (eigenvalues largest first) that hold `share` of the
    /// total variance, rounded up to a multiple of 8, at most their count; at least 1.
    ///
    /// PCA8 keeps the axes holding 98 % of the sample's variance and scans first those
    /// holding 80 %: on manpages-dev's MiniLM vectors 248 and 104 of 384, on a set with
    /// isotropic noise added (Benchmarks/peers/make_vectors.py) 360 axes, where a fixed 256
    /// capped recall@10 at 0.90 (docs/dense.md, "PCA codes").
    static func axes(holding share: Double, of values: [Double]) -> Int {
        let total = values.reduce(0) { $0 + max($1, 0) }
        guard total > 0 else { return min(values.count, 8) }
        var sum = 0.0
        var k = 0
        while k < values.count && sum < share * total { sum += max(values[k], 0); k += 1 }
        return max(1, min(values.count, (k + 7) & ~7))
    }

    /// PQ sub-vector size for `d` dimensions: 8 when it divides d, else 4, 2 or 1.
    static func pqSubDimensions(_ d: Int) -> Int { [8, 4, 2].first { d % $0 == 0 } ?? 1 }

    /// Training options.
    public struct Options: Sendable, Hashable {
        /// Code kind (default: int8 scalar codes, the best recall per candidate at 4× compression).
        public var codes: CodeKind = .scalar8
        /// IVF lists; `nil` chooses: 1 below 20,000 vectors, else about 4√n.
        public var lists: Int?
        /// At most this many vectors are sampled for training.
        public var sampleLimit = 65_536
        /// k-means rounds.
        public var iterations = 12
        /// Seed of the sampling and initialisation.
        public var seed: UInt64 = 0x5EED
        /// PCA8: axes kept; `nil` keeps those holding 98 % of the sample's variance (rounded
        /// up to a multiple of 8).
        public var rotatedDimensions: Int?
        /// PCA8: axes scanned first; `nil` takes those holding 80 % of the variance.
        public var prefixDimensions: Int?
        /// Defaults.
        public init() {}
    }

    /// Prepares a vector for coding and list assignment: unit length for cosine.
    @inline(__always)
    static func prepare(_ v: [Float], metric: DenseMetric) -> [Float] {
        guard metric == .cosine else { return v }
        let s = Kernels.dot(v, v)
        guard s > 0 else { return v }
        let inv = 1 / s.squareRoot()
        return v.map { $0 * inv }
    }

    /// Trains a model on `sample` (`count` vectors of `dimensions`, already `prepare`d).
    ///
    /// - Complexity: k-means: iterations · n · lists · d flops on all cores; code parameters:
    ///   one pass.
    static func train(sample: [Float], dimensions d: Int, metric: DenseMetric, total: Int, options: Options) -> DenseModel {
        let n = sample.count / d
        let lists = max(1, min(n, options.lists ?? (total < 20_000 ? 1 : Int((4 * Double(total).squareRoot()).rounded()))))
        let centroids: [Float]
        if lists == 1 {
            var mean = [Float](repeating: 0, count: d)
            for p in 0..<n { for j in 0..<d { mean[j] += sample[p * d + j] } }
            centroids = mean.map { $0 / Float(max(n, 1)) }
        } else {
            centroids = KMeans.train(points: sample, dimensions: d, k: lists, iterations: options.iterations, seed: options.seed)
        }
        var offset = [Float](repeating: 0, count: d)
        var step: [Float] = []
        var sub = 0
        var codebooks: [Float] = []
        var pca: (r: Int, p: Int, mean: [Float], rotation: [UInt8], scales: [Float]) = (0, 0, [], [], [])
        switch options.codes {
        case .pca8:
            // Principal axes from at most 8,192 of the sampled vectors: the covariance costs
            // n·d²/2 multiply-adds, and the axes of a few thousand points already rank as well.
            let points = min(n, 8_192)
            let stride = max(1, n / max(points, 1))
            var part: [Float] = []
            part.reserveCapacity(points * d)
            var i = 0
            while i < n && part.count < points * d { part += sample[(i * d)..<(i * d + d)]; i += stride }
            let (mean, covariance) = Kernels.covariance(part, dimensions: d)
            let (variances, axes) = Kernels.symmetricEigen(covariance, dimensions: d)
            let r = max(1, min(d, options.rotatedDimensions ?? Self.axes(holding: 0.98, of: variances)))
            let p = max(1, min(r, options.prefixDimensions ?? Self.axes(holding: 0.80, of: variances)))
            var rotation = [UInt8](repeating: 128, count: r * d)
            var scales = [Float](repeating: 0, count: r)
            for a in 0..<r {
                var top = 0.0
                for j in 0..<d { top = max(top, abs(axes[a * d + j])) }
                let scale = top > 0 ? top / 127 : 1
                scales[a] = Float(scale)
                for j in 0..<d { rotation[a * d + j] = UInt8(128 + max(-127, min(127, (axes[a * d + j] / scale).rounded()))) }
            }
            pca = (r, p, mean.map { Float($0) }, rotation, scales)
            // Per-axis range of the rotated sample (with the quantized axes, as codes use them).
            let probe = DenseModel(kind: .pca8, metric: metric, dimensions: d, lists: 1, trainedOn: 0, centroids: [Float](repeating: 0, count: d),
                                   offset: [], step: [], rotatedDimensions: r, prefixDimensions: p,
                                   mean: pca.mean, rotation: rotation, rotationScales: scales)
            var lo = [Float](repeating: .infinity, count: r), hi = [Float](repeating: -.infinity, count: r)
            var y = [Float](repeating: 0, count: r)
            for q in 0..<(part.count / d) {
                probe.rotate(Array(part[(q * d)..<(q * d + d)]), into: &y)
                for a in 0..<r { lo[a] = min(lo[a], y[a]); hi[a] = max(hi[a], y[a]) }
            }
            offset = lo.map { $0.isFinite ? $0 : 0 }
            step = (0..<r).map { a in hi[a] > lo[a] && hi[a].isFinite ? (hi[a] - lo[a]) / 255 : 1 }
        case .pq:
            // 256 centroids per subspace (fewer when the sample is smaller), by k-means on at
            // most 16,384 sub-vectors: enough for 256 centroids of 8 dimensions.
            offset = []
            sub = pqSubDimensions(d)
            let m = d / sub
            let points = min(n, 16_384)
            let stride = max(1, n / max(points, 1))
            for s in 0..<m {
                var part: [Float] = []
                part.reserveCapacity(points * sub)
                var p = 0
                while p < n && part.count < points * sub {
                    part += sample[(p * d + s * sub)..<(p * d + s * sub + sub)]
                    p += stride
                }
                let k = min(256, part.count / sub)
                var book = k > 0 ? KMeans.train(points: part, dimensions: sub, k: k, iterations: options.iterations, seed: options.seed &+ UInt64(s)) : []
                // Unused entries repeat the first centroid, so every byte value decodes.
                while book.count < 256 * sub { book += book.isEmpty ? [Float](repeating: 0, count: sub) : Array(book[0..<sub]) }
                codebooks += book
            }
        case .binary:
            var sum = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
            for p in 0..<n {
                for j in 0..<d { let x = Double(sample[p * d + j]); sum[j] += x; squares[j] += x * x }
            }
            let count = Double(max(n, 1))
            offset = sum.map { Float($0 / count) }
            step = (0..<d).map { j in
                let mean = sum[j] / count
                return Float(max(squares[j] / count - mean * mean, 1e-12).squareRoot())
            }
        case .scalar8:
            var lo = [Float](repeating: .infinity, count: d), hi = [Float](repeating: -.infinity, count: d)
            for p in 0..<n {
                for j in 0..<d { let x = sample[p * d + j]; lo[j] = min(lo[j], x); hi[j] = max(hi[j], x) }
            }
            offset = lo.map { $0.isFinite ? $0 : 0 }
            step = (0..<d).map { j in hi[j] > lo[j] && hi[j].isFinite ? (hi[j] - lo[j]) / 255 : 1 }
        }
        return DenseModel(kind: options.codes, metric: metric, dimensions: d, lists: lists, trainedOn: n,
                          centroids: centroids, offset: offset, step: step, subDimensions: sub, codebooks: codebooks,
                          rotatedDimensions: pca.r, prefixDimensions: pca.p, mean: pca.mean, rotation: pca.rotation, rotationScales: pca.scales)
    }

    /// PCA8: the coordinates of prepared vector `v` on the kept axes, y = R̃ (v − mean), into
    /// `y` (`rotatedDimensions` values).
    ///
    /// - Complexity: one byte-times-float kernel pass over the r × d rotation.
    func rotate(_ v: [Float], into y: inout [Float]) {
        let d = dimensions
        var centred = v
        var total: Float = 0
        for j in 0..<d { centred[j] -= mean[j]; total += centred[j] }
        if y.count != rotatedDimensions { y = [Float](repeating: 0, count: rotatedDimensions) }
        Kernels.u8DotMany(centred, codes: rotation, first: 0, count: rotatedDimensions, into: &y)
        for a in 0..<rotatedDimensions { y[a] = rotationScales[a] * (y[a] - 128 * total) }
    }

    /// The list of a prepared vector: its nearest centroid (L2).
    ///
    /// - Complexity: one SIMD dot product per list.
    func list(of v: [Float]) -> Int {
        guard lists > 1 else { return 0 }
        var scores = [Float](repeating: 0, count: lists)
        Kernels.dotMany(v, rows: centroids, into: &scores)
        var best = 0
        var bestValue = Float.infinity
        for c in 0..<lists {
            let s = centroidHalfNorms[c] - scores[c]
            if s < bestValue { bestValue = s; best = c }
        }
        return best
    }

    /// The lists of many prepared vectors at once (batch kernel, all cores).
    func lists(of points: [Float]) -> [Int32] {
        guard lists > 1 else { return [Int32](repeating: 0, count: points.count / dimensions) }
        return KMeans.assign(points: points, dimensions: dimensions, centroids: centroids)
    }

    /// Encodes a vector (raw, as stored): its list, the squared norm of what the code decodes
    /// to (of the prepared vector itself for PCA8 codes), and the code bytes. `list` skips the list
    /// choice when the caller already knows it (bulk builds).
    public func encode(_ raw: [Float], list knownList: Int? = nil) -> (list: UInt32, norm2: Float, code: [UInt8]) {
        let v = Self.prepare(raw, metric: metric)
        let d = dimensions
        var code = [UInt8](repeating: 0, count: codeBytes)
        var norm2: Float = 0
        let list = knownList ?? self.list(of: v)
        switch kind {
        case .binary:
            // Bits relative to the training mean, not to the list's centroid: on MiniLM
            // vectors (manpages-dev, 32 lists, 200 candidates) centroid-relative bits made
            // Hamming distances of different lists incomparable (recall@10 0.876 vs 0.986
            // with one list); see docs/dense.md.
            for j in 0..<d {
                let above = v[j] > offset[j]
                if above { code[j >> 3] |= 1 << UInt8(j & 7) }
                let x = above ? offset[j] + step[j] : offset[j] - step[j]
                norm2 += x * x
            }
        case .pq:
            let sub = subDimensions
            for s in 0..<(d / sub) {
                var best = 0
                var bestValue = Float.infinity
                for c in 0..<256 {
                    var dist: Float = 0
                    for t in 0..<sub { let x = v[s * sub + t] - codebooks[(s * 256 + c) * sub + t]; dist += x * x }
                    if dist < bestValue { bestValue = dist; best = c }
                }
                code[s] = UInt8(best)
                for t in 0..<sub { let x = codebooks[(s * 256 + best) * sub + t]; norm2 += x * x }
            }
        case .scalar8:
            for j in 0..<d {
                let q = ((v[j] - offset[j]) / step[j]).rounded()
                let c = UInt8(max(0, min(255, q.isFinite ? q : 0)))
                code[j] = c
                let x = offset[j] + step[j] * Float(c)
                norm2 += x * x
            }
        case .pca8:
            // The norm is the prepared vector's own: a truncated code's norm would favour
            // vectors whose energy lies on the kept axes.
            var y: [Float] = []
            rotate(v, into: &y)
            for a in 0..<rotatedDimensions {
                let q = ((y[a] - offset[a]) / step[a]).rounded()
                code[a] = UInt8(max(0, min(255, q.isFinite ? q : 0)))
            }
            for j in 0..<d { norm2 += v[j] * v[j] }
        }
        return (UInt32(list), norm2, code)
    }

    /// The stored form: a framed value (see Format.md, `dense_models`).
    public func serialized() throws(StorageError) -> [UInt8] {
        var w = ByteWriter(capacity: 24 + residentBytes)
        w.write(Self.layoutVersion)
        w.write(kind.rawValue)
        w.write(metric.rawValue)
        w.write(UInt8(0))
        w.write(UInt32(dimensions))
        w.write(UInt32(lists))
        w.write(UInt32(trainedOn))
        if kind == .pq {
            w.write(UInt32(subDimensions))
            for x in codebooks { w.write(x.bitPattern) }
        } else if kind == .pca8 {
            w.write(UInt32(rotatedDimensions))
            w.write(UInt32(prefixDimensions))
            for x in mean { w.write(x.bitPattern) }
            for x in rotationScales { w.write(x.bitPattern) }
            w.write(bytes: rotation)
            for x in offset { w.write(x.bitPattern) }
            for x in step { w.write(x.bitPattern) }
        } else {
            for x in offset { w.write(x.bitPattern) }
            for x in step { w.write(x.bitPattern) }
        }
        for x in centroids { w.write(x.bitPattern) }
        return try FramedValue.encode(w.bytes, policy: .whenItPays)
    }

    /// Decodes a stored model.
    ///
    /// - Throws: `.corruptValue` for a damaged value or an unknown layout version.
    public static func deserialize(_ stored: RawSpan) throws(StorageError) -> DenseModel {
        let raw = try FramedValue.decode(stored, context: "dense model")
        var r = ByteReader(raw, context: "dense model")
        let version = try r.readUInt8()
        guard version == layoutVersion else { throw r.corrupt("layout version \(version), expected \(layoutVersion)") }
        guard let kind = CodeKind(rawValue: try r.readUInt8()) else { throw r.corrupt("unknown code kind") }
        guard let metric = DenseMetric(rawValue: try r.readUInt8()) else { throw r.corrupt("unknown metric") }
        _ = try r.readUInt8()
        let d = Int(try r.readUInt32()), lists = Int(try r.readUInt32()), trained = Int(try r.readUInt32())
        guard d > 0, d <= 65_535, lists > 0, lists <= 1 << 20 else { throw r.corrupt("\(d) dimensions, \(lists) lists") }
        func floats(_ count: Int) throws(StorageError) -> [Float] {
            var out = [Float](repeating: 0, count: count)
            for i in 0..<count { out[i] = Float(bitPattern: try r.readUInt32()) }
            return out
        }
        var offset: [Float] = [], step: [Float] = [], codebooks: [Float] = []
        var sub = 0
        var pca: (r: Int, p: Int, mean: [Float], rotation: [UInt8], scales: [Float]) = (0, 0, [], [], [])
        if kind == .pq {
            sub = Int(try r.readUInt32())
            guard sub > 0, d % sub == 0 else { throw r.corrupt("PQ sub-vectors of \(sub) dimensions for \(d)") }
            codebooks = try floats(256 * d)
        } else if kind == .pca8 {
            let axes = Int(try r.readUInt32()), prefix = Int(try r.readUInt32())
            guard axes >= 1, axes <= d, prefix >= 1, prefix <= axes else { throw r.corrupt("PCA codes of \(axes) axes, \(prefix) scanned first, for \(d) dimensions") }
            let mean = try floats(d)
            let scales = try floats(axes)
            let rotation = Array(try r.readBytes(axes * d))
            pca = (axes, prefix, mean, rotation, scales)
            offset = try floats(axes)
            step = try floats(axes)
        } else {
            offset = try floats(d)
            step = try floats(d)
        }
        let centroids = try floats(lists * d)
        try r.expectEnd()
        return DenseModel(kind: kind, metric: metric, dimensions: d, lists: lists, trainedOn: trained,
                          centroids: centroids, offset: offset, step: step, subDimensions: sub, codebooks: codebooks,
                          rotatedDimensions: pca.r, prefixDimensions: pca.p, mean: pca.mean, rotation: pca.rotation, rotationScales: pca.scales)
    }
}
