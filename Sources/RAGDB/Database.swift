public import RAGDBStorage
package import RAGDBNgram
package import RAGDBChunks
package import RAGDBVector
package import RAGDBSparse
@_exported public import RAGDBKVCache
import Foundation

/// A ragdb database: one LMDB environment (a directory) holding collections of documents,
/// their chunks and, as later modules land, their indexes.
///
/// `Database` is `Sendable` and cheap to share: open it once per process and use it from any
/// thread. Each mutating call is one transaction (all or nothing); reads see a consistent
/// snapshot. Closed when the last reference goes.
public final class Database: Sendable {
    /// The on-disk format version this build reads and writes (Format.md).
    public static let formatVersion: UInt32 = 5
    /// The version string recorded in new databases.
    public static let softwareVersion = "ragdb 0.1.0"

    /// How a database is opened.
    public struct Options: Sendable {
        /// Create the directory and an empty database when missing.
        public var create = true
        /// Open read-only: every write throws.
        public var readOnly = false
        /// Commit durability (see `EnvironmentOptions.Durability`).
        public var durability: EnvironmentOptions.Durability = .full
        /// The initial map size in bytes; the map grows on demand.
        public var initialMapSize = 16 << 20
        /// Upgrade a database of an older format version in place (one transaction; see
        /// Format.md §4). Without it, an older version is refused with a hint.
        public var upgrade = false

        /// Read-write, create when missing, fully durable.
        public init() {}
    }

    /// The directory.
    public let path: String
    /// Keeps memory freed by write transactions in the process heap, so large puts and imports
    /// stop faulting fresh pages in (`Environment.retainFreedHeap`: a process-wide allocator
    /// policy that the library never sets by itself; the `ragdb` tool sets it at start).
    ///
    /// - Returns: whether the allocator took the setting.
    /// - Complexity: two `mallopt` calls.
    @discardableResult
    public static func retainFreedHeap() -> Bool { Environment.retainFreedHeap() }

    package let env: Environment
    let meta: Table
    let catalog: Table
    package let chunkStore: ChunkStore
    package let vectorStore: VectorStore
    package let ngramStore: NgramStore
    /// The token-id n-gram index (`ngram_token_*`) and the tokens it is built from.
    package let ngramTokenStore: NgramStore
    package let chunkTokens: ChunkTokenStore
    package let sparseVectors: SparseVectorStore
    package let sparseIndex: SparseIndex
    package let metadataIndex: MetadataIndex
    /// The chunk KV-cache store (Cache-Craft): model profiles, per-chunk key/value tensors
    /// with reuse metadata, reuse lookup, budgets and eviction. Its methods throw
    /// `KVCacheError` for bad input and damaged caches, `StorageError` underneath.
    public let kvCaches: KVCacheStore

    static let metaTable = "meta"
    static let catalogTable = "collections"
    /// Every table a database of this format version has.
    /// Tables that format version 2 added to version 1 (the dense index).
    static let tablesAddedInVersion2 = ["dense_models", "dense_codes"] + NgramStore.tableNames + SparseVectorStore.tableNames
    /// Tables that format version 3 added to version 2 (the KV-cache store, the metadata
    /// index).
    static let tablesAddedInVersion3 = KVCacheStore.tableNames + MetadataIndex.tableNames
    /// Tables that format version 4 added to version 3 (token ids and their n-gram index).
    static let tablesAddedInVersion4 = ChunkTokenStore.tableNames + NgramStore.tokenTableNames
    static let allTables = [metaTable, catalogTable] + ChunkStore.tableNames + VectorStore.tableNames + SparseIndex.tableNames
        + NgramStore.tableNames + SparseVectorStore.tableNames + KVCacheStore.tableNames + MetadataIndex.tableNames
        + tablesAddedInVersion4

    enum MetaKey {
        static let formatVersion = Array("format_version".utf8)
        static let nextChunkID = Array("next_chunk_id".utf8)
        static let nextCollectionID = Array("next_collection_id".utf8)
        static let createdBy = Array("created_by".utf8)
    }

