public import RAGDBChunks
public import RAGDBStorage
public import RAGDBVector

// The data model's value types live in RAGDBChunks; these names make them usable with a
// plain `import RAGDB`.

/// A stored chunk. See `RAGDBChunks.ChunkRecord`.
public typealias Chunk = ChunkRecord
/// A stored document. See `RAGDBChunks.DocumentRecord`.
public typealias Document = DocumentRecord
/// A chunk id. See `RAGDBChunks.ChunkID`.
public typealias ChunkIdentifier = ChunkID
/// A typed metadata value. See `RAGDBChunks.MetadataValue`.
public typealias MetadataItem = MetadataValue
/// A byte range in a source document. See `RAGDBChunks.ByteSpan`.
public typealias Span = ByteSpan
/// Per-collection counters. See `RAGDBChunks.CollectionCounters`.
public typealias Counters = CollectionCounters
/// Durability of commits. See `RAGDBStorage.EnvironmentOptions.Durability`.
public typealias Durability = EnvironmentOptions.Durability
/// Metadata: named typed values. See `RAGDBChunks.Metadata`.
public typealias Metadata = RAGDBChunks.Metadata
/// How a dense index is trained (code kind, IVF lists, sample). See `RAGDBVector.DenseModel.Options`.
public typealias DenseIndexOptions = DenseModel.Options
/// The compact code kinds of a dense index (int8, pca8, pq, binary). See `RAGDBVector.CodeKind`.
public typealias DenseCodeKind = CodeKind
