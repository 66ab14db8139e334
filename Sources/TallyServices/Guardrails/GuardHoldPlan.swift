import TallyCore

/// The holds one reservation takes, each with what it stands for (to answer a refusal) and how it is settled.
struct GuardHoldPlan {
    enum Origin {
        case policy(Policy, PolicyRule, windowEnd: Instant?)
        case budget(Budget, BudgetPeriod)
    }

    var holds: [GuardHold] = []
    var origins: [Origin] = []
    var settlements: [String: GuardSettlement] = [:]

    /// `concurrent:` counters never end by themselves: far in the future (9999-12-31).
    static let never = Instant(seconds: 253_402_300_799)

    /// A budget counter outlives its period by a day, so a call ending just after midnight still settles into it.
    static func budgetCounterExpiry(_ period: BudgetPeriod) -> Instant { period.range.to.adding(seconds: 86_400) }

    static func minuteStart(_ at: Instant) -> Instant { Instant(seconds: floorDiv(at.seconds, 60) * 60) }

    mutating func add(_ policy: Policy, _ call: GuardedCall, _ estimate: GuardEstimate) {
        let rules = policy.rules
        let start = Self.minuteStart(call.at)
        let end = start.adding(seconds: 60)
        if let limit = rules.maxConcurrent {
            append(
                GuardKeys.concurrent(policy.id), 1, limit: Int64(limit), expires: Self.never, .release,
                .policy(policy, .maxConcurrent, windowEnd: nil))
        }
        if let limit = rules.requestsPerMinute {
            append(
                GuardKeys.requestsPerMinute(policy.id, minuteStart: start), 1, limit: Int64(limit), expires: end,
                .request, .policy(policy, .requestsPerMinute, windowEnd: end))
        }
        if let limit = rules.tokensPerMinute {
            append(
                GuardKeys.tokensPerMinute(policy.id, minuteStart: start), estimate.tokens, limit: Int64(limit),
                expires: end, .tokens, .policy(policy, .tokensPerMinute, windowEnd: end))
        }
    }

    /// A budget reserves the call's worst-case cost, and at least one nano-dollar: an unpriced call reserves nothing
    /// real, yet a budget whose spend has reached its amount still stops it.
    mutating func add(_ budget: Budget, _ period: BudgetPeriod, _ estimate: GuardEstimate) {
        append(
            GuardKeys.budget(budget.id, firstDay: period.firstDay), max(1, estimate.cost?.nanos ?? 0),
            limit: budget.amount.nanos, expires: Self.budgetCounterExpiry(period), .cost, .budget(budget, period))
    }

    private mutating func append(
        _ key: String, _ amount: Int64, limit: Int64, expires: Instant, _ settlement: GuardSettlement,
        _ origin: Origin
    ) {
        holds.append(GuardHold(key: key, amount: amount, limit: limit, counterExpiresAt: expires))
        origins.append(origin)
        settlements[key] = settlement
    }

    mutating func remove(_ index: Int) {
        settlements[holds[index].key] = nil
        holds.remove(at: index)
        origins.remove(at: index)
    }

    /// The answer for the hold the store refused.
    func block(_ index: Int, _ counter: GuardCounter, _ call: GuardedCall, _ estimate: GuardEstimate) -> PolicyBlock {
        // A call that alone is larger than the limit would get the same answer however long it waited: say so, with
        // a status the SDKs do not treat as "try again later".
        let hold = holds[index]
        let alone = hold.amount > hold.limit
        var block = waitingBlock(index, counter, call, estimate, retryable: !alone)
        if alone {
            block.status = 400
            block.code = "invalid_request"
            block.message += "; this call alone could pass the limit: lower its max_tokens"
        }
        return block
    }

    private func waitingBlock(
        _ index: Int, _ counter: GuardCounter, _ call: GuardedCall, _ estimate: GuardEstimate, retryable: Bool
    ) -> PolicyBlock {
        switch origins[index] {
        case .budget(let budget, let period):
            return GuardMessages.budget(budget, period: period, counter: counter, cost: estimate.cost)
        case .policy(let policy, let rule, let windowEnd):
            let limit = holds[index].limit
            let retry =
                windowEnd.map { end in
                    max(1, Int((end.microseconds - call.at.microseconds + 999_999) / 1_000_000))
                } ?? 1
            let detail: String
            switch rule {
            case .tokensPerMinute: detail = GuardMessages.tokensPerMinute(Int(limit), estimate: estimate.tokens)
            case .maxConcurrent: detail = GuardMessages.maxConcurrent(Int(limit))
            default: detail = GuardMessages.requestsPerMinute(Int(limit))
            }
            return GuardMessages.policy(policy, rule, detail, retryAfter: retryable ? retry : nil)
        }
    }
}
