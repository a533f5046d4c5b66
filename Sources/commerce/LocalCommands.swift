import ArgumentParser
import CommerceCLI
import Commerce
import CommerceApp
import Foundation
import LedgerJSON

struct Charge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Charge points to a user.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option(help: "Amount in won.") var amount: Int64
    @Option(help: "Idempotency key: a retry returns the first outcome.") var idempotencyKey: String?

    func run() throws {
        try run { let l = try ledger.open(); return try l.answer(.chargePoints(userId: user, amount: amount), idempotencyKey: idempotencyKey) }
    }
}

struct Balance: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A user's point balance.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64

    func run() throws {
        try run { .object([("userId", .int(user)), ("balance", .int(try ledger.open(mustExist: true).balance(of: user)))]) }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A user's point history, newest first.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option(help: "Entries per page.") var limit: Int = 20
    @Option(help: "Cursor: the previous page's next.") var before: UInt64?

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            let page = try l.pointHistory(of: user, before: before, limit: max(1, min(limit, 1_000)))
            return .object([("items", .array(page.items.map(l.render.history))), ("next", page.next.map { .int(Int64($0)) } ?? .null)])
        }
    }
}

struct ProductCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "product", abstract: "Register, restock or show a product.",
                                                    subcommands: [Add.self, Restock.self, Show.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a product.")
        @OptionGroup var ledger: LedgerOptions
        @Option var name: String
        @Option(help: "Price in won.") var price: Int64
        @Option var stock: Int64
        @Option var idempotencyKey: String?

        func run() throws {
            try run { let l = try ledger.open(); return try l.answer(.registerProduct(name: name, price: price, stock: stock), idempotencyKey: idempotencyKey) }
        }
    }

    struct Restock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add stock to a product.")
        @OptionGroup var ledger: LedgerOptions
        @Option var id: Int64
        @Option var quantity: Int64
        @Option var idempotencyKey: String?

        func run() throws {
            try run { let l = try ledger.open(); return try l.answer(.restockProduct(productId: id, quantity: quantity), idempotencyKey: idempotencyKey) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A product with its stock.")
        @OptionGroup var ledger: LedgerOptions
        @Option var id: Int64

        func run() throws {
            try run {
                let l = try ledger.open(mustExist: true)
                guard let p = try l.product(id) else { throw CommerceError(.productNotFound, "product \(id) does not exist") }
                return l.render.product(p)
            }
        }
    }
}

struct Products: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List products by id.")
    @OptionGroup var ledger: LedgerOptions
    @Option var limit: Int = 20
    @Option(help: "Cursor: the previous page's next.") var after: Int64 = 0

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            let page = try l.products(after: after, limit: max(1, min(limit, 1_000)))
            return .object([("items", .array(page.items.map(l.render.product))), ("next", .optional(page.next))])
        }
    }
}

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Best-selling products over the last days.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "Days counted, 1–30 (default 3).") var days: Int?
    @Option(help: "Products listed, 1–100 (default 5).") var limit: Int?
    @Option(help: "Last day counted (YYYY-MM-DD); today by default.") var asOf: String?

    func validate() throws {
        let rules = CommerceRules()
        if let days, !(1...rules.bestSellerMaxDays).contains(days) { throw ValidationError("--days must be from 1 to \(rules.bestSellerMaxDays)") }
        if let limit, !(1...rules.bestSellerMaxLimit).contains(limit) { throw ValidationError("--limit must be from 1 to \(rules.bestSellerMaxLimit)") }
        if let asOf, ISO8601.parseDay(asOf) == nil { throw ValidationError("--as-of must be a date like 2026-11-24") }
    }

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            let top = try l.bestSellers(lastDay: asOf.flatMap(ISO8601.parseDay), days: days, limit: limit)
            return .object([
                ("from", .string(ISO8601.formatDay(top.firstDay))), ("to", .string(ISO8601.formatDay(top.lastDay))),
                ("items", .array(top.items.map { e in
                    .object([("rank", .int(Int64(e.rank))), ("productId", .int(e.product.id)), ("name", .string(e.product.name)),
                             ("price", .int(e.product.price)), ("quantity", .int(e.quantity))])
                })),
            ])
        }
    }
}

struct CouponCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coupon", abstract: "Define or show a coupon.", subcommands: [Define.self, Show.self])

    struct Define: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Define a coupon: a fixed amount or a percent off.")
        @OptionGroup var ledger: LedgerOptions
        @Option var name: String
        @Option(help: "Fixed discount in won.") var amount: Int64?
        @Option(help: "Percent discount, 1–100.") var percent: Int64?
        @Option(help: "Cap of a percent discount in won.") var maxAmount: Int64?
        @Option(help: "Coupons to issue in all.") var total: Int64
        @Option(help: "Issue window start (ISO-8601 with offset).") var starts: String
        @Option(help: "Issue window end (ISO-8601 with offset).") var ends: String
        @Option(help: "An issued coupon's validity in days.") var validDays: Int64?
        @Option(help: "An issued coupon is valid until (ISO-8601 with offset).") var validUntil: String?
        @Option var idempotencyKey: String?

        func run() throws {
            try run {
                let discount: Discount
                switch (amount, percent) {
                case let (a?, nil): discount = .fixed(amount: a)
                case let (nil, p?): discount = .percent(p, maxAmount: maxAmount)
                default: throw CLIError.usage("give exactly one of --amount or --percent")
                }
                guard let s = ISO8601.parse(starts), let e = ISO8601.parse(ends) else { throw CLIError.usage("--starts and --ends must be ISO-8601 times with an offset") }
                let validity: CouponValidity
                switch (validDays, validUntil) {
                case let (d?, nil): validity = .days(d)
                case let (nil, u?):
                    guard let t = ISO8601.parse(u) else { throw CLIError.usage("--valid-until must be an ISO-8601 time with an offset") }
                    validity = .until(t)
                default: throw CLIError.usage("give exactly one of --valid-days or --valid-until")
                }
                let l = try ledger.open()
                let definition = CouponDefinition(name: name, discount: discount, totalQuantity: total, issueStartsAt: s, issueEndsAt: e, validity: validity)
                return try l.answer(.defineCoupon(definition), idempotencyKey: idempotencyKey)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A coupon with issued and remaining counts.")
        @OptionGroup var ledger: LedgerOptions
        @Option var id: Int64

        func run() throws {
            try run {
                let l = try ledger.open(mustExist: true)
                guard let c = try l.coupon(id) else { throw CommerceError(.couponNotFound, "coupon \(id) does not exist") }
                return l.render.coupon(c)
            }
        }
    }
}

