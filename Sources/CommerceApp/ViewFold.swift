import Commerce
import EventLog
import LMDB

/// The one way views change: a record of the log folded into every view (the stream index, the
/// idempotency index, the domain's projections). The writer, a catch-up after a crash, a rebuild
/// and a verification all fold through here, so they cannot disagree.
struct ViewFold: Sendable {
    let projections: CommerceProjections
    /// What the views' bytes depend on besides the log: this build's row formats and the zone of
    /// calendar days. Views folded under another signature are folded anew.
    let signature: String

    /// Bumped whenever a view row's encoding changes, so that views written by another build are
    /// rebuilt rather than misread.
    static let format = 4

    /// Coupon rows embed a `CouponDefined` in its current schema: a new schema changes the rows too.
    static func signature(timeZone: String) -> String {
        "format \(format), coupon schema \(CouponDefined.schemaVersion), days in \(timeZone)"
    }

    /// Which views a fold writes: all, or those a named rebuild chose.
    struct Selection: Sendable {
        var streams = true
        var idempotency = true
        /// Domain projections by name; nil for all of them.
        var projections: Set<String>?

        static let all = Selection()
    }

    /// Folds `record` (whose payload is `event`) into `tables` through `rows`: a write transaction
    /// (the writer) or a write buffer over one (the bulk folds). Events of a type this build does
    /// not know change no projection, but are still indexed.
    func apply<Rows: RowWriter>(_ record: EventRecord, event: CommerceEvent, to tables: ViewTables, in rows: Rows, selection: Selection = .all) throws {
        if selection.streams { try tables.streams.add(record, in: rows) }
        try applyToProjectionsAndKeys(RecordedEvent(position: record.position, timestamp: record.timestamp, event: event),
                                      record: record, to: tables, in: rows, selection: selection)
    }

    /// The fold without the stream index: for the writer, whose appender indexes as it appends.
    func applyToProjectionsAndKeys<Rows: RowWriter>(_ recorded: RecordedEvent, record: EventRecord, to tables: ViewTables, in rows: Rows, selection: Selection = .all) throws {
        let store = RowProjectionStore(rows: rows, tables: tables.projections)
        if let only = selection.projections {
            try projections.apply(recorded, to: store, only: only)
        } else {
            try projections.apply(recorded, to: store)
        }
        if selection.idempotency { try tables.idempotency.add(record, in: rows) }
    }

    /// What a fold applies, prepared once: the domain's projections as bits in the order of
    /// `CommerceProjections.all`, so that a fold tests a bit, not a set of names, per projection
    /// and event.
    struct Plan: Sendable {
        var streams: Bool
        var idempotency: Bool
        var projections: UInt16
        /// Names for the general path, when this build's projections are not the ones `apply`
        /// calls directly.
        var names: Set<String>?
        var direct: Bool
    }

    /// The projections `apply(_:event:to:in:plan:)` calls directly, in the order of
    /// `CommerceProjections.all`.
    static let directOrder = ["sequences", "point-balances", "point-history", "products", "coupons",
                              "user-coupons", "orders", "coupon-issue-requests", "daily-sales"]
    static let userRowProjections: Set<String> = ["point-balances", "point-history"]

    func plan(_ selection: Selection) -> Plan {
        let all = projections.all.map(\.name)
        var bits: UInt16 = 0
        for (i, name) in all.enumerated() where selection.projections?.contains(name) ?? true { bits |= 1 << i }
        return Plan(streams: selection.streams, idempotency: selection.idempotency, projections: bits,
                    names: selection.projections ?? Set(all), direct: all == Self.directOrder)
    }

    /// `selection` in two parts that share no table a fold reads, for a fold on two threads: the
    /// users' rows it only ever writes (the stream index, balances, history; most of the rows),
    /// and everything else.
    func lanes(_ selection: Selection) -> (userRows: Plan, rest: Plan) {
        var userRows = selection
        userRows.idempotency = false
        userRows.projections = (selection.projections ?? Set(projections.all.map(\.name))).intersection(Self.userRowProjections)
        var rest = selection
        rest.streams = false
        rest.projections = (selection.projections ?? Set(projections.all.map(\.name))).subtracting(Self.userRowProjections)
        return (plan(userRows), plan(rest))
    }

    /// `apply` by a plan.
    @inline(__always)
    func apply<Rows: RowWriter>(_ record: EventRecord, event: CommerceEvent, to tables: ViewTables, in rows: Rows, plan: Plan) throws {
        if plan.streams { try tables.streams.add(record, in: rows) }
        if plan.projections != 0 {
            let recorded = RecordedEvent(position: record.position, timestamp: record.timestamp, event: event)
            let store = RowProjectionStore(rows: rows, tables: tables.projections)
            if plan.projections == 0x1FF && plan.direct {
                try projections.apply(recorded, to: store)
            } else if plan.direct {
                let p = projections, bits = plan.projections
                if bits & 1 != 0 { try p.sequences.apply(recorded, to: store) }
                if bits & 2 != 0 { try p.pointBalances.apply(recorded, to: store) }
                if bits & 4 != 0 { try p.pointHistory.apply(recorded, to: store) }
                if bits & 8 != 0 { try p.products.apply(recorded, to: store) }
                if bits & 16 != 0 { try p.coupons.apply(recorded, to: store) }
                if bits & 32 != 0 { try p.userCoupons.apply(recorded, to: store) }
                if bits & 64 != 0 { try p.orders.apply(recorded, to: store) }
                if bits & 128 != 0 { try p.issueRequests.apply(recorded, to: store) }
                if bits & 256 != 0 { try p.dailySales.apply(recorded, to: store) }
            } else {
                try projections.apply(recorded, to: store, only: plan.names ?? [])
            }
        }
        if plan.idempotency { try tables.idempotency.add(record, in: rows) }
    }

    /// Decodes and folds records read from the log.
    func apply<Rows: RowWriter>(_ records: [EventRecord], to tables: ViewTables, in rows: Rows, selection: Selection = .all) throws {
        for record in records {
            try apply(record, event: try record.commerceEvent(), to: tables, in: rows, selection: selection)
        }
    }
}

extension EventRecord {
    /// The domain event this record carries (`.unknown` for a type this build does not know).
    func commerceEvent() throws -> CommerceEvent {
        try CommerceEvent.decode(type: type, schemaVersion: schemaVersion, payload: payload)
    }
}
