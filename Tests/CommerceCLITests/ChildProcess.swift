import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerJSON

/// The package's executables, built next to the test bundle by `swift build --build-tests`.
enum Binaries {
    static let directory: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On Linux the test runner may live inside an .xctest bundle directory.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

struct ProcessResult {
    let status: Int32
    let stdout: String
    let stderr: String

    var json: JSONValue? { try? JSONParser.parse(stdout.trimmingCharacters(in: .whitespacesAndNewlines)) }
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

final class ScratchDirectory: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cli-test-\(UUID().uuidString)").path
    init() { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a binary to completion (bounded by `timeout`), capturing its output.
/// `environment` adds to (or replaces in) this process's environment.
func run(_ binary: String, _ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Binaries.path(binary))
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read while it runs so a full pipe never blocks the child.
    final class Box: @unchecked Sendable { var data = Data() }
    let stdoutBox = Box(), stderrBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { stdoutBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { stderrBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(2_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
    group.wait()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdoutBox.data, as: UTF8.self), stderr: String(decoding: stderrBox.data, as: UTF8.self))
}

/// `run`, waited for on a thread of its own: async tests that keep other tasks going meanwhile
/// must not block one of the few threads those tasks run on.
func runInBackground(_ binary: String, _ arguments: [String], timeout: TimeInterval = 60) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try run(binary, arguments, timeout: timeout) })
        }
    }
}

/// Blocking work (a socket read, a child process) on a thread of its own, for the same reason.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A `commerce serve` child process on a free loopback port; stopped by PID.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    private let output = Pipe()
    private var log = ""

    /// `commerce <command>` (serve, or replica) on `data`, on a free port.
    init(command: String = "serve", data: String, extra: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.path("commerce"))
        process.arguments = [command, "--data", data, "--port", "0", "--admin-token", "secret"] + extra
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Wait (bounded) for the line that names the port.
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(30)
        while port == 0 && Date() < deadline && process.isRunning {
            let chunk = handle.availableData
            if chunk.isEmpty { usleep(10_000); continue }
            log += String(decoding: chunk, as: UTF8.self)
            if let range = log.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(log[range].split(separator: ":").last ?? "") ?? 0
            }
        }
        guard port > 0 else {
            stop()
            throw ServerError("server did not start: \(log)")
        }
        // Keep draining its output so it never blocks on a full pipe.
        handle.readabilityHandler = { [weak self] h in
            let data = h.availableData
            if !data.isEmpty { self?.append(String(decoding: data, as: UTF8.self)) }
        }
    }

    private let lock = NSLock()
    /// The server's resident memory (VmRSS), in bytes.
    var residentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    private func append(_ s: String) { lock.lock(); log += s; lock.unlock() }
    var output_: String { lock.lock(); defer { lock.unlock() }; return log }

    /// SIGTERM, then wait (bounded) for a graceful exit; SIGKILL if it hangs.
    @discardableResult
    func stop(timeout: TimeInterval = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    /// SIGKILL: no shutdown at all, as in a crash.
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
    }

    deinit { stop() }

    struct ServerError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// A GET's status and body exactly as sent.
    func get(_ path: String) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// One HTTP request to the server; returns status and parsed JSON body.
    func call(_ method: String, _ path: String, _ body: String? = nil, admin: Bool = false, key: String? = nil) async throws -> (status: Int, json: JSONValue) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if admin { request.setValue("Bearer secret", forHTTPHeaderField: "Authorization") }
        if let key { request.setValue(key, forHTTPHeaderField: "Idempotency-Key") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        return (status, (try? JSONParser.parse(Array(data))) ?? .null)
    }
}
