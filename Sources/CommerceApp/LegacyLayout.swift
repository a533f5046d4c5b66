import EventLog
import Foundation
import LMDB

/// Data directories written before the log and the views were split kept both in one environment
/// (`data.mdb` at the top). Opening one moves its log into `log/` (records copied as they are)
/// and keeps the old files beside it, renamed; the views are then folded anew from the log.
enum LegacyLayout {
    static func migrate(_ directory: String, logConfiguration: Environment.Configuration) throws {
        let old = directory + "/data.mdb"
        let fm = FileManager.default
        guard fm.fileExists(atPath: old), !fm.fileExists(atPath: directory + "/log/data.mdb") else { return }
        do {
            let staging = directory + "/log.migrating"
            try? fm.removeItem(atPath: staging)
            do {
                let source = try Environment.open(path: directory, configuration: .init(mapSize: logConfiguration.mapSize, maxMapSize: logConfiguration.maxMapSize, readOnly: true))
                let events = try source.openDatabase("log.events", create: false)
                let target = try Environment.open(path: staging, configuration: logConfiguration)
                var importer = try EventLog.Importer(log: try EventLog(environment: target))
                var after: UInt64 = 0
                while true {
                    let page = try source.read { try readRecords(events, after: after, limit: 50_000, in: $0) }
                    guard let last = page.last else { break }
                    try importer.append(page)
                    after = last.position
                }
            }
            try fm.moveItem(atPath: staging, toPath: directory + "/log")
            try fm.moveItem(atPath: old, toPath: old + ".pre-split")
            if fm.fileExists(atPath: directory + "/lock.mdb") { try fm.moveItem(atPath: directory + "/lock.mdb", toPath: directory + "/lock.mdb.pre-split") }
        } catch {
            throw LedgerError.unusable("\(directory) holds a ledger in the single-environment layout and moving its log to \(directory)/log failed: \(error)")
        }
    }

    /// Records of the old `log.events` table, decoded as the log decodes its own.
    private static func readRecords(_ events: Database, after: UInt64, limit: Int, in txn: Transaction) throws -> [EventRecord] {
        try EventLog.records(in: events, after: after, limit: limit, txn: txn)
    }
}