    /// Opens the database in directory `path`, creating it when `options.create` allows.
    ///
    /// - Complexity: maps the file and reads the format version record; reads no data.
    /// - Throws: `.notFound` when there is no database and `create` is off;
    ///   `.notADatabase` for a directory holding other LMDB data; `.unsupportedFormat` for a
    ///   format version other than `Database.formatVersion`.
    public static func open(at path: String, options: Options = .init()) throws(RAGDBError) -> Database {
        try rethrowingAsRAGDB { try Database(path: path, options: options) }
    }

    private init(path: String, options: Options) throws {
        var envOptions = EnvironmentOptions()
        envOptions.create = options.create && !options.readOnly
        envOptions.readOnly = options.readOnly
        envOptions.durability = options.durability
        envOptions.initialMapSize = options.initialMapSize
        if !envOptions.create && !FileManager.default.fileExists(atPath: path + "/data.mdb") {
            throw RAGDBError(.notFound, "no database at \(path)")
        }
        let env = try Environment.open(path: path, options: envOptions)
        var tables: [String: Table] = [:]
        if let meta = try env.table(Self.metaTable, create: false) {
            let version = try env.read { txn in
                try txn.withValue(forKey: MetaKey.formatVersion, in: meta) { v in
                    v.byteCount == 4 ? v.unsafeLoadUnaligned(as: UInt32.self).littleEndian : nil
                }
            }
            guard let found = version, let version = found else {
                throw RAGDBError(.notADatabase, "\(path) has no valid format version record")
            }
            if (1...4).contains(version) && options.upgrade && !options.readOnly {
                // Versions 2 and 3 only added tables (the dense and n-gram indexes, learned
                // sparse vectors; the KV-cache store); version 4 changed the n-gram segment
                // layout; version 5 added a dense code kind (pca8), which changes no existing
                // byte. Create the missing tables, move every chunk of an n-gram index back to
                // pending (its segments are rebuilt from there), and record the new version, in
                // one transaction.
                let added = (version == 1 ? Self.tablesAddedInVersion2 : []) + (version <= 2 ? Self.tablesAddedInVersion3 : [])
                    + (version <= 3 ? Self.tablesAddedInVersion4 : [])
                var existing: [String: Table] = [:]
                for name in ChunkStore.tableNames + [Self.catalogTable] + (version >= 2 ? NgramStore.tableNames : []) {
                    guard let t = try env.table(name, create: false) else { throw RAGDBError(.corrupt, "\(path) lacks the table \"\(name)\"") }
                    existing[name] = t
                }
                try env.createTables(added) { txn, created in
                    let store = ChunkStore(tables: existing)
                    let catalog = existing[Self.catalogTable]!
                    if version <= 2 {
                        // The metadata index of version 3 covers the chunks already stored.
                        try Self.buildMetadataIndex(store: store, catalog: catalog, index: MetadataIndex(tables: created), txn)
                    }
                    if (2...3).contains(version) {
                        try Self.resetNgramSegments(store: store, catalog: catalog, ngram: NgramStore(tables: existing), txn)
                    }
                    var w = ByteWriter(capacity: 4)
                    w.write(Self.formatVersion)
                    try txn.put(w.bytes, forKey: MetaKey.formatVersion, in: meta)
                }
            } else if version != Self.formatVersion {
                let hint = version > Self.formatVersion ? "it was written by a newer ragdb; upgrade ragdb to open it"
                    : (1...4).contains(version) ? "run `ragdb upgrade \(path)` to upgrade it in place" : "this format is not supported"
                throw RAGDBError(.unsupportedFormat, "\(path) has format version \(version); this ragdb reads version \(Self.formatVersion): \(hint)")
            }
            for name in Self.allTables {
                guard let t = try env.table(name, create: false) else {
                    throw RAGDBError(.corrupt, "\(path) lacks the table \"\(name)\"")
                }
                tables[name] = t
            }
        } else {
            guard try env.tableNames().isEmpty else {
                throw RAGDBError(.notADatabase, "\(path) holds LMDB data that is not a ragdb database")
            }
            guard envOptions.create else { throw RAGDBError(.notFound, "no database at \(path)") }
            tables = try env.createTables(Self.allTables) { txn, created in
                let meta = created[Self.metaTable]!
                var w = ByteWriter(capacity: 8)
                w.write(Self.formatVersion)
                try txn.put(w.bytes, forKey: MetaKey.formatVersion, in: meta)
                w.reset(); w.write(UInt64(1))
                try txn.put(w.bytes, forKey: MetaKey.nextChunkID, in: meta)
                w.reset(); w.write(UInt32(1))
                try txn.put(w.bytes, forKey: MetaKey.nextCollectionID, in: meta)
                try txn.put(Array(Self.softwareVersion.utf8), forKey: MetaKey.createdBy, in: meta)
                return created
            }
        }
        self.path = path
        self.env = env
        self.meta = tables[Self.metaTable]!
        self.catalog = tables[Self.catalogTable]!
        self.chunkStore = ChunkStore(tables: tables)
        self.vectorStore = VectorStore(tables: tables)
        self.sparseIndex = SparseIndex(tables: tables)
        self.ngramStore = NgramStore(tables: tables)
        self.ngramTokenStore = NgramStore(tables: tables, kind: .tokens)
        self.chunkTokens = ChunkTokenStore(tables: tables)
        self.sparseVectors = SparseVectorStore(tables: tables)
        self.kvCaches = KVCacheStore(env: env, tables: tables)
        self.metadataIndex = MetadataIndex(tables: tables)
    }

