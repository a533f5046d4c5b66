import ArgumentParser
import CommerceCLI

@main
struct CommerceCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commerce",
        abstract: "An event-sourced commerce ledger: the HTTP server and local commands on its data directory.",
        discussion: """
            Local commands open the data directory directly and are safe while a server runs on it.
            They print JSON and exit non-zero with one line on stderr when something is wrong:
            1 when the rules refuse (the code is printed), 2 for bad usage, 3 when the store fails.
            """,
        subcommands: [
            Serve.self, Replica.self, Charge.self, Balance.self, History.self, ProductCommand.self, Products.self, Top.self,
            CouponCommand.self, IssueCoupon.self, RequestCoupon.self, RequestStatus.self, ProcessRequests.self,
            UserCoupons.self, PlaceOrder.self, Compensate.self, ShowOrder.self, Orders.self,
        ]
    )
}
