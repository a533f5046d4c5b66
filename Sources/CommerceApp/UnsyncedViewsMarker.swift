import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file that exists while the views may hold writes that never reached the disk, naming the boot
/// of the machine they were made in.
///
/// The views are committed without a sync, so an operating-system crash or a power loss can leave
/// them torn. A process crash cannot (the page cache survives it). So: before the first unsynced
/// commit, the marker is written and synced; once a sync has covered every commit, it is removed
/// (under the views' writer lock, so no commit slips in between). At open, a marker naming another
/// boot means the machine went down with unsynced views: they are rebuilt from the log.
struct UnsyncedViewsMarker: Sendable {
    let path: String

    /// This boot of the machine (Linux: the kernel's random boot id).
    static let currentBoot: String = {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return "unknown" }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? "unknown" : id
    }()

    var isPresent: Bool { access(path, F_OK) == 0 }

    /// The boot named in the marker, nil when there is none.
    func recordedBoot() -> String? {
        guard isPresent else { return nil }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True when the views may be torn: a marker from another boot (or an unreadable one).
    var viewsMayBeTorn: Bool {
        guard let boot = recordedBoot() else { return false }
        return boot != Self.currentBoot || boot == "unknown" || boot.isEmpty
    }

    /// Makes sure the marker is on disk before an unsynced commit. Cheap when it already is.
    func ensurePresent() throws {
        if isPresent { return }
        try write(boot: Self.currentBoot)
    }

    /// Writes the marker and syncs it and its directory (tests use it to fake another boot).
    /// Written aside and renamed into place: a marker that failed to write (a full disk) must not
    /// be left empty, since an empty one reads as "the views may be torn" and costs a rebuild.
    func write(boot: String) throws {
        // Named for this process: a server and a rebuild may both write it at once.
        let aside = "\(path).\(getpid()).new"
        let fd = open(aside, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw MarkerError(path: aside, operation: "create", code: errno) }
        let bytes = Array((boot + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let failure: Int32? = written != bytes.count ? (written < 0 ? errno : ENOSPC) : (fsync(fd) != 0 ? errno : nil)
        close(fd)
        if let failure {
            unlink(aside)
            throw MarkerError(path: path, operation: "write", code: failure)
        }
        guard rename(aside, path) == 0 else {
            let code = errno
            unlink(aside)
            throw MarkerError(path: path, operation: "rename", code: code)
        }
        try syncDirectory()
    }

    /// Removes the marker. If the removal is lost in a crash the views are rebuilt needlessly,
    /// never trusted wrongly, so the directory is not synced.
    func remove() {
        unlink(path)
    }

    private func syncDirectory() throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory, O_RDONLY)
        guard fd >= 0 else { throw MarkerError(path: directory, operation: "open", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw MarkerError(path: directory, operation: "fsync", code: errno) }
    }

    struct MarkerError: Error, CustomStringConvertible {
        let path: String
        let operation: String
        let code: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
    }
}
