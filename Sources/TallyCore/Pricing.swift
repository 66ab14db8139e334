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
}

/// The pricer used until a price catalog is configured: every event is unpriced.
public struct NoPrices: Pricer {
    public init() {}
    public func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? { nil }
}
