import CRAGDBKernels
import RAGDBStorage

/// A Huffman-shaped wavelet tree (Mäkinen and Navarro, 2005) over symbols `0..<alphabet`:
/// each symbol's code is its root-to-leaf path (0 = left, 1 = right), Huffman-built from the
/// symbol counts, so frequent symbols take few levels. Every internal node's bits (one per
/// symbol passing through it, in sequence order) sit in one ranked bitvector; a node stores
/// where its bits start and the ones before that, so one step down costs one rank.
///
/// English text averages about 4.6 bits a byte where a balanced wavelet matrix over its ~100
/// byte values spends 7: the index is about a third smaller and count, LF and locate take a
/// third fewer ranks (docs/ngram.md). The kernels that walk it are in C (`fmindex.c`).
struct HuffmanWaveletTree: Sendable {
    /// The bits of every internal node, in node order.
    let bits: RankedBits
    /// Internal nodes; node 0 is the root. A child ≥ 0 is a node index, < 0 the leaf −(symbol+1).
    let nodes: [ragdb_hwt_node]
    /// Each symbol's code (its first bit the most significant) and code length.
    let codes: [UInt64]
    let codeLengths: [UInt8]
    /// Symbols in the sequence.
    let count: Int

    /// Builds the tree of `symbols` (each below `counts.count`), where `counts[s]` is how
    /// often s occurs.
    ///
    /// - Complexity: O(σ log σ) for the code, O(n · mean code length) for the bits (in C).
    init(_ symbols: [UInt8], counts: [Int]) {
        self.init(count: symbols.count, counts: counts) { codes, lengths, nodes, count, words in
            symbols.withUnsafeBufferPointer { ragdb_hwt_build_u8($0.baseAddress, Int64($0.count), codes, lengths, nodes, count, words) }
        }
    }

    /// Builds the tree of 32-bit symbols.
    init(_ symbols: [UInt32], counts: [Int]) {
        self.init(count: symbols.count, counts: counts) { codes, lengths, nodes, count, words in
            symbols.withUnsafeBufferPointer { ragdb_hwt_build_u32($0.baseAddress, Int64($0.count), codes, lengths, nodes, count, words) }
        }
    }

    private typealias Kernel = (UnsafePointer<UInt64>, UnsafePointer<UInt8>, UnsafePointer<ragdb_hwt_node>, Int32,
                                UnsafeMutablePointer<UInt64>) -> Int32

