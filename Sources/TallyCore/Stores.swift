/// Storage, one protocol per concern. Every call names the organization: no query crosses organizations.
/// SQLite and PostgreSQL implement these and are held to one contract test suite.

public protocol OrganizationStore: Sendable {
    /// The organization created on first start (created now if missing).
    func defaultOrganization(timeZone: String) async throws -> Organization
    func organization(id: String) async throws -> Organization?
}

public protocol ProjectStore: Sendable {
    /// Throws `TallyError.conflict` when the organization already has a project of that name.
    func createProject(organizationID: String, name: String) async throws -> Project
    func projects(organizationID: String) async throws -> [Project]
    func project(organizationID: String, name: String) async throws -> Project?
    func project(organizationID: String, id: String) async throws -> Project?
    /// Renames and/or archives (a date) or restores (nil) a project; throws `notFound` or `conflict` (name taken).
    func updateProject(organizationID: String, id: String, name: String, archivedAt: Instant?) async throws
}

public protocol TokenStore: Sendable {
    func createToken(_ token: APIToken, secretHash: String) async throws
    func tokens(organizationID: String) async throws -> [APIToken]
    /// Looks a presented secret up by its hash: the one lookup not scoped by organization,
    /// because the token is what tells the organization.
    func token(secretHash: String) async throws -> APIToken?
    /// Throws `TallyError.notFound` when the organization has no such token.
    func revokeToken(organizationID: String, id: String, at: Instant) async throws
    func recordTokenUse(id: String, at: Instant) async throws
}

/// Events of one request (all or nothing), already validated, priced and attributed.
public struct EventBatch: Sendable {
    public var organizationID: String
    public var events: [StoredEvent]
    public init(organizationID: String, events: [StoredEvent]) {
        self.organizationID = organizationID
        self.events = events
    }
}

public struct InsertOutcome: Sendable, Equatable {
    public var accepted: Int
    public var duplicates: Int
    public init(accepted: Int, duplicates: Int) {
        self.accepted = accepted
        self.duplicates = duplicates
    }
}

public struct EventCursor: Sendable, Equatable {
    public var timestamp: Instant
    public var sequence: Int64
    public init(timestamp: Instant, sequence: Int64) {
        self.timestamp = timestamp
        self.sequence = sequence
    }

    public var token: String { "\(timestamp.microseconds)_\(sequence)" }
    public init?(token: String) {
        let parts = token.split(separator: "_")
        guard parts.count == 2, let t = Int64(parts[0]), let s = Int64(parts[1]) else { return nil }
        self.init(timestamp: Instant(microseconds: t), sequence: s)
    }
}

public struct SequencedEvent: Sendable {
    public var sequence: Int64
    public var stored: StoredEvent
    public init(sequence: Int64, stored: StoredEvent) {
        self.sequence = sequence
        self.stored = stored
    }
}

public struct EventQuery: Sendable {
    public var organizationID: String
    public var filters: DimensionFilters
    public var from: Instant?
    public var to: Instant?
    public var limit: Int
    public var after: EventCursor?
    /// Events carrying any of these safety or quality flags (empty: no flag filter).
    public var flags: [String]
    /// Read on the primary even with a read replica: the caller decides a write from what it reads (re-pricing).
    public var current = false
    public init(
        organizationID: String, filters: DimensionFilters = [:], from: Instant? = nil, to: Instant? = nil,
        limit: Int = 100, after: EventCursor? = nil, flags: [String] = []
    ) {
        self.flags = flags
        self.organizationID = organizationID
        self.filters = filters
        self.from = from
        self.to = to
        self.limit = limit
        self.after = after
    }
}

public struct EventPage: Sendable {
    public var events: [StoredEvent]
    public var next: EventCursor?
    public init(events: [StoredEvent], next: EventCursor?) {
        self.events = events
        self.next = next
    }
}

public protocol EventStore: Sendable {
    /// Stores each batch in ONE transaction together with its rollups; returns once committed.
    /// An event whose id the project already has is counted as a duplicate and not stored again.
    func insert(_ batches: [EventBatch]) async throws -> [InsertOutcome]
    /// Newest first.
    func events(_ query: EventQuery) async throws -> EventPage
    /// Events stored after `sequence` (the store's own insertion counter), oldest first: for live views.
    /// Under concurrent commits a lower sequence may become visible after a higher one; callers re-read a window.
    func eventsStored(after sequence: Int64, organizationID: String, filters: DimensionFilters, limit: Int) async throws
        -> [SequencedEvent]
    /// The highest sequence stored so far (0 when empty): where a live view starts.
    func latestSequence() async throws -> Int64
    /// The newest event with this client id within the organization (and the project filter, if given).
    func event(organizationID: String, id: String, projectIDs: [String]?) async throws -> StoredEvent?
}

public struct SummaryQuery: Sendable {
    public var organizationID: String
    public var from: Instant
    public var to: Instant
    public var timeZone: TimeZoneRules
    public var grain: TimeGrain?
    public var dimensions: [UsageDimension]
    public var filters: DimensionFilters
    /// Tags to group by as well (`group_by=tag:<key>`), after `dimensions`: answered from raw events.
    public var tagKeys: [String]
    /// Read on the primary even with a read replica: the caller keeps what it reads (closing a month).
    public var current = false
    public init(
        organizationID: String, from: Instant, to: Instant, timeZone: TimeZoneRules, grain: TimeGrain?,
        dimensions: [UsageDimension], filters: DimensionFilters, tagKeys: [String] = []
    ) {
        self.tagKeys = tagKeys
        self.organizationID = organizationID
        self.from = from
        self.to = to
        self.timeZone = timeZone
        self.grain = grain
        self.dimensions = dimensions
        self.filters = filters
    }
}

