import TallyCore
import TallyPrice

/// Organization prices and re-pricing, shared by the HTTP API and the CLI.
/// The store it needs: the organizations' entries, and the events it prices again.
public typealias PriceServiceStore = PriceStore & EventStore

public struct PriceService<Store: PriceServiceStore>: Sendable {
    public let store: Store
    public let pricer: CatalogPricer

    public init(store: Store, pricer: CatalogPricer) {
        self.store = store
        self.pricer = pricer
    }

    /// Loads every organization's own entries into the pricer (at start, and periodically for other replicas' changes).
    public func reloadAll() async throws {
        var byOrganization: [String: [PriceEntry]] = [:]
        for record in try await store.priceRecords(organizationID: nil) {
            if let entry = Self.entry(record) { byOrganization[record.organizationID, default: []].append(entry) }
        }
        for org in Set(byOrganization.keys).union(pricer.knownOrganizations) {
            pricer.setOrganizationEntries(byOrganization[org] ?? [], organizationID: org)
        }
    }

    public func reload(organizationID: String) async throws {
        let records = try await store.priceRecords(organizationID: organizationID)
        pricer.setOrganizationEntries(records.compactMap(Self.entry), organizationID: organizationID)
    }

    package static func entry(_ record: OrganizationPriceRecord) -> PriceEntry? {
        guard let value = try? JSONParser.parse(Array(record.definition.utf8)),
            var entry = try? CatalogFile.parseEntry(
                value, origin: .organization(record.organizationID), at: "entry", storedBeforeTierRates: true)
        else { return nil }
        entry.id = record.id
        entry.to = record.to
        return entry
    }

    /// Stores an organization's own entry (read by `CatalogFile.parseOrganizationEntry`) as its definition in the
    /// catalog's shape, under a new id, and prices with it at once.
    public func add(_ entry: PriceEntry, organizationID: String, actor: String) async throws -> PriceEntry {
        var entry = entry
        entry.id = Identifier.make("price")
        var w = JSONWriter()
        CatalogFile.writeDefinition(entry, into: &w)
        let record = OrganizationPriceRecord(
            id: entry.id, organizationID: organizationID, provider: entry.provider, model: entry.model,
            from: entry.from,
            to: entry.to, definition: w.text, createdAt: .now
        )
        try await store.addPriceRecord(record, audit: audit(organizationID, actor, "price.add", w.text))
        try await reload(organizationID: organizationID)
        return entry
    }

    public func end(id: String, on date: CivilDate, organizationID: String, actor: String) async throws {
        var w = JSONWriter()
        w.beginObject(); w.field("id", id); w.field("ends", date.description); w.endObject()
        try await store.endPriceRecord(
            organizationID: organizationID, id: id, on: date,
            audit: audit(organizationID, actor, "price.end", w.text))
        try await reload(organizationID: organizationID)
    }

    package func audit(_ organizationID: String, _ actor: String, _ action: String, _ detail: String) -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: organizationID, at: .now, actor: actor, action: action,
            detail: detail)
    }

    // MARK: Re-pricing

    /// Prices the range again with the entries in force at each event's timestamp; applies only when asked.
    public func recompute(_ request: RepricingRequest, organizationID: String, actor: String) async throws
        -> RepricingResult
    {
        var filters = DimensionFilters()
        if let p = request.provider { filters[.provider] = [p] }
        if let m = request.model { filters[.model] = [m] }
        var query = EventQuery(organizationID: organizationID, filters: filters, from: request.from, to: request.to)
        query.limit = 1000
        query.current = true  // a replica's lag would leave events unrepriced
        var result = RepricingResult()
        var models: [String: RepricingModelDiff] = [:]
        var changes: [RepricedEvent] = []
        while true {
            let page = try await store.events(query)
            for stored in page.events {
                let quote = pricer.quote(stored.event, organizationID: organizationID)
                let key = stored.event.provider + "\u{1}" + stored.event.model
                var diff = models[key] ?? RepricingModelDiff(provider: stored.event.provider, model: stored.event.model)
                diff.events += 1
                diff.costBefore += stored.cost ?? .zero
                diff.costAfter += quote?.cost ?? .zero
                if quote?.cost != stored.cost || quote?.priceID != stored.priceID {
                    diff.changed += 1
                    changes.append(RepricedEvent(stored: stored, cost: quote?.cost, priceID: quote?.priceID))
                }
                models[key] = diff
            }
            guard let next = page.next else { break }
            query.after = next
        }
        result.byModel = models.values.sorted { ($0.provider, $0.model) < ($1.provider, $1.model) }
        for d in result.byModel {
            result.events += d.events
            result.changed += d.changed
            result.costBefore += d.costBefore
            result.costAfter += d.costAfter
        }
        if !request.dryRun {
            var w = JSONWriter()
            w.beginObject()
            w.field("from", request.from.rfc3339); w.field("to", request.to.rfc3339)
            w.field("provider", request.provider); w.field("model", request.model)
            w.field("events", result.events); w.field("changed", result.changed)
            w.field("cost_before", result.costBefore.decimalString);
            w.field("cost_after", result.costAfter.decimalString)
            w.endObject()
            try await store.applyRepricing(changes, audit: audit(organizationID, actor, "price.recompute", w.text))
            result.applied = true
        }
        return result
    }
}

public struct RepricingRequest: Sendable {
    public var from: Instant
    public var to: Instant
    public var provider: String?
    public var model: String?
    public var dryRun: Bool
    public init(from: Instant, to: Instant, provider: String?, model: String?, dryRun: Bool) {
        self.from = from
        self.to = to
        self.provider = provider
        self.model = model
        self.dryRun = dryRun
    }
}

public struct RepricingModelDiff: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var events = 0
    public var changed = 0
    public var costBefore = USD.zero
    public var costAfter = USD.zero
}

public struct RepricingResult: Sendable, Equatable {
    public var events = 0
    public var changed = 0
    public var costBefore = USD.zero
    public var costAfter = USD.zero
    public var byModel: [RepricingModelDiff] = []
    public var applied = false
}

/// Price tasks over any store, for the CLI (which holds its store as `any TallyStore`).
public enum PriceTasks {
    public static func reloadAll(_ store: some PriceServiceStore, pricer: CatalogPricer) async throws {
        try await PriceService(store: store, pricer: pricer).reloadAll()
    }

    /// The organization's own entries and the newest stored catalog revision, as the server prices with them.
    public static func reload(_ store: some CatalogServiceStore, pricer: CatalogPricer, organizationID: String)
        async throws
    {
        try await CatalogService(store: store, pricer: pricer).loadNewest()
        try await PriceService(store: store, pricer: pricer).reload(organizationID: organizationID)
    }

    /// Each entry is read and stored in turn, as the API would one request each (an invalid one stops the rest).
    public static func add(_ entries: [JSONValue], store: some PriceServiceStore, organizationID: String, actor: String)
        async throws
    {
        let service = PriceService(store: store, pricer: CatalogPricer())
        for entry in entries {
            _ = try await service.add(
                try CatalogFile.parseOrganizationEntry(entry, organizationID: organizationID),
                organizationID: organizationID, actor: actor)
        }
    }

    /// With the catalog the server prices with: the newest stored revision when it is newer than the built-in one.
    public static func recompute(
        _ request: RepricingRequest, store: some CatalogServiceStore, organizationID: String,
        actor: String
    ) async throws -> RepricingResult {
        let service = PriceService(store: store, pricer: CatalogPricer())
        try await CatalogService(store: store, pricer: service.pricer).loadNewest()
        try await service.reloadAll()
        return try await service.recompute(request, organizationID: organizationID, actor: actor)
    }
}
