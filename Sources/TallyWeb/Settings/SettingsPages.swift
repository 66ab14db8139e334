import Foundation
import Plot
import TallyCore
import TallyPrice

/// The six settings pages: the tabs, their shared frame and building blocks; each tab is in its own file. Lists are
/// rendered there; changes go through the JSON API (`form[data-api]`), so the pages and the API share one set of
/// rules, roles and error messages.
package enum SettingsPages {
    package enum Tab: String, CaseIterable {
        case providers, projects, tokens, members, prices, organization
        case alertChannels = "alert-channels"
        case policies
        package var title: String {
            switch self {
            case .providers: "Providers"
            case .projects: "Projects"
            case .tokens: "API tokens"
            case .members: "Members"
            case .prices: "Prices"
            case .organization: "Organization"
            case .alertChannels: "Alert channels"
            case .policies: "Policies"
            }
        }

        /// What a role needs to open the tab: the same as the API behind it (`GET /api/v1/provider-connections` is
        /// for admins; the other lists are readable by every member of the organization).
        package var permission: Permission {
            switch self {
            case .providers: .manageProviderKeys
            case .projects, .tokens, .members, .prices, .organization: .readUsage
            case .alertChannels, .policies: .manageAlerts
            }
        }
    }

    package static func page(_ page: SignedInPage, _ tab: Tab, _ content: Node<HTML.BodyContext>...) -> String {
        Layout.page(
            title: tab.title, signedIn: page.header,
            .h1(.text("Settings")),
            .nav(
                .id("settings-nav"), .class("sub"), .attribute(named: "aria-label", value: "Settings"),
                .forEach(Tab.allCases.filter { page.allows($0.permission) }) {
                    Layout.navLink("/settings/" + $0.rawValue, $0.title, current: $0 == tab)
                }),
            .group(content))
    }

    /// Loads `tab`'s model and renders it; the caller has checked the role's `tab.permission`. One file per tab
    /// (`ProvidersTab.swift` …), each a Model, a `load` over the narrowest stores it reads, and a `render`.
    package static func render<
        Store: ConnectionStore & ProviderSyncStore & ProjectStore & TokenStore & AccountStore & InviteStore & PriceStore
            & CatalogRevisionStore & AlertChannelStore & SignInStore
    >(
        _ tab: Tab, page: SignedInPage, store: Store, pricer: CatalogPricer, vaultReady: Bool, now: Instant
    ) async throws -> String {
        let org = page.organization.id
        switch tab {
        case .providers:
            return ProvidersTab.render(
                page, try await ProvidersTab.load(store: store, organizationID: org, vaultReady: vaultReady))
        case .projects: return ProjectsTab.render(page, try await ProjectsTab.load(store: store, organizationID: org))
        case .tokens: return TokensTab.render(page, try await TokensTab.load(store: store, page: page))
        case .members: return MembersTab.render(page, try await MembersTab.load(store: store, page: page))
        case .prices:
            return PricesTab.render(page, try await PricesTab.load(store: store, pricer: pricer, page: page, now: now))
        case .organization:
            return OrganizationTab.render(page, rules: try await store.signInRules(organizationID: org))
        case .alertChannels:
            return AlertChannelsTab.render(page, try await AlertChannelsTab.load(store: store, organizationID: org))
        case .policies:
            // Policies live in their own store: the dashboard's controller renders them (`PoliciesTab`).
            throw TallyError.notFound("page")
        }
    }

    // MARK: Building blocks

    /// A form the script submits to the API as JSON; field errors land in `[data-error-for]` beside each field.
    package static func apiForm(
        _ id: String, _ api: String, onSuccess: String = "reload", submit: String,
        _ fields: Node<HTML.FormContext>...
    ) -> Node<HTML.BodyContext> {
        .form(
            .id(id), .attribute(named: "data-api", value: api), .attribute(named: "data-on-success", value: onSuccess),
            .attribute(named: "novalidate", value: "novalidate"),
            .p(
                .class("form-error notice"), .attribute(named: "role", value: "alert"),
                .attribute(named: "hidden", value: "hidden")),
            .group(fields),
            .button(.type(.submit), .text(submit)))
    }

    package static func field(
        _ form: String, _ label: String, name: String, type: HTMLInputType = .text, value: String = "",
        hint: String? = nil, required: Bool = false, autocomplete: String = "off", kind: String? = nil
    ) -> Node<HTML.FormContext> {
        let id = form + "-" + name.replacingOccurrences(of: ".", with: "-")
        return .div(
            .label(.for(id), .text(label + (required ? "" : " (optional)"))),
            .input(
                .id(id), .name(name), .type(type), .value(value),
                .attribute(named: "autocomplete", value: autocomplete),
                .unwrap(kind) { .data(named: "kind", value: $0) },
                .attribute(named: "aria-describedby", value: id + "-error" + (hint == nil ? "" : " " + id + "-hint"))),
            .unwrap(hint) { .p(.id(id + "-hint"), .class("muted small"), .text($0)) },
            .p(.id(id + "-error"), .data(named: "error-for", value: name)))
    }

    package static func select(
        _ form: String, _ label: String, name: String, _ options: [(String, String)], selected: String? = nil
    ) -> Node<HTML.FormContext> {
        let id = form + "-" + name
        return .div(
            .label(.for(id), .text(label)),
            .select(
                .id(id), .attribute(named: "name", value: name),
                .forEach(options) { .option(.value($0.0), .label($0.1), .isSelected($0.0 == selected)) }),
            .p(.id(id + "-error"), .data(named: "error-for", value: name)))
    }

    package static func onlyFor(_ role: Role, _ what: String) -> Node<HTML.BodyContext> {
        .p(.class("muted"), .text("Only \(role.rawValue)s and above can \(what)."))
    }

    package static func actionButton(
        _ label: String, api: String, confirm: String? = nil, danger: Bool = false, action: String,
        body: String? = nil, onSuccess: String? = nil
    ) -> Node<HTML.BodyContext> {
        .button(
            .type(.button), .class("small " + (danger ? "danger" : "secondary")), .data(named: "api", value: api),
            .data(named: "action", value: action),
            .unwrap(confirm) { .data(named: "confirm", value: $0) }, .unwrap(body) { .data(named: "body", value: $0) },
            .unwrap(onSuccess) { .data(named: "on-success", value: $0) },
            .text(label))
    }

    package static func time(_ instant: Instant?, _ zone: TimeZoneRules) -> String {
        instant.map { Format.localTime($0, zone: zone) } ?? "—"
    }
}
