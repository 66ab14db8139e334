import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Alert history, acknowledging, evaluating now, and the alert rules (`/api/v1/alerts*`, `/api/v1/alert-rules`).
///
/// Alerts are the whole organization's: reading needs a member's session (any role) or a token with the `admin`
/// scope (a project's token is refused, it would see other projects' spend); acknowledging needs a member or above;
/// checking now and changing the rules need an admin.
struct AlertsController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let engine: AlertEngine<Store>
    let alerts: AlertService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("alerts", use: list)
        group.post("alerts/check", use: check)
        group.post("alerts/:id/acknowledge", use: acknowledge)
        group.get("alert-rules", use: rules)
        group.put("alert-rules", use: saveRules)
    }

    private func reader(_ request: Request) async throws -> Principal {
        try await auth.requireWholeOrganizationReader(request, of: "alerts")
    }

    /// `?type=&status=&from=&to=&cursor=&limit=`, newest first; `next_cursor` is null on the last page.
    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        let params = try QueryParameters(request, allowed: ["type", "status", "from", "to", "cursor", "limit"])
        var query = AlertQuery(organizationID: principal.organizationID)
        if let raw = params["type"] {
            guard let type = AlertType(rawValue: raw) else {
                throw APIError.badParameter(
                    "type", "must be one of \(AlertType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.type = type
        }
        if let raw = params["status"] {
            guard let status = AlertStatus(rawValue: raw) else {
                throw APIError.badParameter("status", "must be open, acknowledged or resolved")
            }
            query.status = status
        }
        query.from = try params.instant("from", bareDate: .utcMidnight)
        query.to = try params.instant("to", bareDate: .utcMidnight)
        if let from = query.from, let to = query.to, to <= from {
            throw APIError.badParameter("to", "must be after 'from'")
        }
        if let cursor = params["cursor"] {
            guard cursor.hasPrefix("al_"), cursor.utf8.count <= 64,
                cursor.utf8.allSatisfy({
                    $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0)
                })
            else {
                throw APIError.badParameter("cursor", "must be the next_cursor of a previous page")
            }
            query.after = cursor
        }
        let limit = try params.integer("limit", in: 1...200) ?? 50
        query.limit = limit + 1
        var page = try await store.alerts(query)
        let more = page.count > limit
        if more { page.removeLast() }
        let names = try await projectNames(principal.organizationID)
        var items: [(Alert, [AlertDelivery])] = []
        for alert in page {
            let deliveries = try await store.deliveries(organizationID: principal.organizationID, alertID: alert.id)
            items.append((alert, deliveries))
        }
        return .json(
            ListJSON.page(items, nextCursor: more ? page.last?.id : nil) { item, w in
                AlertJSON.write(item.0, deliveries: item.1, projectNames: names, into: &w)
            })
    }

    // Awaited values are bound to names before they are used as arguments: `try await` inside call arguments (and
    // inside a ternary in a tuple) crashed swiftc's optimizer here ("Found ownership error", `-c release`).

    /// Marks the alert acknowledged (by the caller) and answers with it; already acknowledged or resolved: unchanged.
    @Sendable func acknowledge(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        let (organizationID, actor) = (principal.organizationID, principal.actor)
        guard principal.actsAsMember else {
            throw TallyError.forbidden("only members and above can acknowledge alerts")
        }
        let id = try context.parameters.require("id")
        let alert = try await alerts.acknowledge(organizationID: organizationID, id: id, actor: actor)
        let deliveries = try await store.deliveries(organizationID: organizationID, alertID: id)
        let names = try await projectNames(organizationID)
        return .json(AlertJSON.alert(alert, deliveries: deliveries, projectNames: names))
    }

    /// Evaluates the organization's rules now. `?dry_run=true`: answers what would fire; records and sends nothing.
    @Sendable func check(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let params = try QueryParameters(request, allowed: ["dry_run"])
        let dryRun = try params.bool("dry_run") ?? false
        let fired = try await engine.evaluate(at: .now, organizationID: principal.organizationID, dryRun: dryRun)
        var items: [(Alert, [AlertDelivery])] = []
        for alert in fired {
            var deliveries: [AlertDelivery] = []
            if !dryRun {
                deliveries = try await store.deliveries(organizationID: principal.organizationID, alertID: alert.id)
            }
            items.append((alert, deliveries))
        }
        let names = try await projectNames(principal.organizationID)
        return .json(AlertJSON.check(dryRun: dryRun, fired: items, projectNames: names))
    }

    @Sendable func rules(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        return .json(try await store.alertRules(organizationID: principal.organizationID).json)
    }

    /// Changes the members given; the others keep their value. Answers with the rules saved.
    @Sendable func saveRules(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let body = try await JSONBody.read(request)
        let current = try await store.alertRules(organizationID: principal.organizationID)
        let rules = try current.applying(body)
        try await alerts.saveRules(rules, organizationID: principal.organizationID, actor: principal.actor)
        return .json(rules.json)
    }

    private func projectNames(_ organizationID: String) async throws -> [String: String] {
        Dictionary(
            try await store.projects(organizationID: organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
    }
}
