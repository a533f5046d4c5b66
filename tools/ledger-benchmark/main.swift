// In-process benchmark of the ledger core, honest by default:
//
// - users are drawn at random over 1,000,000 users (`--keys uniform`, and Zipf s=1.0 with the
//   ranks scattered over the id space, `--keys zipf`); the old consecutive-user pattern is
//   `--keys consecutive` and is always labelled BEST CASE (adjacent users share B-tree pages);
// - every write row prints durable commands/s, the mean group-commit batch and commit time (the
//   writer's statistics), the callers' p99 latency, and the bytes the process wrote per command
//   (`/proc/self/io` write_bytes, with the views synced at the end of each run, see `Cost`);
// - the data directory is on the disk of the working directory (`.build/bench-<pid>`), its
//   filesystem is printed, and tmpfs is refused unless `--allow-tmpfs` (then every line says so).
//
//   swift build -c release --product ledger-benchmark && .build/release/ledger-benchmark --help
import Commerce
import CommerceApp
import Foundation
import SeededRandom
#if canImport(Glibc)
import Glibc
#endif

let usage = """
usage: ledger-benchmark [options]
  --seconds S            seconds per measured run (default 3)
  --keys K               uniform | zipf | consecutive | all, or a comma list (default uniform,zipf);
                         users are drawn from 1,000,000 ids; consecutive is the BEST CASE
  --callers LIST         concurrent callers of the group-commit writer (default 1,64,1024)
  --only W               charge | coupon | order | writer | rebuild | queries (default: charge,
                         coupon, order, then a rebuild of that log and the queries)
  --events N             events to generate for --only rebuild (default 10,000,000) or
                         --only queries (default 1,000,000)
  --prepared N           users prepared for the order runs (default: scaled to --seconds and --keys)
  --products N           products in the catalogue of --only rebuild and --only queries (default 100)
  --views-writemap on|off  MDB_WRITEMAP for the views environment (default on)
  --relay on|off         run the outbox relay (to a JSON-lines file) during the write runs (default off)
  --dir D                data directory (must be absent or empty; removed at the end);
                         default .build/bench-<pid> under the current directory
  --allow-tmpfs          run even if the data directory is on tmpfs (every line is then labelled)
  --seed N               seed of the pseudo-random generators (default 42)
"""

// MARK: - Options

enum KeyPattern: String, CaseIterable, Sendable {
    case uniform, zipf, consecutive

    var label: String {
        switch self {
        case .uniform: return "uniform"
        case .zipf: return "zipf"
        case .consecutive: return "consecutive"
        }
    }
}

enum Workload: String, CaseIterable {
    case charge, coupon, order, writer, rebuild, queries
}

struct Options {
    var seconds = 3.0
    var keys: [KeyPattern] = [.uniform, .zipf]
    var callers = [1, 64, 1024]
    var only: Workload?
    var events: Int?
    var prepared: Int?
    var products = 100
    var viewsWriteMap = true
    var relay = false
    var directory: String?
    var allowTmpfs = false
    var seed: UInt64 = 42

    init(_ args: [String]) {
        func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("ledger-benchmark: \(message)\n\(usage)\n".utf8))
            exit(2)
        }
        var i = 1
        func value(_ flag: String) -> String {
            i += 1
            guard i < args.count else { fail("\(flag) needs a value") }
            return args[i]
        }
        func number(_ flag: String) -> Int {
            let text = value(flag).replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "_", with: "")
            guard let n = Int(text), n > 0 else { fail("\(flag) needs a positive whole number") }
            return n
        }
        while i < args.count {
            let flag = args[i]
            switch flag {
            case "--seconds":
                guard let s = Double(value(flag)), s > 0 else { fail("--seconds needs a positive number") }
                seconds = s
            case "--keys":
                let text = value(flag)
                if text == "all" {
                    keys = KeyPattern.allCases
                } else {
                    keys = text.split(separator: ",").map { name in
                        guard let k = KeyPattern(rawValue: String(name)) else { fail("unknown key pattern \(name)") }
                        return k
                    }
                }
                if keys.isEmpty { fail("--keys names no pattern") }
            case "--callers":
                callers = value(flag).split(separator: ",").map { c in
                    guard let n = Int(c), n > 0 else { fail("bad caller count \(c)") }
                    return n
                }
                if callers.isEmpty { fail("--callers names no count") }
            case "--only":
                let name = value(flag)
                guard let w = Workload(rawValue: name) else { fail("unknown workload \(name)") }
                only = w
            case "--events": events = number(flag)
            case "--prepared": prepared = number(flag)
            case "--products": products = number(flag)
            case "--views-writemap":
                switch value(flag) {
                case "on": viewsWriteMap = true
                case "off": viewsWriteMap = false
                default: fail("--views-writemap takes on or off")
                }
            case "--relay":
                switch value(flag) {
                case "on": relay = true
                case "off": relay = false
                default: fail("--relay takes on or off")
                }
            case "--dir": directory = value(flag)
            case "--allow-tmpfs": allowTmpfs = true
            case "--seed": seed = UInt64(number(flag))
            case "--help", "-h": print(usage); exit(0)
            default: fail("unknown option \(flag)")
            }
            i += 1
        }
    }
}

