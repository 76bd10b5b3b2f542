import RAGDBChunks
import RAGDBSparse
import RAGDBStorage
import RAGDBText

/// A document's terms for the sparse index, computed while preparing it (on the worker
/// threads): the distinct terms once, and per chunk the (term number, frequency) pairs.
struct DocumentTerms: Sendable {
    /// Distinct terms of the document.
    var names: [String] = []
    /// The interner's hash of each of `names` (so merging documents does not hash again).
    var hashes: [UInt64] = []
    /// Per chunk: its (index into `names`, frequency) pairs and its length in terms.
    var chunks: [(postings: [(term: Int32, tf: UInt32)], length: UInt32)] = []

    /// No terms (for collections without a text index).
    init() {}

    /// Analyzes `document`. When its chunks were cut by a ragdb chunker
    /// (`chunksFollowTokens`), the text is analyzed once and each term is given to the chunks
    /// whose span holds its first byte (chunk spans never split a word); caller-cut chunks are
    /// analyzed one by one.
    init(_ document: NewDocument, analyzer: Analyzer, chunksFollowTokens: Bool) {
        // The analyzer's callback mutates one captured value (one dynamic exclusivity check
        // per term); the counting below uses plain locals.
        var sink = TermSink()
        var counts: [UInt32] = []
        var touched: [Int32] = []
        func flush(_ length: UInt32, _ counts: inout [UInt32], _ touched: inout [Int32], _ chunks: inout [(postings: [(term: Int32, tf: UInt32)], length: UInt32)]) {
            var postings: [(term: Int32, tf: UInt32)] = []
            postings.reserveCapacity(touched.count)
            for t in touched {
                postings.append((t, counts[Int(t)]))
                counts[Int(t)] = 0
            }
            touched.removeAll(keepingCapacity: true)
            chunks.append((postings, length))
        }
        if chunksFollowTokens, let source = document.source ?? (document.chunks.count == 1 ? document.chunks[0].text : nil) {
            analyzer.forEachTermBytes(source) { t, at in sink.add(t, at: at) }
            counts = [UInt32](repeating: 0, count: sink.interner.names.count)
            let base = document.source == nil ? Int(document.chunks[0].span.start) : 0
            var first = 0
            let ids = sink.ids, starts = sink.starts
            for c in document.chunks {
                let lo = Int(c.span.start) - base, hi = Int(c.span.end) - base
                while first < starts.count && starts[first] < lo { first += 1 }
                var i = first
                var length: UInt32 = 0
                while i < starts.count && starts[i] < hi {
                    let t = ids[i]
                    if counts[Int(t)] == 0 { touched.append(t) }
                    counts[Int(t)] += 1
                    length += 1
                    i += 1
                }
                flush(length, &counts, &touched, &chunks)
            }
        } else {
            for c in document.chunks {
                sink.ids.removeAll(keepingCapacity: true)
                sink.starts.removeAll(keepingCapacity: true)
                analyzer.forEachTermBytes(c.text) { t, at in sink.add(t, at: at) }
                if counts.count < sink.interner.names.count { counts.append(contentsOf: repeatElement(0, count: sink.interner.names.count - counts.count)) }
                for t in sink.ids {
                    if counts[Int(t)] == 0 { touched.append(t) }
                    counts[Int(t)] += 1
                }
                flush(UInt32(sink.ids.count), &counts, &touched, &chunks)
            }
        }
        (names, hashes) = (sink.interner.names, sink.interner.hashes)
    }
}

/// What the analyzer's callback fills while a document is analyzed: each term's number and
/// the byte offset of its word.
private struct TermSink {
    var interner = TermInterner()
    var ids: [Int32] = []
    var starts: [Int] = []

    @inline(__always)
    mutating func add(_ term: UnsafeBufferPointer<UInt8>, at: Int) {
        ids.append(interner.id(term))
        starts.append(at)
    }
}

/// Numbers distinct terms by their bytes with an open-addressing table: one probe or two per
/// term, and a string only for a term's first occurrence. A term of up to 16 bytes (nearly
/// all) is packed into 128 bits, which is hashed with two multiplies and compared in one
/// step; longer terms are hashed with FNV-1a and compared byte by byte.
struct TermInterner {
    private var slotIDs = [Int32](repeating: -1, count: 256)
    /// Each term's hash, by term number.
    private(set) var hashes: [UInt64] = []
    /// Each term's bytes packed (zero for terms longer than 16 bytes) and its length.
    private var keys: [SIMD3<UInt64>] = []
    private(set) var names: [String] = []

