/// What an event cost, and the price entry that said so.
public struct PriceQuote: Sendable, Equatable {
    public var cost: USD
    public var priceID: String
    public init(cost: USD, priceID: String) {
        self.cost = cost
        self.priceID = priceID
    }
}

/// Prices an event from the catalog in force at its timestamp. nil means unpriced: unknown, never $0.
public protocol Pricer: Sendable {
    func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote?
    /// A provider report's row: `longContext` is the context window the report says it was billed in (Anthropic's
    /// `context_window`), nil when it does not say. A row sums many requests, so its input cannot choose the tier.
    func quote(_ event: UsageEvent, organizationID: String, longContext: Bool?) -> PriceQuote?
}

extension Pricer {
    public func quote(_ event: UsageEvent, organizationID: String, longContext: Bool?) -> PriceQuote? {
        quote(event, organizationID: organizationID)
    }
}

/// The pricer used until a price catalog is configured: every event is unpriced.
public struct NoPrices: Pricer {
    public init() {}
    public func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? { nil }
}