    // MARK: Collections

    /// Whether `name` is a valid collection or space name: 1–64 ASCII letters, digits, `_`,
    /// `-` or `.`, starting with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func ok(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) }
        return ok(bytes[0]) && bytes.allSatisfy { ok($0) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E }
    }

    /// Creates collection `name` with `settings`.
    ///
    /// - Complexity: one write transaction.
    /// - Throws: `.alreadyExists`, or `.invalidInput` naming the bad setting.
    @discardableResult
    public func createCollection(_ name: String, settings: CollectionSettings = .init()) throws(RAGDBError) -> Collection {
        guard Self.isValidName(name) else {
            throw RAGDBError(.invalidInput, "collection name must be 1–64 letters, digits, '_', '-' or '.'", field: "name")
        }
        try settings.validate()
        let info = try rethrowingAsRAGDB {
            try env.write { txn in
                guard try !txn.contains(Array(name.utf8), in: catalog) else {
                    throw RAGDBError(.alreadyExists, "collection \"\(name)\" already exists")
                }
                let next = try readMeta32(MetaKey.nextCollectionID, txn)
                guard next < UInt32.max else { throw RAGDBError(.storage, "no collection ids left (next_collection_id is at its maximum)") }
                let info = CollectionInfo(id: next, name: name, created: Int64(Date().timeIntervalSince1970), settings: settings)
                try txn.put(try info.encode(), forKey: Array(name.utf8), in: catalog)
                var w = ByteWriter(capacity: 4)
                w.write(next + 1)
                try txn.put(w.bytes, forKey: MetaKey.nextCollectionID, in: meta)
                return info
            }
        }
        return Collection(database: self, info: info)
    }

    /// The collection `name`.
    ///
    /// - Complexity: one read transaction and one catalog look-up.
    /// - Throws: `.notFound` when there is no such collection.
    public func collection(_ name: String) throws(RAGDBError) -> Collection {
        let info = try rethrowingAsRAGDB {
            try env.read { txn in
                try txn.withValue(forKey: Array(name.utf8), in: catalog) { v in try CollectionInfo.decode(v, name: name) }
            }
        }
        guard let info else { throw RAGDBError(.notFound, "no collection \"\(name)\"") }
        return Collection(database: self, info: info)
    }

    /// The collection `name`, created with `settings` when missing.
    public func collection(_ name: String, creatingWith settings: CollectionSettings) throws(RAGDBError) -> Collection {
        do {
            return try collection(name)
        } catch where error.code == .notFound {
            do {
                return try createCollection(name, settings: settings)
            } catch where error.code == .alreadyExists {
                return try collection(name)  // another writer created it first
            }
        }
    }

    /// Every collection, by name.
    ///
    /// - Complexity: one scan of the catalog.
    public func collections() throws(RAGDBError) -> [Collection] {
        try rethrowingAsRAGDB {
            try env.read { txn in
                var out: [Collection] = []
                try txn.scan(catalog) { key, value in
                    let name = key.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
                    out.append(Collection(database: self, info: try CollectionInfo.decode(value, name: name)))
                    return .next
                }
                return out
            }
        }
    }

    /// Adds vector space `space` to collection `name` (spaces are only ever appended, so the
    /// numbers of existing spaces never change).
    ///
    /// - Returns: the collection with its new settings.
    /// - Throws: `.alreadyExists` when the collection has a space of that name,
    ///   `.invalidInput` for a bad space, `.notFound` for a missing collection.
    @discardableResult
    public func addSpace(_ space: VectorSpace, to name: String) throws(RAGDBError) -> Collection {
        let info = try rethrowingAsRAGDB {
            try env.write { txn in
                guard var info = try txn.withValue(forKey: Array(name.utf8), in: catalog, { v in try CollectionInfo.decode(v, name: name) }) else {
                    throw RAGDBError(.notFound, "no collection \"\(name)\"")
                }
                guard !info.settings.spaces.contains(where: { $0.name == space.name }) else {
                    throw RAGDBError(.alreadyExists, "collection \"\(name)\" already has a space \"\(space.name)\"")
                }
                info.settings.spaces.append(space)
                try info.settings.validate()
                try txn.put(try info.encode(), forKey: Array(name.utf8), in: catalog)
                return info
            }
        }
        return Collection(database: self, info: info)
    }

    /// Deletes collection `name` and everything it holds, in one transaction.
    ///
    /// - Returns: `false` when there was no such collection.
    @discardableResult
    public func dropCollection(_ name: String) throws(RAGDBError) -> Bool {
        try rethrowingAsRAGDB {
            try env.write { txn in
                guard let info = try txn.withValue(forKey: Array(name.utf8), in: catalog, { v in try CollectionInfo.decode(v, name: name) }) else {
                    return false
                }
                try chunkStore.drop(CollectionID(rawValue: info.id), txn)
                try vectorStore.drop(collection: info.id, txn)
                try sparseIndex.drop(collection: info.id, txn)
                try ngramStore.drop(collection: info.id, txn)
                try ngramTokenStore.drop(collection: info.id, txn)
                try chunkTokens.drop(collection: info.id, txn)
                try sparseVectors.drop(collection: info.id, txn)
                try metadataIndex.drop(info.id, txn)
                try txn.delete(forKey: Array(name.utf8), in: catalog)
                return true
            }
        }
    }

    /// Indexes the metadata of every stored chunk of every collection (the upgrade to
    /// version 3).
    static func buildMetadataIndex(store: ChunkStore, catalog: Table, index: MetadataIndex, _ txn: borrowing WriteTransaction) throws {
        var ids: [UInt32] = []
        try txn.scan(catalog) { key, value in
            let name = key.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            ids.append(try CollectionInfo.decode(value, name: name).id)
            return .next
        }
        for id in ids {
            let collection = CollectionID(rawValue: id)
            var docs: [DocumentRecord] = []
            try store.scanDocuments(of: collection, txn) { docs.append($0); return .next }
            for doc in docs {
                for chunk in doc.chunkIDs {
                    let own = try store.chunk(chunk, in: collection, txn)?.metadata ?? [:]
                    let m = MetadataIndex.effective(document: doc.metadata, chunk: own)
                    if !m.isEmpty { try index.update(chunk: chunk.rawValue, metadata: m, add: true, collection: id, txn) }
                }
            }
        }
    }

    /// The 3 → 4 step of an upgrade: n-gram segments of layout 1 cannot be read any more, so
    /// every collection with an n-gram index loses its segments and dead records and has each
    /// live chunk recorded pending (exact for queries at once; segments are rebuilt from there).
    static func resetNgramSegments(store: ChunkStore, catalog: Table, ngram: NgramStore, _ txn: borrowing WriteTransaction) throws {
        var ids: [UInt32] = []
        try txn.scan(catalog) { key, value in
            let name = key.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            let info = try CollectionInfo.decode(value, name: name)
            if info.settings.ngramIndex != nil { ids.append(info.id) }
            return .next
        }
        for id in ids {
            var live: [UInt64] = []
            try store.scanChunks(of: CollectionID(rawValue: id), txn) { live.append($0.id.rawValue); return .next }
            try ngram.replaceAll(with: nil, live: live.sorted(), collection: id, txn)
        }
    }

    /// Flushes everything committed to disk (`mdb_env_sync`): what a database opened with
    /// `.noMetaSync` or `.none` durability calls after a bulk load.
    ///
    /// - Complexity: one fsync of the data file.
    public func sync() throws(RAGDBError) {
        try rethrowingAsRAGDB { try env.sync() }
    }

    // MARK: Meta records

    /// The vector spaces of collection `name` as stored in the catalog in `txn`.
    func currentSpaces(of name: String, _ txn: borrowing some TransactionReading & ~Copyable) throws -> [StoredSpace] {
        guard let info = try txn.withValue(forKey: Array(name.utf8), in: catalog, { v in try CollectionInfo.decode(v, name: name) }) else {
            throw RAGDBError(.notFound, "collection \"\(name)\" was dropped")
        }
        return Collection(database: self, info: info).storedSpaces
    }

    func readMeta32(_ key: [UInt8], _ txn: borrowing some TransactionReading & ~Copyable) throws -> UInt32 {
        guard let v = try txn.value(forKey: key, in: meta), v.count == 4 else {
            throw RAGDBError(.corrupt, "meta record \"\(String(decoding: key, as: UTF8.self))\" is missing or not 4 bytes")
        }
        var r = ByteReader(v, context: "meta")
        return try r.readUInt32()
    }

    func readMeta64(_ key: [UInt8], _ txn: borrowing some TransactionReading & ~Copyable) throws -> UInt64 {
        guard let v = try txn.value(forKey: key, in: meta), v.count == 8 else {
            throw RAGDBError(.corrupt, "meta record \"\(String(decoding: key, as: UTF8.self))\" is missing or not 8 bytes")
        }
        var r = ByteReader(v, context: "meta")
        return try r.readUInt64()
    }

    func writeMeta64(_ value: UInt64, _ key: [UInt8], _ txn: borrowing WriteTransaction) throws {
        var w = ByteWriter(capacity: 8)
        w.write(value)
        try txn.put(w.bytes, forKey: key, in: meta)
    }
}

/// A collection's catalog record (Format.md §"collections"): framed JSON.
struct CollectionInfo: Codable, Sendable, Hashable {
    var id: UInt32
    var name: String
    var created: Int64
    var settings: CollectionSettings

    func encode() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try FramedValue.encode(Array(try encoder.encode(self)), policy: .whenItPays)
    }

    static func decode(_ value: RawSpan, name: String) throws -> CollectionInfo {
        let raw = try FramedValue.decode(value, context: "collection \"\(name)\"")
        do {
            return try JSONDecoder().decode(CollectionInfo.self, from: Data(raw))
        } catch {
            throw RAGDBError(.corrupt, "collection \"\(name)\": catalog record is not valid JSON of the expected shape")
        }
    }
}
