import Commerce
import Foundation
import LMDB

/// Commands decided on the calling thread (CLI, tools, benchmarks): the same group commit the
/// writer thread does, without its queue.
extension Ledger {
    /// Decides one command in its own group commit.
    public func execute(_ command: CommerceCommand, idempotencyKey: String? = nil) throws -> CommandOutcome {
        let job = WriterJob(.command(command, idempotencyKey: idempotencyKey))
        try executeMapped([job])
        switch try job.outcome?.get() {
        case let .command(outcome)?: return outcome
        default: throw LedgerError.storeFailure("no outcome")
        }
    }

    /// Decides many commands in one group commit.
    public func execute(batch commands: [CommerceCommand]) throws -> [Result<CommandOutcome, Error>] {
        let jobs = commands.map { WriterJob(.command($0, idempotencyKey: nil)) }
        try executeMapped(jobs)
        return jobs.map { job in
            switch job.outcome {
            case let .success(.command(outcome))?: return .success(outcome)
            case let .failure(error)?: return .failure(error)
            default: return .failure(LedgerError.storeFailure("no outcome"))
            }
        }
    }

    /// Runs the issuance processor once over everything logged so far.
    @discardableResult
    public func processIssueRequests() throws -> Int {
        let job = WriterJob(.processIssueRequests(through: try head()))
        try executeMapped([job])
        switch try job.outcome?.get() {
        case let .processed(n)?: return n
        default: return 0
        }
    }

    /// Removes idempotency keys older than the retention, `limit` per log record, until none is
    /// left. Returns how many were removed.
    @discardableResult
    public func expireIdempotencyKeys(limit: Int = 1_000) throws -> Int {
        var removed = 0
        while true {
            let job = WriterJob(.expireIdempotencyKeys(limit: limit))
            try executeMapped([job])
            guard case let .expired(n)? = try job.outcome?.get(), n > 0 else { return removed }
            removed += n
        }
    }

    /// A group commit, with storage failures turned into `LedgerError`: a full map at its
    /// maximum or a full disk is `storeFull` (retry later), anything else `storeFailure`.
    func executeMapped(_ jobs: [WriterJob]) throws {
        let started = ContinuousClock.now
        do {
            try executor.execute(jobs)
        } catch let error as LMDBError where error.isMapFull || error.isDiskFull {
            throw LedgerError.storeFull(error.description)
        } catch let error as LMDBError where error.code == EIO && FileSystem.isNearlyFull(error.environment ?? configuration.logPath) {
            // LMDB reports a write cut short by a full disk as an I/O error.
            throw LedgerError.storeFull(error.description)
        } catch let error as LMDBError {
            throw LedgerError.storeFailure(error.description)
        } catch let error as UnsyncedViewsMarker.MarkerError where error.code == ENOSPC {
            throw LedgerError.storeFull(error.description)
        }
        statistics.record(batch: jobs.count, duration: ContinuousClock.now - started)
    }
}

enum FileSystem {
    /// Less than a megabyte left to unprivileged writers of the filesystem holding `path`.
    static func isNearlyFull(_ path: String) -> Bool {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return false }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize) < 1 << 20
    }
}