struct IssueCoupon: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue-coupon", abstract: "Issue a coupon to a user now.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option var coupon: Int64
    @Option var idempotencyKey: String?

    func run() throws {
        try run { let l = try ledger.open(); return try l.answer(.issueCoupon(userId: user, couponId: coupon), idempotencyKey: idempotencyKey) }
    }
}

struct RequestCoupon: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request-coupon", abstract: "Queue a coupon issue request (decided by the issuance processor).")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option var coupon: Int64
    @Option var idempotencyKey: String?

    func run() throws {
        try run { let l = try ledger.open(); return try l.answer(.requestCouponIssue(userId: user, couponId: coupon), idempotencyKey: idempotencyKey) }
    }
}

struct RequestStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "request-status", abstract: "Status of a coupon issue request.")
    @OptionGroup var ledger: LedgerOptions
    @Option var id: Int64

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            guard let r = try l.issueRequest(id) else { throw CommerceError(.requestNotFound, "coupon issue request \(id) does not exist") }
            return l.render.request(r)
        }
    }
}

struct ProcessRequests: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "process-requests", abstract: "Decide queued coupon issue requests now (a running server does this by itself).")
    @OptionGroup var ledger: LedgerOptions

    func run() throws {
        try run { .object([("decided", .int(Int64(try ledger.open(mustExist: true).processIssueRequests())))]) }
    }
}

struct UserCoupons: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coupons", abstract: "A user's coupons.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option(help: "AVAILABLE, USED or EXPIRED.") var status: String?

    func run() throws {
        try run {
            var filter: UserCouponStatus?
            if let status {
                guard let s = UserCouponStatus(rawValue: status) else { throw CLIError.usage("--status must be AVAILABLE, USED or EXPIRED") }
                filter = s
            }
            let l = try ledger.open(mustExist: true)
            return .object([("items", .array(try l.userCoupons(of: user, status: filter).map { l.render.userCoupon($0.record, coupon: $0.coupon, status: $0.status) }))])
        }
    }
}

struct PlaceOrder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "order", abstract: "Place and pay an order.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option(name: .customLong("item"), help: "PRODUCT:QUANTITY, repeatable.") var items: [String] = []
    @Option var coupon: Int64?
    @Option var idempotencyKey: String?

    func run() throws {
        try run {
            let parsed = try items.map { text -> OrderItem in
                let parts = text.split(separator: ":")
                guard parts.count == 2, let p = Int64(parts[0]), let q = Int64(parts[1]) else {
                    throw CLIError.usage("--item must be PRODUCT:QUANTITY, got \(text)")
                }
                return OrderItem(productId: p, quantity: q)
            }
            let l = try ledger.open()
            return try l.answer(.placeOrder(userId: user, items: parsed, couponId: coupon), idempotencyKey: idempotencyKey)
        }
    }
}

struct Compensate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel and refund a completed order.")
    @OptionGroup var ledger: LedgerOptions
    @Option var order: Int64
    @Option var reason: String
    @Option var idempotencyKey: String?

    func run() throws {
        try run { let l = try ledger.open(); return try l.answer(.compensateOrder(orderId: order, reason: reason), idempotencyKey: idempotencyKey) }
    }
}

struct ShowOrder: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show-order", abstract: "An order.")
    @OptionGroup var ledger: LedgerOptions
    @Option var id: Int64

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            guard let o = try l.order(id) else { throw CommerceError(.orderNotFound, "order \(id) does not exist") }
            return l.render.order(o)
        }
    }
}

struct Orders: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A user's orders, newest first.")
    @OptionGroup var ledger: LedgerOptions
    @Option(help: "User id.", transform: positiveId("--user")) var user: Int64
    @Option var limit: Int = 20
    @Option var before: Int64?

    func run() throws {
        try run {
            let l = try ledger.open(mustExist: true)
            let page = try l.orders(of: user, before: before, limit: max(1, min(limit, 1_000)))
            return .object([("items", .array(page.items.map(l.render.order))), ("next", .optional(page.next))])
        }
    }
}

/// Ids start at 1: anything else is a usage error here, as it is a 400 over HTTP.
func positiveId(_ option: String) -> @Sendable (String) throws -> Int64 {
    { text in
        guard let id = Int64(text), id > 0 else { throw ValidationError("\(option) must be a whole number from 1 to \(Int64.max), got \(text)") }
        return id
    }
}
