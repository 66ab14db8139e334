/// What a provider's own organization reports say: usage per bucket and grouping, and cost lines.
/// This is the *provider ledger*; events observed by Tally are the other one, and the two are never summed.

/// The report a row came from: one of OpenAI's usage endpoints or its costs, or Anthropic's messages or cost report.
public enum ProviderReport: String, Sendable, CaseIterable, Hashable {
    case openAICompletions = "openai.completions"
    case openAIEmbeddings = "openai.embeddings"
    case openAIModerations = "openai.moderations"
    case openAIImages = "openai.images"
    case openAIAudioSpeeches = "openai.audio_speeches"
    case openAIAudioTranscriptions = "openai.audio_transcriptions"
    case openAICosts = "openai.costs"
    case anthropicMessages = "anthropic.messages"
    case anthropicCosts = "anthropic.costs"

    public var provider: ProviderKind { rawValue.hasPrefix("openai") ? .openai : .anthropic }
    public var isCost: Bool { self == .openAICosts || self == .anthropicCosts }

    public static func reports(for provider: ProviderKind) -> [ProviderReport] {
        allCases.filter { $0.provider == provider }
    }
}

/// One usage row of a provider report: a bucket and a grouping, with every token class it reports.
public struct ProviderUsageRow: Sendable, Equatable {
    public var bucketStart: Instant
    public var bucketEnd: Instant
    public var model: String?
    /// The provider's project (OpenAI) or workspace (Anthropic) id; nil: not grouped, or the default workspace.
    public var projectRef: String?
    public var apiKeyRef: String?
    public var batch: Bool?
    public var serviceTier: String?
    public var contextWindow: String?
    /// Token classes in Tally's terms: `inputTokens` includes cached reads and cache writes, as in events.
    public var usage: TokenUsage
    /// Units that are not tokens (images, characters, seconds, web searches), with their unit name.
    public var units: Int64
    public var unit: String?

    public init(
        bucketStart: Instant, bucketEnd: Instant, model: String? = nil, projectRef: String? = nil,
        apiKeyRef: String? = nil,
        batch: Bool? = nil, serviceTier: String? = nil, contextWindow: String? = nil, usage: TokenUsage = TokenUsage(),
        units: Int64 = 0, unit: String? = nil
    ) {
        self.bucketStart = bucketStart
        self.bucketEnd = bucketEnd
        self.model = model
        self.projectRef = projectRef
        self.apiKeyRef = apiKeyRef
        self.batch = batch
        self.serviceTier = serviceTier
        self.contextWindow = contextWindow
        self.usage = usage
        self.units = units
        self.unit = unit
    }

    /// The grouping values that make a row unique within its bucket.
    public var groupKey: String {
        [model, projectRef, apiKeyRef, batch.map { $0 ? "batch" : "sync" }, serviceTier, contextWindow, unit]
            .map { $0 ?? "" }.joined(separator: "\u{1F}")
    }
}

/// One cost line: an exact amount (never a float) for a bucket and grouping.
public struct ProviderCostRow: Sendable, Equatable {
    public var bucketStart: Instant
    public var bucketEnd: Instant
    public var projectRef: String?
    public var apiKeyRef: String?
    /// OpenAI's `line_item` or Anthropic's `description`.
    public var lineItem: String?
    public var model: String?
    public var costType: String?
    public var tokenType: String?
    public var serviceTier: String?
    public var amount: USD
    /// A decimal string as reported, when reported.
    public var quantity: String?
    public var quantityUnit: String?

    public init(
        bucketStart: Instant, bucketEnd: Instant, projectRef: String? = nil, apiKeyRef: String? = nil,
        lineItem: String? = nil,
        model: String? = nil, costType: String? = nil, tokenType: String? = nil, serviceTier: String? = nil,
        amount: USD,
        quantity: String? = nil, quantityUnit: String? = nil
    ) {
        self.bucketStart = bucketStart
        self.bucketEnd = bucketEnd
        self.projectRef = projectRef
        self.apiKeyRef = apiKeyRef
        self.lineItem = lineItem
        self.model = model
        self.costType = costType
        self.tokenType = tokenType
        self.serviceTier = serviceTier
        self.amount = amount
        self.quantity = quantity
        self.quantityUnit = quantityUnit
    }

    public var groupKey: String {
        [projectRef, apiKeyRef, lineItem, model, costType, tokenType, serviceTier].map { $0 ?? "" }.joined(
            separator: "\u{1F}")
    }
}

