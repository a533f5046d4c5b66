import CLMDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Opened with `MDB_NOTLS`, so read transactions may run on any thread (Swift tasks hop threads).
/// Write transactions are serialized by LMDB's writer lock across threads and processes.
///
/// A process holds each environment open once (`open(path:configuration:)` hands out the handle
/// already open): LMDB's lock file relies on per-process POSIX locks, and a second open in the
/// same process, or its close, would silently break them.
public final class Environment: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Map size at open; it doubles on demand up to `maxMapSize`.
        public var mapSize: Int
        public var maxMapSize: Int
        public var maxDatabases: UInt32
        public var maxReaders: UInt32
        public var readOnly: Bool
        /// Sync to disk at every commit (the default). Environments whose contents can be rebuilt
        /// turn it off and call `sync()` when they choose.
        public var durable: Bool
        /// Write pages straight into the memory map (`MDB_WRITEMAP`): fewer copies and no write
        /// calls. The map's file is then allocated up front (`posix_fallocate`), so a full disk is
        /// an error when the map grows, never a `SIGBUS` when a page is touched. Every process
        /// opening the environment must use the same setting.
        public var writeMap: Bool

        public init(
            mapSize: Int = 256 << 20,
            maxMapSize: Int = 64 << 30,
            maxDatabases: UInt32 = 128,
            maxReaders: UInt32 = 1024,
            readOnly: Bool = false,
            durable: Bool = true,
            writeMap: Bool = false
        ) {
            self.mapSize = mapSize
            self.maxMapSize = max(maxMapSize, mapSize)
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.readOnly = readOnly
            self.durable = durable
            self.writeMap = writeMap
        }
    }

    let handle: OpaquePointer
    public let path: String
    public let configuration: Configuration
    let gate = ReaderGate()
    /// Readers the previous owner left behind when it crashed, cleared at open.
    public let staleReadersCleared: Int32

    /// The environment at `path`, opened now or already open in this process.
    public static func open(path: String, configuration: Configuration = .init()) throws -> Environment {
        if !configuration.readOnly, mkdir(path, 0o755) != 0, errno != EEXIST {
            throw LMDBError(code: errno, operation: "mkdir \(path)")
        }
        let key = canonicalPath(path)
        while true {
            let opened: Environment? = try openEnvironments.withLock { open in
                if let entry = open[key] {
                    // No handle: the last one is closing right now; open again once it is closed.
                    guard let existing = entry.environment else { return nil }
                    if existing.configuration.readOnly && !configuration.readOnly {
                        throw LMDBError(code: EBUSY, operation: "open \(path): already open read-only in this process")
                    }
                    return existing
                }
                let made = try Environment(path: path, key: key, configuration: configuration)
                open[key] = OpenEntry(environment: made, id: ObjectIdentifier(made))
                return made
            }
            if let opened { return opened }
            usleep(1_000)
        }
    }

    private struct OpenEntry {
        weak var environment: Environment?
        let id: ObjectIdentifier
    }
    private static let openEnvironments = Mutex<[String: OpenEntry]>([:])
    private let key: String

    private static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private init(path: String, key: String, configuration: Configuration) throws {
        self.path = path
        self.key = key
        self.configuration = configuration
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, configuration.maxDatabases), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, configuration.maxReaders), "mdb_env_set_maxreaders")
            // An existing environment keeps the map it has grown to (its file may already be as
            // large as the disk allows); the configured size is for a new one.
            var existing = stat()
            if stat(path + "/data.mdb", &existing) != 0 || existing.st_size == 0 {
                try check(mdb_env_set_mapsize(env, configuration.mapSize), "mdb_env_set_mapsize")
            }
            var flags = UInt32(MDB_NOTLS)
            if configuration.readOnly { flags |= UInt32(MDB_RDONLY) }
            if !configuration.durable { flags |= UInt32(MDB_NOSYNC) }
            if configuration.writeMap && !configuration.readOnly { flags |= UInt32(MDB_WRITEMAP) }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
            if configuration.writeMap && !configuration.readOnly { try Self.allocateMap(env, path: path) }
        } catch {
            mdb_env_close(env)
            throw error
        }
        handle = env
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
        staleReadersCleared = dead
    }

    /// With a writable map LMDB sizes the file to the map but leaves it sparse: reserve its blocks
    /// now, so that running out of disk is an error here rather than a signal on a page fault.
    private static func allocateMap(_ env: OpaquePointer, path: String) throws {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        let fd = Glibc.open(path + "/data.mdb", O_RDWR)
        guard fd >= 0 else { throw LMDBError(code: errno, operation: "open \(path)/data.mdb") }
        defer { close(fd) }
        let rc = posix_fallocate(fd, 0, off_t(info.me_mapsize))
        if rc != 0 { throw LMDBError(code: rc, operation: "posix_fallocate \(path)/data.mdb") }
    }

    deinit {
        mdb_env_close(handle)
        let id = ObjectIdentifier(self)
        Self.openEnvironments.withLock { open in
            if open[key]?.id == id { open[key] = nil }
        }
    }

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
            while true {
                do {
                    return try gate.withShared {
                        try Transaction.committing(env: handle, path: path, flags: UInt32(MDB_RDONLY), "mdb_txn_begin(read)") {
                            try $0.openDatabase(name, create: false)
                        }
                    }
                } catch is Transaction.MapResizedAtBegin {
                    try adoptForeignMapSize()
                }
            }
        }
        return try write { txn in try txn.openDatabase(name, create: true) }
    }

    /// Removes a database and everything in it.
    public func dropDatabase(_ db: Database) throws {
        try write { txn in try txn.drop(db) }
    }

    /// The id of the newest committed write transaction, by any process.
    public var lastTransactionId: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_last_txnid
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
                let transaction = Transaction(handle: try required(txn, "mdb_txn_begin(read)"), readOnly: true, environment: path)
                defer { transaction.abort() }
                return try body(transaction)
            }
            if let outcome { return outcome }
            try adoptForeignMapSize()
        }
    }

    /// Runs `body` in a write transaction and commits it (durably unless `durable` is off).
    ///
    /// When the map is full the transaction is aborted, the map doubles (up to `maxMapSize`)
    /// and `body` runs again from the start, so `body` must have no effects outside the transaction.
    public func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            do {
                return try writeOnce(body)
            } catch let error as LMDBError where error.isMapFull {
                try grow(after: error)
            }
        }
    }

    /// Runs `body` in one write transaction: commits when it returns, aborts when it throws, and
    /// never runs it twice. For callers that order commits across environments themselves; a full
    /// map is theirs to handle (`grow(after:)`, then run again).
    public func writeOnce<R>(_ body: (Transaction) throws -> R) throws -> R {
        while true {
            do {
                return try gate.withShared { try Transaction.committing(env: handle, path: path, flags: 0, "mdb_txn_begin(write)", body) }
            } catch is Transaction.MapResizedAtBegin {
                try adoptForeignMapSize()
            }
        }
    }

    /// Grows the map after `error`, a full map: doubles it (up to `maxMapSize`), or, where the disk
    /// has no room for that much of a written-through map, grows it by a half, a quarter, an eighth
    /// or a sixteenth (at least 1 MiB), so that writes go on as soon as a little room is made;
    /// rethrows `error` at the maximum, and a disk-full error when not even the least step fits.
    /// No transaction of this process may be open on the environment.
    public func grow(after error: LMDBError) throws {
        try gate.withExclusive {
            let current = info().mapSize
            guard current < configuration.maxMapSize else { throw error }
            var sizes: [Int] = []
            for shift in 0...4 {
                let step = max(current >> shift, 1 << 20)
                let next = min((current + step + (1 << 20) - 1) & ~((1 << 20) - 1), configuration.maxMapSize)
                if sizes.last != next { sizes.append(next) }
            }
            guard configuration.writeMap && !configuration.readOnly else {
                return try check(mdb_env_set_mapsize(handle, sizes[0]), "mdb_env_set_mapsize(\(sizes[0]))")
            }
            // Only sizes the disk has room for are tried: every try resizes the file, and shrinking
            // it back after a failure could cut short another process's map of it.
            let (allocated, free) = Self.space(of: path)
            var failure: any Error = LMDBError(code: ENOSPC, operation: "growing the map past \(current) bytes (\(free) bytes free on the disk)", environment: path)
            for next in sizes where next - allocated <= free {
                try check(mdb_env_set_mapsize(handle, next), "mdb_env_set_mapsize(\(next))")
                do {
                    try Self.allocateMap(handle, path: path)
                    return
                } catch {
                    // The disk filled meanwhile: keep the size that is backed, try less.
                    _ = mdb_env_set_mapsize(handle, current)
                    failure = error
                }
            }
            throw failure
        }
    }

    /// Bytes the data file has on disk, and bytes free on its filesystem (for this process: root
    /// may use the blocks reserved for it).
    private static func space(of path: String) -> (allocated: Int, free: Int) {
        var file = stat()
        var disk = statvfs()
        guard stat(path + "/data.mdb", &file) == 0, statvfs(path, &disk) == 0 else { return (0, .max) }
        let blocks = geteuid() == 0 ? disk.f_bfree : disk.f_bavail
        return (Int(file.st_blocks) * 512, Int(blocks) * Int(disk.f_frsize))
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

    /// Flushes everything committed so far to disk (only needed when `durable` is off). Takes no
    /// lock: writers go on meanwhile, and what they commit later is not covered.
    public func sync() throws {
        try check(mdb_env_sync(handle, 1), "mdb_env_sync")
    }
}