    /// The packed form of `bytes` (up to 16 bytes, little-endian, then the length; longer
    /// terms: the length alone) and its hash.
    @inline(__always)
    static func key(_ bytes: UnsafeBufferPointer<UInt8>) -> (key: SIMD3<UInt64>, hash: UInt64) {
        let n = bytes.count
        guard n <= 16 else {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            return (SIMD3(0, 0, UInt64(n)), h)
        }
        var lo: UInt64 = 0, hi: UInt64 = 0
        for j in 0..<min(n, 8) { lo |= UInt64(bytes[j]) << (8 * UInt64(j)) }
        if n > 8 { for j in 8..<n { hi |= UInt64(bytes[j]) << (8 * UInt64(j - 8)) } }
        let h = (lo &* 0x9E37_79B9_7F4A_7C15) ^ (hi &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(n)
        return (SIMD3(lo, hi, UInt64(n)), (h ^ h >> 31) &* 0xBF58_476D_1CE4_E5B9)
    }

    @inline(__always)
    private func home(_ h: UInt64) -> Int { Int(truncatingIfNeeded: h >> 32) & (slotIDs.count - 1) }

    /// The number of the term spelled by `bytes`, given a new number on first sight.
    mutating func id(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        let (k, h) = Self.key(bytes)
        let mask = slotIDs.count - 1
        var i = home(h)
        while slotIDs[i] >= 0 {
            let t = Int(slotIDs[i])
            if hashes[t] == h && keys[t] == k && (k[2] <= 16 || names[t].utf8.elementsEqual(bytes)) { return slotIDs[i] }
            i = (i + 1) & mask
        }
        return insert(String(decoding: bytes, as: UTF8.self), key: k, hash: h, at: i)
    }

    /// The number of `name`, whose `hash(_:)` is `hash` (carried over from another interner).
    mutating func id(_ name: String, hash h: UInt64) -> Int32 {
        let mask = slotIDs.count - 1
        var i = home(h)
        while slotIDs[i] >= 0 {
            let t = Int(slotIDs[i])
            if hashes[t] == h && names[t].utf8.elementsEqual(name.utf8) { return slotIDs[i] }
            i = (i + 1) & mask
        }
        var copy = name
        let k = copy.withUTF8 { Self.key($0).key }
        return insert(name, key: k, hash: h, at: i)
    }

    private mutating func insert(_ name: String, key: SIMD3<UInt64>, hash h: UInt64, at i: Int) -> Int32 {
        let n = Int32(names.count)
        names.append(name)
        hashes.append(h)
        keys.append(key)
        slotIDs[i] = n
        if names.count * 2 > slotIDs.count { grow() }
        return n
    }

    private mutating func grow() {
        let size = slotIDs.count * 2
        var ids = [Int32](repeating: -1, count: size)
        for (id, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h >> 32) & (size - 1)
            while ids[i] >= 0 { i = (i + 1) & (size - 1) }
            ids[i] = Int32(id)
        }
        slotIDs = ids
    }
}

/// The text-index terms of a batch of documents, merged before its write transaction (on
/// the caller's thread, while a pipelined writer is still writing the previous batch): the
/// batch's distinct terms in UTF-8 byte order, each with its postings as (document, chunk)
/// positions in the batch. The writer then only maps positions to the chunk ids it assigns,
/// which keeps the single writer thread, the import's critical path, short.
struct BatchTerms: Sendable {
    /// One chunk that holds a term.
    struct Entry: Sendable {
        /// The document's position in the batch.
        var document: Int32
        /// The chunk's position in its document.
        var chunk: Int32
        /// The term's frequency in the chunk.
        var tf: UInt32
        /// The chunk's length in terms.
        var length: UInt32
    }
    /// Distinct terms, in UTF-8 byte order.
    private(set) var names: [String] = []
    /// Term *i*'s entries are `entries[starts[i]..<starts[i + 1]]`, in (document, chunk) order.
    private(set) var starts: [Int] = [0]
    private(set) var entries: [Entry] = []

