import ArgumentParser

@main
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commerce-log",
        abstract: "Inspect, check, export, import and back up the ledger's event log.",
        discussion: "Exit codes: 0 fine, 1 a check failed, 2 bad usage, 3 store error (missing, not a ledger, locked, corrupt).",
        subcommands: [Tail.self, Show.self, StreamCommand.self, Stats.self, Verify.self, Export.self, Import.self, Backup.self, Consume.self])
}
