import Plot
import TallyCore

/// Settings → Policies (issue 19): the gateway's guardrails. Each policy with its mode, scope and rules and what it
/// blocked (enforce) or would have blocked (monitor) in the last 7 days; the newest blocks; a form that creates a
/// policy in monitor mode (a dry run); a button to switch monitor ↔ enforce; delete. Changes go through the JSON API.
extension SettingsPages {
    package enum PoliciesTab {
        package struct Row: Sendable {
            package var policy: Policy
            /// The project of the scope by name (an id whose project is gone shows as the id).
            package var projectName: String?
            package var blocked7d: Int
            package var wouldHaveBlocked7d: Int
        }

        package struct Hit: Sendable {
            package var hit: PolicyHit
            /// The policy's or the budget's name (an id when it is gone).
            package var source: String
            package var projectName: String
        }

        package struct Model: Sendable {
            package var rows: [Row]
            package var hits: [Hit]
            package var canEdit: Bool

            package init(rows: [Row], hits: [Hit], canEdit: Bool) {
                self.rows = rows
                self.hits = hits
                self.canEdit = canEdit
            }
        }

        package static let newestHits = 20

        package static func load(
            policies: some PolicyStore, store: some ProjectStore & BudgetStore, page: SignedInPage, now: Instant
        ) async throws -> Model {
            let org = page.organization.id
            let list = try await policies.policies(organizationID: org)
            let since = Instant(microseconds: now.microseconds - 7 * 86_400 * 1_000_000)
            var counts: [String: [PolicyMode: Int]] = [:]
            for c in try await policies.policyHitCounts(organizationID: org, since: since) {
                guard let id = c.policyID else { continue }
                counts[id, default: [:]][c.mode, default: 0] += c.count
            }
            let projects = Dictionary(
                try await store.projects(organizationID: org).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            let hits = try await policies.policyHits(organizationID: org, policyID: nil, limit: newestHits)
            var sources = Dictionary(list.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            if hits.contains(where: { $0.budgetID != nil }) {
                for b in try await store.budgets(organizationID: org) { sources[b.id] = "budget " + b.name }
            }
            return Model(
                rows: list.map { p in
                    Row(
                        policy: p, projectName: p.scope.projectID.map { projects[$0] ?? $0 },
                        blocked7d: counts[p.id]?[.enforce] ?? 0, wouldHaveBlocked7d: counts[p.id]?[.monitor] ?? 0)
                },
                hits: hits.map { h in
                    let id = h.policyID ?? h.budgetID ?? ""
                    return Hit(
                        hit: h, source: sources[id] ?? id, projectName: projects[h.projectID] ?? h.projectID)
                },
                canEdit: page.allows(.manageAlerts))
        }

        package static func render(_ page: SignedInPage, _ m: Model) -> String {
            SettingsPages.page(
                page, .policies,
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "policies-heading"),
                    .h2(.id("policies-heading"), "Policies"),
                    .p(
                        .class("muted"),
                        .text(
                            "The gateway holds each call to the policies whose scope it is in before forwarding it. "
                                + "Monitor records what a policy would have blocked and blocks nothing; enforce "
                                + "blocks. Counts are of the last 7 days.")),
                    m.rows.isEmpty
                        ? .p(.id("no-policies"), "No policy yet.")
                        : .div(
                            .class("table-wrap"),
                            .table(
                                .id("policies"),
                                .thead(
                                    .tr(
                                        .th("Name"), .th("Mode"), .th("Scope"), .th("Rules"), .th("Blocked (7 days)"),
                                        .th("Would have blocked (7 days)"), .if(m.canEdit, .th("Actions")))),
                                .tbody(.forEach(m.rows) { row($0, canEdit: m.canEdit) })))),
                .section(
                    .class("card"), .attribute(named: "aria-labelledby", value: "policy-hits-heading"),
                    .h2(.id("policy-hits-heading"), "Newest blocks"),
                    m.hits.isEmpty
                        ? .p(.id("no-policy-hits"), "Nothing blocked or would have been blocked yet.")
                        : .div(
                            .class("table-wrap"),
                            .table(
                                .id("policy-hits"),
                                .thead(
                                    .tr(
                                        .th("When"), .th("Policy or budget"), .th("Rule"), .th("Mode"), .th("Project"),
                                        .th("Model"), .th("Message"))),
                                .tbody(.forEach(m.hits) { hit($0, zone: page.zone) })))),
                m.canEdit
                    ? .section(
                        .class("card"), .attribute(named: "aria-labelledby", value: "new-policy-heading"),
                        .h2(.id("new-policy-heading"), "New policy"),
                        .p(
                            .class("muted"),
                            "A new policy starts in monitor mode: see what it would block, then switch it to enforce."),
                        newForm())
                    : onlyFor(.admin, "create and change policies"))
        }

        static func row(_ r: Row, canEdit: Bool) -> Node<HTML.TableContext> {
            let p = r.policy
            let other: PolicyMode = p.mode == .monitor ? .enforce : .monitor
            return .tr(
                .data(named: "policy-id", value: p.id),
                .td(.text(p.name)),
                .td(.span(.class("badge policy-mode"), .text(p.mode.rawValue))),
                .td(.class("policy-scope"), .text(scopeText(p.scope, projectName: r.projectName))),
                .td(.class("policy-rules"), .text(rulesText(p.rules))),
                .td(.class("num blocked"), .text(Format.integer(Int64(r.blocked7d)))),
                .td(.class("num would-block"), .text(Format.integer(Int64(r.wouldHaveBlocked7d)))),
                .if(
                    canEdit,
                    .td(
                        .div(
                            .class("actions"),
                            actionButton(
                                other == .enforce ? "Enforce" : "Back to monitor",
                                api: "PATCH /api/v1/policies/\(p.id)",
                                confirm: other == .enforce
                                    ? "Enforce the policy '\(p.name)'? Calls it matches will be blocked." : nil,
                                action: "mode", body: "{\"mode\":\"\(other.rawValue)\"}", onSuccess: "reload"),
                            actionButton(
                                "Delete", api: "DELETE /api/v1/policies/\(p.id)",
                                confirm: "Delete the policy '\(p.name)'?", danger: true, action: "delete")),
                        .span(.class("row-status"), .attribute(named: "aria-live", value: "polite")))))
        }

        static func hit(_ h: Hit, zone: TimeZoneRules) -> Node<HTML.TableContext> {
            .tr(
                .td(.text(Format.localTime(h.hit.at, zone: zone))),
                .td(.text(h.source)),
                .td(.code(.text(h.hit.rule.rawValue))),
                .td(.text(h.hit.mode == .enforce ? "blocked" : "would have blocked")),
                .td(.text(h.projectName)),
                .td(.text(h.hit.model ?? "—")),
                .td(.class("small"), .text(h.hit.message)))
        }

        static func scopeText(_ s: PolicyScope, projectName: String?) -> String {
            var parts: [String] = []
            if let projectName { parts.append("project \(projectName)") }
            if let token = s.tokenID { parts.append("token \(token)") }
            if let user = s.user { parts.append("user \(user)") }
            if let feature = s.feature { parts.append("feature \(feature)") }
            return parts.isEmpty ? "the whole organization" : parts.joined(separator: "; ")
        }

        static func rulesText(_ r: PolicyRules) -> String {
            var parts: [String] = []
            if let globs = r.modelsAllow { parts.append("models allowed: " + globs.joined(separator: ", ")) }
            if let globs = r.modelsDeny { parts.append("models denied: " + globs.joined(separator: ", ")) }
            if let n = r.maxOutputTokens { parts.append("max output tokens \(Format.integer(Int64(n)))") }
            if let usd = r.maxCostPerRequest { parts.append("max $\(exact(usd)) per call") }
            if let n = r.requestsPerMinute { parts.append("\(Format.integer(Int64(n))) requests/min") }
            if let n = r.tokensPerMinute { parts.append("\(Format.integer(Int64(n))) tokens/min") }
            if let n = r.maxConcurrent { parts.append("\(Format.integer(Int64(n))) calls at once") }
            return parts.joined(separator: "; ")
        }

        /// The limit exactly as set, with at least two decimals ("0.50", "0.005"): a rounded limit would mislead.
        static func exact(_ usd: USD) -> String {
            let text = usd.decimalString
            guard let dot = text.firstIndex(of: ".") else { return text + ".00" }
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            return decimals >= 2 ? text : text + String(repeating: "0", count: 2 - decimals)
        }

        static func newForm() -> Node<HTML.BodyContext> {
            let id = "policy-new"
            return apiForm(
                id, "POST /api/v1/policies", submit: "Create policy (monitor)",
                .input(.type(.hidden), .name("mode"), .value(PolicyMode.monitor.rawValue)),
                field(id, "Name", name: "name", required: true),
                field(id, "Scope: project", name: "scope.project", hint: "A project name; empty: every project."),
                field(id, "Scope: token", name: "scope.token", hint: "An API token id (tok_…)."),
                field(id, "Scope: user", name: "scope.user"),
                field(id, "Scope: feature", name: "scope.feature"),
                field(
                    id, "Models allowed", name: "rules.models_allow",
                    hint: "Patterns over the model name, comma-separated, such as gpt-5.4-*.", kind: "list"),
                field(id, "Models denied", name: "rules.models_deny", hint: "Patterns; deny wins.", kind: "list"),
                field(id, "Max output tokens", name: "rules.max_output_tokens", kind: "int"),
                field(
                    id, "Max cost per call (USD)", name: "rules.max_cost_per_request_usd",
                    hint: "An exact amount such as 0.50, as the catalog prices the call's worst case."),
                field(id, "Requests per minute", name: "rules.requests_per_minute", kind: "int"),
                field(id, "Tokens per minute", name: "rules.tokens_per_minute", kind: "int"),
                field(id, "Calls at once", name: "rules.max_concurrent", kind: "int"),
                .p(.data(named: "error-for", value: "rules")))
        }
    }
}
