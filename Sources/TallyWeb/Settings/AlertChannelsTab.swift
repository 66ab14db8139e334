import Plot
import TallyCore

/// Settings → Alert channels: where alerts go (email, webhook, Slack, Discord). Admins list, add, test and delete
/// them; a channel's secret is never on the page (a webhook shows whether it has one, Slack and Discord only their
/// URL's origin).
extension SettingsPages {
    package enum AlertChannelsTab {
        package struct Model: Sendable {
            package var channels: [AlertChannel]
        }

        package static func load(store: some AlertChannelStore, organizationID: String) async throws -> Model {
            Model(channels: try await store.alertChannels(organizationID: organizationID))
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.page(
                page, .alertChannels,
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "alert-channels-heading"),
                    .h2(.id("alert-channels-heading"), "Alert channels"),
                    .p(
                        .class("muted"),
                        "Budgets and alert rules send their alerts to these channels. Test sends an example message now."
                    ),
                    m.channels.isEmpty
                        ? .p(.id("no-alert-channels"), "No alert channel yet.")
                        : .div(
                            .class("table-wrap"),
                            .table(
                                .id("alert-channels"),
                                .thead(
                                    .tr(.th("Name"), .th("Type"), .th("Target"), .th("Test result"), .th("Actions"))),
                                .tbody(.forEach(m.channels) { row($0) })))),
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "new-alert-channel-heading"),
                    .h2(.id("new-alert-channel-heading"), "New alert channel"),
                    newForm(
                        .email, "Email",
                        field(
                            "new-email", "Recipients", name: "to", hint: "Email addresses, separated by commas.",
                            required: true, kind: "list"),
                        weeklyDigestBox()),
                    newForm(
                        .webhook, "Webhook",
                        field("new-webhook", "URL", name: "url", type: .url, required: true),
                        field(
                            "new-webhook", "Signing secret", name: "secret", type: .password,
                            hint: "Signs each POST: X-Tally-Signature: t=<unix>,v1=<HMAC-SHA256 of \"<t>.<body>\">.",
                            autocomplete: "new-password")),
                    newForm(
                        .slack, "Slack",
                        field("new-slack", "Webhook URL", name: "webhook_url", type: .url, required: true)),
                    newForm(
                        .discord, "Discord",
                        field("new-discord", "Webhook URL", name: "webhook_url", type: .url, required: true))))
        }

        static func row(_ c: AlertChannel) -> Node<HTML.TableContext> {
            let target: String
            switch c.kind {
            case .email: target = c.targets.joined(separator: ", ")
            case .webhook: target = (c.targets.first ?? "") + (c.sealedSecret == nil ? "" : " (signed)")
            case .slack, .discord: target = c.targets.first ?? ""
            }
            return .tr(
                .data(named: "channel-id", value: c.id),
                .td(.text(c.name)),
                .td(.text(c.kind.rawValue)),
                .td(.code(.class("channel-target"), .text(target))),
                .td(.span(.class("row-status"), .attribute(named: "aria-live", value: "polite"))),
                .td(
                    .div(
                        .class("actions"),
                        actionButton(
                            "Test", api: "POST /api/v1/alert-channels/\(c.id)/test", action: "test",
                            onSuccess: "show-delivery"),
                        actionButton(
                            "Delete", api: "DELETE /api/v1/alert-channels/\(c.id)",
                            confirm:
                                "Delete the alert channel '\(c.name)'? Alerts not yet delivered to it will not be.",
                            danger: true, action: "delete"))))
        }

        /// An email channel's opt-ins: the weekly digest (issue 18) and the scheduled statements (issue 20).
        static func weeklyDigestBox() -> Node<HTML.FormContext> {
            .group(
                optInBox("weekly_digest", "Weekly digest: new insights and the month-end forecast, on Monday mornings"),
                optInBox(
                    "monthly_statement",
                    "Monthly statement: last month's statement with its PDF and CSV, on the 1st at 08:00"),
                optInBox("weekly_summary", "Weekly summary: last week's statement with its CSV, on Mondays at 08:00"))
        }

        static func optInBox(_ name: String, _ label: String) -> Node<HTML.FormContext> {
            .div(
                .label(
                    .class("check"),
                    .input(
                        .id("new-email-" + name), .type(.checkbox), .name(name), .data(named: "kind", value: "bool")),
                    .text(label)),
                .p(.data(named: "error-for", value: name)))
        }

        /// One form per type, inside a disclosure; the type travels as a hidden field.
        static func newForm(_ kind: AlertChannelKind, _ title: String, _ fields: Node<HTML.FormContext>...)
            -> Node<HTML.BodyContext>
        {
            let id = "new-" + kind.rawValue
            return .element(
                named: "details",
                nodes: [
                    .element(named: "summary", text: title),
                    apiForm(
                        id, "POST /api/v1/alert-channels", submit: "Add \(title.lowercased()) channel",
                        .input(.type(.hidden), .name("type"), .value(kind.rawValue)),
                        field(id, "Name", name: "name"),
                        .group(fields)),
                ])
        }
    }
}
