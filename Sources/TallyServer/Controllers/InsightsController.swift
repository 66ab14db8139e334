import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// Insights (issue 18): `/api/v1/insights*` and `/api/v1/insight-settings`.
///
/// Insights cover the whole organization: reading needs a member's session (any role) or a token with the `admin`
/// scope; dismissing needs a member or above; computing now and changing the settings need an admin.
struct InsightsController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let insights: InsightService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("insights", use: list)
        group.post("insights/check", use: check)
        group.post("insights/:id/dismiss", use: dismiss)
        group.get("insight-settings", use: settings)
        group.put("insight-settings", use: saveSettings)
    }

    private func reader(_ request: Request) async throws -> Principal {
        try await auth.requireWholeOrganizationReader(request, of: "insights")
    }

    /// `?status=new|dismissed|resolved`; newest first.
    @Sendable func list(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        let params = try QueryParameters(request, allowed: ["status"])
        var status: InsightStatus?
        if let raw = params["status"] {
            guard let s = InsightStatus(rawValue: raw) else {
                throw APIError.badParameter("status", "must be new, dismissed or resolved")
            }
            status = s
        }
        let found = try await store.insights(organizationID: principal.organizationID, status: status)
        return .json(ListJSON.list(found) { InsightJSON.write($0, into: &$1) })
    }

    /// Computes the organization's insights now and answers with them (every status).
    @Sendable func check(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        _ = try QueryParameters(request, allowed: [])
        try await insights.compute(organizationID: principal.organizationID, at: .now)
        let found = try await store.insights(organizationID: principal.organizationID, status: nil)
        return .json(ListJSON.list(found) { InsightJSON.write($0, into: &$1) })
    }

    @Sendable func dismiss(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        guard principal.actsAsMember else { throw TallyError.forbidden("only members and above can dismiss insights") }
        let id = try context.parameters.require("id")
        // Checked for form first, so junk (a NUL byte) never reaches the store: not an insight id is not found.
        guard InsightJSON.isInsightID(id) else { throw TallyError.notFound("insight") }
        let insight = try await insights.dismiss(
            organizationID: principal.organizationID, id: id, actor: principal.actor)
        return .json(InsightJSON.insight(insight))
    }

    @Sendable func settings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await reader(request)
        return .json(try await store.insightSettings(organizationID: principal.organizationID).json)
    }

    /// Changes the members given; the others keep their value. Answers with the settings saved.
    @Sendable func saveSettings(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.manageAlerts, request)
        let body = try await JSONBody.read(request)
        let current = try await store.insightSettings(organizationID: principal.organizationID)
        let settings = try current.applying(body)
        try await insights.saveSettings(settings, organizationID: principal.organizationID, actor: principal.actor)
        return .json(settings.json)
    }
}
