import Commerce
import Synchronization

/// Best sellers kept up with the log instead of summed afresh for every query.
///
/// For a few recent windows (last day, days) it holds the units each product sold as of a views
/// position. A query at a later position adds the sales of the events in between, read from the
/// log, which are exactly what the views folded since: under a stream of orders a query costs the
/// orders since the one before it, not a pass over every product's daily rows (on a catalogue of
/// 31,000 sold products that pass took 13 ms, and each order made the next query pay it again).
///
/// Sums start afresh from the views when the tables changed (a rebuild may repair rows without a
/// new event), when a query reads an older position than the sums are at, or when more than
/// `catchUpLimit` events came between. Finished answers are kept per position as well.
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

    struct Window: Hashable, Sendable {
        let lastDay: Int64
        let days: Int
        var firstDay: Int64 { lastDay - Int64(days) + 1 }
    }

    private struct Sums {
        var source: Source
        var unitsSold: [Int64: Int64]
        var lastUse: UInt64
    }

    private struct State {
        var answers: [Key: (source: Source, items: [Ledger.BestSellerEntry])] = [:]
        var sums: [Window: Sums] = [:]
        var uses: UInt64 = 0
    }

    /// Events read from the log past which summing the window's daily rows again is cheaper.
    static let catchUpLimit: UInt64 = 50_000
    /// Windows whose sums are kept: the default query and a few others (a dashboard's choice of days).
    static let keptWindows = 4

    private let state = Mutex(State())

    func lookup(_ key: Key, source: Source) -> [Ledger.BestSellerEntry]? {
        state.withLock { s in
            guard let hit = s.answers[key], hit.source == source else { return nil }
            return hit.items
        }
    }

    func store(_ key: Key, source: Source, items: [Ledger.BestSellerEntry]) {
        state.withLock { s in
            // A handful of distinct queries is normal; anything more is not worth keeping.
            if s.answers.count > 64 { s.answers.removeAll() }
            s.answers[key] = (source, items)
        }
    }

    /// The best `limit` sellers of `window` as of `source`: from the kept sums brought up to it
    /// with `salesBetween(after, through)`, or from `sumAll()`. Queries of the same window wait
    /// for each other, so that one brings the sums up and the next starts from there.
    func bestSellers(
        _ window: Window, limit: Int, at source: Source,
        salesBetween: (_ after: UInt64, _ through: UInt64) throws -> [DailySalesProjection.Sale],
        sumAll: () throws -> [Int64: Int64]
    ) throws -> [DailySalesProjection.BestSeller] {
        try state.withLock { s -> [DailySalesProjection.BestSeller] in
            s.uses += 1
            if var kept = s.sums.removeValue(forKey: window), kept.source.tables == source.tables,
               kept.source.position <= source.position, source.position - kept.source.position <= Self.catchUpLimit {
                if kept.source.position < source.position {
                    for sale in try salesBetween(kept.source.position, source.position)
                    where sale.day >= window.firstDay && sale.day <= window.lastDay {
                        kept.unitsSold[sale.productId, default: 0] += sale.quantity
                    }
                    kept.source = source
                }
                kept.lastUse = s.uses
                s.sums[window] = kept
            } else {
                s.sums[window] = Sums(source: source, unitsSold: try sumAll(), lastUse: s.uses)
                if s.sums.count > Self.keptWindows, let oldest = s.sums.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                    s.sums.removeValue(forKey: oldest.key)
                }
            }
            return DailySalesProjection.rank(s.sums[window]?.unitsSold ?? [:], limit: limit)
        }
    }
}