    private init(count: Int, counts: [Int], kernel: Kernel) {
        let sigma = counts.count
        precondition(sigma >= 2, "a wavelet tree needs at least two symbols")
        // Huffman's construction with two queues (van Leeuwen): the leaves sorted by weight
        // once, merged nodes appended in nondecreasing weight, so the two lightest trees are
        // always at one of the two queue fronts. A tree is a leaf −(s+1) or an index into `pairs`.
        let leaves: [(weight: Int, tree: Int32)] = (0..<sigma).map { (counts[$0], -Int32($0) - 1) }
            .sorted { $0.weight != $1.weight ? $0.weight < $1.weight : $0.tree > $1.tree }
        var pairs: [(left: Int32, right: Int32, weight: Int)] = []
        pairs.reserveCapacity(sigma - 1)
        var nextLeaf = 0, nextPair = 0
        func lightest() -> (weight: Int, tree: Int32) {
            if nextLeaf < leaves.count && (nextPair >= pairs.count || leaves[nextLeaf].weight <= pairs[nextPair].weight) {
                nextLeaf += 1
                return leaves[nextLeaf - 1]
            }
            nextPair += 1
            return (pairs[nextPair - 1].weight, Int32(nextPair - 1))
        }
        while pairs.count < sigma - 1 {
            let a = lightest(), b = lightest()
            pairs.append((a.tree, b.tree, a.weight + b.weight))
        }
        // Renumber internal nodes breadth-first from the root; lay their bits out in that order.
        var order: [Int32] = [Int32(pairs.count - 1)]
        var index = [Int32](repeating: 0, count: pairs.count)
        var head = 0
        while head < order.count {
            let p = Int(order[head])
            index[p] = Int32(head)
            head += 1
            for child in [pairs[p].left, pairs[p].right] where child >= 0 { order.append(child) }
        }
        var nodes: [ragdb_hwt_node] = []
        nodes.reserveCapacity(order.count)
        var start: UInt64 = 0
        for p in order {
            let pair = pairs[Int(p)]
            func renumber(_ child: Int32) -> Int32 { child >= 0 ? index[Int(child)] : child }
            var node = ragdb_hwt_node()
            node.start = start
            node.child = (renumber(pair.left), renumber(pair.right))
            nodes.append(node)
            start += UInt64(pair.weight)
        }
        let totalBits = Int(start)
        // Codes by a walk from the root.
        var codes = [UInt64](repeating: 0, count: sigma)
        var lengths = [UInt8](repeating: 0, count: sigma)
        var stack: [(node: Int32, code: UInt64, depth: Int)] = [(0, 0, 0)]
        while let (n, code, depth) = stack.popLast() {
            precondition(depth + 1 < Int(RAGDB_HWT_MAX_DEPTH), "Huffman code deeper than \(RAGDB_HWT_MAX_DEPTH) bits")
            for (bit, child) in [nodes[Int(n)].child.0, nodes[Int(n)].child.1].enumerated() {
                let c = code << 1 | UInt64(bit)
                if child >= 0 {
                    stack.append((child, c, depth + 1))
                } else {
                    codes[Int(-child - 1)] = c
                    lengths[Int(-child - 1)] = UInt8(depth + 1)
                }
            }
        }
        var words = [UInt64](repeating: 0, count: (totalBits + 63) / 64)
        let rc = codes.withUnsafeBufferPointer { cp in
            lengths.withUnsafeBufferPointer { lp in
                nodes.withUnsafeBufferPointer { np in
                    words.withUnsafeMutableBufferPointer { wp in
                        kernel(cp.baseAddress!, lp.baseAddress!, np.baseAddress!, Int32(nodes.count), wp.baseAddress!)
                    }
                }
            }
        }
        precondition(rc == 0, "wavelet tree construction ran out of memory")
        let bits = RankedBits(words: words, count: totalBits)
        for k in nodes.indices { nodes[k].ones_before = UInt64(bits.rank1(Int(nodes[k].start))) }
        self.bits = bits
        self.nodes = nodes
        self.codes = codes
        self.codeLengths = lengths
        self.count = count
    }

    /// A tree read back from storage. `validated` checks it first (`validate`).
    init(bits: RankedBits, nodes: [ragdb_hwt_node], count: Int, alphabet: Int) {
        var codes = [UInt64](repeating: 0, count: alphabet)
        var lengths = [UInt8](repeating: 0, count: alphabet)
        var stack: [(node: Int32, code: UInt64, depth: Int)] = nodes.isEmpty ? [] : [(0, 0, 0)]
        while let (n, code, depth) = stack.popLast() {
            let node = nodes[Int(n)]
            for (bit, child) in [node.child.0, node.child.1].enumerated() {
                let c = code << 1 | UInt64(bit)
                if child >= 0 { stack.append((child, c, depth + 1)) } else {
                    codes[Int(-child - 1)] = c
                    lengths[Int(-child - 1)] = UInt8(depth + 1)
                }
            }
        }
        self.bits = bits
        self.nodes = nodes
        self.codes = codes
        self.codeLengths = lengths
        self.count = count
    }