    /// Merges `documents` (in batch order).
    ///
    /// - Complexity: O(postings) plus a sort of the distinct terms; one interner look-up per
    ///   (document, distinct term).
    init(_ documents: [DocumentTerms]) {
        var interner = TermInterner()
        // Each document's term numbers in the batch's numbering, documents one after another.
        var global: [Int32] = []
        var firstOf: [Int] = []
        firstOf.reserveCapacity(documents.count)
        var counts: [Int] = []
        for d in documents {
            precondition(d.hashes.count == d.names.count, "DocumentTerms without the interner's hashes")
            firstOf.append(global.count)
            for (name, h) in zip(d.names, d.hashes) {
                let g = interner.id(name, hash: h)
                if Int(g) == counts.count { counts.append(0) }
                global.append(g)
            }
            for c in d.chunks { for p in c.postings { counts[Int(global[firstOf.last! + Int(p.term)])] += 1 } }
        }
        let names = interner.names
        // Byte order: the first eight bytes as a big-endian number decide most comparisons.
        let prefixes = names.map { name -> UInt64 in
            var k: UInt64 = 0, n = 0
            for b in name.utf8.prefix(8) { k = k << 8 | UInt64(b); n += 1 }
            return k << (8 * UInt64(8 - n))
        }
        let order = (0..<names.count).sorted { a, b in
            prefixes[a] != prefixes[b] ? prefixes[a] < prefixes[b] : names[a].utf8.lexicographicallyPrecedes(names[b].utf8)
        }
        var slot = [Int](repeating: 0, count: names.count)
        var starts = [Int](repeating: 0, count: names.count + 1)
        for (rank, g) in order.enumerated() {
            starts[rank + 1] = starts[rank] + counts[g]
            slot[g] = starts[rank]
        }
        var entries = [Entry](repeating: Entry(document: 0, chunk: 0, tf: 0, length: 0), count: starts[names.count])
        for (di, d) in documents.enumerated() {
            let base = firstOf[di]
            for (ci, c) in d.chunks.enumerated() {
                for p in c.postings {
                    let g = Int(global[base + Int(p.term)])
                    entries[slot[g]] = Entry(document: Int32(di), chunk: Int32(ci), tf: p.tf, length: c.length)
                    slot[g] += 1
                }
            }
        }
        self.names = order.map { names[$0] }
        self.starts = starts
        self.entries = entries
    }
}

/// The sparse-index changes of one write transaction, gathered per term and applied at once:
/// removals first (they rewrite blocks), then additions (they append, new chunk ids being
/// the largest).
struct SparseChanges {
    /// The field holding chunk text.
    static let textField: UInt8 = 0
    /// The field holding document titles (settings `title_weight`), one copy per chunk.
    static let titleField: UInt8 = 255

    private var interner = TermInterner()
    private var lists: [[Posting]] = []
    private var addedChunks = 0
    private var addedLength = 0
    private var removes: [String: [UInt64]] = [:]
    private var removedChunks = 0
    private var removedLength = 0
    private var batch: (terms: BatchTerms, assigned: [[ChunkID]])?

    /// Adds the postings of a merged batch: `assigned[d]` holds the ids given to document
    /// *d*'s chunks (empty for a document left unchanged). Replaces any earlier batch; use
    /// either this or `add(_:_:)` for one set of changes.
    mutating func add(_ terms: BatchTerms, assigned: [[ChunkID]], documents: [DocumentTerms]) {
        batch = (terms, assigned)
        for (ids, d) in zip(assigned, documents) {
            for (_, c) in zip(ids, d.chunks) {
                addedChunks += 1
                addedLength += Int(c.length)
            }
        }
    }

    /// Adds the postings of a document's newly written chunks (`ids` in chunk order).
    mutating func add(_ ids: [ChunkID], _ terms: DocumentTerms) {
        var slot = [Int](repeating: -1, count: terms.names.count)
        for (chunk, c) in zip(ids, terms.chunks) {
            for (t, tf) in c.postings {
                var s = slot[Int(t)]
                if s < 0 {
                    var name = terms.names[Int(t)]
                    s = Int(name.withUTF8 { interner.id($0) })
                    if s == lists.count { lists.append([]) }
                    slot[Int(t)] = s
                }
                lists[s].append(Posting(chunk: chunk.rawValue, tf: tf, length: c.length))
            }
            addedChunks += 1
            addedLength += Int(c.length)
        }
    }

    mutating func remove(_ chunk: UInt64, _ terms: (frequencies: [String: UInt32], length: UInt32)) {
        for t in terms.frequencies.keys { removes[t, default: []].append(chunk) }
        removedChunks += 1
        removedLength += Int(terms.length)
    }

