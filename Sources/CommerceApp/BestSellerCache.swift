import Synchronization

/// The last few best-seller answers, each valid for the views' position and the projection tables
/// (a rebuild may repair them without a new event) it was computed from.
final class BestSellerCache: Sendable {
    struct Key: Hashable, Sendable {
        let lastDay: Int64
        let days: Int
        let limit: Int
    }

    struct Source: Equatable, Sendable {
        let position: UInt64
        let tables: [String]
    }

    private let entries = Mutex<[Key: (source: Source, items: [Ledger.BestSellerEntry])]>([:])

    func lookup(_ key: Key, source: Source) -> [Ledger.BestSellerEntry]? {
        entries.withLock { e in
            guard let hit = e[key], hit.source == source else { return nil }
            return hit.items
        }
    }

    func store(_ key: Key, source: Source, items: [Ledger.BestSellerEntry]) {
        entries.withLock { e in
            // A handful of distinct queries is normal; anything more is not worth keeping.
            if e.count > 64 { e.removeAll() }
            e[key] = (source, items)
        }
    }
}