    /// Checks a stored tree before any kernel walks it, so a crafted value cannot send a rank
    /// outside the bitvector: the nodes form one tree with every symbol 0..<alphabet as exactly
    /// one leaf, no code is deeper than the kernels allow, node ranges tile the bitvector in
    /// node order, each node's `ones_before` is the rank of its start, and each leaf's size is
    /// `counts[s]`. The bitvector's line counts must have been checked (`RankedBits.isConsistent`).
    ///
    /// - Returns: nil when sound, else what is wrong.
    /// - Complexity: O(σ) ranks.
    static func validate(nodes: [ragdb_hwt_node], bits: RankedBits, count: Int, counts: [Int]) -> String? {
        let sigma = counts.count
        guard nodes.count == sigma - 1, sigma >= 2 else { return "\(nodes.count) nodes for \(sigma) symbols" }
        var seenNode = [Bool](repeating: false, count: nodes.count), seenLeaf = [Bool](repeating: false, count: sigma)
        var length = [Int](repeating: -1, count: nodes.count)
        var depth = [Int](repeating: 0, count: nodes.count)
        length[0] = count
        seenNode[0] = true
        var expectedStart = 0
        // Breadth-first order: a node's children come after it, so lengths are known in order.
        for k in nodes.indices {
            let node = nodes[k]
            guard length[k] >= 0 else { return "node \(k) is not reachable from the root" }
            guard node.start == UInt64(expectedStart), expectedStart + length[k] <= bits.count else {
                return "node \(k) starts at bit \(node.start) with \(length[k]) bits, expected to start at \(expectedStart) within \(bits.count)"
            }
            let onesBefore = bits.rank1(expectedStart)
            guard node.ones_before == UInt64(onesBefore) else { return "node \(k): ones before its start disagree with the bitvector" }
            let ones = bits.rank1(expectedStart + length[k]) - onesBefore
            expectedStart += length[k]
            guard depth[k] + 1 < Int(RAGDB_HWT_MAX_DEPTH) else { return "node \(k) is deeper than \(RAGDB_HWT_MAX_DEPTH) levels" }
            for (bit, child) in [node.child.0, node.child.1].enumerated() {
                let size = bit == 1 ? ones : length[k] - ones
                if child >= 0 {
                    guard Int(child) > k, Int(child) < nodes.count, !seenNode[Int(child)] else { return "node \(k) has a bad child \(child)" }
                    seenNode[Int(child)] = true
                    length[Int(child)] = size
                    depth[Int(child)] = depth[k] + 1
                } else {
                    let s = Int(-(Int64(child) + 1))
                    guard s < sigma, !seenLeaf[s] else { return "node \(k) has a bad leaf \(child)" }
                    seenLeaf[s] = true
                    guard size == counts[s] else { return "symbol \(s) occurs \(size) times in the tree, \(counts[s]) by C" }
                }
            }
        }
        guard expectedStart == bits.count else { return "the nodes cover \(expectedStart) of \(bits.count) bits" }
        guard seenLeaf.allSatisfy({ $0 }) else { return "a symbol has no leaf" }
        return nil
    }

    /// Occurrences of `symbol` among positions `0..<i`.
    func rank(_ symbol: Int, _ i: Int) -> Int {
        bits.lines.withUnsafeBufferPointer { lp in
            nodes.withUnsafeBufferPointer { np in
                Int(ragdb_hwt_rank(lp.baseAddress, np.baseAddress, codes[symbol], Int32(codeLengths[symbol]), Int64(i)))
            }
        }
    }

    /// One LF step: C[s] + rank(s, row) with s the symbol at `row`.
    func lf(_ row: Int, c: [Int]) -> (row: Int, symbol: Int) {
        var symbol: Int32 = 0
        let next = bits.lines.withUnsafeBufferPointer { lp in
            nodes.withUnsafeBufferPointer { np in
                c.withUnsafeBufferPointer { cp in
                    cp.withMemoryRebound(to: Int64.self) { ragdb_hwt_lf(lp.baseAddress, np.baseAddress, $0.baseAddress, Int64(row), &symbol) }
                }
            }
        }
        return (Int(next), Int(symbol))
    }

    /// The symbol at position `i`.
    func access(_ i: Int) -> Int {
        var node = 0, i = i
        while true {
            let n = nodes[node]
            let at = Int(n.start) + i
            let ones = bits.rank1(at) - Int(n.ones_before)
            let bit = bits[at]
            i = bit ? ones : i - ones
            let child = bit ? n.child.1 : n.child.0
            if child < 0 { return Int(-child - 1) }
            node = Int(child)
        }
    }

