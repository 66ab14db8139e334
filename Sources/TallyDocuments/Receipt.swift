import TallyCore

/// A receipt for one stored event: what its text and PDF forms show.
public struct Receipt: Sendable, Equatable {
    /// `R-` and 12 characters derived from the organization and the event's stored identity: the same event always
    /// gets the same number.
    public var number: String
    public var organizationName: String
    public var projectName: String
    /// The event's client id.
    public var eventID: String
    public var at: Instant
    /// The organization's IANA zone: the date and time are shown in it, with the zone named.
    public var timeZone: String
    public var provider: String
    /// As the call named it.
    public var model: String
    /// The catalog's model the price entry is for.
    public var modelResolved: String?
    public var feature: String?
    public var user: String?
    /// `ok` or `error`.
    public var status: String
    /// One line per billed token class (or per-request fee), in the cost engine's order.
    public var lines: [ReceiptLine]
    /// What was applied beyond the base rates (batch, service tier, long-context tier), in words.
    public var modifiers: [String]
    /// The price entry used; nil when no entry covered the model (then `total` is nil).
    public var priceEntry: ReceiptPriceEntry?
    /// The event's stored cost; nil when it is unpriced.
    public var total: USD?
    /// Why the event has no cost, in words, when it has none.
    public var unpricedReason: String?
    public var issuedAt: Instant

    /// The sentence every receipt carries.
    public static let disclaimer = "Estimate from list prices; the provider's invoice is authoritative."

    public init(
        number: String, organizationName: String, projectName: String, eventID: String, at: Instant,
        timeZone: String, provider: String, model: String, modelResolved: String?, feature: String?, user: String?,
        status: String, lines: [ReceiptLine], modifiers: [String], priceEntry: ReceiptPriceEntry?, total: USD?,
        unpricedReason: String?, issuedAt: Instant
    ) {
        self.number = number
        self.organizationName = organizationName
        self.projectName = projectName
        self.eventID = eventID
        self.at = at
        self.timeZone = timeZone
        self.provider = provider
        self.model = model
        self.modelResolved = modelResolved
        self.feature = feature
        self.user = user
        self.status = status
        self.lines = lines
        self.modifiers = modifiers
        self.priceEntry = priceEntry
        self.total = total
        self.unpricedReason = unpricedReason
        self.issuedAt = issuedAt
    }
}

public struct ReceiptLine: Sendable, Equatable {
    /// A `TokenClass` raw value, or `request` for a per-request fee.
    public var tokenClass: String
    /// In words: "Input tokens", "Cached input tokens", "Requests".
    public var label: String
    public var quantity: Int64
    /// The exact rate applied, USD per 1M tokens (per request for `request`), as the cost engine wrote it.
    public var unitPrice: String
    public var amount: USD
    public init(tokenClass: String, label: String, quantity: Int64, unitPrice: String, amount: USD) {
        self.tokenClass = tokenClass
        self.label = label
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.amount = amount
    }
}

public struct ReceiptPriceEntry: Sendable, Equatable {
    public var id: String
    /// The first day the entry applies.
    public var from: CivilDate
    /// `catalog` (list prices) or `organization` (the organization's own price).
    public var source: String
    public init(id: String, from: CivilDate, source: String) {
        self.id = id
        self.from = from
        self.source = source
    }
}
