import ArgumentParser
import CommerceRedis
import Foundation
import Redis
import Synchronization

/// The data platform's intake: a member of a consumer group on the ledger's Redis stream.
struct Consume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the ledger's Redis stream in a consumer group and write chosen events as JSON lines.",
        discussion: """
            Each line is {"position","type","at","stream","data"} and is synced before its entry is
            acknowledged (XACK); entries another member left pending longer than --claim-idle are
            claimed (XAUTOCLAIM). A crash repeats at most one batch, which this consumer drops when
            it comes back to it, and which a reader of several members' files drops by position.
            Runs until SIGINT/SIGTERM (or --exit-when-idle); exit 0 then, 2 bad usage, 3 a file it
            cannot write.
            """)

    @Option(help: "Redis server, redis://[:password@]host[:port][/db] (env COMMERCE_REDIS_URL).")
    var redis: String = ProcessInfo.processInfo.environment["COMMERCE_REDIS_URL"] ?? ""
    @Option(help: "The stream the leader relays to.") var stream = "commerce:events"
    @Option(help: "Consumer group.") var group = "data-platform"
    @Option(help: "This member's name in the group (default: host name and process id).") var consumer: String?
    @Option(help: "Event types to write, comma-separated; other entries are acknowledged without a line. Empty: every type.")
    var types = "OrderCompleted,OrderCompensated"
    @Option(help: "JSON-lines file to append to.") var output: String
    @Option(help: "Entries read per call.") var batch = 500
    @Option(help: "Seconds an entry must be pending with another member before this one claims it.") var claimIdle: Double = 30
    @Option(help: "Exit 0 after this many seconds without a new entry (for batch runs); 0 runs until stopped.") var exitWhenIdle: Double = 0
    @Option(help: .hidden) var crashBeforeAckAfterBatches: Int?

    func validate() throws {
        guard !redis.isEmpty else { throw ValidationError("--redis (or COMMERCE_REDIS_URL) is required") }
        do { _ = try RedisURL(redis) } catch { throw ValidationError("\(error)") }
        guard (1...100_000).contains(batch) else { throw ValidationError("--batch must be 1 to 100000") }
        guard claimIdle >= 0.01, claimIdle <= 86_400 else { throw ValidationError("--claim-idle must be between 0.01 and 86400 seconds") }
        guard exitWhenIdle >= 0, exitWhenIdle <= 31_536_000 else { throw ValidationError("--exit-when-idle must be between 0 and 31536000 seconds") }
        guard !group.isEmpty, !stream.isEmpty else { throw ValidationError("--group and --stream must not be empty") }
    }

    func run() throws {
        guard let url = try? RedisURL(redis) else { throw ValidationError("invalid --redis") }
        var settings = StreamConsumer.Settings(url: url, group: group, consumer: consumer ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())", output: output)
        settings.stream = stream
        let wanted = Set(types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        settings.types = wanted.isEmpty ? nil : wanted
        settings.batchSize = batch
        settings.claimIdle = .milliseconds(Int64(claimIdle * 1000))
        settings.crashBeforeAckAfterBatches = crashBeforeAckAfterBatches
        let consumer = StreamConsumer(settings: settings)
        for sig in [SIGINT, SIGTERM] { signal(sig, consumeStopHandler) }
        do {
            try consumer.run(stopping: { consumeStopRequested.load(ordering: .relaxed) },
                             idleExit: exitWhenIdle > 0 ? .milliseconds(Int64(exitWhenIdle * 1000)) : nil,
                             log: { FileHandle.standardError.write(Data("commerce-log consume: \($0)\n".utf8)) })
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(3)
        }
        let p = consumer.progress
        print("{\"lines\":\(p.lines),\"acknowledged\":\(p.acknowledged),\"claimed\":\(p.claimed),\"skippedRepeats\":\(p.skippedRepeats)}")
    }
}

/// Set by SIGINT / SIGTERM: the consumer finishes its batch (write, sync, acknowledge) and exits.
let consumeStopRequested = Atomic<Bool>(false)
private func consumeStopHandler(_: Int32) { consumeStopRequested.store(true, ordering: .relaxed) }
