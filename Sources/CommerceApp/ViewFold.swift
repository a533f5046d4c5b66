import Commerce
import EventLog
import LMDB

/// The one way views change: a record of the log folded into every view (the stream index, the
/// idempotency index, the domain's projections). The writer, a catch-up after a crash, a rebuild
/// and a verification all fold through here, so they cannot disagree.
struct ViewFold: Sendable {
    let projections: CommerceProjections

    /// Which views a fold writes: all, or those a named rebuild chose.
    struct Selection: Sendable {
        var streams = true
        var idempotency = true
        /// Domain projections by name; nil for all of them.
        var projections: Set<String>?

        static let all = Selection()
    }

    /// Folds `record` (whose payload is `event`) into `tables` within `txn`. Events of a type this
    /// build does not know change no projection, but are still indexed.
    func apply(_ record: EventRecord, event: CommerceEvent, to tables: ViewTables, in txn: Transaction, selection: Selection = .all) throws {
        if selection.streams { try tables.streams.add(record, in: txn) }
        try applyToProjectionsAndKeys(RecordedEvent(position: record.position, timestamp: record.timestamp, event: event),
                                      record: record, to: tables, in: txn, selection: selection)
    }

    /// The fold without the stream index: for the writer, whose appender indexes as it appends.
    func applyToProjectionsAndKeys(_ recorded: RecordedEvent, record: EventRecord, to tables: ViewTables, in txn: Transaction, selection: Selection = .all) throws {
        let store = LMDBProjectionStore(txn: txn, tables: tables.projections)
        if let only = selection.projections {
            try projections.apply(recorded, to: store, only: only)
        } else {
            try projections.apply(recorded, to: store)
        }
        if selection.idempotency { try tables.idempotency.add(record, in: txn) }
    }

    /// Decodes and folds records read from the log.
    func apply(_ records: [EventRecord], to tables: ViewTables, in txn: Transaction, selection: Selection = .all) throws {
        for record in records {
            try apply(record, event: try record.commerceEvent(), to: tables, in: txn, selection: selection)
        }
    }
}

extension EventRecord {
    /// The domain event this record carries (`.unknown` for a type this build does not know).
    func commerceEvent() throws -> CommerceEvent {
        try CommerceEvent.decode(type: type, schemaVersion: schemaVersion, payload: payload)
    }
}
