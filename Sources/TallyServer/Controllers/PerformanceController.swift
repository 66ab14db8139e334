import Hummingbird
import TallyAggregate
import TallyCore
import TallyHTTP
import TallyServices

/// `GET /api/v1/usage/performance` (issue 20): requests, success rate, latency and time-to-first-token percentiles and
/// retries per group, from the performance rollup's histograms over whole UTC hours.
struct PerformanceController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("usage/performance", use: performance)
    }

    @Sendable func performance(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["from", "to", "group_by"])
        let org = try await store.organization(id: principal.organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let (from, to) = try params.boundedLocalRange(zone, now: .now)
        let allowed = PerformanceQuery.dimensions
        var dimensions: [UsageDimension] = []
        for name in params.list("group_by") ?? ["provider", "model"] {
            guard let d = UsageDimension(rawValue: name), allowed.contains(d) else {
                throw APIError.badParameter(
                    "group_by",
                    "has '\(name.prefix(64))'; use any of " + allowed.map(\.rawValue).joined(separator: ", "))
            }
            if !dimensions.contains(d) { dimensions.append(d) }
        }
        let filters = try await params.filters(store: store, principal: principal)
        if let d = filters.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.badParameter(
                d.rawValue, "the performance report filters by " + allowed.map(\.rawValue).joined(separator: ", "))
        }
        let report = try await PerformanceService(store: store).report(
            organizationID: principal.organizationID, from: from, to: to, dimensions: dimensions, filters: filters)
        var projects: [String: String] = [:]
        var teams: [String: String] = [:]
        if dimensions.contains(.project) {
            for p in try await store.projects(organizationID: principal.organizationID) { projects[p.id] = p.name }
        }
        if dimensions.contains(.team) {
            for t in try await store.teams(organizationID: principal.organizationID) { teams[t.id] = t.name }
        }
        return .json(PerformanceJSON.report(report, projects: projects, teams: teams))
    }
}

enum PerformanceJSON {
    static func report(_ r: PerformanceReport, projects: [String: String], teams: [String: String]) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", r.from.rfc3339)
        w.field("to", r.to.rfc3339)
        w.field("percentile_relative_error", LatencyHistogram.relativeError)
        w.key("totals")
        write(r.totals, dimensions: [], projects: projects, teams: teams, into: &w)
        w.key("groups")
        w.beginArray()
        for g in r.groups { write(g, dimensions: r.dimensions, projects: projects, teams: teams, into: &w) }
        w.endArray()
        w.endObject()
        return w.text
    }

    static func write(
        _ g: PerformanceGroup, dimensions: [UsageDimension], projects: [String: String], teams: [String: String],
        into w: inout JSONWriter
    ) {
        w.beginObject()
        for d in dimensions {
            let value = g.values[d] ?? nil
            let names = d == .project ? projects : d == .team ? teams : [:]
            w.field(d.rawValue, value.map { names[$0] ?? $0 })
        }
        w.field("requests", g.requests)
        w.field("errors", g.errors)
        w.field("success_rate_percent", g.successPercent)
        w.key("latency_ms")
        if let l = g.latency {
            w.beginObject()
            w.field("p50", l.p50); w.field("p95", l.p95); w.field("p99", l.p99); w.field("samples", l.samples)
            w.endObject()
        } else {
            w.null()
        }
        w.key("time_to_first_token_ms")
        if let t = g.timeToFirstToken {
            w.beginObject()
            w.field("p50", t.p50); w.field("p95", t.p95); w.field("samples", t.samples)
            w.endObject()
        } else {
            w.null()
        }
        w.field("retries", g.retries)
        w.endObject()
    }
}
