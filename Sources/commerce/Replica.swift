import ArgumentParser
import CommerceApp
import CommerceCLI
import CommerceHTTP
import CommerceRedis
import Foundation
import Logging
import Redis
import ServiceLifecycle

struct Replica: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a read replica: follow the leader's log on a Redis stream and serve every query.",
        discussion: """
            The replica keeps a byte-for-byte copy of the leader's log in its data directory and
            folds it with the same projection code. Commands are answered 307 to --leader (421
            without one). A replica whose stream was trimmed past its position reports the gap on
            /health (503) and refuses queries: restore it from `commerce-log backup` of the leader
            (docs/scale-out.md).
            """)
    @OptionGroup var ledger: LedgerOptions
    @OptionGroup var server: ServerOptions
    @OptionGroup var bus: RedisOptions
    @Option(help: "Base URL of the leader, where commands are redirected, e.g. http://10.0.0.1:8080 (env COMMERCE_LEADER_URL).")
    var leader: String = ProcessInfo.processInfo.environment["COMMERCE_LEADER_URL"] ?? ""

    func validate() throws {
        guard !bus.redis.isEmpty else { throw ValidationError("a replica needs --redis (or COMMERCE_REDIS_URL)") }
        do { _ = try RedisURL(bus.redis) } catch { throw ValidationError("\(error)") }
        if !leader.isEmpty {
            guard leader.hasPrefix("http://") || leader.hasPrefix("https://"), !leader.hasSuffix("/") else {
                throw ValidationError("--leader must be a base URL such as http://10.0.0.1:8080 (no trailing slash)")
            }
        }
    }

    func run() async throws {
        ServerSetup.prepare()
        var logger = Logger(label: "commerce-replica")
        logger.logLevel = .info
        guard let url = try? RedisURL(bus.redis) else { fail("invalid --redis \(bus.redis)", code: 2) }
        // Whose log to copy and how it counts days: from the stream, before anything is opened.
        let retryLogger = logger
        guard let origin = try ReplicaFollower.origin(url: url, stream: bus.redisStream, onRetry: { retryLogger.warning("waiting for the leader's stream: \($0)") }) else {
            fail("stopped before the stream was found", code: 3)
        }
        var configuration = ledger.configuration
        configuration.logIdentity = origin.logIdentity
        configuration.timeZone = origin.timeZone
        let opened: Ledger
        do {
            opened = try Ledger(configuration: configuration)
        } catch {
            fail("\(error)", code: 3)
        }
        var settings = ReplicaFollower.Settings(url: url, leader: leader.isEmpty ? nil : leader)
        settings.stream = bus.redisStream
        let follower = ReplicaFollower(ledger: opened, settings: settings, reportPath: ledger.dataDirectory + "/replica.json")
        let api = server.api(ledger: opened, writer: nil, role: .replica(leader: settings.leader, report: { follower.report() }))
        let start = (try? opened.head()) ?? 0
        logger.info("replica of \(url) stream \(bus.redisStream) from position \(start)")
        let checkpointing = BackgroundService { [logger] in
            await ViewCheckpoints.keepSynced(opened, every: .seconds(1), logger: logger)
            do { try opened.checkpointViews() } catch { logger.warning("views could not be synced at shutdown (\(error)): the next start after a power loss rebuilds them") }
        }
        try await server.run(api.makeResponder(), services: [BackgroundService { await follower.run() }, checkpointing],
                             dataDirectory: ledger.dataDirectory, logger: logger)
    }
}
