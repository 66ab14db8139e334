import TallyCore

/// One price of one model over a span of days: built into the catalog, or an organization's own.
public struct PriceEntry: Hashable, Sendable {
    public enum Origin: Hashable, Sendable {
        case builtIn
        case organization(String)
    }

    /// Another name of the model. A moving alias (`gemini-flash-latest`) points to different models over time, so it
    /// may name only some UTC days: from `from` (inclusive) until `to` (exclusive); without them it is valid whenever
    /// its entry is.
    public struct Alias: Hashable, Sendable, ExpressibleByStringLiteral {
        public var name: String
        public var from: CivilDate?
        public var to: CivilDate?
        public init(_ name: String, from: CivilDate? = nil, to: CivilDate? = nil) {
            self.name = name
            self.from = from
            self.to = to
        }
        public init(stringLiteral name: String) { self.init(name) }

        /// Whether the name points to its entry on this instant's UTC day.
        public func isValid(at instant: Instant) -> Bool {
            let day = floorDiv(instant.microseconds, 86_400_000_000)
            return (from.map { $0.daysSinceEpoch <= day } ?? true) && (to.map { day < $0.daysSinceEpoch } ?? true)
        }

        public var isDated: Bool { from != nil || to != nil }
    }

    /// The rates of one level of an entry: its base, or one long-context tier, each with its own service-tier and
    /// batch rates (a service tier or batch rate of the base does not apply to a long-context prompt).
    public struct ContextTier: Hashable, Sendable {
        /// The tier applies when a request's input tokens exceed this.
        public var aboveInputTokens: Int64
        public var prices: PriceSet
        /// Absolute rates of the classes a Batch API request does not bill at `prices` × `batch`.
        public var batchPrices: [TokenClass: Rate]
        public var serviceTiers: [String: PriceSet]
        public init(
            aboveInputTokens: Int64, prices: PriceSet, batchPrices: [TokenClass: Rate] = [:],
            serviceTiers: [String: PriceSet] = [:]
        ) {
            self.aboveInputTokens = aboveInputTokens
            self.prices = prices
            self.batchPrices = batchPrices
            self.serviceTiers = serviceTiers
        }
    }

    public var id: String
    public var origin: Origin
    /// The provider the model belongs to; for an organization's entry, nil matches every provider.
    public var provider: String?
    public var model: String
    public var aliases: [Alias]
    /// Effective from the start of this UTC day…
    public var from: CivilDate
    /// …until the start of this one (exclusive); nil means still in force.
    public var to: CivilDate?
    public var source: String?
    public var checked: CivilDate?
    public var prices: PriceSet
    /// Applied to every line of a Batch API request but those in `batchPrices`; nil when the model has no batch
    /// pricing.
    public var batch: Multiplier?
    /// Absolute batch rates of the classes the provider does not discount by `batch` (cache reads at Gemini 2.5).
    public var batchPrices: [TokenClass: Rate]
    public var serviceTiers: [String: PriceSet]
    /// A service tier priced as a multiple of the standard rates (Gemini's flex 0.5, priority 1.8).
    public var serviceTierMultipliers: [String: Multiplier]
    public var contextTiers: [ContextTier]
    public var perRequest: USD?
    public var note: String?

    public init(
        id: String, origin: Origin = .builtIn, provider: String?, model: String, aliases: [Alias] = [],
        from: CivilDate, to: CivilDate? = nil, source: String? = nil, checked: CivilDate? = nil, prices: PriceSet,
        batch: Multiplier? = nil, batchPrices: [TokenClass: Rate] = [:], serviceTiers: [String: PriceSet] = [:],
        serviceTierMultipliers: [String: Multiplier] = [:], contextTiers: [ContextTier] = [],
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
        self.batchPrices = batchPrices
        self.serviceTiers = serviceTiers
        self.serviceTierMultipliers = serviceTierMultipliers
        self.contextTiers = contextTiers
        self.perRequest = perRequest
        self.note = note
    }

    /// Whether the entry is in force at this instant (dates are UTC days).
    public func isEffective(at instant: Instant) -> Bool {
        let day = floorDiv(instant.microseconds, 86_400_000_000)
        return from.daysSinceEpoch <= day && (to.map { day < $0.daysSinceEpoch } ?? true)
    }

    /// The names this entry answers to at this instant: its model and the aliases valid on that day.
    public func names(at instant: Instant) -> [String] {
        [model] + aliases.filter { $0.isValid(at: instant) }.map(\.name)
    }

    /// Every name this entry answers to on some day.
    public var allNames: [String] { [model] + aliases.map(\.name) }
}
