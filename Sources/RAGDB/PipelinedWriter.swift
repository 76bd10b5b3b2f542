import Foundation
import Synchronization

/// Writes batches of prepared documents on a background thread, one transaction per batch,
/// so that the caller prepares (parses, chunks, compresses) the next batch meanwhile: on two
/// cores, preparation and LMDB writes overlap instead of taking turns.
///
/// At most one batch is being written while the caller holds the next; `submit` waits for
/// the previous write to finish first, so memory stays at two batches.
///
/// - Warning: call `finish()` (or `drain()` on an error path) before using the totals or
///   returning: a batch may still be in flight until then.
public final class PipelinedWriter: Sendable {
    private let collection: Collection
    private let replacing: Bool
    private let queue = DispatchQueue(label: "ragdb.pipelined-writer")
    private let inFlight = DispatchSemaphore(value: 1)
    private let state = Mutex<(summary: WriteSummary, error: RAGDBError?)>((WriteSummary(), nil))

    /// A writer into `collection` that replaces existing documents when `replacing`.
    public init(collection: Collection, replacing: Bool) {
        self.collection = collection
        self.replacing = replacing
    }

    /// Starts writing `batch` in its own transaction after the previous batch is written.
    /// The batch is checked and its text-index terms merged here, on the caller's thread,
    /// while the previous batch is still being written.
    ///
    /// - Throws: `.invalidInput` at once when `batch` holds a document id twice; else the
    ///   error of the previous batch, if it failed (this batch is then not started).
    public func submit(_ batch: [PreparedDocument]) throws(RAGDBError) {
        // Merging the batch's terms needs no transaction: it runs here, beside the write of
        // the previous batch.
        let batch = try collection.writable(batch)
        inFlight.wait()
        if let error = state.withLock({ $0.error }) {
            inFlight.signal()
            throw error
        }
        let collection = collection, replacing = replacing
        queue.async { [self] in
            do {
                let s = try collection.write(batch, replacing: replacing)
                state.withLock {
                    $0.summary.inserted += s.inserted
                    $0.summary.replaced += s.replaced
                    $0.summary.unchanged += s.unchanged
                    $0.summary.chunksWritten += s.chunksWritten
                }
            } catch let error as RAGDBError {
                state.withLock { $0.error = error }
            } catch {
                state.withLock { $0.error = RAGDBError(.storage, String(describing: error)) }
            }
            inFlight.signal()
        }
    }

    /// Waits for the batch in flight, if any, without reporting its error.
    public func drain() {
        inFlight.wait()
        inFlight.signal()
    }

    /// Waits for the last batch and returns the totals of every batch written.
    ///
    /// - Throws: the error of the last batch that failed.
    public func finish() throws(RAGDBError) -> WriteSummary {
        drain()
        let (summary, error) = state.withLock { $0 }
        if let error { throw error }
        return summary
    }
}
