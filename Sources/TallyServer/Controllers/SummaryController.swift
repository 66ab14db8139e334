import Hummingbird
import TallyAggregate
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// `GET /api/v1/usage/summary`: totals and groups from the rollups, exact to the event.
struct SummaryController<Store: AuthenticationStore & LedgerServiceStore & OrganizationStore & TeamStore> {
    let store: Store
    let auth: Authenticator<Store>
    let ledger: LedgerService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("usage/summary", use: summary)
    }

    @Sendable func summary(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["from", "to", "group_by", "ledger"])
        let ledgerName = params["ledger"] ?? "observed"
        guard ledgerName == "observed" || ledgerName == "provider" else {
            throw APIError.badParameter(
                "ledger", "must be observed (events Tally saw, the default) or provider (the providers' own reports)")
        }
        let org = try await store.organization(id: principal.organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let now = Instant.now
        let (from, to) = try params.boundedLocalRange(zone, now: now)
        var grain: TimeGrain?
        var dimensions: [UsageDimension] = []
        var tagKeys: [String] = []
        for name in params.list("group_by") ?? [] {
            if name.hasPrefix("tag:") {
                let key = String(name.dropFirst(4))
                guard TagGrouping.isKey(key) else { throw APIError.badParameter("group_by", TagGrouping.keyProblem) }
                if !tagKeys.contains(key) { tagKeys.append(key) }
                guard tagKeys.count <= 4 else { throw APIError.badParameter("group_by", "may name at most 4 tags") }
            } else if let g = TimeGrain(rawValue: name) {
                guard grain == nil || grain == g else {
                    throw APIError.badParameter("group_by", "may name at most one of day, week, month")
                }
                grain = g
            } else if let d = UsageDimension(rawValue: name) {
                if !dimensions.contains(d) { dimensions.append(d) }
            } else {
                throw APIError.badParameter(
                    "group_by",
                    "has an unknown dimension '\(name)'; use day, week, month, "
                        + UsageDimension.allCases.map(\.rawValue).joined(separator: ", ") + ", tag:<key>")
            }
        }
        let filters = try await params.filters(store: store, principal: principal)
        let result: SummaryResult
        if ledgerName == "provider" {
            // Provider reports are organization-wide: a token limited to one project does not read them.
            guard principal.projectScope == nil else {
                throw TallyError.forbidden("the provider ledger needs an admin token or a signed-in member")
            }
            let unsupported = Set(dimensions).union(filters.keys).subtracting(ProviderLedger.usageDimensions)
            if !tagKeys.isEmpty {
                throw APIError.badParameter("group_by", "the providers' reports have no tags")
            }
            if let d = unsupported.sorted().first {
                throw APIError.badParameter(
                    "group_by",
                    "'\(d.rawValue)' is not in the providers' reports; use provider, model, project, api_key, source")
            }
            result = try await ledger.summary(
                org: principal.organizationID, from: from, to: to, grain: grain, dimensions: dimensions,
                filters: filters)
        } else {
            result = try await store.summary(
                SummaryQuery(
                    organizationID: principal.organizationID, from: from, to: to, timeZone: zone, grain: grain,
                    dimensions: dimensions, filters: filters, tagKeys: tagKeys
                ))
        }
        var projectNames: [String: String] = [:]
        if dimensions.contains(.project) && ledgerName == "observed" {
            for p in try await store.projects(organizationID: principal.organizationID) { projectNames[p.id] = p.name }
        }
        var teamNames: [String: String] = [:]
        if dimensions.contains(.team) {
            for t in try await store.teams(organizationID: principal.organizationID) { teamNames[t.id] = t.name }
        }
        return .json(
            EventJSON.summary(
                result, from: from, to: to, zone: zone, ledger: ledgerName, grain: grain,
                dimensions: dimensions, tagKeys: tagKeys, projectNames: projectNames, teamNames: teamNames))
    }
}
