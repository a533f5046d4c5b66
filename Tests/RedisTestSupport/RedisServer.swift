import Foundation
import Redis

/// A real redis-server on a free loopback port with a temp directory, stopped by PID.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public private(set) var process: Process?
    let appendOnly: Bool

    /// `appendOnly`: the AOF, synced every second (what a production Redis would run with).
    public init(appendOnly: Bool = false, port: Int? = nil, directory: URL? = nil) throws {
        self.appendOnly = appendOnly
        self.directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        self.port = try port ?? Self.freePort()
        try start()
    }

    public var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--save", "",
                       "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "everysec", "--daemonize", "no", "--logfile", "redis.log"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let c = try? RedisConnection(url, timeout: .seconds(1)), (try? c.command(["PING"])) == .status("PONG") { return }
            usleep(20_000)
        }
        throw RedisTestError("redis-server did not answer on port \(port)")
    }

    /// SIGKILL, then waits for the process to go.
    public func kill() {
        guard let p = process else { return }
        Glibc.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
    }

    public func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    static var executable: String {
        for path in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"] where FileManager.default.isExecutableFile(atPath: path) { return path }
        return "/usr/bin/redis-server"
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw RedisTestError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public struct RedisTestError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