// MARK: - Random numbers

extension SplitMix64 {
    /// Uniform in 0..<n (multiply-high; the bias is below 2^-40 for the sizes used here).
    mutating func index(_ n: Int) -> Int { Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(n)).high) }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var r = SplitMix64(seed: a ^ (b &* 0xD6E8_FEB8_6659_FD93))
    return r.next()
}

/// Zipf over 1...n with exponent s by rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-
/// inversion to generate variates from monotone discrete distributions", 1996), as in Apache
/// Commons RNG: O(1) per sample, no table.
struct ZipfSampler: Sendable {
    let n: Int
    let exponent: Double
    private let hIntegralX1: Double
    private let hIntegralN: Double
    private let s: Double

    init(n: Int, exponent: Double) {
        self.n = n
        self.exponent = exponent
        hIntegralX1 = Self.hIntegral(1.5, exponent) - 1
        hIntegralN = Self.hIntegral(Double(n) + 0.5, exponent)
        s = 2 - Self.hIntegralInverse(Self.hIntegral(2.5, exponent) - Self.h(2, exponent), exponent)
    }

    func sample(_ rng: inout SplitMix64) -> Int {
        while true {
            let u = hIntegralN + rng.unit() * (hIntegralX1 - hIntegralN)
            let x = Self.hIntegralInverse(u, exponent)
            var k = Int(x + 0.5)
            if k < 1 { k = 1 } else if k > n { k = n }
            if Double(k) - x <= s || u >= Self.hIntegral(Double(k) + 0.5, exponent) - Self.h(Double(k), exponent) { return k }
        }
    }

    private static func h(_ x: Double, _ e: Double) -> Double { exp(-e * log(x)) }
    private static func hIntegral(_ x: Double, _ e: Double) -> Double {
        let logX = log(x)
        return helper2((1 - e) * logX) * logX
    }
    private static func hIntegralInverse(_ x: Double, _ e: Double) -> Double {
        var t = x * (1 - e)
        if t < -1 { t = -1 }
        return exp(helper1(t) * x)
    }
    private static func helper1(_ x: Double) -> Double {
        abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))
    }
    private static func helper2(_ x: Double) -> Double {
        abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x))
    }
}

/// A seeded random permutation of 0..<n.
extension SplitMix64 {
    /// One unit each of 3 distinct random products (fewer when the catalogue has fewer).
    mutating func orderLines(of products: [Int64]) -> [OrderItem] {
        var picked: [Int] = []
        while picked.count < min(3, products.count) { let p = index(products.count); if !picked.contains(p) { picked.append(p) } }
        return picked.map { OrderItem(productId: products[$0], quantity: 1) }
    }
}

func permutation(_ n: Int, seed: UInt64) -> [Int32] {
    var p = (0..<n).map { Int32($0) }
    var rng = SplitMix64(seed: seed)
    for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, rng.index(i + 1)) }
    return p
}

/// A shared counter (the consecutive pattern's next user).
final class Ticket: @unchecked Sendable {
    private let lock = NSLock()
    private var n = -1
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}

/// Indices 0..<size drawn by a key pattern. Zipf ranks are scattered over the indices by a fixed
/// random permutation (rank 1 is not index 0), so hot keys do not share B-tree pages.
final class Population: Sendable {
    let size: Int
    let scramble: [Int32]
    let zipf: ZipfSampler
    let ticket = Ticket()

    init(size: Int, seed: UInt64) {
        self.size = size
        scramble = permutation(size, seed: seed)
        zipf = ZipfSampler(n: size, exponent: 1.0)
    }

    func draw(_ pattern: KeyPattern, _ rng: inout SplitMix64) -> Int {
        switch pattern {
        case .uniform: return rng.index(size)
        case .zipf: return Int(scramble[zipf.sample(&rng) - 1])
        case .consecutive: return ticket.next() % size
        }
    }
}

