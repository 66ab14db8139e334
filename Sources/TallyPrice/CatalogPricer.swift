import Synchronization
import TallyCore

/// Prices events from the built-in catalog and each organization's own entries, which win from their date on.
/// The catalog in force can be replaced while the server runs (a newer revision applied or read from the store):
/// readers take a snapshot and price without holding the lock.
public final class CatalogPricer: Pricer {
    private let inForceNow: Mutex<CatalogInForce>
    private let organizationEntries = Mutex<[String: [PriceEntry]]>([:])

    public init(catalog: PriceCatalog = .builtIn) {
        var inForce = CatalogInForce.builtIn
        inForce.catalog = catalog
        inForceNow = Mutex(inForce)
    }

    public init(inForce: CatalogInForce) { inForceNow = Mutex(inForce) }

    /// A snapshot of the catalog in force.
    public var catalog: PriceCatalog { inForceNow.withLock { $0.catalog } }

    /// A snapshot of the catalog in force with its revision and origin.
    public var inForce: CatalogInForce { inForceNow.withLock { $0 } }

    /// Prices every later event with `inForce` (events already priced keep their cost until re-priced).
    public func replaceCatalog(_ inForce: CatalogInForce) { inForceNow.withLock { $0 = inForce } }

    /// `replaceCatalog`, only if `newer` is a later revision than the one in force when the lock is taken, so two
    /// updates finishing in the wrong order cannot put the older one back. Whether it replaced.
    @discardableResult
    public func replaceCatalog(ifNewer newer: CatalogInForce) -> Bool {
        inForceNow.withLock { current in
            guard newer.revision > current.revision else { return false }
            current = newer
            return true
        }
    }

    /// Replaces an organization's own entries (loaded from the store at start and after every change).
    public func setOrganizationEntries(_ entries: [PriceEntry], organizationID: String) {
        organizationEntries.withLock { $0[organizationID] = entries }
    }

    public var knownOrganizations: Set<String> { organizationEntries.withLock { Set($0.keys) } }

    public func organizationEntries(_ organizationID: String) -> [PriceEntry] {
        organizationEntries.withLock { $0[organizationID] ?? [] }
    }

    public func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? {
        quote(event, organizationID: organizationID, longContext: nil)
    }

    /// `longContext`: see `CostEngine.price` (set for a provider report's row, nil for an event).
    public func quote(_ event: UsageEvent, organizationID: String, longContext: Bool?) -> PriceQuote? {
        // Usage the engine cannot price within the limits is unpriced: unknown, never a wrapped amount.
        breakdown(event, organizationID: organizationID, longContext: longContext).flatMap {
            $0.problem == nil ? PriceQuote(cost: $0.cost, priceID: $0.entry.id) : nil
        }
    }

    /// The cost of an event with every line, or nil when no entry prices its model at its timestamp.
    public func breakdown(_ event: UsageEvent, organizationID: String, longContext: Bool? = nil) -> CostBreakdown? {
        guard
            let (entry, name) = resolve(
                provider: event.provider, model: event.model, at: event.timestamp,
                organizationID: organizationID)
        else { return nil }
        return CostEngine.price(
            event.usage, batch: event.batch, serviceTier: event.serviceTier, entry: entry,
            modelResolved: name, longContext: longContext)
    }

    /// The breakdown of a stored event with the entry it was priced with (not today's).
    public func breakdown(_ stored: StoredEvent) -> CostBreakdown? {
        guard let id = stored.priceID, let entry = entry(id: id, organizationID: stored.organizationID) else {
            return nil
        }
        return CostEngine.price(
            stored.event.usage, batch: stored.event.batch, serviceTier: stored.event.serviceTier,
            entry: entry, modelResolved: entry.model)
    }

    public func entry(id: String, organizationID: String) -> PriceEntry? {
        organizationEntries(organizationID).first { $0.id == id } ?? catalog.entry(id: id)
            ?? CatalogInForce.builtIn.catalog.entry(id: id)
    }

    /// The entry in force: an organization's own (for this provider or any) over the built-in one.
    public func resolve(
        provider: String, model: String, at instant: Instant,
        organizationID: String
    ) -> (PriceEntry, String)? {
        let builtIn = catalog.entry(model: model, at: instant)
        var names = ModelName.candidates(model)
        // An organization's entry for the built-in's model or any name of it on that day (dated aliases only on
        // their days, on either side) prices it.
        if let b = builtIn?.entry { names += b.names(at: instant) }
        let provider = provider.lowercased()
        let own = organizationEntries(organizationID)
            .filter { e in
                (e.provider == nil || e.provider == provider) && e.isEffective(at: instant)
                    && e.names(at: instant).contains(where: names.contains)
            }
            .max { ($0.from, $0.provider != nil ? 1 : 0) < ($1.from, $1.provider != nil ? 1 : 0) }
        if let own { return (own, own.model) }
        return builtIn.map { ($0.entry, $0.entry.model) }
    }
}
