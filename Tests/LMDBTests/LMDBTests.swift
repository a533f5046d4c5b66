import Foundation
import LMDB
import Testing

final class TempDir: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("lmdb-test-\(UUID().uuidString)").path
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct LMDBTests {
    @Test func putGetDeleteAndCount() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in
            try txn.put(db, bytes("b"), bytes("2"))
            try txn.put(db, bytes("a"), bytes("1"))
        }
        #expect(try env.read { try $0.get(db, bytes("a")) } == bytes("1"))
        #expect(try env.read { try $0.get(db, bytes("zz")) } == nil)
        #expect(try env.read { try $0.count(db) } == 2)
        #expect(try env.write { try $0.delete(db, bytes("a")) })
        #expect(try !env.write { try $0.delete(db, bytes("a")) })
        #expect(try env.read { try $0.count(db) } == 1)
    }

    @Test func noOverwriteReportsKeyExistsWithLMDBsMessage() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { try $0.put(db, bytes("k"), bytes("v")) }
        do {
            try env.write { try $0.put(db, bytes("k"), bytes("w"), flags: .noOverwrite) }
            Issue.record("expected MDB_KEYEXIST")
        } catch let error as LMDBError {
            #expect(error.isKeyExists)
            #expect(error.message.contains("MDB_KEYEXIST"))
            #expect(error.description.contains("mdb_put t"))
        }
        #expect(try env.read { try $0.get(db, bytes("k")) } == bytes("v"))
    }

    @Test func aThrowingWriteLeavesNothingBehind() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(db, bytes("k"), bytes("v"))
                throw Boom()
            }
        }
        #expect(try env.read { try $0.get(db, bytes("k")) } == nil)
    }

    @Test func cursorsWalkInKeyOrderBothWays() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in for k: UInt64 in [5, 1, 300, 42] { try txn.put(db, withUnsafeBytes(of: k.bigEndian, Array.init), []) } }
        let keys: [UInt64] = try env.read { txn in
            let c = try txn.cursor(db)
            var out: [UInt64] = []
            var e = try c.first()
            while let entry = e { out.append(entry.key.reduce(0) { $0 << 8 | UInt64($1) }); e = try c.next() }
            return out
        }
        #expect(keys == [1, 5, 42, 300])
        let before: UInt64? = try env.read { txn in
            try txn.cursor(db).seek(before: withUnsafeBytes(of: UInt64(42).bigEndian, Array.init)).map { $0.key.reduce(0) { $0 << 8 | UInt64($1) } }
        }
        #expect(before == 5)
        let atOrBefore: UInt64? = try env.read { txn in
            try txn.cursor(db).seek(atOrBefore: withUnsafeBytes(of: UInt64(41).bigEndian, Array.init)).map { $0.key.reduce(0) { $0 << 8 | UInt64($1) } }
        }
        #expect(atOrBefore == 5)
    }

    @Test func aTransactionOrCursorUsedAfterItsClosureThrowsInsteadOfCrashing() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { try $0.put(db, bytes("k"), bytes("v")) }
        // Both kinds of transaction, and a cursor of each: LMDB frees a write transaction's
        // cursors at commit and leaves a read transaction's to their owner.
        let (escapedWrite, writeCursor) = try env.write { txn in (txn, try txn.cursor(db)) }
        let (escapedRead, readCursor) = try env.read { txn in (txn, try txn.cursor(db)) }
        for txn in [escapedWrite, escapedRead] {
            #expect(throws: LMDBError.transactionEnded) { try txn.get(db, bytes("k")) }
            #expect(throws: LMDBError.transactionEnded) { try txn.put(db, bytes("k"), bytes("w")) }
            #expect(throws: LMDBError.transactionEnded) { try txn.cursor(db) }
        }
        for cursor in [writeCursor, readCursor] {
            #expect(throws: LMDBError.transactionEnded) { try cursor.first() }
        }
        #expect(try env.read { try $0.get(db, bytes("k")) } == bytes("v"))
    }

    @Test func anEnvironmentIsOpenOncePerProcess() throws {
        let dir = TempDir()
        let first = try Environment.open(path: dir.path)
        let second = try Environment.open(path: dir.path + "/.")
        #expect(first === second)
        let readOnly = TempDir()
        _ = try Environment.open(path: readOnly.path)  // create it, then let it close
        let ro = try Environment.open(path: readOnly.path, configuration: .init(readOnly: true))
        #expect(throws: LMDBError.self) { try Environment.open(path: readOnly.path) }
        withExtendedLifetime(ro) {}
    }

    @Test func aWritableMapIsAllocatedUpFrontAndGrows() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path, configuration: .init(mapSize: 256 << 10, maxMapSize: 64 << 20, durable: false, writeMap: true))
        var st = stat()
        #expect(stat(dir.path + "/data.mdb", &st) == 0 && Int(st.st_blocks) * 512 >= 256 << 10)
        let db = try env.openDatabase("t")
        let before = env.lastTransactionId
        try env.write { txn in for i in 0..<2_000 { try txn.put(db, bytes("k\(i)"), [UInt8](repeating: 3, count: 500)) } }
        #expect(env.lastTransactionId > before)
        #expect(env.mapSize > 256 << 10)
        #expect(stat(dir.path + "/data.mdb", &st) == 0 && Int(st.st_blocks) * 512 >= env.mapSize)
        try env.sync()
        #expect(try env.read { try $0.count(db) } == 2_000)
    }

    @Test func aFailedWriteNamesItsEnvironment() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path, configuration: .init(mapSize: 64 << 10, maxMapSize: 64 << 10))
        let db = try env.openDatabase("t")
        do {
            try env.writeOnce { txn in for i in 0..<2_000 { try txn.put(db, bytes("k\(i)"), [UInt8](repeating: 1, count: 1000)) } }
            Issue.record("expected MDB_MAP_FULL")
        } catch let error as LMDBError {
            #expect(error.isMapFull && error.environment == dir.path)
        }
    }

    @Test func aFullMapGrowsAndTheWriteIsRetried() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path, configuration: .init(mapSize: 64 << 10, maxMapSize: 64 << 20))
        let db = try env.openDatabase("t")
        let value = [UInt8](repeating: 7, count: 1000)
        var attempts = 0
        try env.write { txn in
            attempts += 1
            for i in 0..<2_000 { try txn.put(db, bytes("k\(i)"), value) }
        }
        #expect(attempts > 1)
        #expect(env.mapSize > 64 << 10)
        #expect(try env.read { try $0.count(db) } == 2_000)
    }

    @Test func aMapAtItsMaximumRefusesWithMapFull() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path, configuration: .init(mapSize: 64 << 10, maxMapSize: 128 << 10))
        let db = try env.openDatabase("t")
        do {
            try env.write { txn in for i in 0..<2_000 { try txn.put(db, bytes("k\(i)"), [UInt8](repeating: 1, count: 1000)) } }
            Issue.record("expected MDB_MAP_FULL")
        } catch let error as LMDBError {
            #expect(error.isMapFull)
        }
        // Still usable afterwards.
        try env.write { try $0.put(db, bytes("small"), bytes("ok")) }
        #expect(try env.read { try $0.get(db, bytes("small")) } == bytes("ok"))
    }

    @Test func readersOnOtherThreadsSeeCommittedData() async throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { try $0.put(db, bytes("k"), bytes("v")) }
        let seen = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<32 { group.addTask { try env.read { try $0.get(db, bytes("k")) } == bytes("v") } }
            return try await group.reduce(true) { $0 && $1 }
        }
        #expect(seen)
    }

    @Test func openingAMissingDirectoryReadOnlyFailsWithAMessage() {
        do {
            _ = try Environment.open(path: "/nonexistent/ledger", configuration: .init(readOnly: true))
            Issue.record("expected an error")
        } catch let error as LMDBError {
            #expect(error.description.contains("/nonexistent/ledger"))
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func copyMakesAnOpenableCompactedBackup() throws {
        let dir = TempDir()
        let backup = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in for i in 0..<100 { try txn.put(db, bytes("k\(i)"), bytes("v\(i)")) } }
        try FileManager.default.createDirectory(atPath: backup.path, withIntermediateDirectories: true)
        try env.copy(to: backup.path)
        let copy = try Environment.open(path: backup.path)
        let copied = try copy.openDatabase("t")
        #expect(try copy.read { try $0.count(copied) } == 100)
    }
}