/// Indices taken at most once (users already holding a run's coupon, coupons already used).
final class Claims: @unchecked Sendable {
    private let lock = NSLock()
    private var bits: [UInt64]
    let size: Int
    private var taken = 0

    init(size: Int) {
        self.size = size
        bits = Array(repeating: 0, count: (size + 63) / 64)
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return taken }

    private func claimLocked(_ i: Int) -> Bool {
        let mask = UInt64(1) << UInt64(i & 63)
        if bits[i >> 6] & mask != 0 { return false }
        bits[i >> 6] |= mask
        taken += 1
        return true
    }

    /// Draws from `population` until an unclaimed index comes up; after 64 draws in vain, the
    /// next unclaimed index after the last draw. Nil when every index is claimed.
    func claim(_ population: Population, _ pattern: KeyPattern, _ rng: inout SplitMix64) -> Int? {
        var i = 0
        for _ in 0..<64 {
            i = population.draw(pattern, &rng)
            lock.lock()
            let ok = claimLocked(i)
            lock.unlock()
            if ok { return i }
        }
        lock.lock()
        defer { lock.unlock() }
        guard taken < size else { return nil }
        var j = i
        while !claimLocked(j) { j = (j + 1) % size }
        return j
    }
}

// MARK: - Measuring

/// Bytes this process has caused to be written to storage (Linux: `write_bytes` of /proc/self/io;
/// the kernel charges a page to the process that dirties it, including pages of a shared map).
func writeBytes() -> Int64 {
    guard let handle = FileHandle(forReadingAtPath: "/proc/self/io") else { return -1 }
    defer { try? handle.close() }
    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
        return Int64(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces)) ?? -1
    }
    return -1
}

/// What a run cost the writer and the disk.
struct Cost {
    var batches = 0
    var jobs = 0
    var commitSeconds = 0.0
    var bytes: Int64 = 0

    var meanBatch: Double { batches > 0 ? Double(jobs) / Double(batches) : 0 }
    var meanCommitMs: Double { batches > 0 ? commitSeconds / Double(batches) * 1000 : 0 }
}

/// Syncs the views (written without fsync) and clears their marker.
func syncViews(_ ledger: Ledger) throws {
    for _ in 0..<5 where try ledger.checkpointViews() { return }
}

/// Runs `body` between two readings of the writer's statistics and of write_bytes.
///
/// Linux charges write_bytes to the process that dirties a page (a write() or a store into a
/// shared map), when it dirties it. The views environment commits without fsync, so its pages
/// reach the disk later, at the kernel's pace. The views are therefore synced
/// (`checkpointViews()`) before the run and again after it, BEFORE write_bytes is read: the run
/// starts from clean views (a page left dirty by an earlier run and dirtied again would otherwise
/// be charged to that run only), and the writeback this run deferred happens, and is counted, in
/// this run rather than the next. The filesystem's journal (a kernel thread writes it) is not counted.
func costed<T>(_ ledger: Ledger, _ body: () async throws -> T) async throws -> (T, Cost) {
    try syncViews(ledger)
    let s0 = ledger.statistics.snapshot
    let io0 = writeBytes()
    let result = try await body()
    let s1 = ledger.statistics.snapshot
    try syncViews(ledger)
    let io1 = writeBytes()
    return (result, Cost(batches: s1.batches - s0.batches, jobs: s1.jobs - s0.jobs,
                         commitSeconds: s1.totalCommitSeconds - s0.totalCommitSeconds, bytes: io1 - io0))
}

/// What the callers of one run saw.
struct Tally: Sendable {
    var commands = 0
    var refused = 0
    var errors = 0
    var failedOrders = 0
    var exhausted = 0
    var latencies: [Float] = []

    mutating func add(_ other: Tally) {
        commands += other.commands
        refused += other.refused
        errors += other.errors
        failedOrders += other.failedOrders
        exhausted += other.exhausted
        latencies += other.latencies
    }
}

