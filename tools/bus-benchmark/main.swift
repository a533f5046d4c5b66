// Relay and replica throughput against a real Redis: a ledger of N events (charges of users drawn
// uniformly at random over 1M, decided through the real executor) is published to a Redis stream
// by the relay, as fast as it goes, then a fresh replica follows that stream to its end.
//
//   swift run -c release bus-benchmark [--events N] [--redis redis://host:port] [--dir PATH] [--batch N]
//
// Without --redis it starts redis-server itself (no persistence) on a free loopback port with a
// temporary directory, and stops it by PID at the end.
import Commerce
import CommerceApp
import CommerceRedis
import Foundation
import Redis
import SeededRandom

struct Options {
    var events = 1_000_000
    var redis: String?
    var directory: String?
    var batch = 250

    init(_ arguments: [String]) {
        var i = 1
        func value() -> String {
            i += 1
            guard i < arguments.count else { fail("\(arguments[i - 1]) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--events": events = Int(value()) ?? events
            case "--redis": redis = value()
            case "--dir": directory = value()
            case "--batch": batch = Int(value()) ?? batch
            case "--help", "-h":
                print("usage: bus-benchmark [--events N] [--redis redis://host:port] [--dir PATH] [--batch N]")
                exit(0)
            default: fail("unknown option \(arguments[i])")
            }
            i += 1
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bus-benchmark: \(message)\n".utf8))
    exit(2)
}

func grouped(_ x: Double) -> String {
    let s = String(Int64(x.rounded()))
    var out = ""
    for (i, c) in s.reversed().enumerated() {
        if i > 0, i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func usedMemory(_ connection: RedisConnection) throws -> Int64 {
    let text = try connection.command(["INFO", "memory"]).checked().text ?? ""
    for line in text.split(whereSeparator: { $0.isNewline }) where line.hasPrefix("used_memory:") {
        return Int64(line.dropFirst("used_memory:".count)) ?? 0
    }
    return 0
}

let options = Options(CommandLine.arguments)
let root = options.directory ?? FileManager.default.currentDirectoryPath + "/.build/bus-bench-\(getpid())"
try? FileManager.default.removeItem(atPath: root)
try FileManager.default.createDirectory(atPath: root + "/redis", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

var redisProcess: Process?
let url: RedisURL
if let given = options.redis {
    url = try RedisURL(given)
} else {
    let port = freePort()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
    p.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--dir", root + "/redis", "--save", "", "--appendonly", "no"]
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    redisProcess = p
    url = RedisURL(host: "127.0.0.1", port: port)
    var up = false
    for _ in 0..<200 where !up {
        up = (try? RedisConnection(url, timeout: .seconds(1)).command(["PING"])) == .status("PONG")
        if !up { usleep(20_000) }
    }
    guard up else { fail("redis-server did not start") }
}
defer {
    if let p = redisProcess {
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
    }
}

// 1. The leader's log: N charges of random users, decided by the real executor in batches.
var configuration = LedgerConfiguration(dataDirectory: root + "/leader", environment: .init(mapSize: 1 << 30, maxMapSize: 64 << 30))
configuration.rules.maxBalance = Int64.max / 4
let leader = try Ledger(configuration: configuration)
var random = SplitMix64(seed: 42)
let fillStart = ContinuousClock.now
while try leader.head() < UInt64(options.events) {
    let n = min(2_048, options.events - Int(try leader.head()))
    _ = try leader.execute(batch: (0..<n).map { _ in .chargePoints(userId: Int64(random.next() % 1_000_000) + 1, amount: 10_000) })
}
let fillSeconds = Double((ContinuousClock.now - fillStart).components.attoseconds) / 1e18 + Double((ContinuousClock.now - fillStart).components.seconds)
let head = try leader.head()
print("bus benchmark: \(grouped(Double(head))) events (charges, users uniform over 1M) written in \(String(format: "%.1f", fillSeconds)) s; Redis \(url); \(ProcessInfo.processInfo.activeProcessorCount) cores shared with Redis")

/// CPU time of the calling thread, to tell the relay's own work from waiting on Redis.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// CPU seconds (user + system) of a process, from /proc; 0 when it cannot be read.
func processCPUSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    // After "pid (comm) " the state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

// 2. The relay, from an empty stream to the head.
let admin = try RedisConnection(url)
_ = try admin.command(["DEL", EventStreamFormat.defaultStream, EventStreamFormat.metaKey(EventStreamFormat.defaultStream)]).checked()
let memoryBefore = try usedMemory(admin)
var relaySettings = RedisEventRelay.Settings(url: url)
relaySettings.batchSize = options.batch
relaySettings.maxLength = 0
let relay = RedisEventRelay(ledger: leader, settings: relaySettings)
// The relay as a server runs it (its own thread, batches encoded while Redis runs the last one),
// timed until it reports the head relayed.
let relayStart = ContinuousClock.now
let relayCPU0 = processCPUSeconds(getpid())
let redisCPU0 = redisProcess.map { processCPUSeconds($0.processIdentifier) }
let relaying = Task { await relay.run() }
while relay.report().position < head {
    if let error = relay.report().lastError { fail("relay: \(error)") }
    try await Task.sleep(for: .milliseconds(1))
}
let relaySeconds = seconds(ContinuousClock.now - relayStart)
// This process does nothing else meanwhile (the main task only polls the relay's report).
let relayCPU = processCPUSeconds(getpid()) - relayCPU0
let redisCPU = redisProcess.map { processCPUSeconds($0.processIdentifier) - (redisCPU0 ?? 0) }
relaying.cancel()
await relaying.value
let memoryAfter = try usedMemory(admin)
print("relay:   \(grouped(Double(head) / relaySeconds)) events/s (\(grouped(Double(head))) in \(String(format: "%.2f", relaySeconds)) s, pipelines of \(options.batch)); Redis memory \(grouped(Double(memoryAfter - memoryBefore) / Double(head))) B/event; relay busy \(String(format: "%.2f", relayCPU)) s of it\(redisCPU.map { ", redis-server \(String(format: "%.2f", $0)) s" } ?? "")")

// 3. A fresh replica following the stream to its end.
let origin = try ReplicaFollower.origin(url: url, stream: EventStreamFormat.defaultStream)
var replicaConfiguration = configuration
replicaConfiguration.dataDirectory = root + "/replica"
replicaConfiguration.logIdentity = origin?.logIdentity
replicaConfiguration.timeZone = origin?.timeZone
let replica = try Ledger(configuration: replicaConfiguration)
var followSettings = ReplicaFollower.Settings(url: url, leader: nil)
followSettings.batchSize = 1_000
let follower = ReplicaFollower(ledger: replica, settings: followSettings)
let followConnection = try RedisConnection(url, timeout: .seconds(30))
try follower.check(followConnection)
let followStart = ContinuousClock.now
let followCPU0 = threadCPUSeconds()
while try replica.head() < head { try follower.follow(followConnection) }
let followSeconds = seconds(ContinuousClock.now - followStart)
let followCPU = threadCPUSeconds() - followCPU0
let same = try replica.summarize() == leader.summarize()
print("replica: \(grouped(Double(head) / followSeconds)) events/s folded from the stream (\(String(format: "%.2f", followSeconds)) s, reads of 1,000; follower thread busy \(String(format: "%.2f", followCPU)) s of it); views equal to the leader's: \(same)")
