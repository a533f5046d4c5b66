import BinaryCodec
import Foundation
import LMDB
import Synchronization

/// Which generation of each view database is live. A rebuild folds into a new generation and
/// then, in one short write transaction, makes it live: LMDB's snapshots mean a query sees either
/// the old tables or the new ones, never a half-built view.
///
/// The live generations are a value in the views' meta table, read by every transaction, so a
/// server and a rebuild in another process agree on them.
final class ProjectionCatalog: Sendable {
    static func name(_ base: String, generation: UInt64) -> String {
        generation == 0 ? base : "\(base)@\(generation)"
    }

    /// `proj.users@3` → `proj.users`.
    static func baseName(_ name: String) -> String {
        String(name.split(separator: "@", maxSplits: 1).first ?? Substring(name))
    }

    static let generationsKey = Array("projection-generations".utf8)
    static let swapsKey = Array("projection-swaps".utf8)

    /// Opens a database by name, creating it when asked.
    typealias Opener = @Sendable (_ name: String, _ create: Bool) throws -> Database

    let meta: Database
    private let openDatabase: Opener
    private let opened = Mutex<[[UInt8]: ViewTables]>([:])
    /// The generations seen last and their databases: every transaction checks this first.
    private let current = Mutex<(raw: [UInt8]?, tables: ViewTables?)>((nil, nil))
    private let openLock = Mutex(())

    init(environment: Environment, meta: Database, openDatabase: @escaping Opener) throws {
        self.meta = meta
        self.openDatabase = openDatabase
        let live = try environment.read { txn in try txn.get(meta, Self.generationsKey).map(Generations.decode) } ?? Generations()
        _ = try open(live, create: true)
    }

    /// The live generation of each physical database; absent means 0.
    struct Generations: Equatable, Sendable {
        var values: [String: UInt64] = [:]

        subscript(base: String) -> UInt64 {
            get { values[base] ?? 0 }
            set { values[base] = newValue == 0 ? nil : newValue }
        }

        func encoded() -> [UInt8] {
            var w = BinaryWriter()
            let live = values.filter { $0.value != 0 }.sorted { $0.key < $1.key }
            w.write(varint: UInt64(live.count))
            for (name, gen) in live { w.write(string: name); w.write(varint: gen) }
            return w.bytes
        }

        static func decode(_ bytes: [UInt8]) throws -> Generations {
            try bytes.decode { r in
                var g = Generations()
                let n = try r.readVarUInt()
                for _ in 0..<n { g.values[try r.readString()] = try r.readVarUInt() }
                return g
            }
        }
    }

    struct NeedsHandles: Error {
        let generations: Generations
    }

    func generations(in txn: Transaction) throws -> Generations {
        try txn.get(meta, Self.generationsKey).map(Generations.decode) ?? Generations()
    }

    /// Makes `g` live, and counts it as one more swap.
    func setGenerations(_ g: Generations, in txn: Transaction) throws {
        try txn.put(meta, Self.generationsKey, g.encoded())
        try txn.put(meta, Self.swapsKey, withUnsafeBytes(of: (try swaps(in: txn) &+ 1).bigEndian) { Array($0) })
    }

    /// How many times live generations were set. The names alone do not tell a reader that keeps
    /// something derived from the tables (the best sellers' sums) that the rows may have changed
    /// without an event: two generations take turns, so after two rebuilds the names are back.
    func swaps(in txn: Transaction) throws -> UInt64 {
        try txn.get(meta, Self.swapsKey).map { bytes in bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } } ?? 0
    }

    /// The live databases for this transaction, or `NeedsHandles` when this process has not
    /// opened them yet (handles must be opened before the transaction that uses them begins).
    func resolve(in txn: Transaction) throws -> ViewTables {
        let last = current.withLock { $0 }
        // Hot path: the same generations as last time, compared in place without a copy.
        if let tables = last.tables {
            let same = try txn.withValue(meta, Self.generationsKey) { stored in last.raw.map { stored.elementsEqual($0) } ?? false } ?? (last.raw == nil)
            if same { return tables }
        }
        let stored = try txn.get(meta, Self.generationsKey)
        let raw = stored ?? Generations().encoded()
        if let hit = opened.withLock({ $0[raw] }) {
            current.withLock { $0 = (stored, hit) }
            return hit
        }
        throw NeedsHandles(generations: try Generations.decode(raw))
    }

    /// Opens (creating when asked) the databases of `generations` and remembers them.
    @discardableResult
    func open(_ generations: Generations, create: Bool) throws -> ViewTables {
        try openLock.withLock { _ in
            let tables = try ViewTables { base in try openDatabase(Self.name(base, generation: generations[base]), create) }
            opened.withLock { $0[generations.encoded()] = tables }
            return tables
        }
    }

    /// Drops cached handles of generations that are no longer live (their databases were dropped).
    func forget(_ generations: Generations) {
        opened.withLock { _ = $0.removeValue(forKey: generations.encoded()) }
        current.withLock { $0 = (nil, nil) }
    }
}
