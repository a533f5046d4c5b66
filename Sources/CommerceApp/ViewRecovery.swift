import BinaryCodec
import EventLog
import Foundation
import LMDB

/// What opening a ledger found and did to its views.
public enum ViewRecovery: Sendable, Equatable, CustomStringConvertible {
    /// The views were at the log's head.
    case current
    /// The views were behind the log (a crash between the log's commit and theirs, or a process
    /// that only appended) and the gap was folded in.
    case caughtUp(events: Int)
    /// The views could not be trusted, or did not exist, and were folded anew from the whole log.
    case rebuilt(reason: String, events: Int)
    /// Opened read-only behind the log; served as they are.
    case behind(events: UInt64)

    public var description: String {
        switch self {
        case .current: return "views at the log's head"
        case let .caughtUp(n): return "views caught up by folding \(n) events"
        case let .rebuilt(reason, n): return "views rebuilt from \(n) events because \(reason)"
        case let .behind(n): return "views \(n) events behind the log (read-only)"
        }
    }
}

/// Opens the views of a ledger and makes them fit to serve: the checks and folds of recovery.
struct ViewOpening {
    let configuration: LedgerConfiguration
    let log: EventLog
    let marker: UnsyncedViewsMarker
    let fold: ViewFold

    var path: String { configuration.viewsPath }

    /// Under the exclusive views lock: views that cannot be trusted are deleted and folded anew;
    /// views behind the log are caught up.
    func openAlone() throws -> (ViewStore, ViewRecovery) {
        let reason: String
        switch openTrusted() {
        case let .trusted(store): return (store, try catchUp(store, rebuilding: nil))
        case let .distrusted(why): reason = why
        }
        // A new ledger has no views to rebuild: they are simply made.
        let isNew = try Environment.checkFile(in: path) == .missing && log.head() == 0
        // The store opened to check them is released by now, so their files can go.
        for file in ["data.mdb", "lock.mdb"] { try? FileManager.default.removeItem(atPath: path + "/" + file) }
        marker.remove()
        let store = try ViewStore(environment: Environment.open(path: path, configuration: configuration.viewsEnvironment), marker: marker)
        return (store, try catchUp(store, rebuilding: isNew ? nil : reason))
    }

    private enum Verdict {
        case trusted(ViewStore)
        case distrusted(String)
    }

    /// Opens the views if nothing speaks against them; any failure to open or read them is a
    /// reason to fold them anew, never a reason to serve.
    private func openTrusted() -> Verdict {
        if let reason = distrustBeforeOpening() { return .distrusted(reason) }
        do {
            let store = try ViewStore(environment: Environment.open(path: path, configuration: configuration.viewsEnvironment), marker: marker)
            if let reason = try distrust(store) { return .distrusted(reason) }
            return .trusted(store)
        } catch {
            return .distrusted("they cannot be read (\(error))")
        }
    }

    /// While another process has the views open it has checked them: only a log replaced under it
    /// is refused, and a gap left by a crash is folded in.
    func openShared() throws -> (ViewStore, ViewRecovery) {
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else {
            throw LedgerError.unusable("\(configuration.dataDirectory) has no views yet; open it once without --read-only to build them")
        }
        let store = try ViewStore(environment: Environment.open(path: path, configuration: configuration.viewsEnvironment), marker: marker)
        if let reason = try distrust(store) {
            throw LedgerError.unusable("the views in \(path) need a rebuild because \(reason); stop every process using \(configuration.dataDirectory) and open it again")
        }
        if configuration.readOnly {
            let (views, head) = try positions(store)
            return (store, views.position < head ? .behind(events: head - views.position) : .current)
        }
        return (store, try catchUp(store, rebuilding: nil))
    }

    /// Reasons found without opening the views (an open of torn views is not safe to attempt).
    func distrustBeforeOpening() -> String? {
        switch Environment.checkFile(in: path) {
        case .missing: return "there were none"
        case let .truncated(bytes, needed): return "their file was cut short (\(bytes) of \(needed) bytes)"
        case .unreadable: return "their file is not a readable LMDB environment"
        case .complete: break
        }
        if marker.viewsMayBeTorn {
            return "the machine restarted (boot \(marker.recordedBoot() ?? "?") → \(UnsyncedViewsMarker.currentBoot)) while they held writes that were never synced"
        }
        return nil
    }

    /// Reasons found in the views themselves.
    func distrust(_ store: ViewStore) throws -> String? {
        let (identity, signature) = try store.environment.read { (try store.logIdentity(in: $0), try store.signature(in: $0)) }
        if let identity, identity != log.identity { return "they were folded from another log" }
        let (views, head) = try positions(store)
        if signature != fold.signature, signature != nil || views.position > 0 {
            return "they were folded as \(signature.map { "\"\($0)\"" } ?? "an earlier build did"), and this ledger folds \"\(fold.signature)\""
        }
        if views.position > head { return "they are ahead of the log (at \(views.position), the log ends at \(head))" }
        if views.position > 0 {
            let checksum = try log.environment.read { try log.checksum(at: views.position, in: $0) }
            if checksum != views.checksum { return "the log's record at their position \(views.position) is not the one they folded" }
        }
        return nil
    }

    private func positions(_ store: ViewStore) throws -> (ViewStore.Position, UInt64) {
        (try store.environment.read { try store.position(in: $0) }, try log.head())
    }

    /// Folds the log into the views from their position to the head.
    func catchUp(_ store: ViewStore, rebuilding reason: String?) throws -> ViewRecovery {
        let progress = configuration.recoveryProgress
        let folded = try store.catchUp(with: log, fold: fold) { done, head in progress?(done, head) }
        if folded > 0 { try store.checkpoint() }
        if let reason { return .rebuilt(reason: reason, events: folded) }
        return folded > 0 ? .caughtUp(events: folded) : .current
    }
}

/// An advisory lock on `views.lock`: shared while a process has the views open, exclusive while
/// one decides whether they can be trusted and replaces them.
final class ViewsLock: Sendable {
    private let fd: Int32

    init(path: String, readOnly: Bool) throws {
        var fd = open(path, readOnly ? O_RDONLY : (O_RDWR | O_CREAT), 0o644)
        // A read-only copy may lack the file (a snapshot on read-only media): serve unlocked.
        if fd < 0 && readOnly { fd = -1 } else if fd < 0 {
            throw LedgerError.storeFailure("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    deinit { if fd >= 0 { close(fd) } }

    func tryExclusive() -> Bool {
        fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    /// Takes (or turns an exclusive lock into) a shared one, waiting for a process that holds
    /// it exclusively (e.g. while it rebuilds the views).
    func shared() throws {
        guard fd >= 0 else { return }
        while flock(fd, LOCK_SH) != 0 {
            if errno != EINTR { throw LedgerError.storeFailure("cannot lock the views: \(String(cString: strerror(errno)))") }
        }
    }
}