public struct SummaryGroup: Sendable, Equatable {
    /// The period label (`2026-11-20`, the Monday of a week, `2026-11`) when grouped by time.
    public var period: String?
    /// Values of the grouped dimensions; nil where the events had none. Projects by id.
    public var values: [UsageDimension: String?]
    /// The grouped tags' values by key; nil where the events had no such tag.
    public var tags: [String: String?]
    public var metrics: UsageMetrics
    public init(
        period: String?, values: [UsageDimension: String?], metrics: UsageMetrics, tags: [String: String?] = [:]
    ) {
        self.period = period
        self.values = values
        self.tags = tags
        self.metrics = metrics
    }
}

public struct SummaryResult: Sendable, Equatable {
    public var groups: [SummaryGroup]
    public var totals: UsageMetrics
    public init(groups: [SummaryGroup], totals: UsageMetrics) {
        self.groups = groups
        self.totals = totals
    }
}

public protocol UsageStore: Sendable {
    func summary(_ query: SummaryQuery) async throws -> SummaryResult
}

public protocol SchemaStore: Sendable {
    /// Applies pending migrations; safe when several replicas start at once.
    func migrate() async throws
    /// True when the store answers and every migration is applied.
    func isReady() async -> Bool
    /// The names of the migrations this binary has and the store has not applied, in order (for commands that do
    /// not migrate: `tally serve` with TALLY_MIGRATE=off, the commands that only list).
    func pendingMigrations() async throws -> [String]
}

/// Everything the server needs from storage.
public protocol TallyStore: OrganizationStore, ProjectStore, TokenStore, EventStore, UsageStore, PriceStore,
    SchemaStore,
    AccountStore, SessionStore, InviteStore, ConnectionStore, AuditStore, ProviderSyncStore, CatalogRevisionStore,
    BudgetStore, AlertStore, AlertChannelStore, AlertDeliveryStore,
    InsightStore, PolicyStore, GuardCounterStore, TeamStore, PeriodStore, ScheduledReportStore, PerformanceStore,
    EventContentStore, SafetyFilterStore, FlagStore, SignInStore, RetentionStore, EventPartitioningStore
{}

/// An organization's own price entry: the catalog's entry shape, kept as its JSON definition.
public struct OrganizationPriceRecord: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var provider: String?
    public var model: String
    public var from: CivilDate
    public var to: CivilDate?
    /// The entry as the catalog format writes it (JSON object), so the store needs no price model.
    public var definition: String
    public var createdAt: Instant
    public init(
        id: String, organizationID: String, provider: String?, model: String, from: CivilDate, to: CivilDate?,
        definition: String, createdAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.provider = provider
        self.model = model
        self.from = from
        self.to = to
        self.definition = definition
        self.createdAt = createdAt
    }
}

/// A model seen in events that no price entry covered.
public struct UnpricedModel: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var requests: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var firstSeen: Instant
    public var lastSeen: Instant
    public init(
        provider: String, model: String, requests: Int64, inputTokens: Int64, outputTokens: Int64,
        firstSeen: Instant, lastSeen: Instant
    ) {
        self.provider = provider
        self.model = model
        self.requests = requests
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// A stored event's new cost, with the cost it had (checked when applying, so concurrent changes are not lost).
public struct RepricedEvent: Sendable {
    public var stored: StoredEvent
    public var cost: USD?
    public var priceID: String?
    public init(stored: StoredEvent, cost: USD?, priceID: String?) {
        self.stored = stored
        self.cost = cost
        self.priceID = priceID
    }
}

public struct AuditRecord: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var at: Instant
    public var actor: String
    public var action: String
    /// JSON describing what was done.
    public var detail: String
    public init(id: String, organizationID: String, at: Instant, actor: String, action: String, detail: String) {
        self.id = id
        self.organizationID = organizationID
        self.at = at
        self.actor = actor
        self.action = action
        self.detail = detail
    }
}

public protocol PriceStore: Sendable {
    /// An organization's own entries; nil: every organization's (to load the pricer at start).
    func priceRecords(organizationID: String?) async throws -> [OrganizationPriceRecord]
    func addPriceRecord(_ record: OrganizationPriceRecord, audit: AuditRecord) async throws
    /// Ends an entry on this date (exclusive). An entry not yet in force by then is removed. Throws notFound.
    func endPriceRecord(organizationID: String, id: String, on date: CivilDate, audit: AuditRecord) async throws
    func unpricedModels(organizationID: String, from: Instant?, to: Instant?, projectIDs: [String]?) async throws
        -> [UnpricedModel]
    /// Rewrites these events' costs and the rollups in one transaction with the audit record.
    /// Throws `conflict` (changing nothing) if any event's cost changed since it was read.
    func applyRepricing(_ changes: [RepricedEvent], audit: AuditRecord) async throws
}
