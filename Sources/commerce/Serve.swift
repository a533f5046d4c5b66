import ArgumentParser
import CommerceCLI
import CommerceApp
import CommerceHTTP
import Foundation
import Hummingbird
import LedgerJSON
import Logging
import Metrics
import Prometheus
import NIOPosix
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP API.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "Address to bind (env COMMERCE_HOST).") var host: String = ProcessInfo.processInfo.environment["COMMERCE_HOST"] ?? "127.0.0.1"
    @Option(help: "Port (env COMMERCE_PORT).") var port: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_PORT"] ?? "") ?? 8080
    @Option(help: "Bearer token for admin routes (env COMMERCE_ADMIN_TOKEN); without one, admin calls are taken from loopback only.")
    var adminToken: String = ProcessInfo.processInfo.environment["COMMERCE_ADMIN_TOKEN"] ?? ""
    @Option(help: "Event loop threads for HTTP; 0 means one per core (env COMMERCE_IO_THREADS).")
    var ioThreads: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_IO_THREADS"] ?? "") ?? 0
    @Option(help: "Append completed and compensated orders to this file as JSON lines: the data platform outbox (env COMMERCE_DATA_PLATFORM_FILE).")
    var dataPlatformFile: String = ProcessInfo.processInfo.environment["COMMERCE_DATA_PLATFORM_FILE"] ?? ""
    @Option(help: "Seconds a client may take to send a whole request head, idle keep-alive connections included (env COMMERCE_READ_TIMEOUT).")
    var readTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_READ_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Seconds a client may take to send a request body (env COMMERCE_BODY_TIMEOUT).")
    var bodyTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_BODY_TIMEOUT"] ?? "") ?? 30
    @Option(name: .customLong("check-log"), help: "Check every record's checksum before serving (about 1 s per million events); false skips it.")
    var checkLog = true
    @Option(help: "Seconds between heartbeat comments on GET /events/stream (env COMMERCE_STREAM_HEARTBEAT).")
    var streamHeartbeat: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_STREAM_HEARTBEAT"] ?? "") ?? 15
    @Option(help: "Seconds an event-stream client may leave a write unread before it is disconnected (env COMMERCE_STREAM_WRITE_TIMEOUT).")
    var streamWriteTimeout: Double = Double(ProcessInfo.processInfo.environment["COMMERCE_STREAM_WRITE_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Events an event-stream client may fall behind the head before it is told where to resume and disconnected (env COMMERCE_STREAM_MAX_LAG).")
    var streamMaxLag: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_STREAM_MAX_LAG"] ?? "") ?? 10_000
    @Flag(help: .hidden) var benchBaseline = false

    func validate() throws {
        guard readTimeout > 0, readTimeout <= 3_600, bodyTimeout > 0, bodyTimeout <= 3_600 else {
            throw ValidationError("--read-timeout and --body-timeout must be between 0 and 3600 seconds")
        }
        guard streamHeartbeat >= 0.01, streamHeartbeat <= 3_600, streamWriteTimeout >= 0.01, streamWriteTimeout <= 3_600, streamMaxLag >= 1 else {
            throw ValidationError("--stream-heartbeat and --stream-write-timeout must be between 0.01 and 3600 seconds, --stream-max-lag at least 1")
        }
    }

    func run() async throws {
        var logger = Logger(label: "commerce")
        logger.logLevel = .info
        let opened: Ledger
        do {
            opened = try ledger.open(mustExist: false)
        } catch {
            fail("\(error)", code: 3)
        }
        if checkLog {
            // A damaged log is not served: every answer would rest on it.
            let started = ContinuousClock.now
            do {
                let (events, problem) = try opened.checkLogChecksums()
                if let problem { fail("the log in \(ledger.dataDirectory) is damaged at \(problem); restore it from a backup (commerce-log verify tells more)", code: 3) }
                logger.info("log checked: \(events) records in \(ContinuousClock.now - started)")
            } catch {
                fail("the log in \(ledger.dataDirectory) cannot be read: \(error)", code: 3)
            }
        }
        switch opened.recovery {
        case .current: break
        case .rebuilt: logger.warning("\(opened.recovery)")
        default: logger.info("\(opened.recovery)")
        }
        let metrics = APIMetrics()
        // Libraries that report through swift-metrics land in the same registry.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let writer = LedgerWriter(ledger: opened)
        var api = APIServer(ledger: opened, writer: writer, adminToken: adminToken, metrics: metrics)
        api.eventStream.heartbeat = .milliseconds(Int64(streamHeartbeat * 1000))
        api.eventStream.writeTimeout = .milliseconds(Int64(streamWriteTimeout * 1000))
        api.eventStream.maxLag = UInt64(streamMaxLag)
        if api.adminToken == nil {
            logger.warning("no admin token configured: admin routes accept calls from loopback only (set --admin-token or COMMERCE_ADMIN_TOKEN)")
        }
        let responder = api.makeResponder(benchBaseline: benchBaseline)
        var relay: DataPlatformRelay?
        if !dataPlatformFile.isEmpty {
            do {
                relay = DataPlatformRelay(ledger: opened, sink: try FileDataPlatformSink(path: dataPlatformFile))
            } catch {
                fail("\(error)", code: 2)
            }
        }
        let startupLogger = logger
        let (host, port, dataDirectory) = (self.host, self.port, ledger.dataDirectory)
        let app = Application(
            responder: responder,
            server: .commerceHTTP1(readTimeout: .milliseconds(Int64(readTimeout * 1000)), bodyTimeout: .milliseconds(Int64(bodyTimeout * 1000))),
            configuration: .init(address: .hostname(host, port: port), serverName: "commerce"),
            services: [LedgerService(writer: writer, relay: relay, logger: logger)],
            onServerRunning: { channel in
                // A plain line on stdout, so scripts and tests started with --port 0 learn the port.
                FileHandle.standardOutput.write(Data("listening on http://\(host):\(channel.localAddress?.port ?? port)\n".utf8))
                startupLogger.info("commerce serving", metadata: ["data": "\(dataDirectory)"])
            },
            eventLoopGroupProvider: ioThreads > 0 ? .shared(MultiThreadedEventLoopGroup(numberOfThreads: ioThreads)) : .singleton,
            logger: logger)
        try await app.runService()
    }
}
