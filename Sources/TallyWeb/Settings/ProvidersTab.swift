import Plot
import TallyCore

/// Settings → Providers: the organization's provider connections (admins only) and the usage sync's recent runs.
extension SettingsPages {
    package enum ProvidersTab {
        package struct Model: Sendable {
            package var connections: [ProviderConnection]
            package var vaultReady: Bool
            package var runs: [SyncRun]
        }

        package static func load(
            store: some ConnectionStore & ProviderSyncStore, organizationID: String, vaultReady: Bool
        ) async throws -> Model {
            Model(
                connections: try await store.connections(organizationID: organizationID), vaultReady: vaultReady,
                runs: try await store.syncRuns(organizationID: organizationID, connectionID: nil, limit: 20))
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.providers(page, connections: m.connections, vaultReady: m.vaultReady, runs: m.runs)
        }
    }

    package static func providers(
        _ page: SignedInPage, connections: [ProviderConnection], vaultReady: Bool, runs: [SyncRun] = []
    ) -> String {
        let admin = page.allows(.manageProviderKeys)
        return self.page(
            page, .providers,
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "connections-heading"),
                .h2(.id("connections-heading"), "Provider connections"),
                .p(
                    .class("muted"),
                    "Keys are encrypted at rest (AES-256-GCM) and never shown again: only a mask. The gateway and the provider usage sync use them."
                ),
                .if(
                    connections.isEmpty, .p("No provider connected yet."),
                    else:
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("connections"),
                                .thead(
                                    .tr(
                                        .th("Name"), .th("Provider"), .th("API key"), .th("Admin key"), .th("Status"),
                                        .th("Actions"))),
                                .tbody(
                                    .forEach(connections) { c in
                                        .tr(
                                            .data(named: "connection-id", value: c.id),
                                            .td(
                                                .text(c.name),
                                                .unwrap(c.baseURL) { .div(.class("muted small"), .text($0)) },
                                                .if(
                                                    c.gatewayEndpoints == .all,
                                                    .div(
                                                        .class("muted small gateway-endpoints"),
                                                        "Gateway: every endpoint"))),
                                            .td(.text(c.provider.rawValue)),
                                            .td(.code(.class("mask"), .text(c.apiKeyMask ?? "—"))),
                                            .td(.code(.class("mask admin-mask"), .text(c.adminKeyMask ?? "—"))),
                                            .td(
                                                .span(
                                                    .class(
                                                        "row-status"
                                                            + (c.validationError == nil && c.validatedAt != nil
                                                                ? " ok" : c.validationError == nil ? "" : " error")),
                                                    .text(
                                                        c.validationError.map { "Rejected: \($0)" }
                                                            ?? c.validatedAt.map {
                                                                "Validated \(Format.localTime($0, zone: page.zone))"
                                                            } ?? "Not validated"))),
                                            .td(
                                                .if(
                                                    admin,
                                                    .div(
                                                        .class("actions"),
                                                        actionButton(
                                                            "Test",
                                                            api: "POST /api/v1/provider-connections/\(c.id)/test",
                                                            action: "test"),
                                                        .if(
                                                            c.adminKeyMask != nil && c.provider != .google,
                                                            actionButton(
                                                                "Sync now",
                                                                api: "POST /api/v1/provider-connections/\(c.id)/sync",
                                                                action: "sync")),
                                                        actionButton(
                                                            "Delete",
                                                            api: "DELETE /api/v1/provider-connections/\(c.id)",
                                                            confirm: "Delete the connection '\(c.name)' and its keys?",
                                                            danger: true, action: "delete"),
                                                        .element(
                                                            named: "details",
                                                            nodes: [
                                                                .element(named: "summary", text: "Replace key"),
                                                                apiForm(
                                                                    "replace-\(c.id)",
                                                                    "PATCH /api/v1/provider-connections/\(c.id)",
                                                                    submit: "Save new key",
                                                                    field(
                                                                        "replace-\(c.id)", "New API key",
                                                                        name: "api_key", type: .password),
                                                                    field(
                                                                        "replace-\(c.id)", "New admin key",
                                                                        name: "admin_key", type: .password)),
                                                            ]),
                                                        .element(
                                                            named: "details",
                                                            nodes: [
                                                                .element(named: "summary", text: "Gateway endpoints"),
                                                                apiForm(
                                                                    "endpoints-\(c.id)",
                                                                    "PATCH /api/v1/provider-connections/\(c.id)",
                                                                    submit: "Save",
                                                                    select(
                                                                        "endpoints-\(c.id)", "The gateway forwards",
                                                                        name: "gateway_endpoints",
                                                                        gatewayEndpointOptions,
                                                                        selected: c.gatewayEndpoints.rawValue)),
                                                            ])), else: .text("—"))))
                                    }))))),
            .if(!runs.isEmpty, syncRuns(page, runs, connections: connections)),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "add-heading"),
                .h2(.id("add-heading"), "Add a connection"),
                .if(
                    !admin, onlyFor(.admin, "add provider keys"),
                    else: .if(
                        !vaultReady,
                        .p(
                            .class("notice"),
                            "Provider keys need a master key: set TALLY_MASTER_KEY (see docs/security.md) and restart Tally."
                        ),
                        else: apiForm(
                            "add-connection", "POST /api/v1/provider-connections", submit: "Validate and save",
                            field(
                                "add-connection", "Name", name: "name",
                                hint: "How you tell connections apart, e.g. 'OpenAI production'.", required: true),
                            select(
                                "add-connection", "Provider", name: "provider",
                                ProviderKind.allCases.map { ($0.rawValue, providerLabel($0)) }),
                            field(
                                "add-connection", "API key", name: "api_key", type: .password,
                                hint: "Checked with one list-models call before it is saved."),
                            field(
                                "add-connection", "Admin key", name: "admin_key", type: .password,
                                hint: "OpenAI sk-admin-… or Anthropic sk-ant-admin…: for the organization usage sync."),
                            field(
                                "add-connection", "Base URL", name: "base_url", type: .url,
                                hint:
                                    "Leave empty for the provider's public API; set it for Azure OpenAI, a regional host or a proxy."
                            ),
                            select(
                                "add-connection", "The gateway forwards", name: "gateway_endpoints",
                                gatewayEndpointOptions),
                            .div(
                                .label(
                                    .class("check"),
                                    .input(
                                        .type(.checkbox), .name("validate"), .data(named: "kind", value: "bool"),
                                        .attribute(named: "checked", value: "checked")),
                                    .text("Validate the keys with the provider before saving")))))))
        )
    }

    /// What a connection's key may be used for through the gateway (`gateway_endpoints`).
    package static let gatewayEndpointOptions = [
        ("inference", "Inference endpoints only (chat, responses, messages, embeddings, models…)"),
        ("all", "Every endpoint (files, batches, fine-tuning, admin…)"),
    ]

    /// The provider usage sync's recent runs: what was pulled, when, and why a run failed.
    package static func syncRuns(_ page: SignedInPage, _ runs: [SyncRun], connections: [ProviderConnection]) -> Node<
        HTML.BodyContext
    > {
        let names = Dictionary(connections.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        return .section(
            .class("card"), .attribute(named: "aria-labelledby", value: "runs-heading"),
            .h2(.id("runs-heading"), "Provider usage sync"),
            .p(
                .class("muted"),
                .text(
                    "Connections with an admin key pull the providers' own usage and cost reports every hour (the last 3 days "
                        + "again, as providers finalize late), and 30 days back when added. "),
                .a(.href("/reconciliation"), "Compare them with Tally's estimate →")),
            .div(
                .class("table-wrap"),
                .table(
                    .id("sync-runs"),
                    .thead(
                        .tr(
                            .th("Started"), .th("Connection"), .th("Range (UTC)"), .th("Trigger"), .th("Status"),
                            .th(.class("num"), "Pages"), .th(.class("num"), "Rows"), .th("Error"))),
                    .tbody(
                        .forEach(runs) { r in
                            .tr(
                                .data(named: "run-id", value: r.id),
                                .td(.text(Format.localTime(r.startedAt, zone: page.zone))),
                                .td(.text(names[r.connectionID] ?? r.connectionID)),
                                .td(
                                    .text(
                                        "\(TimeZoneRules.utc.localDate(of: r.from)) – \(TimeZoneRules.utc.localDate(of: r.to.adding(seconds: -1)))"
                                    )),
                                .td(.text(r.trigger.rawValue)),
                                .td(
                                    r.status == .failed
                                        ? .span(.class("badge error"), "failed") : .text(r.status.rawValue)),
                                .td(.class("num"), .text(String(r.pages))), .td(.class("num"), .text(String(r.rows))),
                                .td(.class("small"), .text(r.error ?? "")))
                        }))))
    }

    package static func providerLabel(_ p: ProviderKind) -> String {
        switch p {
        case .openai: "OpenAI"
        case .anthropic: "Anthropic"
        case .google: "Google (Gemini)"
        }
    }
}
