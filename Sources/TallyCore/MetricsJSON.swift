/// Summed metrics as the API writes them (the summary's totals and groups, statements), and read back from a
/// statement snapshot: the same names both ways.
extension UsageMetrics {
    public func write(into w: inout JSONWriter) {
        w.field("requests", requests)
        for c in TokenClass.counts { w.field(c.field, self[c]) }
        w.field("errors", errors)
        // Null when nothing in the group was priced: its cost is unknown, not zero.
        w.field("cost_usd", knownCost?.decimalString)
        w.field("unpriced_requests", unpricedRequests)
        w.field("provider_cost_usd", providerCost.decimalString)
    }

    /// The metrics `write` wrote; nil when a field is missing or not what it wrote.
    public init?(json: JSONValue) {
        func int(_ name: String) -> Int64? {
            guard case .number(let text)? = json[name] else { return nil }
            return Int64(text)
        }
        func usd(_ name: String) -> USD?? {
            switch json[name] {
            case .null?: return .some(nil)
            case .string(let text)?: return USD(decimal: text).map { .some($0) }
            default: return nil
            }
        }
        guard let requests = int("requests"), let errors = int("errors"), let unpriced = int("unpriced_requests"),
            let cost = usd("cost_usd"), let providerCost = usd("provider_cost_usd") ?? nil
        else { return nil }
        self.init()
        self.requests = requests
        for c in TokenClass.counts {
            guard let count = int(c.field) else { return nil }
            self[c] = count
        }
        self.errors = errors
        self.cost = cost ?? .zero
        self.unpricedRequests = unpriced
        self.providerCost = providerCost
    }
}

extension UsageMetrics {
    /// Input plus output tokens (the other classes are inside those two), saturating at Int64.max: a statement or
    /// page shows the largest count rather than trap or wrap on a hostile total.
    public var tokens: Int64 {
        let (sum, overflow) = inputTokens.addingReportingOverflow(outputTokens)
        return overflow ? .max : sum
    }
}