/// `callers` tasks, each submitting `make(&rng)` to the writer back to back until time is up
/// (or `make` returns nil: nothing left to draw). Returns the tally and the elapsed seconds.
func drive(_ writer: LedgerWriter, callers: Int, seconds: Double, seed: UInt64,
           _ make: @escaping @Sendable (inout SplitMix64) -> CommerceCommand?) async -> (Tally, Double) {
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int(seconds * 1000))
    let total = await withTaskGroup(of: Tally.self) { group in
        for c in 0..<callers {
            group.addTask {
                var rng = SplitMix64(seed: mix(seed, UInt64(c)))
                var t = Tally()
                t.latencies.reserveCapacity(1024)
                while ContinuousClock.now < deadline {
                    guard let command = make(&rng) else { t.exhausted += 1; break }
                    let t0 = ContinuousClock.now
                    do {
                        let outcome = try await writer.submit(command)
                        if case .orderFailed = outcome.result { t.failedOrders += 1 }
                    } catch is CommerceError {
                        t.refused += 1
                    } catch {
                        t.errors += 1
                    }
                    t.latencies.append(Float((ContinuousClock.now - t0) / .microseconds(1)))
                    t.commands += 1
                }
                return t
            }
        }
        var sum = Tally()
        for await t in group { sum.add(t) }
        return sum
    }
    return (total, (ContinuousClock.now - start) / .seconds(1))
}

func percentile(_ sorted: [Float], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
}

// MARK: - Output

