import ArgumentParser
import Logging
import TallyCore
import TallyServer
import TallyServices

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Pull the providers' own usage and cost reports.",
        subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sync now: every connection with an admin key, or one, over a range (default: the last 3 days).",
            discussion:
                "Prints one line per run. Exits 1 when a run failed. Waits while a server replica holds a connection's lease."
        )
        @Option(help: "A connection id (default: every connection of the default organization with an admin key).")
        var connection: String?
        @Option(help: "Start: a date YYYY-MM-DD (UTC) or an RFC 3339 time (default: 3 days before --to).") var from:
            String?
        @Option(help: "End, exclusive: a date or RFC 3339 time (default: now).") var to: String?
        @OptionGroup var store: StoreOptions

        func parse(_ text: String?, _ name: String) -> Instant? {
            guard let text else { return nil }
            if let d = CivilDate(parsing: text) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
            guard let i = Instant(rfc3339: text) else {
                fail("--\(name) must be a date YYYY-MM-DD or an RFC 3339 time")
            }
            return i
        }

        func run() async throws {
            let to = parse(self.to, "to") ?? .now
            let from = parse(self.from, "from") ?? to.adding(seconds: -3 * 86_400)
            guard from < to else { fail("--from must be before --to") }
            try await withConfiguredStore(store.flags, .write) { [connection] config, logger, store in
                let org = try await defaultOrganization(config, store)
                var options = ServerOptions(config: config)
                options.vault = try MasterKeyLoader.load(config, logger: logger, createIfMissing: false).map(
                    Vault.init(master:))
                let failed = try await Self.syncConnections(
                    store: store, options: options, logger: logger, organizationID: org.id,
                    only: connection, from: from, to: to)
                if failed { throw ExitCode(1) }
            }
        }

        /// Generic over the store, as the runner is. Returns whether any run failed.
        static func syncConnections(
            store: some TallyStore, options: ServerOptions, logger: Logger, organizationID: String,
            only connection: String?, from: Instant, to: Instant
        ) async throws -> Bool {
            let dependencies = Dependencies(store: store, options: options, logger: logger)
            try await dependencies.prices.reloadAll()
            let runner = dependencies.syncRunner
            var list = try await dependencies.store.connections(organizationID: organizationID).filter {
                $0.adminKeyMask != nil
            }
            if let connection {
                list = list.filter { $0.id == connection }
                guard !list.isEmpty else { fail("no connection \(connection) with an admin key in this organization") }
            }
            guard !list.isEmpty else {
                fail("no provider connection has an admin key; add one with an OpenAI or Anthropic admin key")
            }
            var failed = false
            let holder = Identifier.make("cli")
            for c in list {
                guard
                    let run = try await runner.runLeased(
                        c.id, holder: holder,
                        {
                            try await runner.run(c, from: from, to: to, trigger: .manual, leaseHolder: holder)
                        })
                else {
                    print("\(c.id) \(c.name): skipped, a server is syncing it now")
                    continue
                }
                print(
                    "\(c.id) \(c.name): \(run.status.rawValue), \(run.pages) pages, \(run.rows) rows, \(run.from.rfc3339) to \(run.to.rfc3339)"
                        + (run.error.map { ": \($0)" } ?? ""))
                if run.status == .failed { failed = true }
            }
            return failed
        }
    }
}
