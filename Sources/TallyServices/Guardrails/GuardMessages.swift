import TallyCore

/// The answers the guard gives: status, code and a message naming the policy or budget and its limit (and nothing of
/// any other tenant), in one place.
enum GuardMessages {
    static func policy(_ policy: Policy, _ rule: PolicyRule, _ detail: String, retryAfter: Int? = nil) -> PolicyBlock {
        let retry: String
        switch (rule, retryAfter) {
        case (.maxConcurrent, _): retry = "; retry when one of them ends"
        case (_, let seconds?): retry = "; retry in \(seconds) s"
        default: retry = ""
        }
        let (status, code): (Int, String)
        switch rule {
        case .budget: (status, code) = (429, "budget_exceeded")
        case .requestsPerMinute, .tokensPerMinute, .maxConcurrent: (status, code) = (429, "rate_limit_exceeded")
        case .modelsAllow, .modelsDeny, .maxCostPerRequest: (status, code) = (403, "permission_denied")
        case .maxOutputTokens: (status, code) = (400, "invalid_request")
        }
        return PolicyBlock(
            rule: rule, policyID: policy.id, budgetID: nil, status: status, code: code,
            message: "Tally gateway: blocked by policy '\(policy.name)' (\(rule.rawValue): \(detail))\(retry)",
            retryAfterSeconds: retryAfter)
    }

    static func budget(_ budget: Budget, period: BudgetPeriod, counter: GuardCounter, cost: USD?) -> PolicyBlock {
        let used = USD(nanos: counter.settled.addingReportingOverflow(counter.reserved).partialValue)
        var detail = "\(AlertText.usd(budget.amount)) for \(label(budget.period, period))"
        detail += "; \(AlertText.usd(used)) spent or reserved"
        if let cost { detail += ", this call could cost up to \(AlertText.usd(cost))" }
        return PolicyBlock(
            rule: .budget, policyID: nil, budgetID: budget.id, status: 429, code: "budget_exceeded",
            message: "Tally gateway: budget '\(budget.name)' is exhausted (\(detail))")
    }

    /// An enforced budget and a call whose cost the catalog cannot bound.
    static func unbounded(_ budget: Budget, period: BudgetPeriod, model: String?) -> PolicyBlock {
        let why = model.map { "model '\($0)' has no price" } ?? "the call names no model Tally can read"
        return PolicyBlock(
            rule: .budget, policyID: nil, budgetID: budget.id, status: 403, code: "permission_denied",
            message:
                "Tally gateway: budget '\(budget.name)' is enforced and this call's cost cannot be bounded (\(why))")
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "Dec 2026" for a calendar month, "2026-12-05" for a day, "2026-11-30 to 2026-12-06" otherwise.
    static func label(_ kind: BudgetPeriodKind, _ period: BudgetPeriod) -> String {
        if kind == .month { return "\(months[period.firstDay.month - 1]) \(period.firstDay.year)" }
        if period.firstDay == period.lastDay { return period.firstDay.description }
        return "\(period.firstDay) to \(period.lastDay)"
    }

    static func modelsDeny(_ pattern: String, model: String) -> String {
        "'\(pattern)' matches model '\(model)'"
    }

    static func modelsAllow(_ patterns: [String], model: String?, denied: Bool = false) -> String {
        let list = patterns.isEmpty ? "none" : patterns.joined(separator: ", ")
        guard let model else {
            return "\(list); the call names no model Tally can read\(denied ? ", so it may be one of them" : "")"
        }
        return "\(list); model '\(model)' is not among them"
    }

    static func maxOutputTokens(_ limit: Int, requested: Int) -> String {
        "\(limit); the call asks for \(requested)"
    }

    static func maxCost(_ limit: USD, cost: USD?, model: String?) -> String {
        guard let cost else {
            return "\(AlertText.usd(limit)); model '\(model ?? "")' has no price, so its cost cannot be bounded"
        }
        return "\(AlertText.usd(limit)); this call could cost up to \(AlertText.usd(cost))"
    }

    static func requestsPerMinute(_ limit: Int) -> String { "\(limit) per minute" }

    static func tokensPerMinute(_ limit: Int, estimate: Int64) -> String {
        "\(limit) per minute; this call could use up to \(estimate) tokens"
    }

    static func maxConcurrent(_ limit: Int) -> String { "\(limit) calls at once" }
}
