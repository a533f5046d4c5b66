import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Opened with `MDB_NOTLS`, so read transactions may run on any thread (Swift tasks hop threads).
/// Write transactions are serialized by LMDB's writer lock across threads and processes.
public final class Environment: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Map size at open; it doubles on demand up to `maxMapSize`.
        public var mapSize: Int
        public var maxMapSize: Int
        public var maxDatabases: UInt32
        public var maxReaders: UInt32
        public var readOnly: Bool
        /// Sync to disk at every commit (the default). Only throwaway environments turn it off.
        public var durable: Bool

        public init(
            mapSize: Int = 256 << 20,
            maxMapSize: Int = 64 << 30,
            maxDatabases: UInt32 = 128,
            maxReaders: UInt32 = 1024,
            readOnly: Bool = false,
            durable: Bool = true
        ) {
            self.mapSize = mapSize
            self.maxMapSize = max(maxMapSize, mapSize)
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.readOnly = readOnly
            self.durable = durable
        }
    }

    let handle: OpaquePointer
    public let path: String
    public let configuration: Configuration
    let gate = ReaderGate()
    /// Readers the previous owner left behind when it crashed, cleared at open.
    public let staleReadersCleared: Int32

    public init(path: String, configuration: Configuration = .init()) throws {
        self.path = path
        self.configuration = configuration
        if !configuration.readOnly {
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw LMDBError(code: errno, operation: "mkdir \(path)")
            }
        }
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, configuration.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, configuration.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, configuration.mapSize), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            if configuration.readOnly { flags |= UInt32(MDB_RDONLY) }
            if !configuration.durable { flags |= UInt32(MDB_NOSYNC) }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
        } catch {
            mdb_env_close(env)
            throw error
        }
        handle = env
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
        staleReadersCleared = dead
    }

    deinit { mdb_env_close(handle) }

    /// The current size of the map in bytes (another process may have grown it).
    public var mapSize: Int { info().mapSize }

    public struct Info: Sendable {
        public let mapSize: Int
        /// Bytes in use: (last page number + 1) × page size.
        public let usedBytes: Int
        public let pageSize: Int
        public let maxReaders: Int
        public let readersInUse: Int
    }

    public func info() -> Info {
        var info = MDB_envinfo()
        var stat = MDB_stat()
        mdb_env_info(handle, &info)
        mdb_env_stat(handle, &stat)
        return Info(
            mapSize: info.me_mapsize,
            usedBytes: (info.me_last_pgno + 1) * Int(stat.ms_psize),
            pageSize: Int(stat.ms_psize),
            maxReaders: Int(info.me_maxreaders),
            readersInUse: Int(info.me_numreaders)
        )
    }

    /// Opens (and in a writable environment creates) a named database. The handle stays valid for
    /// the environment's lifetime, but only transactions begun after this call can use it.
    public func openDatabase(_ name: String, create: Bool = true) throws -> Database {
        if configuration.readOnly || !create {
            // A handle opened in a read transaction survives only if that transaction commits.
            return try gate.withShared {
                try Transaction.committing(env: handle, parent: nil, flags: UInt32(MDB_RDONLY), "mdb_txn_begin(read)") {
                    try $0.openDatabase(name, create: false)
                }
            }
        }
        return try write { txn in try txn.openDatabase(name, create: true) }
    }

    /// Removes a database and everything in it.
    public func dropDatabase(_ db: Database) throws {
        try write { txn in try txn.drop(db) }
    }

    /// Runs `body` in a read transaction. Never waits for the writer.
    @inline(__always)
    public func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            let outcome: R? = try gate.withShared {
                var txn: OpaquePointer?
                let rc = mdb_txn_begin(handle, nil, UInt32(MDB_RDONLY), &txn)
                if rc == MDB_MAP_RESIZED { return nil }
                try check(rc, "mdb_txn_begin(read)")
                let transaction = Transaction(handle: try required(txn, "mdb_txn_begin(read)"), readOnly: true)
                defer { transaction.abort() }
                return try body(transaction)
            }
            if let outcome { return outcome }
            try adoptForeignMapSize()
        }
    }

    /// Runs `body` in a write transaction and commits it durably.
    ///
    /// When the map is full the transaction is aborted, the map doubles (up to `maxMapSize`)
    /// and `body` runs again from the start, so `body` must have no effects outside the transaction.
    public func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            do {
                return try gate.withShared {
                    try Transaction.committing(env: handle, parent: nil, flags: 0, "mdb_txn_begin(write)", body)
                }
            } catch let error as LMDBError where error.code == MDB_MAP_RESIZED {
                try adoptForeignMapSize()
            } catch let error as LMDBError where error.isMapFull {
                try grow(after: error)
            }
        }
    }

    private func grow(after error: LMDBError) throws {
        try gate.withExclusive {
            let current = info().mapSize
            guard current < configuration.maxMapSize else { throw error }
            let next = min(current * 2, configuration.maxMapSize)
            try check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize(\(next))")
        }
    }

    /// Another process grew the map: take its size before beginning a transaction again.
    private func adoptForeignMapSize() throws {
        try gate.withExclusive {
            try check(mdb_env_set_mapsize(handle, 0), "mdb_env_set_mapsize(0)")
        }
    }

    /// A consistent copy of the environment, safe while writers run; `compact` drops free pages.
    public func copy(to directory: String, compact: Bool = true) throws {
        try check(mdb_env_copy2(handle, directory, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2 \(directory)")
    }

    /// Flushes buffers to disk (only needed if durability flags were relaxed).
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }
}
