import CommerceApp
import HTTPTypes
import Hummingbird

/// What a server is in a deployment of one writer and any number of read replicas.
public enum ServerRole: Sendable {
    /// Decides commands; `relay` reports how far the bus has the log, when a relay runs.
    case leader(relay: (@Sendable () -> RelayReport)?)
    /// Serves queries from a copy of the leader's log; commands go to `leader` (a base URL).
    case replica(leader: String?, report: @Sendable () -> ReplicaReport)

    public var isReplica: Bool {
        if case .replica = self { return true }
        return false
    }
}

extension HTTPField.Name {
    /// The log position an answer reflects (commands), or that a query must wait for (requests).
    static let ledgerPosition = HTTPField.Name("Ledger-Position")!
}

/// A relay's or a replica's figures, as `/health` and `/metrics` show them.
enum ReplicationState {
    case relay(RelayReport, lagEvents: UInt64, lagSeconds: Double)
    case replica(ReplicaReport)

    var figures: (kind: String, position: UInt64, lagEvents: UInt64, lagSeconds: Double) {
        switch self {
        case let .relay(r, events, seconds): ("relay", r.position, events, seconds)
        case let .replica(r): ("replica", r.position, r.lagEvents, r.lagSeconds)
        }
    }
}
