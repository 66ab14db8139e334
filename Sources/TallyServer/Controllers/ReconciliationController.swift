import Hummingbird
import TallyAggregate
import TallyCore
import TallyHTTP
import TallyServices
import TallyGateway
import TallyWeb

/// `GET /api/v1/reconciliation`: per group, what Tally observed and estimated beside what the provider reported and
/// billed, the difference, and a flag where it exceeds a threshold.
struct ReconciliationController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let ledger: LedgerService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("reconciliation", use: reconcile)
    }

    @Sendable func reconcile(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        guard principal.projectScope == nil else { throw TallyError.forbidden("reconciliation needs an admin token or a signed-in member") }
        let params = try QueryParameters(request, allowed: ["from", "to", "group_by", "threshold_percent"])
        let to = try params.instant("to") ?? .now
        let from = try params.instant("from") ?? to.adding(seconds: -30 * 86_400)
        guard from < to else { throw APIError.badParameter("from", "must be before 'to'") }
        var grain: TimeGrain?
        var dimension: UsageDimension?
        for name in (params.values["group_by"] ?? "day,model").split(separator: ",").map(String.init) {
            switch name {
            case "day", "week", "month": grain = TimeGrain(rawValue: name)
            case "model": dimension = .model
            case "project": dimension = .project
            case "provider": dimension = .provider
            default: throw APIError.badParameter("group_by", "takes day, week or month and one of model, project, provider")
            }
        }
        let threshold = params.values["threshold_percent"].map { raw -> Int64? in USD(literal: raw).map { $0.nanos / 10_000_000 } } ?? 1000
        guard let threshold, threshold >= 0 else { throw APIError.badParameter("threshold_percent", "must be a number of percent, such as 10 or 2.5") }
        let lines = try await ledger.reconcile(organizationID: principal.organizationID, from: from, to: to, grain: grain,
                                               dimension: dimension, thresholdBasisPoints: threshold)
        var w = JSONWriter()
        w.beginObject()
        w.field("from", from.rfc3339)
        w.field("to", to.rfc3339)
        w.field("time_zone", "UTC")
        w.field("currency", "USD")
        w.field("threshold_percent", percent(threshold))
        w.key("groups")
        w.beginArray()
        for line in lines {
            w.beginObject()
            if let grain { w.field(grain.rawValue, line.period) }
            if let dimension { w.field(dimension.rawValue, line.value) }
            w.key("observed")
            w.beginObject()
            w.field("requests", line.observed.requests)
            w.field("input_tokens", line.observed.inputTokens)
            w.field("output_tokens", line.observed.outputTokens)
            w.field("estimated_cost_usd", line.observed.knownCost?.decimalString)
            w.endObject()
            w.key("provider")
            w.beginObject()
            w.field("requests", line.provider.requests)
            w.field("input_tokens", line.provider.inputTokens)
            w.field("output_tokens", line.provider.outputTokens)
            w.field("estimated_cost_usd", line.provider.cost.decimalString)
            w.field("billed_cost_usd", line.provider.providerCost.decimalString)
            w.endObject()
            w.key("difference")
            w.beginObject()
            w.field("input_tokens", line.provider.inputTokens - line.observed.inputTokens)
            w.field("output_tokens", line.provider.outputTokens - line.observed.outputTokens)
            w.field("cost_usd", line.difference?.decimalString)
            w.field("cost_percent", line.differenceBasisPoints.map(percent))
            w.endObject()
            w.field("flagged", line.flagged)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return .json(w.text)
    }

    /// Hundredths of a percent as a decimal string: 1234 → "12.34".
    func percent(_ basisPoints: Int64) -> String {
        let sign = basisPoints < 0 ? "-" : ""
        let m = basisPoints.magnitude
        var fraction = String(m % 100).leftPadded(2)
        while fraction.last == "0" { fraction.removeLast() }
        return "\(sign)\(m / 100)" + (fraction.isEmpty ? "" : "." + fraction)
    }
}
