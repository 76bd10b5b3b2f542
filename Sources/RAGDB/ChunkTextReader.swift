public import RAGDBChunks
import RAGDBStorage

/// Reads chunk texts without making strings: each text is handed to a closure as UTF-8 bytes,
/// in place in the memory map or in a buffer this reader reuses, after its checksum is
/// verified. The fastest way to read many chunks (a loop of reads allocates nothing).
///
/// Not `Sendable`: use one reader per thread.
public final class ChunkTextReader {
    private let collection: Collection
    private var scratch: [UInt8] = []

    /// A reader of `collection`'s chunks.
    public init(_ collection: Collection) { self.collection = collection }

    /// Calls `body` with the fixed fields and the UTF-8 text of chunk `id`.
    ///
    /// - Complexity: one read transaction, one B-tree descent, one checksum pass and, for a
    ///   compressed chunk, one LZ4 decompression into the reader's buffer.
    /// - Returns: `nil` when there is no such chunk.
    /// - Warning: `text` is valid only during `body`.
    public func withText<R>(_ id: ChunkID, _ body: (_ fields: ChunkStore.ChunkFields, _ text: RawSpan) throws -> R) throws(RAGDBError) -> R? {
        let store = collection.database.chunkStore
        let cid = collection.id
        return try rethrowingAsRAGDB {
            try collection.database.env.read { txn in
                try store.withChunkText(id, in: cid, txn, scratch: &scratch, body)
            }
        }
    }
}
