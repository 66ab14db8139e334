import Plot

/// The page shell: our own stylesheet and script (served from /assets), system fonts, no third-party assets.
package enum Layout {
    /// A full page. `signedIn` adds the header: navigation, organization switcher, theme toggle, sign out.
    package static func page(title: String, signedIn: SignedInHeader? = nil, _ content: Node<HTML.BodyContext>...)
        -> String
    {
        HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .meta(.name("viewport"), .content("width=device-width, initial-scale=1")),
                .unwrap(signedIn) { .meta(.name("csrf-token"), .content($0.csrf)) },
                // Not Plot's `.title()`: it also writes og:title and twitter:title attributes, unescaped.
                .element(named: "title", text: title + " · Tally"),
                .script(.raw(Script.themeBoot)),
                .link(.rel(.stylesheet), .href(Assets.stylesheetPath)),
                .script(.src(Assets.scriptPath), .attribute(named: "defer", value: "defer"))
            ),
            .body(
                .a(.class("skip"), .href("#content"), "Skip to content"),
                .unwrap(signedIn) { header($0) },
                .main(.id("content"), .group(content))
            )
        ).render()
    }

    package enum Section: String {
        case overview, usage, events, reconciliation, settings, none, budgets, alerts, forecast
        case insights, statements, performance, playground
    }

    package struct SignedInHeader {
        package var userName: String
        package var organizationID: String
        package var organizations: [(id: String, name: String)]
        package var csrf: String
        package var section: Section = .none

        package init(
            userName: String, organizationID: String, organizations: [(id: String, name: String)], csrf: String,
            section: Section = .none, settingsPath: String = "/settings/providers"
        ) {
            self.userName = userName
            self.organizationID = organizationID
            self.organizations = organizations
            self.csrf = csrf
            self.section = section
            self.settingsPath = settingsPath
        }
        /// The settings tab the role may open first (viewers and members may not see provider connections).
        package var settingsPath = "/settings/providers"
    }

    package static func header(_ h: SignedInHeader) -> Node<HTML.BodyContext> {
        .header(
            .class("top"),
            .a(.class("brand"), .href("/"), "Tally"),
            .nav(
                .id("main-nav"), .class("main"), .attribute(named: "aria-label", value: "Main"),
                navLink("/", "Overview", current: h.section == .overview),
                navLink("/usage", "Usage", current: h.section == .usage),
                navLink("/events", "Events", current: h.section == .events),
                navLink("/reconciliation", "Reconciliation", current: h.section == .reconciliation),
                navLink("/budgets", "Budgets", current: h.section == .budgets),
                navLink("/alerts", "Alerts", current: h.section == .alerts),
                navLink("/forecast", "Forecast", current: h.section == .forecast),
                navLink("/insights", "Insights", current: h.section == .insights),
                navLink("/performance", "Performance", current: h.section == .performance),
                navLink("/statements", "Statements", current: h.section == .statements),
                navLink("/playground", "Playground", current: h.section == .playground),
                navLink(h.settingsPath, "Settings", current: h.section == .settings)),
            .span(.class("spacer")),
            .if(
                h.organizations.count > 1,
                .form(
                    .method(.post), .action("/organizations/switch"),
                    .input(.type(.hidden), .name("_csrf"), .value(h.csrf)),
                    .select(
                        .attribute(named: "name", value: "organization_id"),
                        .attribute(named: "aria-label", value: "Organization"),
                        .attribute(named: "data-submit-on-change", value: "true"),
                        .forEach(h.organizations) { org in
                            .option(.value(org.id), .label(org.name), .isSelected(org.id == h.organizationID))
                        }),
                    .noscript(.button(.type(.submit), "Switch")))),
            .a(.class("muted hide-narrow"), .href("/account"), .text(h.userName)),
            .button(
                .id("theme-toggle"), .type(.button), .class("link"),
                .attribute(named: "aria-label", value: "Switch theme"), "Theme"),
            .form(
                .method(.post), .action("/logout"),
                .input(.type(.hidden), .name("_csrf"), .value(h.csrf)),
                .button(.class("link"), .type(.submit), "Sign out"))
        )
    }

    package static func navLink(_ href: String, _ label: String, current: Bool) -> Node<HTML.BodyContext> {
        .a(.href(href), .if(current, .attribute(named: "aria-current", value: "page")), .text(label))
    }

    /// A labelled input with its error underneath; the typed value is kept (never for passwords).
    package static func field(
        _ label: String, name: String, type: HTMLInputType, value: String = "", error: String? = nil,
        autocomplete: String? = nil
    ) -> Node<HTML.FormContext> {
        .group(
            .label(.for(name), .text(label)),
            .input(
                .id(name), .name(name), .type(type), .value(type == .password ? "" : value), .required(true),
                .attribute(named: "autocomplete", value: autocomplete)),
            .unwrap(error) { .p(.class("error"), .id(name + "-error"), .text($0)) }
        )
    }

    package static func csrfField(_ token: String) -> Node<HTML.FormContext> {
        .input(.type(.hidden), .name("_csrf"), .value(token))
    }
}