func grouped(_ x: Int64) -> String {
    let digits = String(x.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (x < 0 ? "-" : "") + out
}
func grouped(_ x: Int) -> String { grouped(Int64(x)) }
func grouped(_ x: Double) -> String { grouped(Int64(x.rounded())) }
func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
func left(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func right(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }

final class Output: @unchecked Sendable {
    var tmpfs = false
    func line(_ s: String) {
        FileHandle.standardOutput.write(Data(((tmpfs ? s + "   [TMPFS, not a disk]" : s) + "\n").utf8))
    }
    func note(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}
let out = Output()

/// One aligned line per write measurement.
func writeRow(_ workload: String, _ keys: KeyPattern, callers: String, commands: Int, seconds: Double, cost: Cost,
              p99Ms: Double?, extra: [String] = []) {
    let rate = seconds > 0 ? Double(commands) / seconds : 0
    let perCommand = commands > 0 ? Double(cost.bytes) / Double(commands) : 0
    var s = left(workload, 7) + left(keys.label, 12) + left(callers, 13)
    s += right(grouped(rate), 9) + " cmd/s"
    s += "  batch " + right(fixed(cost.meanBatch, 1), 7)
    s += "  commit " + right(fixed(cost.meanCommitMs, 2), 6) + " ms"
    if let p99Ms { s += "  p99 " + right(fixed(p99Ms, 2), 7) + " ms" }
    s += "  " + right(grouped(perCommand), 7) + " B/cmd"
    var flags = extra
    if keys == .consecutive { flags.append("BEST CASE: consecutive users") }
    if !flags.isEmpty { s += "   " + flags.joined(separator: "; ") }
    out.line(s)
}

func row(_ workload: String, _ pattern: KeyPattern, callers: Int, tally: Tally, seconds: Double, cost: Cost, extra: [String] = []) {
    let sorted = tally.latencies.sorted()
    var flags = extra
    if tally.refused > 0 { flags.append("REFUSED \(grouped(tally.refused)) (\(fixed(100 * Double(tally.refused) / Double(max(1, tally.commands)), 1)) %)") }
    if tally.errors > 0 { flags.append("STORE ERRORS \(grouped(tally.errors))") }
    if tally.failedOrders > 0 { flags.append("ORDERS FAILED \(grouped(tally.failedOrders))") }
    if tally.exhausted > 0 { flags.append("key space exhausted, run ended early") }
    writeRow(workload, pattern, callers: "callers \(callers)", commands: tally.commands, seconds: seconds, cost: cost,
             p99Ms: percentile(sorted, 0.99) / 1000, extra: flags)
}

// MARK: - Environment

/// The filesystem type of the mount holding `path`: the longest mount point of /proc/mounts that
/// contains the path's real location (the last such line wins, as later mounts cover earlier ones).
func filesystemType(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return "unknown (\(String(cString: strerror(errno))))" }
    let real = String(cString: resolved)
    free(resolved)
    guard let handle = FileHandle(forReadingAtPath: "/proc/mounts") else { return "unknown (no /proc/mounts)" }
    defer { try? handle.close() }
    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    /// Mount points escape space, tab, newline and backslash as octal.
    func unescape(_ s: Substring) -> String {
        var out = "", chars = Array(s), i = 0
        while i < chars.count {
            if chars[i] == "\\", i + 3 < chars.count, let code = UInt8(String(chars[(i + 1)...(i + 3)]), radix: 8) {
                out.append(Character(UnicodeScalar(code))); i += 4
            } else {
                out.append(chars[i]); i += 1
            }
        }
        return out
    }
    var best: (length: Int, type: String)?
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count >= 3 else { continue }
        let mountPoint = unescape(fields[1])
        let contains = mountPoint == "/" || real == mountPoint || real.hasPrefix(mountPoint + "/")
        if contains, mountPoint.count >= (best?.length ?? -1) { best = (mountPoint.count, String(fields[2])) }
    }
    return best?.type ?? "unknown"
}

func memoryGiB() -> String {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
    return pages > 0 && size > 0 ? fixed(Double(pages) * Double(size) / Double(1 << 30), 0) + " GiB" : "? GiB"
}

func mib(_ bytes: Int) -> String { grouped(Double(bytes) / 1_048_576) + " MiB" }

// MARK: - Workloads

let userSpace = 1_000_000

struct Bench {
    let options: Options
    let ledger: Ledger
    let writer: LedgerWriter
    let users: Population
    var runs: UInt64 = 0

    mutating func nextSeed() -> UInt64 {
        runs += 1
        return mix(options.seed, runs)
    }

    /// `count` products with plenty of stock; their ids.
    func registerProducts(_ count: Int = 100) throws -> [Int64] {
        try (0..<count).map { p -> Int64 in
            guard case let .product(record) = try ledger.execute(.registerProduct(name: "Product \(p)", price: 1_000 + Int64(p), stock: 1_000_000_000)).result else {
                throw LedgerError.storeFailure("no product")
            }
            return record.id
        }
    }

    func defineCoupon(_ name: String, _ discount: Discount) throws -> Int64 {
        let definition = CouponDefinition(name: name, discount: discount, totalQuantity: 100_000_000,
                                          issueStartsAt: 0, issueEndsAt: Int64.max / 2, validity: .days(30))
        guard case let .coupon(record) = try ledger.execute(.defineCoupon(definition)).result else {
            throw LedgerError.storeFailure("no coupon")
        }
        return record.id
    }

    mutating func charges() async throws {
        for pattern in options.keys {
            for callers in options.callers {
                let users = self.users
                let seed = nextSeed(), writer = self.writer, duration = options.seconds
                let ((tally, seconds), cost) = try await costed(ledger) {
                    await drive(writer, callers: callers, seconds: duration, seed: seed) { rng in
                        .chargePoints(userId: Int64(users.draw(pattern, &rng) + 1), amount: 10_000)
                    }
                }
                row("charge", pattern, callers: callers, tally: tally, seconds: seconds, cost: cost)
            }
        }
    }

    /// One big coupon per run, issued to users drawn by the pattern who do not hold it yet.
    mutating func coupons() async throws {
        for pattern in options.keys {
            for callers in options.callers {
                runs += 1
                let coupon = try defineCoupon("Storm \(runs)", .fixed(amount: 1_000))
                let holders = Claims(size: userSpace)
                let users = self.users
                let seed = nextSeed(), writer = self.writer, duration = options.seconds
                let ((tally, seconds), cost) = try await costed(ledger) {
                    await drive(writer, callers: callers, seconds: duration, seed: seed) { rng in
                        guard let i = holders.claim(users, pattern, &rng) else { return nil }
                        return .issueCoupon(userId: Int64(i + 1), couponId: coupon)
                    }
                }
                row("coupon", pattern, callers: callers, tally: tally, seconds: seconds, cost: cost)
            }
        }
    }

    /// Orders of 3 distinct random products out of 100 with the order coupon, by prepared users
    /// (random ids of the 1M space, each charged and holding one order coupon). Each order picks a
    /// prepared user by the pattern among those whose coupon is still unused.
    mutating func orders() async throws {
        let products = try registerProducts()
        let coupon = try defineCoupon("Order", .percent(10, maxAmount: 5_000))
        let count = min(userSpace, options.prepared ?? max(100_000, Int(Double(options.keys.count) * options.seconds * 60_000)))
        // Random distinct ids of the 1M space, sorted so the consecutive pattern walks adjacent ids.
        let pool = permutation(userSpace, seed: mix(options.seed, 0x706F_6F6C)).prefix(count).map { Int64($0) + 1 }.sorted()
        let t0 = ContinuousClock.now
        for start in stride(from: 0, to: pool.count, by: 5_000) {
            let batch = pool[start..<min(pool.count, start + 5_000)].flatMap { user -> [CommerceCommand] in
                [.chargePoints(userId: user, amount: 1_000_000), .issueCoupon(userId: user, couponId: coupon)]
            }
            let refused = try ledger.execute(batch: batch).filter { if case .failure = $0 { return true } else { return false } }.count
            if refused > 0 { out.line("order   preparation: \(refused) commands REFUSED") }
        }
        out.line("order   prepared \(grouped(count)) users (random ids of 1,000,000; charged 1,000,000 and holding the order coupon) in \(fixed((ContinuousClock.now - t0) / .seconds(1), 1)) s")
        let prepared = Population(size: count, seed: mix(options.seed, 0x6F72_6465))
        let used = Claims(size: count)
        for pattern in options.keys {
            for callers in options.callers {
                let noCoupon = Ticket()
                let seed = nextSeed(), writer = self.writer, duration = options.seconds
                let ((tally, seconds), cost) = try await costed(ledger) {
                    await drive(writer, callers: callers, seconds: duration, seed: seed) { rng in
                        let a = rng.index(100); var b = rng.index(99), c = rng.index(98)
                        if b >= a { b += 1 }
                        let (lo, hi) = (min(a, b), max(a, b))
                        if c >= lo { c += 1 }
                        if c >= hi { c += 1 }
                        let items = [a, b, c].map { OrderItem(productId: products[$0], quantity: 1) }
                        if let i = used.claim(prepared, pattern, &rng) {
                            return .placeOrder(userId: pool[i], items: items, couponId: coupon)
                        }
                        // Every prepared coupon is used: order without one (flagged below).
                        _ = noCoupon.next()
                        return .placeOrder(userId: pool[prepared.draw(pattern, &rng)], items: items, couponId: nil)
                    }
                }
                let withoutCoupon = noCoupon.next()
                row("order", pattern, callers: callers, tally: tally, seconds: seconds, cost: cost,
                    extra: withoutCoupon > 0 ? ["\(grouped(withoutCoupon)) WITHOUT A COUPON (prepared coupons used up; raise --prepared)"] : [])
            }
        }
    }

    /// The writer alone: batches of 1,000 charges decided and committed on this thread.
    mutating func writerOnly() async throws {
        for pattern in options.keys {
            var rng = SplitMix64(seed: nextSeed())
            let users = self.users
            let ((commands, refused, seconds), cost) = try await costed(ledger) { () -> (Int, Int, Double) in
                let t0 = ContinuousClock.now
                let deadline = t0 + .milliseconds(Int(options.seconds * 1000))
                var n = 0, refused = 0
                while ContinuousClock.now < deadline {
                    let batch = (0..<1_000).map { _ in CommerceCommand.chargePoints(userId: Int64(users.draw(pattern, &rng) + 1), amount: 10_000) }
                    for r in try ledger.execute(batch: batch) { if case .failure = r { refused += 1 } }
                    n += batch.count
                }
                return (n, refused, (ContinuousClock.now - t0) / .seconds(1))
            }
            writeRow("writer", pattern, callers: "batches 1000", commands: commands, seconds: seconds, cost: cost, p99Ms: nil,
                     extra: refused > 0 ? ["REFUSED \(grouped(refused))"] : [])
        }
    }

    /// A log of about `events` events: charges of uniformly random users of the 1M, one order (3
    /// distinct random products, no coupon) in ten, in batches of 10,000 through `execute(batch:)`.
    mutating func generate(events: Int, products: [Int64]) throws {
        var rng = SplitMix64(seed: nextSeed())
        let t0 = ContinuousClock.now
        var n = 0
        var reported = 0
        let tty = isatty(STDERR_FILENO) != 0
        while try ledger.head() < UInt64(events) {
            let batch: [CommerceCommand] = (0..<10_000).map { _ in
                n += 1
                let user = Int64(rng.index(userSpace) + 1)
                if n % 10 == 0 {
                    return .placeOrder(userId: user, items: rng.orderLines(of: products), couponId: nil)
                }
                return .chargePoints(userId: user, amount: 10_000)
            }
            _ = try ledger.execute(batch: batch)
            let head = Int(try ledger.head())
            if tty && head * 20 / events > reported {
                reported = head * 20 / events
                out.note("  generating: \(grouped(head)) of \(grouped(events)) events")
            }
        }
        let seconds = (ContinuousClock.now - t0) / .seconds(1)
        let head = Int(try ledger.head())
        out.line("generate  \(grouped(head)) events (charges of uniformly random users of 1,000,000, one order in ten) in \(fixed(seconds, 1)) s = \(grouped(Double(head) / seconds)) events/s")
    }

    /// `orders` orders of 3 distinct random products by 1,000 users charged enough first: sales
    /// over the whole catalogue, for the best-seller queries (most of `generate`'s orders are
    /// refused for want of points).
    mutating func sell(orders: Int, products: [Int64]) throws {
        var rng = SplitMix64(seed: nextSeed())
        let buyers = (1...1_000).map { Int64($0) }
        _ = try ledger.execute(batch: buyers.map { .chargePoints(userId: $0, amount: 1_000_000_000) })
        var placed = 0, refused = 0
        while placed < orders {
            let batch: [CommerceCommand] = (0..<min(10_000, orders - placed)).map { _ in
                .placeOrder(userId: buyers[rng.index(buyers.count)], items: rng.orderLines(of: products), couponId: nil)
            }
            for r in try ledger.execute(batch: batch) { if case .failure = r { refused += 1 } }
            placed += batch.count
        }
        out.line("sell      \(grouped(placed)) orders of up to 3 random products of \(grouped(products.count))" + (refused > 0 ? ", REFUSED \(grouped(refused))" : ""))
    }

    func rebuild(_ title: String) async throws {
        let (report, cost) = try await costed(ledger) { try ledger.rebuildProjections() }
        let info = ledger.storage()
        out.line(left(title, 9) + right(grouped(report.events), 11) + " events in " + fixed(report.seconds, 2) + " s = "
                 + grouped(report.eventsPerSecond) + " events/s  " + grouped(Double(cost.bytes) / Double(max(1, report.events))) + " B/event")
        out.line("data      log " + mib(info.log.mapUsedBytes) + " used (" + mib(info.log.bytesOnDisk) + " on disk), views "
                 + mib(info.views.mapUsedBytes) + " used (" + mib(info.views.bytesOnDisk) + " on disk)")
    }

    /// Query latency, each query in its own read transaction.
    mutating func queries() throws {
        func timed(_ iterations: Int, between: (Int) throws -> Void = { _ in }, _ body: (Int) throws -> Void) rethrows -> [Float] {
            var samples = [Float]()
            samples.reserveCapacity(iterations)
            for i in 0..<iterations {
                try between(i)
                let t0 = ContinuousClock.now
                try body(i)
                samples.append(Float((ContinuousClock.now - t0) / .nanoseconds(1)))
            }
            return samples.sorted()
        }
        func show(_ name: String, _ s: [Float], _ note: String) {
            out.line(left("query", 7) + left(name, 25) + "p50 " + right(fixed(percentile(s, 0.5) / 1000, 2), 6) + " µs  p99 "
                     + right(fixed(percentile(s, 0.99) / 1000, 2), 6) + " µs   " + note)
        }
        // Balance: every query a different user, in random order over the 1M ids (users never
        // charged are answered too: a B-tree descent that finds nothing).
        let balanceUsers = permutation(userSpace, seed: nextSeed()).prefix(200_000).map { Int64($0) + 1 }
        let balance = try timed(balanceUsers.count) { i in _ = try ledger.balance(of: balanceUsers[i]) }
        show("balance", balance, "(\(grouped(balanceUsers.count)) queries, each a different random user)")

        // Top-5 over 3 days after a write: best-seller answers are cached per views position, so an
        // untimed durable write (a charge) before every sample moves the position and no sample is
        // answered from that cache; each adds the sales since the last query to the kept sums.
        var rng = SplitMix64(seed: nextSeed())
        func chargeSomeone(_: Int) throws {
            _ = try ledger.execute(.chargePoints(userId: Int64(rng.index(userSpace) + 1), amount: 10_000))
        }
        let samples = min(20_000, max(1_000, Int(options.seconds * 1_500)))
        let afterWrite = try timed(samples, between: chargeSomeone) { _ in _ = try ledger.bestSellers() }
        let today = ledger.calendar.day(of: ledger.clock.now())
        let sold = try ledger.bestSellers(days: 3, limit: 100).items.count
        show("top-5 3 days after write", afterWrite, "(\(grouped(samples)) queries, each after a write: the sales since the one before added to kept sums)")
        // Summed afresh: six windows that all hold every sale (the log was made today), asked in
        // turn, are more than the sums kept (4), so every query (again after a write) sums every
        // product's daily rows.
        let windows: [(Int64, Int)] = [(0, 3), (1, 3), (2, 3), (0, 4), (1, 4), (2, 4)].map { (today + $0.0, $0.1) }
        let fresh = try timed(max(60, samples / 10), between: chargeSomeone) { i in
            _ = try ledger.bestSellers(lastDay: windows[i % windows.count].0, days: windows[i % windows.count].1)
        }
        show("top-5 summed afresh", fresh, "(\(grouped(max(60, samples / 10))) queries over \(grouped(options.products)) products, \(sold < 100 ? "\(sold)" : "100+") with sales: every daily row of the window summed)")
        let cached = try timed(100_000) { _ in _ = try ledger.bestSellers() }
        show("top-5 3 days CACHED", cached, "(100,000 identical queries, no writes between: answered from the per-position cache)")
    }
}

// MARK: - Main

func main() async -> Int32 {
    let options = Options(CommandLine.arguments)
    let fm = FileManager.default
    let directory: String
    if let dir = options.directory {
        directory = dir.hasPrefix("/") ? dir : fm.currentDirectoryPath + "/" + dir
        if let contents = try? fm.contentsOfDirectory(atPath: directory), !contents.isEmpty {
            out.note("ledger-benchmark: \(directory) is not empty; give an absent or empty directory (it is removed at the end)")
            return 2
        }
    } else {
        directory = fm.currentDirectoryPath + "/.build/bench-\(getpid())"
    }
    do {
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        out.note("ledger-benchmark: cannot create \(directory): \(error)")
        return 2
    }
    defer { try? fm.removeItem(atPath: directory) }
    // Interrupted: remove the data directory all the same.
    let cleanup = DispatchQueue(label: "signals")
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: cleanup)
        source.setEventHandler {
            try? FileManager.default.removeItem(atPath: directory)
            exit(130)
        }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }

    let fs = filesystemType(directory)
    if fs == "tmpfs" || fs == "ramfs" {
        guard options.allowTmpfs else {
            out.note("ledger-benchmark: \(directory) is on \(fs), not a disk: fsync costs nothing there. Use --dir on a disk, or --allow-tmpfs.")
            return 2
        }
        out.tmpfs = true
    }

    var rules = CommerceRules()
    // Zipf-hot users are charged thousands of times: lift the balance limit so no charge is refused.
    rules.maxBalance = 1 << 50
    var configuration = LedgerConfiguration(dataDirectory: directory, environment: .init(mapSize: 1 << 30, maxMapSize: 64 << 30),
                                            rules: rules, viewsWriteMap: options.viewsWriteMap)
    configuration.recoveryProgress = nil

    out.line("ledger-benchmark: \(ProcessInfo.processInfo.activeProcessorCount) cores (nproc), \(memoryGiB()), \(fixed(options.seconds, 1)) s per run, "
             + "keys \(options.keys.map(\.rawValue).joined(separator: ",")) over \(grouped(userSpace)) users (seed \(options.seed); zipf s=1.0, ranks scattered), "
             + "callers \(options.callers.map(String.init).joined(separator: ",")), views MDB_WRITEMAP \(options.viewsWriteMap ? "on" : "off"), "
             + "max batch \(configuration.maxBatchSize), balance limit lifted, outbox relay \(options.relay ? "ON" : "off")")
    out.line("data: \(directory) on \(fs)\(out.tmpfs ? " (TMPFS, not a disk: fsync is free, figures are not disk figures)" : "")")
    out.line("every command durable (log fsync per batch); B/cmd = /proc/self/io write_bytes over the run / commands, "
             + "views synced (checkpointViews) before each reading so a run's deferred view writeback counts in that run; journal not counted")

    do {
        let ledger = try Ledger(configuration: configuration)
        let writer = LedgerWriter(ledger: ledger)
        var bench = Bench(options: options, ledger: ledger, writer: writer, users: Population(size: userSpace, seed: mix(options.seed, 0x7573_6572)))
        switch options.only {
        case .rebuild?:
            let products = try bench.registerProducts(options.products)
            try bench.generate(events: options.events ?? 10_000_000, products: products)
            try await bench.rebuild("rebuild")
        case .queries?:
            let products = try bench.registerProducts(options.products)
            try bench.generate(events: options.events ?? 1_000_000, products: products)
            try bench.sell(orders: 3 * products.count, products: products)
            try bench.queries()
        case .writer?:
            try await bench.writerOnly()
        case let only:
            writer.start()
            // The outbox relay beside the writer, as `commerce serve --data-platform-file` runs it.
            let relay = try options.relay ? DataPlatformRelay(ledger: ledger, sink: FileDataPlatformSink(path: directory + "/platform.jsonl")) : nil
            let relaying = relay.map { relay in Task { await relay.run() } }
            defer { relaying?.cancel() }
            if only == nil || only == .charge { try await bench.charges() }
            if only == nil || only == .coupon { try await bench.coupons() }
            if only == nil || only == .order { try await bench.orders() }
            writer.stop()
            if only == nil {
                try await bench.rebuild("rebuild")
                try bench.queries()
            }
        }
        try syncViews(ledger)
    } catch {
        out.note("ledger-benchmark: \(error)")
        return 1
    }
    return 0
}

exit(await main())
