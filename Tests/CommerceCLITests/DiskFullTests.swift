import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerJSON
import Testing

/// A small real filesystem (tmpfs), mounted by the test where the log or the views live.
final class SmallFilesystem: @unchecked Sendable {
    let path: String

    /// Nil, with the reason printed, where this machine cannot mount one (no privilege).
    init?(at path: String, megabytes: Int) {
        self.path = path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try? run(absolute: "/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
        guard mount?.status == 0 else {
            print("SKIPPED: cannot mount a tmpfs at \(path) (\(mount?.stderr ?? "no mount")); the full-disk test needs root with CAP_SYS_ADMIN")
            return nil
        }
    }

    deinit { _ = try? run(absolute: "/bin/umount", ["-l", path]) }

    /// Fills the filesystem up to `leaving` bytes with a file that `free()` removes.
    func fill(leaving: Int) throws {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { throw ServerProcess.ServerError("statvfs \(path)") }
        let available = Int(st.f_bavail) * Int(st.f_frsize)
        let filler = FileManager.default.createFile(atPath: path + "/filler", contents: Data(count: max(0, available - leaving)))
        guard filler else { throw ServerProcess.ServerError("cannot write the filler") }
    }

    func free() throws { try FileManager.default.removeItem(atPath: path + "/filler") }
}

/// Runs a program by absolute path (mount and umount are not ours).
func run(absolute path: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = Pipe()
    try process.run()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: "", stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
}

@Suite(.serialized) struct DiskFullTests {
    @Test(arguments: ["log", "views"])
    func aFullDiskRefusesWritesCleanlyUntilSpaceIsFreed(_ part: String) async throws {
        let dir = ScratchDirectory()
        guard let disk = SmallFilesystem(at: dir.path + "/" + part, megabytes: 24) else { return }
        let server = try ServerProcess(data: dir.path, extra: ["--map-size-mb", "4", "--max-map-size-mb", "256"])
        defer { server.stop() }
        // A little room: the part's file soon needs more than there is.
        try disk.fill(leaving: 256 << 10)
        // Charges from 16 clients at once (one user each charge) until the store refuses one.
        let refusals = Locked<[(status: Int, json: JSONValue, retryAfter: String?)]>([])
        let acknowledged = Locked<[Int64]>([])
        let full = Flag()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    var user = Int64(worker) * 1_000_000
                    while !full.isSet, user < Int64(worker) * 1_000_000 + 200_000 {
                        user += 1
                        guard let r = try? await server.response("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#) else { continue }
                        if r.status == 200 { acknowledged.withLock { $0.append(user) } } else { refusals.withLock { $0.append(r) }; full.set() }
                    }
                }
            }
        }
        let refused = try #require(refusals.withLock { $0.first }, "the disk never filled")
        #expect(refused.status == 503 && refused.json["error"]?["code"] == .string("STORAGE_FULL") && refused.retryAfter != nil,
                "\(refused) \(server.output_.split(separator: "\n").filter { $0.contains("internal error") }.prefix(3))")
        let acked = acknowledged.withLock { $0 }
        #expect(acked.count > 100)
        // Reads keep working and show every acknowledged charge; a refused one left nothing.
        for user in acked.suffix(200) {
            #expect(try await server.call("GET", "/users/\(user)/points").json["balance"] == .int(10_000), "user \(user)")
        }
        // A single small charge may still fit, or is refused: either way whole, never half.
        let fresh: Int64 = 99_000_000
        let single = try await server.call("POST", "/users/\(fresh)/points/charge", #"{"amount":10000}"#).status
        #expect(single == 503 || single == 200)
        #expect(try await server.call("GET", "/users/\(fresh)/points").json["balance"] == .int(single == 200 ? 10_000 : 0))
        // Room again: writes go on, without a restart.
        try disk.free()
        for user in fresh + 1...fresh + 101 {
            #expect(try await server.call("POST", "/users/\(user)/points/charge", #"{"amount":10000}"#).status == 200)
        }
        #expect(server.stop() == 0)
        #expect(try run("commerce-log", ["verify", "--data", dir.path]).status == 0)
        #expect(try run("commerce-rebuild", ["--data", dir.path, "--verify"]).status == 0)
        let charged = try run("commerce-log", ["stats", "--json", "--data", dir.path]).json?["eventsByType"]?["PointCharged"]?.intValue
        #expect(charged == Int64(acked.count + 101 + (single == 200 ? 1 : 0)))
    }
}

extension ServerProcess {
    /// A request whose answer's Retry-After header matters too.
    func response(_ method: String, _ path: String, _ body: String) async throws -> (status: Int, json: JSONValue, retryAfter: String?) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)")!.appending(path: path))
        request.httpMethod = method
        request.httpBody = Data(body.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, (try? JSONParser.parse(Array(data))) ?? .null, http?.value(forHTTPHeaderField: "Retry-After"))
    }
}
