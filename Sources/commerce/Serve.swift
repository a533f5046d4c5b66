import ArgumentParser
import CommerceApp
import CommerceCLI
import CommerceHTTP
import CommerceRedis
import Foundation
import Logging
import Redis
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP API: the leader, the one process that decides commands.")
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var bus: RedisOptions
    @Option(help: "Entries the Redis stream keeps (XADD MAXLEN ~); 0 keeps every one; the log stays the archive (env COMMERCE_REDIS_MAX_LEN).")
    var redisMaxLen: Int = Int(ProcessInfo.processInfo.environment["COMMERCE_REDIS_MAX_LEN"] ?? "") ?? 1_000_000
    @Option(help: "Append completed and compensated orders to this file as JSON lines: the data platform outbox without Redis (env COMMERCE_DATA_PLATFORM_FILE).")
    var dataPlatformFile: String = ProcessInfo.processInfo.environment["COMMERCE_DATA_PLATFORM_FILE"] ?? ""
    @Option(name: .customLong("check-log"), help: "Check every record's checksum before serving (about 1 s per million events); false skips it.")
    var checkLog = true
    @Flag(help: .hidden) var benchBaseline = false

    func validate() throws {
        try checkNumericEnvironment(integers: ["COMMERCE_REDIS_MAX_LEN"])
        if !bus.redis.isEmpty {
            do { _ = try RedisURL(bus.redis) } catch { throw ValidationError("\(error)") }
        }
        guard redisMaxLen >= 0 else { throw ValidationError("--redis-max-len must be 0 (keep all) or more") }
    }

    func run() async throws {
        ServerSetup.prepare()
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
        let writer = LedgerWriter(ledger: opened)
        var services: [any Service] = []
        var role = ServerRole.leader(relay: nil)
        if !bus.redis.isEmpty, let url = try? RedisURL(bus.redis) {
            var settings = RedisEventRelay.Settings(url: url)
            settings.stream = bus.redisStream
            settings.maxLength = redisMaxLen
            let relay = RedisEventRelay(ledger: opened, settings: settings)
            role = .leader(relay: { relay.report() })
            services.append(BackgroundService { await relay.run() })
            logger.info("relaying the log to \(url) stream \(bus.redisStream)")
        }
        let api = server.api(ledger: opened, writer: writer, role: role)
        if api.adminToken == nil {
            logger.warning("no admin token configured: admin routes accept calls from loopback only (set --admin-token or COMMERCE_ADMIN_TOKEN)")
        }
        var relay: DataPlatformRelay?
        if !dataPlatformFile.isEmpty {
            do {
                relay = DataPlatformRelay(ledger: opened, sink: try FileDataPlatformSink(path: dataPlatformFile)) { [logger, dataPlatformFile] error in
                    if let error {
                        logger.error("the data-platform relay cannot deliver to \(dataPlatformFile), retrying: \(error)")
                    } else {
                        logger.notice("the data-platform relay delivers to \(dataPlatformFile) again")
                    }
                }
            } catch {
                fail("\(error)", code: 2)
            }
        }
        services.insert(LedgerService(writer: writer, relay: relay, logger: logger), at: 0)
        try await server.run(api.makeResponder(benchBaseline: benchBaseline), services: services, dataDirectory: ledger.dataDirectory, logger: logger)
    }
}