    /// Backward search from rows `start` (all rows by default) over `pattern` (symbols,
    /// consumed first to last), with `c` the FM-index C array. Nil when the range becomes empty.
    func backwardSearch(_ pattern: [UInt32], from start: Range<Int>? = nil, c: [Int]) -> Range<Int>? {
        var lo = Int64(start?.lowerBound ?? 0), hi = Int64(start?.upperBound ?? count)
        if pattern.isEmpty { return lo < hi ? Int(lo)..<Int(hi) : nil }
        let found = bits.lines.withUnsafeBufferPointer { lp in
            nodes.withUnsafeBufferPointer { np in
                codes.withUnsafeBufferPointer { cp in
                    codeLengths.withUnsafeBufferPointer { lenp in
                        c.withUnsafeBufferPointer { cc in
                            cc.withMemoryRebound(to: Int64.self) { ccp in
                                pattern.withUnsafeBufferPointer { pp in
                                    ragdb_fm_backward(lp.baseAddress, np.baseAddress, cp.baseAddress, lenp.baseAddress, ccp.baseAddress,
                                                      pp.baseAddress, pp.count, &lo, &hi)
                                }
                            }
                        }
                    }
                }
            }
        }
        return found == 1 ? Int(lo)..<Int(hi) : nil
    }

    /// SA values of `rows`, from samples at every `rate`-th row (LF walks, eight at a time).
    func locate(rows: [Int64], c: [Int], rate: Int, samples: MappedArray<UInt32>) -> [Int64] {
        var out = [Int64](repeating: 0, count: rows.count)
        bits.lines.withUnsafeBufferPointer { lp in
            nodes.withUnsafeBufferPointer { np in
                c.withUnsafeBufferPointer { cc in cc.withMemoryRebound(to: Int64.self) { cp in
                    samples.withUnsafeBufferPointer { sp in
                        rows.withUnsafeBufferPointer { rp in
                            out.withUnsafeMutableBufferPointer { op in
                                ragdb_fm_locate(lp.baseAddress, np.baseAddress, cp.baseAddress, Int64(count), Int64(rate), sp.baseAddress,
                                                rp.baseAddress, rp.count, op.baseAddress)
                            }
                        }
                    }
                } }
            }
        }
        return out
    }

    /// Every distinct symbol in positions `lo..<hi` with its count.
    ///
    /// - Complexity: two ranks per tree node visited (the nodes above the k distinct symbols).
    func distinct(_ lo: Int, _ hi: Int, into out: inout [(symbol: Int, count: Int)]) {
        guard hi > lo else { return }
        func walk(_ k: Int, _ lo: Int, _ hi: Int) {
            let n = nodes[k]
            let lo1 = bits.rank1(Int(n.start) + lo) - Int(n.ones_before)
            let hi1 = bits.rank1(Int(n.start) + hi) - Int(n.ones_before)
            let ranges = [(lo - lo1, hi - hi1), (lo1, hi1)]
            for (bit, child) in [n.child.0, n.child.1].enumerated() {
                let (a, b) = ranges[bit]
                guard b > a else { continue }
                if child < 0 { out.append((Int(-child - 1), b - a)) } else { walk(Int(child), a, b) }
            }
        }
        walk(0, lo, hi)
    }

    /// rank(s, i) for every symbol s at once, into `out` (σ entries).
    ///
    /// - Complexity: one rank per internal node.
    func ranks(at i: Int, into out: inout [Int]) {
        func walk(_ k: Int, _ j: Int) {
            let n = nodes[k]
            let ones = bits.rank1(Int(n.start) + j) - Int(n.ones_before)
            for (bit, child) in [n.child.0, n.child.1].enumerated() {
                let r = bit == 1 ? ones : j - ones
                if child < 0 { out[Int(-child - 1)] = r } else { walk(Int(child), r) }
            }
        }
        walk(0, i)
    }

    /// Bytes the structure occupies in memory (bitvector, nodes, codes).
    var residentBytes: Int { bits.lines.count * 8 + nodes.count * MemoryLayout<ragdb_hwt_node>.stride + codes.count * 9 }
}

extension HuffmanWaveletTree: Equatable {
    static func == (a: Self, b: Self) -> Bool {
        guard a.bits == b.bits, a.count == b.count, a.nodes.count == b.nodes.count, a.codes == b.codes,
              a.codeLengths == b.codeLengths else { return false }
        return zip(a.nodes, b.nodes).allSatisfy { x, y in
            x.start == y.start && x.ones_before == y.ones_before && x.child.0 == y.child.0 && x.child.1 == y.child.1
        }
    }
}