/// A bucket of one report as fetched: its rows replace whatever was stored for that bucket.
public struct ProviderBucket<Row: Sendable & Equatable>: Sendable, Equatable {
    public var start: Instant
    public var end: Instant
    public var rows: [Row]
    public init(start: Instant, end: Instant, rows: [Row]) {
        self.start = start
        self.end = end
        self.rows = rows
    }
}

public enum SyncRunStatus: String, Sendable, CaseIterable {
    case running, succeeded, failed
}

public enum SyncTrigger: String, Sendable, CaseIterable {
    case schedule, backfill, manual
}

/// One pull of a connection's reports over a range.
public struct SyncRun: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var connectionID: String
    public var trigger: SyncTrigger
    public var from: Instant
    public var to: Instant
    public var status: SyncRunStatus
    public var pages: Int64
    public var rows: Int64
    public var startedAt: Instant
    public var finishedAt: Instant?
    /// The provider's message (never a key) when the run failed.
    public var error: String?

    public init(
        id: String, organizationID: String, connectionID: String, trigger: SyncTrigger, from: Instant, to: Instant,
        status: SyncRunStatus = .running, pages: Int64 = 0, rows: Int64 = 0, startedAt: Instant,
        finishedAt: Instant? = nil,
        error: String? = nil
    ) {
        self.id = id
        self.organizationID = organizationID
        self.connectionID = connectionID
        self.trigger = trigger
        self.from = from
        self.to = to
        self.status = status
        self.pages = pages
        self.rows = rows
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.error = error
    }
}

public protocol ProviderSyncStore: Sendable {
    /// Replaces, in one transaction, every stored row of these buckets of one report of one connection:
    /// re-syncing a range replaces what it held, never adds to it.
    func replaceProviderUsage(
        organizationID: String, connectionID: String, report: ProviderReport,
        buckets: [ProviderBucket<PricedProviderUsageRow>]) async throws
    func replaceProviderCosts(
        organizationID: String, connectionID: String, report: ProviderReport,
        buckets: [ProviderBucket<ProviderCostRow>]) async throws
    /// Stored usage rows of a connection (all connections when nil) with bucket starts in `[from, to)`, oldest first.
    func providerUsage(organizationID: String, connectionID: String?, from: Instant, to: Instant) async throws
        -> [(report: ProviderReport, row: PricedProviderUsageRow)]
    func providerCosts(organizationID: String, connectionID: String?, from: Instant, to: Instant) async throws
        -> [(report: ProviderReport, row: ProviderCostRow)]

    /// Every organization's OpenAI and Anthropic connections that hold an admin key: the background sync's work list,
    /// the one unscoped read of connections.
    func syncableConnections() async throws -> [ProviderConnection]

    /// The provider projects/workspaces and API keys seen in a connection's reports, with their usage rows' count.
    func providerRefs(organizationID: String, connectionID: String) async throws -> [ProviderRef]
    /// connection id → provider project/workspace ref → Tally project id.
    func providerProjectMappings(organizationID: String) async throws -> [String: [String: String]]
    /// Maps (or, with nil, unmaps) a provider project/workspace to a Tally project.
    func mapProviderProject(organizationID: String, connectionID: String, ref: String, projectID: String?) async throws

    func createSyncRun(_ run: SyncRun) async throws
    func updateSyncRun(_ run: SyncRun) async throws
    /// Newest first.
    func syncRuns(organizationID: String, connectionID: String?, limit: Int) async throws -> [SyncRun]

    /// Takes the connection's sync lease for `holder` until `until` if it is free or expired (or already held by
    /// `holder`); true when taken. The lease lives in the database, so one replica syncs a connection at a time,
    /// and a replica that dies releases it by expiry.
    func acquireSyncLease(connectionID: String, holder: String, until: Instant, now: Instant) async throws -> Bool
    func releaseSyncLease(connectionID: String, holder: String) async throws
}

/// A provider project/workspace (`project`) or API key (`api_key`) id seen in synced reports.
public struct ProviderRef: Sendable, Equatable {
    public var kind: String
    public var ref: String
    public var rows: Int64
    public init(kind: String, ref: String, rows: Int64) {
        self.kind = kind
        self.ref = ref
        self.rows = rows
    }
}

/// A provider usage row with the estimate Tally's catalog gives it, so estimate and bill compare line by line.
public struct PricedProviderUsageRow: Sendable, Equatable {
    public var row: ProviderUsageRow
    public var cost: USD?
    public var priceID: String?
    public init(row: ProviderUsageRow, cost: USD?, priceID: String?) {
        self.row = row
        self.cost = cost
        self.priceID = priceID
    }
}