extension Environment {
    /// What the header of an environment's data file promises, read without opening it.
    public enum FileCheck: Equatable, Sendable {
        case missing
        /// The newest meta page's last page fits in the file.
        case complete
        /// The file ends before the newest meta page's last page: it was cut short.
        case truncated(fileBytes: Int, neededBytes: Int)
        /// No valid meta page: not an LMDB file, or its first pages are damaged.
        case unreadable
    }

    /// Reads the two meta pages of `directory/data.mdb` (LMDB's on-disk format, version 1) and
    /// checks that the file holds every page the newest one names. Cheap, and safe where opening
    /// would not be: LMDB aborts the process on some damaged pages.
    public static func checkFile(in directory: String) -> FileCheck {
        let path = directory + "/data.mdb"
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { return errno == ENOENT ? .missing : .unreadable }
        defer { close(fd) }
        // Meta pages sit at the start of page 0 and page 1; the page size is in the first. They
        // are read before the file's size: a writer commits data pages before the meta page that
        // names them, so a size read afterwards covers what the meta page read first promises.
        func meta(at offset: Int) -> (pageSize: Int, lastPage: UInt64, txnid: UInt64)? {
            var raw = [UInt8](repeating: 0, count: 152)
            guard pread(fd, &raw, raw.count, off_t(offset)) == raw.count else { return nil }
            func u32(_ i: Int) -> UInt32 { raw[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            func u64(_ i: Int) -> UInt64 { raw[i..<i + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
            guard u32(16) == 0xBEEF_C0DE else { return nil }
            return (Int(u32(40)), u64(136), u64(144))
        }
        guard let first = meta(at: 0), (512...65_536).contains(first.pageSize) else { return .unreadable }
        let second = meta(at: first.pageSize)
        let newest = second.map { $0.txnid > first.txnid ? $0 : first } ?? first
        let needed = (Int(clamping: newest.lastPage) + 1) * first.pageSize
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .unreadable }
        return Int(st.st_size) >= needed ? .complete : .truncated(fileBytes: Int(st.st_size), neededBytes: needed)
    }
}