    /// Queues a title's postings for each of a document's new chunks.
    mutating func addTitle(_ ids: [ChunkID], _ title: (frequencies: [String: UInt32], length: UInt32)) {
        guard !ids.isEmpty, !title.frequencies.isEmpty else { return }
        var terms = DocumentTerms()
        let names = title.frequencies.keys.sorted()
        terms.names = names
        let postings = names.enumerated().map { (term: Int32($0.offset), tf: title.frequencies[$0.element]!) }
        terms.chunks = Array(repeating: (postings, title.length), count: ids.count)
        add(ids, terms)
    }

    /// Queues the removal of a title's postings from each of `chunks`.
    mutating func removeTitle(_ chunks: [ChunkID], _ title: (frequencies: [String: UInt32], length: UInt32)) {
        guard !title.frequencies.isEmpty else { return }
        for c in chunks { remove(c.rawValue, title) }
    }

    func apply(_ index: SparseIndex, collection: UInt32, field: UInt8 = SparseChanges.textField, _ txn: borrowing WriteTransaction) throws {
        if removedChunks > 0 {
            try index.remove(removes, chunks: removedChunks, length: removedLength, collection: collection, field: field, txn)
        }
        if let (terms, assigned) = batch, addedChunks > 0 {
            try index.add(sortedTerms: terms.names.count, term: { terms.names[$0] }, postings: { i, out in
                for e in terms.entries[terms.starts[i]..<terms.starts[i + 1]] {
                    let ids = assigned[Int(e.document)]
                    guard Int(e.chunk) < ids.count else { continue }
                    out.append(Posting(chunk: ids[Int(e.chunk)].rawValue, tf: e.tf, length: e.length))
                }
            }, chunks: addedChunks, length: addedLength, collection: collection, field: field, txn)
        } else if addedChunks > 0 {
            var adds: [String: [Posting]] = [:]
            adds.reserveCapacity(lists.count)
            for (t, l) in zip(interner.names, lists) { adds[t] = l }
            try index.add(adds, chunks: addedChunks, length: addedLength, collection: collection, field: field, txn)
        }
    }
}

/// The learned-sparse changes of one write transaction, per sparse space: each chunk's
/// entries are stored (`sparse_vectors`) as they come, and the postings are applied to the
/// space's impact field at the end, removals first.
struct LearnedSparseChanges {
    private var adds: [UInt16: [String: [Posting]]] = [:]
    private var addedChunks: [UInt16: Int] = [:]
    private var removes: [UInt16: [String: [UInt64]]] = [:]
    private var removedChunks: [UInt16: Int] = [:]

    /// Stores the sparse vector of new chunk `chunk` in `space` and queues its postings.
    mutating func add(_ chunk: UInt64, space: UInt16, entries: [(term: String, impact: UInt16)], collection: UInt32,
                      _ store: SparseVectorStore, _ txn: borrowing WriteTransaction) throws {
        try store.put(entries, collection: collection, space: space, chunk: chunk, txn)
        for e in entries { adds[space, default: [:]][e.term, default: []].append(Posting(chunk: chunk, tf: UInt32(e.impact), length: 0)) }
        addedChunks[space, default: 0] += 1
    }

    /// Deletes the sparse vectors of removed chunks in every one of `spaces` spaces and queues
    /// the removal of their postings.
    mutating func remove(_ chunks: [UInt64], spaces: Int, collection: UInt32, _ store: SparseVectorStore, _ txn: borrowing WriteTransaction) throws {
        for c in chunks {
            for s in 0..<spaces {
                let space = UInt16(s)
                guard let entries = try store.entries(collection: collection, space: space, chunk: c, txn) else { continue }
                for e in entries { removes[space, default: [:]][e.term, default: []].append(c) }
                removedChunks[space, default: 0] += 1
                try store.delete(collection: collection, space: space, chunk: c, txn)
            }
        }
    }

    /// Applies the queued postings to the sparse index, removals first.
    func apply(_ index: SparseIndex, collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        for (space, byTerm) in removes {
            try index.remove(byTerm, chunks: removedChunks[space] ?? 0, length: 0, collection: collection, field: SparseVectorStore.field(ofSpace: space), txn)
        }
        for (space, byTerm) in adds {
            try index.add(byTerm, chunks: addedChunks[space] ?? 0, length: 0, collection: collection, field: SparseVectorStore.field(ofSpace: space), txn)
        }
    }
}
