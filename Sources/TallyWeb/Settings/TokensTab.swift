import Plot
import TallyCore

/// Settings → API tokens: the tokens the person may see (all of them with `manageAllTokens`, else their own) and a
/// form to create one.
extension SettingsPages {
    package enum TokensTab {
        package struct Model: Sendable {
            /// Active tokens first, newest first within each.
            package var tokens: [APIToken]
            package var projects: [Project]
            /// Creator user id → name.
            package var creators: [String: String]
        }

        package static func load(store: some TokenStore & ProjectStore & AccountStore, page: SignedInPage) async throws
            -> Model
        {
            let org = page.organization.id
            var tokens = try await store.tokens(organizationID: org)
            if !page.allows(.manageAllTokens) { tokens = tokens.filter { $0.createdBy == page.user.id } }
            // Active tokens first, newest first within each.
            tokens.sort { a, b in
                (a.revokedAt == nil) != (b.revokedAt == nil) ? a.revokedAt == nil : a.createdAt > b.createdAt
            }
            let members = try await store.members(organizationID: org)
            let creators = Dictionary(members.map { ($0.user.id, $0.user.name) }, uniquingKeysWith: { a, _ in a })
            return Model(tokens: tokens, projects: try await store.projects(organizationID: org), creators: creators)
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.tokens(page, tokens: m.tokens, projects: m.projects, creators: m.creators)
        }
    }

    package static func tokens(
        _ page: SignedInPage, tokens: [APIToken], projects: [Project], creators: [String: String]
    ) -> String {
        let canCreate = page.allows(.manageOwnTokens)
        let active = projects.filter { $0.archivedAt == nil }
        let scopes: [Scope] = page.allows(.manageAllTokens) ? Scope.allCases : Scope.allCases.filter { $0 != .admin }
        return self.page(
            page, .tokens,
            .section(
                .id("new-token"), .class("card"), .attribute(named: "hidden", value: "hidden"),
                .attribute(named: "aria-live", value: "polite"),
                .h2("Your new token"),
                .p("Copy it now: Tally keeps only its hash and will not show it again."),
                .pre(.code(.id("new-token-secret"))),
                .div(
                    .class("actions"),
                    .button(
                        .id("copy-new-token"), .class("copy"), .type(.button),
                        .data(named: "copy-target", value: "new-token-secret"), "Copy"),
                    .a(.id("new-token-done"), .class("button secondary"), .href("/settings/tokens"), "Done"))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "tokens-heading"),
                .h2(.id("tokens-heading"), "API tokens"),
                .p(
                    .class("muted"),
                    .text(
                        page.allows(.manageAllTokens) ? "Every token of the organization." : "The tokens you created.")),
                .if(
                    tokens.isEmpty, .p("No tokens yet."),
                    else:
                        .div(
                            .class("table-wrap"),
                            .table(
                                .id("tokens"),
                                .thead(
                                    .tr(
                                        .th("Name"), .th("Project"), .th("Scopes"), .th("Secret"),
                                        .th(.class("hide-narrow"), "Created by"),
                                        .th(.class("hide-narrow"), "Last used"), .th("Expires"), .th("Status"),
                                        .th("Actions"))),
                                .tbody(
                                    .forEach(tokens) { t in
                                        .tr(
                                            .data(named: "token-id", value: t.id),
                                            .td(.text(t.name ?? "—")), .td(.text(t.projectName)),
                                            .td(.text(t.scopes.sorted().map(\.rawValue).joined(separator: ", "))),
                                            .td(.code(.text("…" + t.hint))),
                                            .td(
                                                .class("hide-narrow"),
                                                .text(t.createdBy.map { creators[$0] ?? $0 } ?? "CLI")),
                                            .td(.class("hide-narrow"), .text(time(t.lastUsedAt, page.zone))),
                                            .td(.text(time(t.expiresAt, page.zone))),
                                            .td(
                                                .text(
                                                    t.revokedAt != nil
                                                        ? "revoked"
                                                        : (t.expiresAt.map { $0 <= .now } ?? false)
                                                            ? "expired" : "active")),
                                            .td(
                                                .if(
                                                    t.revokedAt == nil,
                                                    actionButton(
                                                        "Revoke", api: "DELETE /api/v1/tokens/\(t.id)",
                                                        confirm: "Revoke this token? Apps using it stop at once.",
                                                        danger: true, action: "revoke"), else: .text("—"))))
                                    }))))),
            .section(
                .class("card"), .attribute(named: "aria-labelledby", value: "create-token-heading"),
                .h2(.id("create-token-heading"), "Create a token"),
                .if(
                    !canCreate, onlyFor(.member, "create tokens"),
                    else:
                        apiForm(
                            "create-token", "POST /api/v1/tokens", onSuccess: "show-token", submit: "Create token",
                            field(
                                "create-token", "Name", name: "name", hint: "Where it is used, e.g. 'checkout service'."
                            ),
                            .div(
                                .label(.for("create-token-project"), "Project"),
                                .input(
                                    .id("create-token-project"), .name("project"), .type(.text),
                                    .value(active.first?.name ?? "default"),
                                    .attribute(named: "list", value: "project-names"),
                                    .attribute(named: "autocomplete", value: "off"),
                                    .attribute(
                                        named: "aria-describedby",
                                        value: "create-token-project-hint create-token-project-error")),
                                .raw(
                                    "<datalist id=\"project-names\">"
                                        + active.map { "<option value=\"\(escape($0.name))\">" }.joined()
                                        + "</datalist>"),
                                .p(
                                    .id("create-token-project-hint"), .class("muted small"),
                                    page.allows(.manageProjects)
                                        ? "An existing project, or a new name to create one."
                                        : "One of the organization's projects."),
                                .p(.id("create-token-project-error"), .data(named: "error-for", value: "project"))),
                            .fieldset(
                                .element(named: "legend", text: "Scopes"),
                                .forEach(scopes) { scope in
                                    .label(
                                        .class("check"),
                                        .input(
                                            .type(.checkbox), .name("scopes"), .value(scope.rawValue),
                                            .attribute(named: "checked", value: scope == .ingest ? "checked" : nil)),
                                        .text(scope.rawValue))
                                },
                                .p(
                                    .class("muted small"),
                                    "ingest: post events · read: query usage · gateway: call providers through Tally · admin: everything"
                                ),
                                .p(.data(named: "error-for", value: "scopes"))),
                            field("create-token", "Expires on", name: "expires_at", type: .date))))
        )
    }
}
