import TallyCore

/// One price of one model over a span of days: built into the catalog, or an organization's own.
public struct PriceEntry: Hashable, Sendable {
    public enum Origin: Hashable, Sendable {
        case builtIn
        case organization(String)
    }

    public struct ContextTier: Hashable, Sendable {
        /// The tier applies when a request's input tokens exceed this.
        public var aboveInputTokens: Int64
        public var prices: PriceSet
        public init(aboveInputTokens: Int64, prices: PriceSet) {
            self.aboveInputTokens = aboveInputTokens
            self.prices = prices
        }
    }

    public var id: String
    public var origin: Origin
    /// The provider the model belongs to; for an organization's entry, nil matches every provider.
    public var provider: String?
    public var model: String
    public var aliases: [String]
    /// Effective from the start of this UTC day…
    public var from: CivilDate
    /// …until the start of this one (exclusive); nil means still in force.
    public var to: CivilDate?
    public var source: String?
    public var checked: CivilDate?
    public var prices: PriceSet
    /// Applied to every line of a Batch API request; nil when the model has no batch pricing.
    public var batch: Multiplier?
    public var serviceTiers: [String: PriceSet]
    public var contextTiers: [ContextTier]
    public var perRequest: USD?
    public var note: String?

    public init(
        id: String, origin: Origin = .builtIn, provider: String?, model: String, aliases: [String] = [],
        from: CivilDate, to: CivilDate? = nil, source: String? = nil, checked: CivilDate? = nil, prices: PriceSet,
        batch: Multiplier? = nil, serviceTiers: [String: PriceSet] = [:], contextTiers: [ContextTier] = [],
        perRequest: USD? = nil, note: String? = nil
    ) {
        self.id = id
        self.origin = origin
        self.provider = provider
        self.model = model
        self.aliases = aliases
        self.from = from
        self.to = to
        self.source = source
        self.checked = checked
        self.prices = prices
        self.batch = batch
        self.serviceTiers = serviceTiers
        self.contextTiers = contextTiers
        self.perRequest = perRequest
        self.note = note
    }

    /// Whether the entry is in force at this instant (dates are UTC days).
    public func isEffective(at instant: Instant) -> Bool {
        let day = floorDiv(instant.microseconds, 86_400_000_000)
        return from.daysSinceEpoch <= day && (to.map { day < $0.daysSinceEpoch } ?? true)
    }
}
