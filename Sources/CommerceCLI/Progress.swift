import Foundation

/// Progress on stderr: a bar redrawn in place on a terminal, a plain line every second otherwise.
/// Used from one thread at a time.
public final class ProgressReporter: @unchecked Sendable {
    let label: String
    let isTerminal = isatty(STDERR_FILENO) == 1
    let started = Date()
    var lastPrint = Date.distantPast
    var lastDone = 0

    public init(label: String) { self.label = label }

    public func update(done: Int, total: UInt64) {
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= (isTerminal ? 0.1 : 1.0) else { return }
        lastPrint = now
        lastDone = done
        FileHandle.standardError.write(Data(line(done: done, total: total).utf8))
    }

    public func finish(done: Int, total: UInt64) {
        FileHandle.standardError.write(Data((line(done: done, total: total) + (isTerminal ? "\n" : "")).utf8))
    }

    func line(done: Int, total: UInt64) -> String {
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let eta = rate > 0 && total > UInt64(done) ? Double(total - UInt64(done)) / rate : 0
        let numbers = "\(done)/\(total) events  \(Int(rate)) events/s  ETA \(String(format: "%.0f", eta)) s"
        if isTerminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            return "\r\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(String(format: "%3.0f", fraction * 100))%  \(numbers)\u{1B}[K"
        }
        return "\(label): \(String(format: "%.0f", fraction * 100))%  \(numbers)\n"
    }
}
