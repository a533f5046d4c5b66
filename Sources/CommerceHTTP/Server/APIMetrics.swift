import CommerceApp
import Foundation
import Prometheus
import Synchronization

/// The service's Prometheus metrics: commands by type and outcome, group-commit batch sizes and
/// commit latency, the log head and each subscriber's lag (refreshed at scrape time).
public final class APIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let batchSize: ValueHistogram
    private let commitLatency: DurationHistogram
    private let head: Gauge
    private let counters = Mutex<[String: Counter]>([:])
    private let requestDuration: DurationHistogram
    private let streamClientCount: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        batchSize = registry.makeValueHistogram(
            descriptor: Self.name("group_commit_batch", "size", "Commands decided in one durable write transaction"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048])
        commitLatency = registry.makeDurationHistogram(
            descriptor: Self.name("group_commit", "seconds", "Time to decide and durably commit one batch"),
            buckets: [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100)])
        head = registry.makeGauge(descriptor: Self.name("log_head", "position", "Position of the newest event in the log"))
        requestDuration = registry.makeDurationHistogram(
            descriptor: Self.name("http_request", "seconds", "Time to answer an HTTP request"),
            buckets: [.microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100)])
        streamClientCount = registry.makeGauge(descriptor: Self.name("event_stream", "clients", "Clients connected to GET /events/stream"))
    }


    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ledger", metricName: metric, unitName: unit, helpText: help)
    }

    func observe(_ ledger: Ledger) {
        ledger.statistics.onBatch { [batchSize, commitLatency] size, duration in
            batchSize.record(Double(size))
            commitLatency.record(duration)
        }
    }

    func command(_ type: String, outcome: String) {
        counter("commands", "Commands handled, by type and outcome", [("type", type), ("outcome", outcome)]).increment()
    }

    func request(route: String, status: Int, duration: Duration) {
        counter("http_requests", "HTTP requests by route and status", [("route", route), ("status", String(status))]).increment()
        requestDuration.record(duration)
    }

    /// A labelled counter, made once and then found by its labels.
    private func counter(_ metric: String, _ help: String, _ labels: [(String, String)]) -> Counter {
        let key = metric + labels.map { "|" + $0.1 }.joined()
        return counters.withLock { c -> Counter in
            if let existing = c[key] { return existing }
            let made = registry.makeCounter(descriptor: Self.name(metric, "total", help), labels: labels)
            c[key] = made
            return made
        }
    }

    /// Prometheus text, with the head, subscriber lags and event-stream clients read now.
    func render(ledger: Ledger, streamClients: Int, replication: ReplicationState? = nil) -> [UInt8] {
        streamClientCount.set(Int64(streamClients))
        if let replication {
            let (kind, position, lagEvents, lagSeconds) = replication.figures
            registry.makeGauge(descriptor: Self.name(kind, "position", "The last log position the \(kind) holds"))
                .set(Int64(position))
            registry.makeGauge(descriptor: Self.name("\(kind)_lag", "events", "Events the \(kind) is behind"))
                .set(Int64(lagEvents))
            registry.makeGauge(descriptor: Self.name("\(kind)_lag", "seconds", "Age of the oldest event the \(kind) has not yet got"))
                .set(lagSeconds)
        }
        if let status = try? ledger.subscriberStatus() {
            head.set(Int64(status.head))
            for s in status.subscribers {
                registry.makeGauge(descriptor: Self.name("subscriber_lag", "events", "Events between a subscriber's checkpoint and the head"),
                                   labels: [("subscriber", s.name)]).set(Int64(s.lagEvents))
                registry.makeGauge(descriptor: Self.name("subscriber_lag", "seconds", "Time between the event at a subscriber's checkpoint and the head's"),
                                   labels: [("subscriber", s.name)]).set(s.lagSeconds)
            }
        }
        return registry.emitToBuffer()
    }
}
