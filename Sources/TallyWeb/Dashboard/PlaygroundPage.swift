import Plot
import TallyCore
import TallyPrice

/// `/playground` (issue 21): a signed-in member writes a system prompt and a prompt, picks a connection, a model and
/// a project, sees an estimate of the input cost, sends it through Tally's own gateway (the page's script calls
/// `POST /playground/send` with the session's CSRF token; no token is ever in the page), watches the answer stream,
/// then reads the event's tokens, cost, latency and flags, with its receipt.
package enum PlaygroundPage {
    package struct Connection: Sendable, Equatable {
        package var id: String
        package var name: String
        package var provider: String
    }

    package struct Model: Sendable {
        package var connections: [Connection]
        package var projects: [String]
        /// The catalog's chat models in force today, per provider (a datalist for the model field).
        package var catalogModels: [String: [String]]
        /// Whether the person may send (members and admins; viewers read only).
        package var maySend: Bool
    }

    static let providerNames: [ProviderKind: String] = [.openai: "OpenAI", .anthropic: "Anthropic", .google: "Gemini"]

    package static func load(
        store: some ConnectionStore & ProjectStore, pricer: CatalogPricer, page: SignedInPage, now: Instant
    ) async throws -> Model {
        // Connection names are an admin's to see (as in the API); members pick "OpenAI 1", "OpenAI 2"…
        let admin = page.principal.allows(.manageProviderKeys)
        var seen: [ProviderKind: Int] = [:]
        let connections = try await store.connections(organizationID: page.organization.id).map { c in
            seen[c.provider, default: 0] += 1
            return Connection(
                id: c.id,
                name: admin ? c.name : "\(providerNames[c.provider] ?? c.provider.rawValue) \(seen[c.provider]!)",
                provider: c.provider.rawValue)
        }
        let projects = try await store.projects(organizationID: page.organization.id).filter { $0.archivedAt == nil }
            .map(\.name)
        let entries = pricer.catalog.entries + pricer.organizationEntries(page.organization.id)
        var models: [String: Set<String>] = [:]
        for e in entries
        where e.isEffective(at: now) && e.prices.rates[.input] != nil && e.prices.rates[.output] != nil {
            if let provider = e.provider { models[provider, default: []].insert(e.model) }
        }
        return Model(
            connections: connections, projects: projects, catalogModels: models.mapValues { $0.sorted() },
            maySend: page.principal.allows(Permission.ingest))
    }

    package static func render(_ page: SignedInPage, _ m: Model) -> String {
        Layout.page(
            title: "Playground", signedIn: page.header,
            .h1("Playground"),
            .p(
                .class("muted"),
                .text(
                    "Send a prompt through Tally's gateway as one of your projects, and see what it costs. "
                        + "The call is recorded like any other (feature \"playground\"), and held to the same policies and budgets."
                )),
            .if(
                !m.maySend,
                .p(.class("notice"), "Viewers cannot send calls; ask an admin for the member role."),
                else: .if(
                    m.connections.isEmpty || m.projects.isEmpty,
                    .p(
                        .class("notice"),
                        .text(
                            m.connections.isEmpty
                                ? "Add a provider connection first (Settings → Providers)."
                                : "Create a project first (Settings → Projects).")),
                    else: form(m))),
            .forEach(m.catalogModels.keys.sorted()) { provider in
                .element(
                    named: "datalist",
                    nodes: [
                        .id("models-" + provider),
                        .forEach(m.catalogModels[provider] ?? []) {
                            .element(named: "option", nodes: [.attribute(named: "value", value: $0)])
                        },
                    ])
            }
        )
    }

    static func form(_ m: Model) -> Node<HTML.BodyContext> {
        .group(
            .form(
                .id("playground-form"), .class("card"), .attribute(named: "autocomplete", value: "off"),
                .div(
                    .class("row"),
                    .div(
                        .label(.for("pg-connection"), "Connection"),
                        .select(
                            .id("pg-connection"), .attribute(named: "name", value: "connection"),
                            .forEach(m.connections) { c in
                                .option(
                                    .value(c.id), .label("\(c.name) (\(c.provider))"),
                                    .data(named: "provider", value: c.provider))
                            })),
                    .div(
                        .label(.for("pg-model"), "Model"),
                        .input(
                            .id("pg-model"), .name("model"), .type(.text), .required(true),
                            .attribute(named: "list", value: "models-" + (m.connections.first?.provider ?? "")),
                            .value(m.catalogModels[m.connections.first?.provider ?? ""]?.first ?? "")),
                        .button(.id("pg-load-models"), .type(.button), .class("link"), "Load the connection's models"),
                        .element(named: "datalist", nodes: [.id("pg-connection-models")]),
                        .p(.data(named: "error-for", value: "model"), .id("model-error"))),
                    .div(
                        .label(.for("pg-project"), "Project"),
                        .select(
                            .id("pg-project"), .attribute(named: "name", value: "project"),
                            .forEach(m.projects) { .option(.value($0), .label($0)) }),
                        .p(.data(named: "error-for", value: "project"), .id("project-error")))),
                .div(
                    .label(.for("pg-system"), "System prompt"),
                    .textarea(.id("pg-system"), .name("system"), .attribute(named: "rows", value: "3"))),
                .div(
                    .label(.for("pg-prompt"), "Prompt"),
                    .textarea(
                        .id("pg-prompt"), .name("prompt"), .attribute(named: "rows", value: "6"), .required(true)),
                    .p(.data(named: "error-for", value: "prompt"), .id("prompt-error"))),
                .div(
                    .class("row"),
                    .div(
                        .label(.for("pg-max-tokens"), "Max tokens"),
                        .input(
                            .id("pg-max-tokens"), .name("max_tokens"), .type(.number), .value("512"),
                            .attribute(named: "min", value: "1"), .attribute(named: "max", value: "65536")),
                        .p(.data(named: "error-for", value: "max_tokens"), .id("max_tokens-error"))),
                    .div(
                        .label(.for("pg-temperature"), "Temperature"),
                        .input(
                            .id("pg-temperature"), .name("temperature"), .type(.number), .value("1"),
                            .attribute(named: "min", value: "0"), .attribute(named: "max", value: "2"),
                            .attribute(named: "step", value: "0.1")),
                        .p(.data(named: "error-for", value: "temperature"), .id("temperature-error")))),
                .p(.id("pg-estimate"), .class("muted"), .attribute(named: "aria-live", value: "polite"), ""),
                .button(.id("pg-send"), .type(.submit), "Send"),
                .p(.id("pg-status"), .attribute(named: "role", value: "status"), "")),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "pg-answer-heading"),
                .h2(.id("pg-answer-heading"), "Answer"),
                // Filled with textContent by the script: the model's words are text, never markup.
                .pre(.id("pg-answer"), .class("captured"), "")),
            .section(
                .class("card"), .id("pg-result"), .attribute(named: "hidden", value: "hidden"),
                .attribute(named: "aria-labelledby", value: "pg-result-heading"),
                .h2(.id("pg-result-heading"), "What it cost"),
                .table(.id("pg-facts"), .tbody()),
                .div(
                    .class("table-wrap"),
                    .table(
                        .id("pg-breakdown"),
                        .thead(
                            .tr(
                                .th("Token class"), .th(.class("num"), "Tokens"), .th(.class("num"), "Rate (USD / 1M)"),
                                .th(.class("num"), "Cost"))),
                        .tbody())),
                .div(
                    .class("actions"),
                    .a(.id("pg-receipt-pdf"), .class("button"), .href("#"), "Download receipt (PDF)"),
                    .a(.id("pg-receipt-txt"), .href("#"), "Receipt as text"),
                    .a(.id("pg-event-link"), .href("#"), "Open the event")))
        )
    }
}
