import CLMDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every failure of the LMDB C library, with LMDB's own message.
public struct LMDBError: Error, Equatable, CustomStringConvertible, Sendable {
    public let code: Int32
    /// The call that failed, so a message says where as well as what.
    public let operation: String
    /// The environment a failed write belonged to, so a caller writing to two can tell which one
    /// needs a larger map.
    public let environment: String?

    public init(code: Int32, operation: String, environment: String? = nil) {
        self.code = code
        self.operation = operation
        self.environment = environment
    }

    public var message: String { String(cString: mdb_strerror(code)) }
    public var description: String { "\(operation): \(message) (\(code))" }

    /// A transaction or cursor used after the closure that owned it returned.
    public static let transactionEnded = LMDBError(code: EINVAL, operation: "a transaction or cursor used after its transaction ended")

    /// A full map, as LMDB reports it, for callers that decide a map is full before LMDB does.
    public static func mapFull(_ operation: String, environment: String?) -> LMDBError {
        LMDBError(code: MDB_MAP_FULL, operation: operation, environment: environment)
    }

    public var isMapFull: Bool { code == MDB_MAP_FULL }
    /// The disk (not the map) refused to grow: free space, then retry.
    public var isDiskFull: Bool { code == ENOSPC || code == EDQUOT }
    public var isNotFound: Bool { code == MDB_NOTFOUND }
    public var isKeyExists: Bool { code == MDB_KEYEXIST }
    /// Another process holds the lock file in a way we cannot share (e.g. a read-only open of a busy env).
    public var isBusy: Bool { code == EBUSY || code == EAGAIN }
}

@inline(__always)
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
    if code != 0 { throw LMDBError(code: code, operation: operation()) }
}

/// LMDB sets the out-pointer whenever it returns 0; this turns a broken promise into an error, not a trap.
@inline(__always)
func required(_ pointer: OpaquePointer?, _ operation: @autoclosure () -> String) throws -> OpaquePointer {
    guard let pointer else { throw LMDBError(code: EINVAL, operation: operation()) }
    return pointer
}
