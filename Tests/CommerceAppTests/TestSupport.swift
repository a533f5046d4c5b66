import Commerce
@testable import CommerceApp
import Foundation
import LMDB

/// A fresh directory under the system temp dir, removed when the value dies.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// 2026-11-25T00:00:00Z, a fixed start for manual clocks.
let testEpoch: Timestamp = ISO8601.parse("2026-11-25T00:00:00Z")!

func openLedger(
    _ dir: TemporaryDirectory, clock: ManualClock = ManualClock(testEpoch), rules: CommerceRules = .init(),
    mapSize: Int = 16 << 20, maxMapSize: Int = 1 << 30, durable: Bool = true, afterLogCommit: (@Sendable () throws -> Void)? = nil
) throws -> Ledger {
    var configuration = LedgerConfiguration(
        dataDirectory: dir.path, environment: .init(mapSize: mapSize, maxMapSize: maxMapSize, durable: durable), rules: rules)
    configuration.afterLogCommit = afterLogCommit
    return try Ledger(configuration: configuration, clock: clock)
}

extension Ledger {
    @discardableResult
    func registerProduct(_ name: String = "Mug", price: Int64 = 10_000, stock: Int64 = 100) throws -> ProductRecord {
        guard case let .product(p) = try execute(.registerProduct(name: name, price: price, stock: stock)).result else {
            throw TestFailure("not a product")
        }
        return p
    }

    @discardableResult
    func defineCoupon(
        _ name: String = "Welcome", discount: Discount = .fixed(amount: 3000), total: Int64 = 100,
        starts: Timestamp = testEpoch - Millis.day, ends: Timestamp = testEpoch + 30 * Millis.day, validity: CouponValidity = .days(7)
    ) throws -> CouponRecord {
        let d = CouponDefinition(name: name, discount: discount, totalQuantity: total, issueStartsAt: starts, issueEndsAt: ends, validity: validity)
        guard case let .coupon(c) = try execute(.defineCoupon(d)).result else { throw TestFailure("not a coupon") }
        return c
    }

    @discardableResult
    func charge(_ user: Int64, _ amount: Int64) throws -> Int64 {
        guard case let .pointsCharged(_, balance) = try execute(.chargePoints(userId: user, amount: amount)).result else {
            throw TestFailure("not a charge")
        }
        return balance
    }

    func allEvents() throws -> [(type: String, event: CommerceEvent, position: UInt64, timestamp: Timestamp)] {
        try events(after: 0, limit: .max).map { r in
            (r.type, try CommerceEvent.decode(type: r.type, schemaVersion: r.schemaVersion, payload: r.payload), r.position, r.timestamp)
        }
    }

    func eventCount() throws -> Int { try events(after: 0, limit: .max).count }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Runs `body` expecting a CommerceError with `code`.
func expectRejection(_ code: CommerceError.Code, _ body: () throws -> Any) -> Bool {
    do {
        _ = try body()
        return false
    } catch let error as CommerceError {
        return error.code == code
    } catch {
        return false
    }
}

/// A tiny tmpfs (`size` as mount takes it) mounted at `path` and filled to the last byte, for what
/// a full disk does. Nil (with the reason printed) where this machine cannot mount one.
final class FullFilesystem {
    let path: String

    init?(at path: String, size: String = "64k") {
        self.path = path
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path]) else {
            print("SKIPPED: cannot mount a tmpfs at \(path) (the test needs root with CAP_SYS_ADMIN)")
            return nil
        }
        fill()
    }

    /// Fills it, then frees `leaving` bytes (whole pages: a write bigger than that is cut short).
    func fill(leaving: UInt64 = 0) {
        FileManager.default.createFile(atPath: path + "/filler", contents: nil)
        guard let filler = try? FileHandle(forWritingTo: URL(fileURLWithPath: path + "/filler")) else { return }
        while (try? filler.write(contentsOf: Data(count: 4096))) != nil {}
        while (try? filler.write(contentsOf: Data(count: 1))) != nil {}
        if leaving > 0, let size = try? filler.offset() { try? filler.truncate(atOffset: size > leaving ? size - leaving : 0) }
        try? filler.close()
    }

    func makeRoom() { try? FileManager.default.removeItem(atPath: path + "/filler") }

    deinit { _ = Self.run("/bin/umount", ["-l", path]) }

    private static func run(_ program: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
