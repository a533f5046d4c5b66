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
/// Sums start afresh from the views after a rebuild swapped tables (it may repair rows without a
/// new event), when a query reads an older position than the sums are at, or when more events
/// came between than summing afresh would cost (`catchUpLimit`). Finished answers are kept per
/// position as well.
final class BestSellerCache: Sendable {
    struct Key: Hashable, Sendable {
        let lastDay: Int64
        let days: Int
        let limit: Int
    }

    struct Source: Equatable, Sendable {
        let position: UInt64
        /// The views' count of generation swaps (`ProjectionCatalog.swaps`).
        let swaps: UInt64
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

    private struct KeptSums {
        var windows: [Window: Sums] = [:]
        var uses: UInt64 = 0
    }

    /// Events between the sums and a query past which summing the window's daily rows again is
    /// cheaper: reading an event costs about what adding up a few rows does, and a window has at
    /// least a row per product it sums.
    static func catchUpLimit(products: Int) -> UInt64 { UInt64(max(1_000, products)) }
    /// Windows whose sums are kept: the default query and a few others (a dashboard's choice of days).
    static let keptWindows = 4

    /// Apart, so that an answer already made never waits for sums being brought up.
    private let answers = Mutex<[Key: (source: Source, items: [Ledger.BestSellerEntry])]>([:])
    private let sums = Mutex(KeptSums())

    func lookup(_ key: Key, source: Source) -> [Ledger.BestSellerEntry]? {
        answers.withLock { a in
            guard let hit = a[key], hit.source == source else { return nil }
            return hit.items
        }
    }

    func store(_ key: Key, source: Source, items: [Ledger.BestSellerEntry]) {
        answers.withLock { a in
            // A handful of distinct queries is normal; anything more is not worth keeping.
            if a.count > 64 { a.removeAll() }
            a[key] = (source, items)
        }
    }

    /// The best `limit` sellers of `window` as of `source`: from the kept sums brought up to it
    /// with `salesBetween(after, through)`, or from `sumAll()`. Queries that need sums wait for
    /// each other (each holds them for at most about one summing's time), so that one brings the
    /// sums up and the next starts from there.
    func bestSellers(
        _ window: Window, limit: Int, at source: Source,
        salesBetween: (_ after: UInt64, _ through: UInt64) throws -> [DailySalesProjection.Sale],
        sumAll: () throws -> [Int64: Int64]
    ) throws -> [DailySalesProjection.BestSeller] {
        try sums.withLock { s -> [DailySalesProjection.BestSeller] in
            s.uses += 1
            if var kept = s.windows.removeValue(forKey: window), kept.source.swaps == source.swaps, kept.source.position <= source.position,
               source.position - kept.source.position <= Self.catchUpLimit(products: kept.unitsSold.count) {
                if kept.source.position < source.position {
                    for sale in try salesBetween(kept.source.position, source.position)
                    where sale.day >= window.firstDay && sale.day <= window.lastDay {
                        kept.unitsSold[sale.productId, default: 0] += sale.quantity
                    }
                    kept.source = source
                }
                kept.lastUse = s.uses
                s.windows[window] = kept
            } else {
                s.windows[window] = Sums(source: source, unitsSold: try sumAll(), lastUse: s.uses)
                if s.windows.count > Self.keptWindows, let oldest = s.windows.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                    s.windows.removeValue(forKey: oldest.key)
                }
            }
            return DailySalesProjection.rank(s.windows[window]?.unitsSold ?? [:], limit: limit)
        }
    }
}
