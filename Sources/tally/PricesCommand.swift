import ArgumentParser
import Foundation
import TallyCore
import TallyPrice
import TallyServer
import TallyServices

struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price entries: list them, import an organization's own, re-price stored events on purpose.",
        subcommands: [List.self, Import.self, Recompute.self, Update.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the entries in force (built-in and the organization's own).")
        @Option(help: "Only this model (any name the resolver accepts).") var model: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await withConfiguredStore(store.flags, .read) { [model] config, _, store in
                let org = try await defaultOrganization(config, store)
                let pricer = CatalogPricer()
                try await PriceTasks.reload(store, pricer: pricer, organizationID: org.id)
                let names = model.map { Set(ModelName.candidates($0)) }
                let entries = (pricer.organizationEntries(org.id) + pricer.catalog.entries).filter { e in
                    e.isEffective(at: .now)
                        && (names.map { n in e.names(at: .now).contains(where: n.contains) } ?? true)
                }
                print(
                    ["ID", "PROVIDER", "MODEL", "FROM", "INPUT", "CACHED", "OUTPUT", "ORIGIN"].joined(separator: "\t"))
                for e in entries {
                    let origin = if case .organization = e.origin { "organization" } else { "built-in" }
                    print(
                        [
                            e.id, e.provider ?? "*", e.model, e.from.description, e.prices.rate(.input).decimalString,
                            e.prices.rate(.cachedInput).decimalString, e.prices.rate(.output).decimalString, origin,
                        ]
                        .joined(separator: "\t"))
                }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import LiteLLM's model_prices_and_context_window.json as the organization's own entries."
        )
        @Argument(help: "Path to the LiteLLM JSON file.") var file: String
        @Option(help: "Effective from this UTC date, YYYY-MM-DD (default today).") var from: String?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
            let day =
                try from.map { text -> CivilDate in
                    guard let d = CivilDate(parsing: text) else {
                        throw ValidationError("--from must be a date YYYY-MM-DD")
                    }
                    return d
                } ?? CivilDate(daysSinceEpoch: floorDiv(Instant.now.microseconds, 86_400_000_000))
            let parsed: LiteLLMImport.Result
            do { parsed = try LiteLLMImport.entries(Array(data), from: day) } catch { fail("\(error)") }
            try await withConfiguredStore(store.flags, .write) { config, _, store in
                let org = try await defaultOrganization(config, store)
                try await PriceTasks.add(parsed.entries, store: store, organizationID: org.id, actor: "cli")
                print("imported \(parsed.entries.count) entries effective from \(day); skipped \(parsed.skipped.count)")
            }
        }
    }

    struct Recompute: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Price stored events again with the entries in force at their timestamps; --dry-run shows the diff only."
        )
        @Option(help: "From (inclusive): RFC 3339 or YYYY-MM-DD (UTC).") var from: String
        @Option(help: "To (exclusive): RFC 3339 or YYYY-MM-DD (UTC).") var to: String
        @Option(help: "Only this provider.") var provider: String?
        @Option(help: "Only this model (as stored).") var model: String?
        @Flag(help: "Show what would change without changing anything.") var dryRun = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            func instant(_ text: String, _ flag: String) throws -> Instant {
                if let d = CivilDate(parsing: text) { return Instant(seconds: d.daysSinceEpoch * 86_400) }
                guard let i = Instant(rfc3339: text) else {
                    throw ValidationError("--\(flag) must be RFC 3339 or YYYY-MM-DD")
                }
                return i
            }
            let request = RepricingRequest(
                from: try instant(from, "from"), to: try instant(to, "to"), provider: provider, model: model,
                dryRun: dryRun
            )
            // A dry run only reads, so it never migrates.
            try await withConfiguredStore(store.flags, dryRun ? .read : .write) { config, _, store in
                let org = try await defaultOrganization(config, store)
                let result = try await PriceTasks.recompute(request, store: store, organizationID: org.id, actor: "cli")
                print(RepricingJSON.json(result))
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a newer price catalog with the one in force; --apply makes it the catalog in force.",
            discussion: """
                Reads a catalog file in Tally's own format (as prices/catalog.json), checks it entry by entry and \
                prints what it adds, ends and changes, and how many stored events a recompute would change. \
                Stored costs change only through tally prices recompute. A revision older than the catalog in force \
                is refused; every replica switches to an applied revision within TALLY_PRICES_REFRESH.
                """)
        @Option(help: "The catalog file: an http(s) URL or a path.") var from: String
        @Flag(help: "Store it as the catalog in force (without it nothing changes).") var apply = false
        @Flag(help: "Print the answer of POST /api/v1/prices/catalog instead of text.") var json = false
        @Option(help: "Seconds the whole download of a URL may take (default 30).") var timeout: Int = 30
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let bytes: [UInt8]
            guard (1...3600).contains(timeout) else { fail("--timeout must be from 1 to 3600 seconds") }
            do { bytes = try await CatalogSource.read(from, timeout: .seconds(timeout)) } catch {
                fail(error.description)
            }
            let update = try await withConfiguredStore(store.flags, apply ? .write : .read) {
                [apply] config, _, store in
                if apply { _ = try await defaultOrganization(config, store) }
                return try await CatalogTasks.update(bytes, store: store, apply: apply, actor: "cli")
            }
            print(json ? CatalogJSON.update(update) : CatalogText.lines(update).joined(separator: "\n"))
        }
    }
}
