import Foundation
import Plot
import TallyCore
import TallyPrice

/// The six settings pages. Lists are rendered here; changes go through the JSON API (`form[data-api]`), so the
/// pages and the API share one set of rules, roles and error messages.
package enum SettingsPages {
    package enum Tab: String, CaseIterable {
        case providers, projects, tokens, members, prices, organization
        package var title: String {
            switch self {
            case .providers: "Providers"
            case .projects: "Projects"
            case .tokens: "API tokens"
            case .members: "Members"
            case .prices: "Prices"
            case .organization: "Organization"
            }
        }

        /// What a role needs to open the tab: the same as the API behind it (`GET /api/v1/provider-connections` is
        /// for admins; the other lists are readable by every member of the organization).
        package var permission: Permission {
            switch self {
            case .providers: .manageProviderKeys
            case .projects, .tokens, .members, .prices, .organization: .readUsage
            }
        }
    }

    package static func page(_ page: SignedInPage, _ tab: Tab, _ content: Node<HTML.BodyContext>...) -> String {
        Layout.page(title: tab.title, signedIn: page.header,
            .h1(.text("Settings")),
            .nav(.id("settings-nav"), .class("sub"), .attribute(named: "aria-label", value: "Settings"),
                 .forEach(Tab.allCases.filter { page.allows($0.permission) }) {
                     Layout.navLink("/settings/" + $0.rawValue, $0.title, current: $0 == tab)
                 }),
            .group(content))
    }

    // MARK: Building blocks

    /// A form the script submits to the API as JSON; field errors land in `[data-error-for]` beside each field.
    package static func apiForm(_ id: String, _ api: String, onSuccess: String = "reload", submit: String,
                        _ fields: Node<HTML.FormContext>...) -> Node<HTML.BodyContext> {
        .form(.id(esc(id)), .attribute(named: "data-api", value: esc(api)), .attribute(named: "data-on-success", value: esc(onSuccess)),
              .attribute(named: "novalidate", value: "novalidate"),
              .p(.class("form-error notice"), .attribute(named: "role", value: "alert"), .attribute(named: "hidden", value: "hidden")),
              .group(fields),
              .button(.type(.submit), .text(submit)))
    }

    package static func field(_ form: String, _ label: String, name: String, type: HTMLInputType = .text, value: String = "",
                      hint: String? = nil, required: Bool = false, autocomplete: String = "off", kind: String? = nil) -> Node<HTML.FormContext> {
        let id = form + "-" + name.replacingOccurrences(of: ".", with: "-")
        return .div(
            .label(.for(esc(id)), .text(label + (required ? "" : " (optional)"))),
            .input(.id(esc(id)), .name(esc(name)), .type(type), .value(esc(value)), .attribute(named: "autocomplete", value: esc(autocomplete)),
                   .unwrap(kind) { .data(named: "kind", value: esc($0)) },
                   .attribute(named: "aria-describedby", value: esc(id + "-error" + (hint == nil ? "" : " " + id + "-hint")))),
            .unwrap(hint) { .p(.id(esc(id + "-hint")), .class("muted small"), .text($0)) },
            .p(.id(esc(id + "-error")), .data(named: "error-for", value: esc(name))))
    }

    package static func select(_ form: String, _ label: String, name: String, _ options: [(String, String)], selected: String? = nil) -> Node<HTML.FormContext> {
        let id = form + "-" + name
        return .div(
            .label(.for(esc(id)), .text(label)),
            .select(.id(esc(id)), .attribute(named: "name", value: esc(name)),
                    .forEach(options) { .option(.value(esc($0.0)), .label(esc($0.1)), .isSelected($0.0 == selected)) }),
            .p(.id(esc(id + "-error")), .data(named: "error-for", value: esc(name))))
    }

    package static func onlyFor(_ role: Role, _ what: String) -> Node<HTML.BodyContext> {
        .p(.class("muted"), .text("Only \(role.rawValue)s and above can \(what)."))
    }

    package static func actionButton(_ label: String, api: String, confirm: String? = nil, danger: Bool = false, action: String,
                             body: String? = nil, onSuccess: String? = nil) -> Node<HTML.BodyContext> {
        .button(.type(.button), .class(esc("small " + (danger ? "danger" : "secondary"))), .data(named: "api", value: esc(api)),
                .data(named: "action", value: esc(action)),
                .unwrap(confirm) { .data(named: "confirm", value: esc($0)) }, .unwrap(body) { .data(named: "body", value: esc($0)) },
                .unwrap(onSuccess) { .data(named: "on-success", value: esc($0)) },
                .text(label))
    }

    package static func time(_ instant: Instant?, _ zone: TimeZoneRules) -> String {
        instant.map { Format.localTime($0, zone: zone) } ?? "—"
    }

    // MARK: Providers

    package static func providers(_ page: SignedInPage, connections: [ProviderConnection], vaultReady: Bool, runs: [SyncRun] = []) -> String {
        let admin = page.allows(.manageProviderKeys)
        return self.page(page, .providers,
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "connections-heading"),
                .h2(.id("connections-heading"), "Provider connections"),
                .p(.class("muted"), "Keys are encrypted at rest (AES-256-GCM) and never shown again: only a mask. The gateway and the provider usage sync use them."),
                .if(connections.isEmpty, .p("No provider connected yet."), else:
                    .div(.class("table-wrap"), .table(.id("connections"),
                        .thead(.tr(.th("Name"), .th("Provider"), .th("API key"), .th("Admin key"), .th("Status"), .th("Actions"))),
                        .tbody(.forEach(connections) { c in
                            .tr(.data(named: "connection-id", value: esc(c.id)),
                                .td(.text(c.name), .unwrap(c.baseURL) { .div(.class("muted small"), .text($0)) },
                                    .if(c.gatewayEndpoints == .all, .div(.class("muted small gateway-endpoints"), "Gateway: every endpoint"))),
                                .td(.text(c.provider.rawValue)),
                                .td(.code(.class("mask"), .text(c.apiKeyMask ?? "—"))),
                                .td(.code(.class("mask admin-mask"), .text(c.adminKeyMask ?? "—"))),
                                .td(.span(.class(esc("row-status" + (c.validationError == nil && c.validatedAt != nil ? " ok" : c.validationError == nil ? "" : " error"))),
                                          .text(c.validationError.map { "Rejected: \($0)" }
                                                ?? c.validatedAt.map { "Validated \(Format.localTime($0, zone: page.zone))" } ?? "Not validated"))),
                                .td(.if(admin, .div(.class("actions"),
                                    actionButton("Test", api: "POST /api/v1/provider-connections/\(c.id)/test", action: "test"),
                                    .if(c.adminKeyMask != nil && c.provider != .google,
                                        actionButton("Sync now", api: "POST /api/v1/provider-connections/\(c.id)/sync", action: "sync")),
                                    actionButton("Delete", api: "DELETE /api/v1/provider-connections/\(c.id)",
                                                 confirm: "Delete the connection '\(c.name)' and its keys?", danger: true, action: "delete"),
                                    .element(named: "details", nodes: [
                                        .element(named: "summary", text: "Replace key"),
                                        apiForm("replace-\(c.id)", "PATCH /api/v1/provider-connections/\(c.id)", submit: "Save new key",
                                                field("replace-\(c.id)", "New API key", name: "api_key", type: .password),
                                                field("replace-\(c.id)", "New admin key", name: "admin_key", type: .password)),
                                    ]),
                                    .element(named: "details", nodes: [
                                        .element(named: "summary", text: "Gateway endpoints"),
                                        apiForm("endpoints-\(c.id)", "PATCH /api/v1/provider-connections/\(c.id)", submit: "Save",
                                                select("endpoints-\(c.id)", "The gateway forwards", name: "gateway_endpoints",
                                                       gatewayEndpointOptions, selected: c.gatewayEndpoints.rawValue)),
                                    ])), else: .text("—"))))
                        }))))),
            .if(!runs.isEmpty, syncRuns(page, runs, connections: connections)),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "add-heading"),
                .h2(.id("add-heading"), "Add a connection"),
                .if(!admin, onlyFor(.admin, "add provider keys"), else: .if(!vaultReady,
                    .p(.class("notice"), "Provider keys need a master key: set TALLY_MASTER_KEY (see docs/security.md) and restart Tally."),
                    else: apiForm("add-connection", "POST /api/v1/provider-connections", submit: "Validate and save",
                        field("add-connection", "Name", name: "name", hint: "How you tell connections apart, e.g. 'OpenAI production'.", required: true),
                        select("add-connection", "Provider", name: "provider", ProviderKind.allCases.map { ($0.rawValue, providerLabel($0)) }),
                        field("add-connection", "API key", name: "api_key", type: .password,
                              hint: "Checked with one list-models call before it is saved."),
                        field("add-connection", "Admin key", name: "admin_key", type: .password,
                              hint: "OpenAI sk-admin-… or Anthropic sk-ant-admin…: for the organization usage sync."),
                        field("add-connection", "Base URL", name: "base_url", type: .url,
                              hint: "Leave empty for the provider's public API; set it for Azure OpenAI, a regional host or a proxy."),
                        select("add-connection", "The gateway forwards", name: "gateway_endpoints", gatewayEndpointOptions),
                        .div(.label(.class("check"), .input(.type(.checkbox), .name("validate"), .data(named: "kind", value: "bool"),
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
    package static func syncRuns(_ page: SignedInPage, _ runs: [SyncRun], connections: [ProviderConnection]) -> Node<HTML.BodyContext> {
        let names = Dictionary(connections.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        return .section(.class("card"), .attribute(named: "aria-labelledby", value: "runs-heading"),
            .h2(.id("runs-heading"), "Provider usage sync"),
            .p(.class("muted"), .text("Connections with an admin key pull the providers' own usage and cost reports every hour (the last 3 days "
               + "again, as providers finalize late), and 30 days back when added. "), .a(.href("/reconciliation"), "Compare them with Tally's estimate →")),
            .div(.class("table-wrap"), .table(.id("sync-runs"),
                .thead(.tr(.th("Started"), .th("Connection"), .th("Range (UTC)"), .th("Trigger"), .th("Status"),
                           .th(.class("num"), "Pages"), .th(.class("num"), "Rows"), .th("Error"))),
                .tbody(.forEach(runs) { r in
                    .tr(.data(named: "run-id", value: esc(r.id)),
                        .td(.text(Format.localTime(r.startedAt, zone: page.zone))), .td(.text(names[r.connectionID] ?? r.connectionID)),
                        .td(.text("\(TimeZoneRules.utc.localDate(of: r.from)) – \(TimeZoneRules.utc.localDate(of: r.to.adding(seconds: -1)))")),
                        .td(.text(r.trigger.rawValue)),
                        .td(r.status == .failed ? .span(.class("badge error"), "failed") : .text(r.status.rawValue)),
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

    // MARK: Projects

    package static func projects(_ page: SignedInPage, projects: [Project]) -> String {
        let admin = page.allows(.manageProjects)
        return self.page(page, .projects,
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "projects-heading"),
                .h2(.id("projects-heading"), "Projects"),
                .p(.class("muted"), "Each API token belongs to a project; events are attributed to it. Archived projects keep their data and take no new events."),
                .div(.class("table-wrap"), .table(.id("projects"),
                    .thead(.tr(.th("Name"), .th("Created"), .th("Status"), .th("Actions"))),
                    .tbody(.forEach(projects) { p in
                        .tr(.data(named: "project-id", value: esc(p.id)),
                            .td(.a(.href(esc("/usage?group_by=feature&project=" + URLText.percentEncoded(p.name))), .text(p.name))),
                            .td(.text(Format.localTime(p.createdAt, zone: page.zone))),
                            .td(.text(p.archivedAt == nil ? "active" : "archived")),
                            .td(.if(admin, .div(.class("actions"),
                                p.archivedAt == nil
                                    ? actionButton("Archive", api: "PATCH /api/v1/projects/\(p.id)", confirm: "Archive '\(p.name)'? It will refuse new events.",
                                                   action: "archive", body: #"{"archived":true}"#)
                                    : actionButton("Restore", api: "PATCH /api/v1/projects/\(p.id)", action: "restore", body: #"{"archived":false}"#),
                                .element(named: "details", nodes: [
                                    .element(named: "summary", text: "Rename"),
                                    apiForm("rename-\(p.id)", "PATCH /api/v1/projects/\(p.id)", submit: "Rename",
                                            field("rename-\(p.id)", "New name", name: "name", value: p.name, required: true)),
                                ])), else: .text("—"))))
                    })))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "new-project-heading"),
                .h2(.id("new-project-heading"), "New project"),
                .if(admin, apiForm("create-project", "POST /api/v1/projects", submit: "Create project",
                                   field("create-project", "Name", name: "name", hint: "1-64 characters, no spaces or commas.", required: true)),
                    else: onlyFor(.admin, "create projects")))
        )
    }

    // MARK: Tokens

    package static func tokens(_ page: SignedInPage, tokens: [APIToken], projects: [Project], creators: [String: String]) -> String {
        let canCreate = page.allows(.manageOwnTokens)
        let active = projects.filter { $0.archivedAt == nil }
        let scopes: [Scope] = page.allows(.manageAllTokens) ? Scope.allCases : Scope.allCases.filter { $0 != .admin }
        return self.page(page, .tokens,
            .section(.id("new-token"), .class("card"), .attribute(named: "hidden", value: "hidden"), .attribute(named: "aria-live", value: "polite"),
                .h2("Your new token"),
                .p("Copy it now: Tally keeps only its hash and will not show it again."),
                .pre(.code(.id("new-token-secret"))),
                .div(.class("actions"),
                     .button(.id("copy-new-token"), .class("copy"), .type(.button), .data(named: "copy-target", value: "new-token-secret"), "Copy"),
                     .a(.id("new-token-done"), .class("button secondary"), .href("/settings/tokens"), "Done"))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "tokens-heading"),
                .h2(.id("tokens-heading"), "API tokens"),
                .p(.class("muted"), .text(page.allows(.manageAllTokens) ? "Every token of the organization." : "The tokens you created.")),
                .if(tokens.isEmpty, .p("No tokens yet."), else:
                    .div(.class("table-wrap"), .table(.id("tokens"),
                        .thead(.tr(.th("Name"), .th("Project"), .th("Scopes"), .th("Secret"), .th(.class("hide-narrow"), "Created by"),
                                   .th(.class("hide-narrow"), "Last used"), .th("Expires"), .th("Status"), .th("Actions"))),
                        .tbody(.forEach(tokens) { t in
                            .tr(.data(named: "token-id", value: esc(t.id)),
                                .td(.text(t.name ?? "—")), .td(.text(t.projectName)),
                                .td(.text(t.scopes.sorted().map(\.rawValue).joined(separator: ", "))),
                                .td(.code(.text("…" + t.hint))),
                                .td(.class("hide-narrow"), .text(t.createdBy.map { creators[$0] ?? $0 } ?? "CLI")),
                                .td(.class("hide-narrow"), .text(time(t.lastUsedAt, page.zone))),
                                .td(.text(time(t.expiresAt, page.zone))),
                                .td(.text(t.revokedAt != nil ? "revoked" : (t.expiresAt.map { $0 <= .now } ?? false) ? "expired" : "active")),
                                .td(.if(t.revokedAt == nil,
                                        actionButton("Revoke", api: "DELETE /api/v1/tokens/\(t.id)", confirm: "Revoke this token? Apps using it stop at once.",
                                                     danger: true, action: "revoke"), else: .text("—"))))
                        }))))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "create-token-heading"),
                .h2(.id("create-token-heading"), "Create a token"),
                .if(!canCreate, onlyFor(.member, "create tokens"), else:
                    apiForm("create-token", "POST /api/v1/tokens", onSuccess: "show-token", submit: "Create token",
                        field("create-token", "Name", name: "name", hint: "Where it is used, e.g. 'checkout service'."),
                        .div(.label(.for("create-token-project"), "Project"),
                             .input(.id("create-token-project"), .name("project"), .type(.text), .value(esc(active.first?.name ?? "default")),
                                    .attribute(named: "list", value: "project-names"), .attribute(named: "autocomplete", value: "off"),
                                    .attribute(named: "aria-describedby", value: "create-token-project-hint create-token-project-error")),
                             .raw("<datalist id=\"project-names\">" + active.map { "<option value=\"\(escape($0.name))\">" }.joined() + "</datalist>"),
                             .p(.id("create-token-project-hint"), .class("muted small"), page.allows(.manageProjects) ? "An existing project, or a new name to create one." : "One of the organization's projects."),
                             .p(.id("create-token-project-error"), .data(named: "error-for", value: "project"))),
                        .fieldset(.element(named: "legend", text: "Scopes"),
                            .forEach(scopes) { scope in
                                .label(.class("check"), .input(.type(.checkbox), .name("scopes"), .value(esc(scope.rawValue)),
                                                               .attribute(named: "checked", value: esc(optional: scope == .ingest ? "checked" : nil))),
                                       .text(scope.rawValue))
                            },
                            .p(.class("muted small"), "ingest: post events · read: query usage · gateway: call providers through Tally · admin: everything"),
                            .p(.data(named: "error-for", value: "scopes"))),
                        field("create-token", "Expires on", name: "expires_at", type: .date))))
        )
    }

    // MARK: Members

    package static func members(_ page: SignedInPage, members: [Membership], invites: [Invite]) -> String {
        let admin = page.allows(.manageMembers)
        let roles = Role.allCases.reversed().map { ($0.rawValue, $0.rawValue) }
        let pending = invites.filter { $0.acceptedAt == nil && $0.revokedAt == nil && $0.expiresAt > .now }
        return self.page(page, .members,
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "members-heading"),
                .h2(.id("members-heading"), "Members"),
                .p(.class("muted"), "viewer: reads usage · member: also ingests and has own tokens · admin: manages keys, projects, prices and people · owner: also deletes or transfers the organization."),
                .div(.class("table-wrap"), .table(.id("members"),
                    .thead(.tr(.th("Name"), .th("Email"), .th("Role"), .th(.class("hide-narrow"), "Joined"), .th("Actions"))),
                    .tbody(.forEach(members) { m in
                        .tr(.data(named: "user-id", value: esc(m.user.id)),
                            .td(.text(m.user.name)), .td(.text(m.user.email)), .td(.text(m.role.rawValue)),
                            .td(.class("hide-narrow"), .text(Format.localTime(m.joinedAt, zone: page.zone))),
                            .td(.if(admin && m.user.id != page.user.id, .div(.class("actions"),
                                .element(named: "details", nodes: [
                                    .element(named: "summary", text: "Change role"),
                                    apiForm("role-\(m.user.id)", "PATCH /api/v1/members/\(m.user.id)", submit: "Save role",
                                            select("role-\(m.user.id)", "Role", name: "role", roles, selected: m.role.rawValue)),
                                ]),
                                actionButton("Remove", api: "DELETE /api/v1/members/\(m.user.id)", confirm: "Remove \(m.user.email) from this organization?",
                                             danger: true, action: "remove")), else: .text(m.user.id == page.user.id ? "you" : "—"))))
                    })))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "invites-heading"),
                .h2(.id("invites-heading"), "Invites"),
                .if(pending.isEmpty, .p(.class("muted"), "No pending invites."), else:
                    .div(.class("table-wrap"), .table(.id("invites"),
                        .thead(.tr(.th("Email"), .th("Role"), .th("Expires"), .th("Actions"))),
                        .tbody(.forEach(pending) { i in
                            .tr(.data(named: "invite-id", value: esc(i.id)), .td(.text(i.email)), .td(.text(i.role.rawValue)),
                                .td(.text(Format.localTime(i.expiresAt, zone: page.zone))),
                                .td(.if(admin, actionButton("Revoke", api: "DELETE /api/v1/invites/\(i.id)", danger: true, action: "revoke"))))
                        })))),
                .if(admin, .group(
                    .h2("Invite someone"),
                    apiForm("invite", "POST /api/v1/invites", submit: "Send invite",
                        field("invite", "Email", name: "email", type: .email, required: true, autocomplete: "email"),
                        select("invite", "Role", name: "role", roles.filter { $0.0 != "owner" }, selected: "member"),
                        .p(.class("muted small"), "The link works once, for 7 days. It is mailed when TALLY_SMTP_URL is set; otherwise copy it from the API answer."))),
                    else: onlyFor(.admin, "invite people")))
        )
    }

    // MARK: Prices

    package static func prices(_ page: SignedInPage, own: [PriceEntry], builtIn: [PriceEntry], unpriced: [UnpricedModel]) -> String {
        let admin = page.allows(.managePrices)
        let today = page.zone.localDate(of: .now)
        return self.page(page, .prices,
            EstimateNote.node(),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "unpriced-heading"),
                .h2(.id("unpriced-heading"), "Models without a price"),
                .if(unpriced.isEmpty, .p(.class("ok"), "Every model seen so far had a price."), else: .group(
                    .p(.class("muted"), "These events count tokens but no cost. Add a price below, then re-price their range."),
                    .div(.class("table-wrap"), .table(.id("unpriced"),
                        .thead(.tr(.th("Provider"), .th("Model"), .th(.class("num"), "Requests"), .th(.class("num"), "Input tokens"),
                                   .th(.class("num"), "Output tokens"), .th("First seen"), .th("Last seen"))),
                        .tbody(.forEach(unpriced) { u in
                            .tr(.td(.text(u.provider)), .td(.text(u.model)), .td(.class("num"), .text(Format.integer(u.requests))),
                                .td(.class("num"), .text(Format.integer(u.inputTokens))), .td(.class("num"), .text(Format.integer(u.outputTokens))),
                                .td(.text(Format.localTime(u.firstSeen, zone: page.zone))), .td(.text(Format.localTime(u.lastSeen, zone: page.zone))))
                        })))))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "own-heading"),
                .h2(.id("own-heading"), "This organization's prices"),
                .p(.class("muted"), "From their start date they win over the built-in catalog for matching events; stored costs change only when you re-price."),
                .if(own.isEmpty, .p("None: the built-in catalog prices everything."), else:
                    .div(.class("table-wrap"), .table(.id("org-prices"),
                        .thead(.tr(.th("Provider"), .th("Model"), .th("From"), .th("To"), .th(.class("num"), "Input / 1M"),
                                   .th(.class("num"), "Cached / 1M"), .th(.class("num"), "Output / 1M"), .th("Actions"))),
                        .tbody(.forEach(own) { e in
                            .tr(.data(named: "price-id", value: esc(e.id)),
                                .td(.text(e.provider ?? "any")), .td(.text(e.model)), .td(.text(e.from.description)), .td(.text(e.to?.description ?? "—")),
                                .td(.class("num"), .text(rate(e, .input))), .td(.class("num"), .text(rate(e, .cachedInput))),
                                .td(.class("num"), .text(rate(e, .output))),
                                .td(.if(admin && e.to == nil, actionButton("End today", api: "DELETE /api/v1/prices/\(e.id)?on=\(today)",
                                                                           confirm: "End this price today?", action: "end"))))
                        })))),
                .if(admin, .group(
                    .h2("Add a price"),
                    apiForm("add-price", "POST /api/v1/prices", submit: "Add price",
                        .div(.class("row"),
                            field("add-price", "Provider", name: "provider", hint: "openai, anthropic, google, azure_openai…; empty: any provider"),
                            field("add-price", "Model", name: "model", required: true),
                            field("add-price", "From", name: "from", type: .date, value: today.description, required: true)),
                        .div(.class("row"),
                            field("add-price", "Input USD / 1M", name: "prices.input", required: true),
                            field("add-price", "Cached input USD / 1M", name: "prices.cached_input"),
                            field("add-price", "Output USD / 1M", name: "prices.output", required: true)))),
                    else: onlyFor(.admin, "change prices"))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "reprice-heading"),
                .h2(.id("reprice-heading"), "Re-price a range"),
                .p(.class("muted"), "Events keep the price they were stored with. After a price change, preview what re-pricing would change, then apply it."),
                .if(admin, .group(
                    .form(.id("reprice"), .attribute(named: "data-api", value: "POST /api/v1/prices/recompute"),
                          .attribute(named: "data-on-success", value: "reprice-diff"), .attribute(named: "data-extra", value: esc(#"{"dry_run":true}"#)),
                        .p(.class("form-error notice"), .attribute(named: "role", value: "alert"), .attribute(named: "hidden", value: "hidden")),
                        .div(.class("row"),
                            field("reprice", "From (UTC date)", name: "from", type: .date, value: today.addingDays(-30).description, required: true),
                            field("reprice", "To (UTC date, exclusive)", name: "to", type: .date, value: today.addingDays(1).description, required: true)),
                        .button(.type(.submit), "Preview changes")),
                    .div(.id("reprice-diff"), .attribute(named: "hidden", value: "hidden"), .attribute(named: "aria-live", value: "polite"),
                        .p(.id("reprice-summary")),
                        .div(.class("table-wrap"), .table(
                            .thead(.tr(.th("Provider"), .th("Model"), .th(.class("num"), "Changed"), .th(.class("num"), "Cost before"), .th(.class("num"), "Cost after"))),
                            .tbody(.id("reprice-rows")))),
                        .button(.id("apply-reprice"), .type(.button), .data(named: "api", value: "POST /api/v1/prices/recompute"),
                                .data(named: "confirm", value: "Rewrite the stored costs of these events?"), "Apply these changes"))),
                    else: onlyFor(.admin, "re-price events"))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "builtin-heading"),
                .h2(.id("builtin-heading"), "Built-in catalog"),
                .element(named: "details", nodes: [
                    .element(named: "summary", text: "\(builtIn.count) list prices in force today, with their sources"),
                    .div(.class("table-wrap"), .table(.id("builtin-prices"),
                        .thead(.tr(.th("Provider"), .th("Model"), .th("From"), .th(.class("num"), "Input / 1M"), .th(.class("num"), "Cached / 1M"),
                                   .th(.class("num"), "Output / 1M"), .th("Checked"))),
                        .tbody(.forEach(builtIn) { e in
                            .tr(.td(.text(e.provider ?? "any")),
                                .td(.unwrap(e.source, { .a(.href(esc($0)), .attribute(named: "rel", value: "noreferrer"), .text(e.model)) }, else: .text(e.model))),
                                .td(.text(e.from.description)), .td(.class("num"), .text(rate(e, .input))),
                                .td(.class("num"), .text(rate(e, .cachedInput))), .td(.class("num"), .text(rate(e, .output))),
                                .td(.text(e.checked?.description ?? "—")))
                        }))),
                ]))
        )
    }

    package static func inForce(_ entries: [PriceEntry], on day: CivilDate) -> [PriceEntry] {
        let current = entries.filter { entry in
            guard entry.from <= day else { return false }
            guard let end = entry.to else { return true }
            return day < end
        }
        return current.sorted { a, b in
            let pa = a.provider ?? "", pb = b.provider ?? ""
            return pa == pb ? a.model < b.model : pa < pb
        }
    }

    package static func rate(_ e: PriceEntry, _ c: TokenClass) -> String {
        e.prices.rates[c].map { "$" + $0.decimalString } ?? "—"
    }

    // MARK: Organization

    package static func organization(_ page: SignedInPage) -> String {
        let org = page.organization
        let admin = page.allows(.editOrganization)
        return self.page(page, .organization,
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "org-heading"),
                .h2(.id("org-heading"), "Organization"),
                .if(admin,
                    apiForm("organization", "PATCH /api/v1/organization", submit: "Save",
                        field("organization", "Name", name: "name", value: org.name, required: true),
                        field("organization", "Time zone", name: "time_zone", value: org.timeZone,
                              hint: "An IANA name such as Europe/Berlin or America/New_York: days, months and cycles follow it.", required: true),
                        field("organization", "Billing cycle starts on day", name: "billing_cycle_day", type: .number,
                              value: String(org.billingCycleDay), hint: "1-28: the day of the month your provider invoices start.",
                              required: true, kind: "int")),
                    else: .group(
                        .p(.text("Name: \(org.name)")), .p(.text("Time zone: \(org.timeZone)")),
                        .p(.text("Billing cycle starts on day \(org.billingCycleDay)")),
                        onlyFor(.admin, "change these")))),
            .section(.class("card"), .attribute(named: "aria-labelledby", value: "you-heading"),
                .h2(.id("you-heading"), "You"),
                .p(.text("\(page.user.name) <\(page.user.email)>, \(page.role.rawValue) of \(org.name).")),
                apiForm("password", "POST /api/v1/me/password", submit: "Change password",
                    field("password", "Current password", name: "current_password", type: .password, required: true, autocomplete: "current-password"),
                    field("password", "New password (12 characters or more)", name: "new_password", type: .password, required: true,
                          autocomplete: "new-password")))
        )
    }
}
