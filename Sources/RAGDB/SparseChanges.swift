import RAGDBSparse
import RAGDBStorage

/// The sparse-index changes of one write transaction, gathered per term and applied at once:
/// removals first (they rewrite blocks), then additions (they append, new chunk ids being
/// the largest).
struct SparseChanges {
    /// The field holding chunk text.
    static let textField: UInt8 = 0

    private var adds: [String: [Posting]] = [:]
    private var addedChunks = 0
    private var addedLength = 0
    private var removes: [String: [UInt64]] = [:]
    private var removedChunks = 0
    private var removedLength = 0

    mutating func add(_ chunk: UInt64, _ terms: (frequencies: [String: UInt32], length: UInt32)) {
        for (t, f) in terms.frequencies { adds[t, default: []].append(Posting(chunk: chunk, tf: f, length: terms.length)) }
        addedChunks += 1
        addedLength += Int(terms.length)
    }

    mutating func remove(_ chunk: UInt64, _ terms: (frequencies: [String: UInt32], length: UInt32)) {
        for t in terms.frequencies.keys { removes[t, default: []].append(chunk) }
        removedChunks += 1
        removedLength += Int(terms.length)
    }

    func apply(_ index: SparseIndex, collection: UInt32, _ txn: borrowing WriteTransaction) throws {
        if removedChunks > 0 {
            try index.remove(removes, chunks: removedChunks, length: removedLength, collection: collection, field: Self.textField, txn)
        }
        if addedChunks > 0 {
            try index.add(adds, chunks: addedChunks, length: addedLength, collection: collection, field: Self.textField, txn)
        }
    }
}
