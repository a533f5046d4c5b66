import Foundation

public enum PointDecider {
    public static func charge(userId: Int64, amount: Int64, balance: Int64, rules: CommerceRules) throws -> [CommerceEvent] {
        try Validate.id(userId, "userId")
        guard amount > 0 else { throw CommerceError.invalid("amount must be a positive integer, got \(amount)") }
        guard amount >= rules.minChargeAmount else {
            throw CommerceError(.minChargeAmount, "a charge must be at least \(rules.minChargeAmount) won, got \(amount)")
        }
        let (after, overflow) = balance.addingReportingOverflow(amount)
        guard !overflow, after <= rules.maxBalance else {
            throw CommerceError(.balanceLimitExceeded, "balance \(balance) + \(amount) would exceed the limit of \(rules.maxBalance) won")
        }
        return [.pointCharged(PointCharged(userId: userId, amount: amount, balanceAfter: after))]
    }
}

enum Validate {
    static func id(_ v: Int64, _ field: String) throws {
        guard v > 0 else { throw CommerceError.invalid("\(field) must be a positive integer, got \(v)") }
    }

    /// Names and reasons end up in terminals, logs and CSV files: no control characters (a NUL, an
    /// escape sequence, a line break), something visible, and a length counted in Unicode scalars
    /// (what every client counts the same way).
    static func name(_ s: String, _ field: String, max: Int) throws {
        guard !s.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw CommerceError.invalid("\(field) must not contain control characters")
        }
        let visible = s.unicodeScalars.contains { !$0.properties.isWhitespace && $0.properties.generalCategory != .format }
        guard visible else { throw CommerceError.invalid("\(field) must not be empty") }
        guard s.unicodeScalars.count <= max else { throw CommerceError.invalid("\(field) is longer than \(max) characters") }
    }
}

