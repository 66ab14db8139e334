import Hummingbird
import TallyCore
import TallyHTTP
import TallyServices

/// `GET /api/v1/usage/flags` (issue 21): events' safety and quality flags counted over a range, with the usage
/// filters: per flag its requests, share of the range's requests and cost; `group_by=feature` per feature as well.
struct FlagsController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("usage/flags", use: flags)
    }

    @Sendable func flags(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.read, request)
        let params = try QueryParameters.usage(request, allowed: ["from", "to", "group_by"])
        let byFeature: Bool
        switch params["group_by"] {
        case nil, "flag"?: byFeature = false
        case "feature"?, "flag,feature"?, "feature,flag"?: byFeature = true
        default: throw APIError.badParameter("group_by", "must be flag or feature")
        }
        let org = try await store.organization(id: principal.organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let (from, to) = try params.boundedLocalRange(zone, now: .now)
        let counts = try await store.flagCounts(
            FlagQuery(
                organizationID: principal.organizationID, from: from, to: to,
                filters: try await params.filters(store: store, principal: principal), byFeature: byFeature))
        return .json(Self.json(counts, from: from, to: to, byFeature: byFeature))
    }

    static func json(_ counts: FlagCounts, from: Instant, to: Instant, byFeature: Bool) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("from", from.rfc3339)
        w.field("to", to.rfc3339)
        let total = counts.requests.values.reduce(Int64(0)) { $0.addingReportingOverflow($1).overflow ? .max : $0 + $1 }
        w.field("requests", total)
        w.key("flags")
        w.beginArray()
        for c in counts.flags {
            let of = byFeature ? counts.requests[c.feature ?? ""] ?? 0 : total
            w.beginObject()
            w.field("kind", c.kind)
            w.field("flag", c.flag)
            if byFeature { w.field("feature", c.feature) }
            w.field("requests", c.requests)
            w.field("share_percent", InsightText.percent(c.requests, of: of))
            w.field("cost_usd", c.cost.decimalString)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
