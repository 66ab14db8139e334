import Hummingbird
import TallyAggregate
import TallyCore
import TallyGateway
import TallyHTTP
import TallyServices
import TallyWeb

/// `GET /api/v1/reconciliation`: per group, what Tally observed and estimated beside what the provider reported and
/// billed, the difference, and a flag where it exceeds a threshold.
struct ReconciliationController<Store: AuthenticationStore & LedgerServiceStore> {
    let store: Store
    let auth: Authenticator<Store>
    let ledger: LedgerService<Store>

    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("reconciliation", use: reconcile)
    }

    @Sendable func reconcile(_ request: Request, context: TallyRequestContext) async throws -> Response {
        let principal = try await auth.require(.readUsage, request)
        guard principal.projectScope == nil else {
            throw TallyError.forbidden("reconciliation needs an admin token or a signed-in member")
        }
        let params = try QueryParameters(request, allowed: ["from", "to", "group_by", "threshold_percent"])
        // A bare date is UTC midnight: the reconciliation's days are UTC days.
        let to = try params.instant("to", bareDate: .utcMidnight) ?? .now
        let from = try params.instant("from", bareDate: .utcMidnight) ?? to.adding(seconds: -30 * 86_400)
        guard from < to else { throw APIError.badParameter("from", "must be before 'to'") }
        var grain: TimeGrain?
        var dimension: UsageDimension?
        for name in params.list("group_by") ?? ["day", "model"] {
            switch name {
            case "day", "week", "month": grain = TimeGrain(rawValue: name)
            case "model": dimension = .model
            case "project": dimension = .project
            case "provider": dimension = .provider
            default:
                throw APIError.badParameter("group_by", "takes day, week or month and one of model, project, provider")
            }
        }
        let threshold =
            params["threshold_percent"].map { raw -> Int64? in USD(literal: raw).map { $0.nanos / 10_000_000 } } ?? 1000
        guard let threshold, threshold >= 0 else {
            throw APIError.badParameter("threshold_percent", "must be a number of percent, such as 10 or 2.5")
        }
        let lines = try await ledger.reconcile(
            organizationID: principal.organizationID, from: from, to: to, grain: grain,
            dimension: dimension, thresholdBasisPoints: threshold)
        return .json(
            ReconciliationJSON.json(
                lines, from: from, to: to, grain: grain, dimension: dimension,
                thresholdBasisPoints: threshold))
    }
}
