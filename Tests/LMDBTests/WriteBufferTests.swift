import Foundation
import LMDB
import SeededRandom
import Testing

/// The write buffer against real LMDB: what it answers, what it writes, and how.
@Suite struct WriteBufferTests {
    func rows(_ env: Environment, _ db: Database) throws -> [[UInt8]: [UInt8]] {
        try env.read { txn in
            var out: [[UInt8]: [UInt8]] = [:]
            let cursor = try txn.cursor(db)
            var entry = try cursor.first()
            while let e = entry {
                out[Array(e.key)] = Array(e.value)
                entry = try cursor.next()
            }
            return out
        }
    }

    func keys(_ env: Environment, _ db: Database) throws -> [[UInt8]] {
        try env.read { txn in
            var out: [[UInt8]] = []
            let cursor = try txn.cursor(db)
            var entry = try cursor.first()
            while let e = entry {
                out.append(Array(e.key))
                entry = try cursor.next()
            }
            return out
        }
    }

    @Test func aPutIsReadBackFromTheBufferAndReachesLMDBOnlyAtTheFlush() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in
            try txn.put(db, bytes("old"), bytes("1"))
            let buffer = WriteBuffer(over: txn)
            try buffer.put(db, bytes("new"), bytes("2"))
            #expect(try buffer.get(db, bytes("new")) == bytes("2"))
            #expect(try buffer.get(db, bytes("old")) == bytes("1"))  // from the transaction
            #expect(try buffer.get(db, bytes("none")) == nil)
            #expect(try txn.get(db, bytes("new")) == nil)
            #expect(buffer.count == 1)
            let flushed = try buffer.flush()
            #expect(flushed.rows == 1 && flushed.isDone)
            #expect(buffer.count == 0)
            #expect(try txn.get(db, bytes("new")) == bytes("2"))
        }
        #expect(try rows(env, db) == [bytes("old"): bytes("1"), bytes("new"): bytes("2")])
    }

    @Test func aDeleteHidesTheKeyAndRemovesItAtTheFlush() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in for k in ["a", "b", "c"] { try txn.put(db, bytes(k), bytes(k)) } }
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            #expect(try buffer.delete(db, bytes("b")))
            #expect(try !buffer.delete(db, bytes("b")))  // already gone, in the buffer
            #expect(try !buffer.delete(db, bytes("zz")))  // never there
            #expect(try buffer.get(db, bytes("b")) == nil)
            try buffer.put(db, bytes("n"), bytes("new"))
            #expect(try buffer.delete(db, bytes("n")))  // a pending put, removed again
            #expect(try buffer.get(db, bytes("n")) == nil)
            try buffer.flush()
        }
        #expect(try rows(env, db) == [bytes("a"): bytes("a"), bytes("c"): bytes("c")])
    }

    @Test func theLastWriteToAKeyWins() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            try buffer.put(db, bytes("k"), bytes("a"))
            try buffer.put(db, bytes("k"), bytes("longer value"))  // larger: moves
            #expect(try buffer.get(db, bytes("k")) == bytes("longer value"))
            try buffer.put(db, bytes("k"), bytes("c"))  // smaller: in place
            try buffer.put(db, bytes("e"), [])
            try buffer.delete(db, bytes("e"))
            try buffer.put(db, bytes("e"), bytes("back"))  // a removed key written again
            #expect(try buffer.get(db, bytes("k")) == bytes("c"))
            #expect(try buffer.flush().rows == 2)
        }
        #expect(try rows(env, db) == [bytes("k"): bytes("c"), bytes("e"): bytes("back")])
    }

    /// A database that is only written keeps every write until the flush, which writes the last.
    @Test func theLastWriteWinsInADatabaseNeverRead() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in try txn.put(db, bytes("gone"), bytes("old")) }
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            for round in 0..<3 {
                for k in ["x", "y", "gone"] { try buffer.put(db, bytes(k), bytes("\(k)\(round)")) }
            }
            try buffer.put(db, bytes("y"), bytes("a much longer value than before"))
            #expect(buffer.count == 10)
            #expect(try buffer.flush().rows == 3)
        }
        #expect(try rows(env, db) == [bytes("x"): bytes("x2"), bytes("y"): bytes("a much longer value than before"), bytes("gone"): bytes("gone2")])
    }

    /// Keys that a comparison of 8-byte prefixes alone would misorder: shorter keys, equal
    /// prefixes, zero bytes, high bytes. Appending them to an empty table fails unless the
    /// buffer's order is exactly LMDB's.
    @Test func rowsAreWrittenInLMDBsKeyOrderAndAppendedToAnEmptyTable() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        var rng = SystemRandomNumberGenerator()
        var keys: Set<[UInt8]> = [[0], [0, 0], [1], [0xFF], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]]
        keys.insert(Array("abcdefgh".utf8))
        keys.insert(Array("abcdefgh".utf8) + [0])
        keys.insert(Array("abcdefg".utf8))
        keys.insert(Array("abcdefghi".utf8))
        keys.insert(Array("abcdefgha".utf8))
        // Long keys equal in their first 23 bytes, which the sort compares in full.
        let long = Array(repeating: UInt8(7), count: 23)
        for tail in [[0], [0, 0], [1], [0xFF], [1, 2, 3], [0, 1], Array(repeating: 9, count: 100)] as [[UInt8]] { keys.insert(long + tail) }
        keys.insert(long)
        keys.insert(Array(long.prefix(22)))
        while keys.count < 5_000 {
            let length = Int.random(in: 1...40, using: &rng)
            // Few distinct first bytes: many keys share their 8-byte prefix.
            keys.insert((0..<length).map { i in i < 6 ? UInt8.random(in: 0...2, using: &rng) : UInt8.random(in: 0...255, using: &rng) })
        }
        let written = try env.write { txn -> WriteBuffer.Progress in
            let buffer = WriteBuffer(over: txn)
            for key in keys.shuffled() { try buffer.put(db, key, key.reversed()) }
            return try buffer.flush()
        }
        #expect(written.rows == keys.count)
        #expect(written.appended == keys.count)
        let stored = try self.keys(env, db)
        #expect(stored == keys.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(try rows(env, db).allSatisfy { $0.value == $0.key.reversed() })
    }

    /// Enough rows, over several blocks, for the sort to split its work between two threads;
    /// every key written twice, the second time with a value too large to fit the first row.
    @Test func manyRowsAreSortedAcrossThreadsAndTheLastWriteWins() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path, configuration: .init(mapSize: 64 << 20, durable: false))
        let db = try env.openDatabase("t")
        var rng = SplitMix64(seed: 11)
        let keys = (0..<150_000).map { _ in withUnsafeBytes(of: rng.next().bigEndian, Array.init) + [0x80] + withUnsafeBytes(of: rng.next() % 3, Array.init) }
        let written = try env.write { txn -> WriteBuffer.Progress in
            let buffer = WriteBuffer(over: txn)
            for key in keys { try buffer.put(db, key, [1]) }
            for key in keys { try buffer.put(db, key, key) }
            #expect(buffer.count == 300_000)
            return try buffer.flush()
        }
        #expect(written.rows == Set(keys).count && written.appended == written.rows)
        #expect(try self.keys(env, db) == Set(keys).sorted { $0.lexicographicallyPrecedes($1) })
        #expect(try rows(env, db).allSatisfy { $0.key == $0.value })
    }

    @Test func keysPastTheLastStoredKeyAreAppendedAndTheRestPut() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in for k in ["b", "d", "f"] { try txn.put(db, bytes(k), bytes("old")) } }
        let written = try env.write { txn -> WriteBuffer.Progress in
            let buffer = WriteBuffer(over: txn)
            try buffer.put(db, bytes("a"), bytes("new"))  // before everything
            try buffer.put(db, bytes("d"), bytes("new"))  // replaces
            try buffer.delete(db, bytes("b"))  // removes
            try buffer.put(db, bytes("e"), bytes("new"))  // between
            try buffer.put(db, bytes("g"), bytes("new"))  // past the last key: appended
            try buffer.put(db, bytes("h"), bytes("new"))
            try buffer.delete(db, bytes("z"))  // past the last key: nothing to remove
            return try buffer.flush()
        }
        #expect(written.rows == 7)
        #expect(written.appended == 2)
        #expect(try rows(env, db) == [
            bytes("a"): bytes("new"), bytes("d"): bytes("new"), bytes("e"): bytes("new"),
            bytes("f"): bytes("old"), bytes("g"): bytes("new"), bytes("h"): bytes("new"),
        ])
    }

    @Test func eachDatabaseGetsItsOwnRows() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let one = try env.openDatabase("one")
        let two = try env.openDatabase("two")
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            try buffer.put(one, bytes("k"), bytes("1"))
            try buffer.put(two, bytes("k"), bytes("2"))
            #expect(try buffer.get(one, bytes("k")) == bytes("1"))
            #expect(try buffer.get(two, bytes("k")) == bytes("2"))
            try buffer.flush()
        }
        #expect(try rows(env, one) == [bytes("k"): bytes("1")])
        #expect(try rows(env, two) == [bytes("k"): bytes("2")])
    }

    /// Rows folded against a snapshot, written in slices over several write transactions, one of
    /// which aborts: nothing is lost or written twice, and the appends carry on across slices.
    @Test func rowsWrittenInSlicesResumeWhereTheLastCommittedSliceStopped() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let a = try env.openDatabase("a")
        let b = try env.openDatabase("b")
        let keys = (0..<3_000).map { (i: UInt64) in withUnsafeBytes(of: (i &* 2_654_435_761 % 1_000_003).bigEndian, Array.init) }
        let buffer = try env.read { txn in
            let buffer = WriteBuffer(over: txn)
            for key in keys {
                try buffer.put(a, key, bytes("a"))
                try buffer.put(b, key, bytes("b"))
            }
            return buffer
        }
        struct Crash: Error {}
        var progress = WriteBuffer.Progress.start
        var slices = 0
        var aborted = false
        while !progress.isDone {
            let from = progress
            do {
                progress = try env.write { txn in
                    var budget = 3
                    let next = try buffer.write(into: txn, from: from) { budget -= 1; return budget > 0 }
                    if slices == 2 && !aborted {
                        aborted = true
                        throw Crash()
                    }
                    return next
                }
                slices += 1
            } catch is Crash {}
        }
        #expect(slices > 4)
        #expect(progress.rows == 6_000 && progress.appended == 6_000)
        #expect(buffer.count == 6_000)  // still pending: `write` keeps them
        #expect(try env.read { try $0.count(a) } == 3_000)
        #expect(try self.keys(env, b) == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func aCursorThroughTheBufferSeesItsRows() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            try buffer.put(db, bytes("k"), bytes("v"))
            let entry = try buffer.transactionForCursors().cursor(db).first()
            #expect(entry.map { Array($0.key) } == bytes("k"))
            #expect(buffer.count == 0)
        }
    }

    @Test func keysLMDBWouldRefuseAreRefusedAtOnce() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let db = try env.openDatabase("t")
        try env.write { txn in
            let buffer = WriteBuffer(over: txn)
            #expect(throws: LMDBError.self) { try buffer.put(db, [], bytes("v")) }
            #expect(throws: LMDBError.self) { try buffer.put(db, Array(repeating: 1, count: 512), bytes("v")) }
            try buffer.put(db, Array(repeating: 1, count: 511), bytes("v"))
            try buffer.flush()
        }
        #expect(try env.read { try $0.count(db) } == 1)
    }

    /// The same random puts and deletes, straight into one database and through a buffer into
    /// another (flushed now and then, as a long fold would be): the databases end up equal.
    @Test func aBufferedFoldEqualsTheSameWritesMadeDirectly() throws {
        let dir = TempDir()
        let env = try Environment.open(path: dir.path)
        let direct = try env.openDatabase("direct")
        let buffered = try env.openDatabase("buffered")
        var rng = SplitMix64(seed: 7)
        for _ in 0..<4 {
            try env.write { txn in
                let buffer = WriteBuffer(over: txn)
                for step in 0..<20_000 {
                    let key = withUnsafeBytes(of: (rng.next() % 5_000).bigEndian, Array.init) + (rng.next() % 3 == 0 ? [0x80] : [])
                    switch rng.next() % 10 {
                    case 0..<2:
                        let a = try txn.delete(direct, key)
                        let b = try buffer.delete(buffered, key)
                        #expect(a == b)
                    case 2..<5:
                        #expect(try txn.get(direct, key) == buffer.get(buffered, key))
                    default:
                        let value = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                        try txn.put(direct, key, value)
                        try buffer.put(buffered, key, value)
                    }
                    if step % 7_000 == 6_999 { try buffer.flush() }
                }
                try buffer.flush()
            }
        }
        #expect(try rows(env, direct) == rows(env, buffered))
        #expect(try env.read { try $0.count(direct) } > 1_000)
    }
}

