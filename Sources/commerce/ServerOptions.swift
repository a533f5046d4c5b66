import ArgumentParser
import CommerceApp
import CommerceCLI
import CommerceHTTP
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOPosix
import Prometheus
import ServiceLifecycle

/// How the HTTP server listens and treats its clients; shared by `serve` and `replica`.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to bind (env COMMERCE_HOST).") var host: String = ProcessInfo.processInfo.environment["COMMERCE_HOST"] ?? "127.0.0.1"
    @Option(help: "Port (env COMMERCE_PORT).") var port: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_PORT"] ?? "") ?? 8080
    @Option(help: "Bearer token for admin routes (env COMMERCE_ADMIN_TOKEN); without one, admin calls are taken from loopback only.")
    var adminToken: String = ProcessInfo.processInfo.environment["COMMERCE_ADMIN_TOKEN"] ?? ""
    @Option(help: "Event loop threads for HTTP; 0 means one per core (env COMMERCE_IO_THREADS).")
    var ioThreads: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_IO_THREADS"] ?? "") ?? 0
    @Option(help: "Seconds a client may take to send a whole request head, idle keep-alive connections included (env COMMERCE_READ_TIMEOUT).")
    var readTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_READ_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Seconds a client may take to send a request body (env COMMERCE_BODY_TIMEOUT).")
    var bodyTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_BODY_TIMEOUT"] ?? "") ?? 30
    @Option(help: "Seconds between heartbeat comments on GET /events/stream (env COMMERCE_STREAM_HEARTBEAT).")
    var streamHeartbeat: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_STREAM_HEARTBEAT"] ?? "") ?? 15
    @Option(help: "Seconds an event-stream client may leave a write unread before it is disconnected (env COMMERCE_STREAM_WRITE_TIMEOUT).")
    var streamWriteTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_STREAM_WRITE_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Events an event-stream client may fall behind the head before it is told where to resume and disconnected (env COMMERCE_STREAM_MAX_LAG).")
    var streamMaxLag: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_STREAM_MAX_LAG"] ?? "") ?? 10_000
    @Option(help: "Seconds a query with ?atLeast= (or a Ledger-Position header) waits for that log position before 503 (env COMMERCE_AT_LEAST_TIMEOUT).")
    var atLeastTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_AT_LEAST_TIMEOUT"] ?? "") ?? 2

    func validate() throws {
        try checkNumericEnvironment(integers: ["COMMERCE_PORT", "COMMERCE_IO_THREADS", "COMMERCE_STREAM_MAX_LAG"],
                                    decimals: ["COMMERCE_READ_TIMEOUT", "COMMERCE_BODY_TIMEOUT", "COMMERCE_STREAM_HEARTBEAT",
                                               "COMMERCE_STREAM_WRITE_TIMEOUT", "COMMERCE_AT_LEAST_TIMEOUT"])
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535 (0 picks a free one)") }
        guard (0...256).contains(ioThreads) else { throw ValidationError("--io-threads must be from 0 (one per core) to 256") }
        guard readTimeout > 0, readTimeout <= 3_600, bodyTimeout > 0, bodyTimeout <= 3_600 else {
            throw ValidationError("--read-timeout and --body-timeout must be between 0 and 3600 seconds")
        }
        guard streamHeartbeat >= 0.01, streamHeartbeat <= 3_600, streamWriteTimeout >= 0.01, streamWriteTimeout <= 3_600, streamMaxLag >= 1 else {
            throw ValidationError("--stream-heartbeat and --stream-write-timeout must be between 0.01 and 3600 seconds, --stream-max-lag at least 1")
        }
        guard atLeastTimeout >= 0, atLeastTimeout <= 60 else { throw ValidationError("--at-least-timeout must be between 0 and 60 seconds") }
    }

    /// The API over `ledger` with these settings, its metrics registered as the process's.
    func api(ledger: Ledger, writer: LedgerWriter?, role: ServerRole) -> APIServer {
        let metrics = APIMetrics()
        // Libraries that report through swift-metrics land in the same registry.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        var api = APIServer(ledger: ledger, writer: writer, adminToken: adminToken, metrics: metrics)
        api.role = role
        api.positionWait = .milliseconds(Int64(atLeastTimeout * 1000))
        api.eventStream.heartbeat = .milliseconds(Int64(streamHeartbeat * 1000))
        api.eventStream.writeTimeout = .milliseconds(Int64(streamWriteTimeout * 1000))
        api.eventStream.maxLag = UInt64(streamMaxLag)
        return api
    }

    /// Serves until SIGTERM / SIGINT, with `services` run beside the HTTP server.
    func run(_ responder: some HTTPResponder<CommerceRequestContext>, services: [any Service], dataDirectory: String, logger: Logger) async throws {
        let (host, port) = (self.host, self.port)
        let app = Application(
            responder: responder,
            server: .commerceHTTP1(readTimeout: .milliseconds(Int64(readTimeout * 1000)), bodyTimeout: .milliseconds(Int64(bodyTimeout * 1000))),
            configuration: .init(address: .hostname(host, port: port), serverName: "commerce"),
            services: services,
            onServerRunning: { channel in
                // A plain line on stdout, so scripts and tests started with --port 0 learn the port.
                let shownHost = host.contains(":") ? "[\(host)]" : host  // an IPv6 address in a URL
                FileHandle.standardOutput.write(Data("listening on http://\(shownHost):\(channel.localAddress?.port ?? port)\n".utf8))
                logger.info("commerce serving", metadata: ["data": "\(dataDirectory)"])
            },
            eventLoopGroupProvider: ioThreads > 0 ? .shared(MultiThreadedEventLoopGroup(numberOfThreads: ioThreads)) : .singleton,
            logger: logger)
        try await app.runService()
    }
}

/// Runs `body` beside the server until graceful shutdown, then cancels it and waits for it.
struct BackgroundService: Service {
    let body: @Sendable () async -> Void

    func run() async throws {
        let task = Task { await body() }
        try? await gracefulShutdown()
        task.cancel()
        await task.value
    }
}

/// The Redis options of `serve` and `replica`.
struct RedisOptions: ParsableArguments {
    @Option(help: "Redis server of the event stream, redis://[:password@]host[:port][/db] (env COMMERCE_REDIS_URL).")
    var redis: String = ProcessInfo.processInfo.environment["COMMERCE_REDIS_URL"] ?? ""
    @Option(help: "Name of the Redis stream that carries the log (env COMMERCE_REDIS_STREAM).")
    var redisStream: String = ProcessInfo.processInfo.environment["COMMERCE_REDIS_STREAM"] ?? "commerce:events"
}
