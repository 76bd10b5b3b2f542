import RAGDBChunks
import RAGDBSparse
import RAGDBStorage
import RAGDBText

/// A document's terms for the sparse index, computed while preparing it (on the worker
/// threads): the distinct terms once, and per chunk the (term number, frequency) pairs.
struct DocumentTerms: Sendable {
    /// Distinct terms of the document.
    var names: [String] = []
    /// Per chunk: its (index into `names`, frequency) pairs and its length in terms.
    var chunks: [(postings: [(term: Int32, tf: UInt32)], length: UInt32)] = []

    /// No terms (for collections without a text index).
    init() {}

    /// Analyzes `document`. When its chunks were cut by a ragdb chunker
    /// (`chunksFollowTokens`), the text is analyzed once and each term is given to the chunks
    /// whose span holds its first byte (chunk spans never split a word); caller-cut chunks are
    /// analyzed one by one.
    init(_ document: NewDocument, analyzer: Analyzer, chunksFollowTokens: Bool) {
        var interner = TermInterner()
        func id(_ t: UnsafeBufferPointer<UInt8>) -> Int32 { interner.id(t) }
        defer { names = interner.names }
        var counts: [UInt32] = []
        var touched: [Int32] = []
        func flush(length: UInt32) {
            var postings: [(term: Int32, tf: UInt32)] = []
            postings.reserveCapacity(touched.count)
            for t in touched {
                postings.append((t, counts[Int(t)]))
                counts[Int(t)] = 0
            }
            touched.removeAll(keepingCapacity: true)
            chunks.append((postings, length))
        }
        func count(_ t: Int32) {
            if Int(t) >= counts.count { counts.append(contentsOf: repeatElement(0, count: Int(t) + 1 - counts.count)) }
            if counts[Int(t)] == 0 { touched.append(t) }
            counts[Int(t)] += 1
        }
        if chunksFollowTokens, let source = document.source ?? (document.chunks.count == 1 ? document.chunks[0].text : nil) {
            var ids: [Int32] = []
            var starts: [Int] = []
            analyzer.forEachTermBytes(source) { t, at in
                ids.append(id(t))
                starts.append(at)
            }
            let base = document.source == nil ? Int(document.chunks[0].span.start) : 0
            var first = 0
            for c in document.chunks {
                let lo = Int(c.span.start) - base, hi = Int(c.span.end) - base
                while first < starts.count && starts[first] < lo { first += 1 }
                var i = first
                var length: UInt32 = 0
                while i < starts.count && starts[i] < hi {
                    count(ids[i])
                    length += 1
                    i += 1
                }
                flush(length: length)
            }
        } else {
            for c in document.chunks {
                var length: UInt32 = 0
                analyzer.forEachTermBytes(c.text) { t, _ in count(id(t)); length += 1 }
                flush(length: length)
            }
        }
    }
}

/// Numbers distinct terms by their bytes with an open-addressing table and an FNV-1a hash:
/// one probe or two per term, and a string only for a term's first occurrence.
struct TermInterner {
    private var slotIDs = [Int32](repeating: -1, count: 256)
    private var slotHashes = [UInt64](repeating: 0, count: 256)
    private(set) var names: [String] = []

    mutating func id(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let mask = slotIDs.count - 1
        var i = Int(truncatingIfNeeded: h >> 17) & mask
        while slotIDs[i] >= 0 {
            if slotHashes[i] == h && names[Int(slotIDs[i])].utf8.elementsEqual(bytes) { return slotIDs[i] }
            i = (i + 1) & mask
        }
        let n = Int32(names.count)
        names.append(String(decoding: bytes, as: UTF8.self))
        slotIDs[i] = n
        slotHashes[i] = h
        if names.count * 2 > slotIDs.count { grow() }
        return n
    }

    private mutating func grow() {
        let size = slotIDs.count * 2
        var ids = [Int32](repeating: -1, count: size), hashes = [UInt64](repeating: 0, count: size)
        for (id, h) in zip(slotIDs, slotHashes) where id >= 0 {
            var i = Int(truncatingIfNeeded: h >> 17) & (size - 1)
            while ids[i] >= 0 { i = (i + 1) & (size - 1) }
            ids[i] = id
            hashes[i] = h
        }
        slotIDs = ids
        slotHashes = hashes
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
        if addedChunks > 0 {
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
