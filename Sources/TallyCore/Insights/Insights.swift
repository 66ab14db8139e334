/// Insights (issue 18): what the rollups say an organization could change, computed daily, each kept under a key
/// stable for its kind and scope so that the same finding is one insight across days (dismissed stays dismissed).
public enum InsightKind: String, Sendable, CaseIterable {
    case concentration, growth
    case expensiveModelForSimpleTasks = "expensive_model_for_simple_tasks"
    case featureSpike = "feature_spike"
    case lowCacheUse = "low_cache_use"
    case errorSpend = "error_spend"
    case batchCandidate = "batch_candidate"
    /// Many of a feature's answers were cut by the output limit (issue 21's quality flags).
    case truncatedAnswers = "truncated_answers"
}

public enum InsightStatus: String, Sendable, CaseIterable {
    /// Found by the latest computation and not dismissed.
    case new
    /// Hidden by someone; stays dismissed while later computations still find it.
    case dismissed
    /// The latest computation no longer finds it.
    case resolved
}

/// One figure of an insight's evidence, as the API writes it: money as a decimal string, counts as integers,
/// percentages as decimal strings, names as text.
public enum InsightValue: Sendable, Equatable {
    case usd(USD)
    case count(Int64)
    case percent(String)
    case text(String)
}

public struct InsightFigure: Sendable, Equatable {
    /// The evidence member's name (`cost_usd`, `share_percent`, `model`…).
    public var name: String
    public var value: InsightValue
    public init(_ name: String, _ value: InsightValue) {
        self.name = name
        self.value = value
    }
}

/// What the engine finds: an insight without its lifecycle.
public struct InsightFinding: Sendable, Equatable {
    public var kind: InsightKind
    /// Stable for the kind and scope (`concentration:model:gpt-4o`): the identity across computations.
    public var key: String
    public var title: String
    public var detail: String
    public var evidence: [InsightFigure]
    public var estimatedMonthlySavings: USD?
    /// The usage explorer's path and query showing the evidence (`/usage?…`).
    public var explorerURL: String

    public init(
        kind: InsightKind, key: String, title: String, detail: String, evidence: [InsightFigure],
        estimatedMonthlySavings: USD?, explorerURL: String
    ) {
        self.kind = kind
        self.key = key
        self.title = title
        self.detail = detail
        self.evidence = evidence
        self.estimatedMonthlySavings = estimatedMonthlySavings
        self.explorerURL = explorerURL
    }
}

public struct Insight: Sendable, Equatable {
    /// Derived from the organization and the key (`in_…`): the same finding has the same id on every replica.
    public var id: String
    public var organizationID: String
    public var finding: InsightFinding
    public var status: InsightStatus
    public var firstSeen: Instant
    public var lastSeen: Instant

    public init(
        id: String, organizationID: String, finding: InsightFinding, status: InsightStatus, firstSeen: Instant,
        lastSeen: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.finding = finding
        self.status = status
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// The thresholds of the insight kinds, per organization (`GET/PUT /api/v1/insight-settings`), with the issue's
/// defaults.
public struct InsightSettings: Sendable, Equatable {
    /// `concentration`: one provider, model, project or feature above this share of the last 30 days' cost.
    public var concentrationPercent = 80
    /// `growth`: cost up by more than this, week over week or month over month.
    public var growthPercent = 50
    /// `expensive_model_for_simple_tasks`: requests averaging under these token counts are "simple"…
    public var simpleMaxInputTokens = 1000
    public var simpleMaxOutputTokens = 200
    /// …and the model costs at least this many times a cheaper model of the same provider for that profile.
    public var cheaperModelFactor = 3
    /// `feature_spike`: a feature's 30-day cost up by more than this.
    public var featureSpikePercent = 100
    /// `low_cache_use`: prompts averaging more than this many input tokens…
    public var longPromptInputTokens = 10_000
    /// …with less than this share of them read from the cache…
    public var lowCacheSharePercent = 20
    /// …and the saving counted as if this share were read from the cache.
    public var cacheTargetSharePercent = 50
    /// The least cost (over the period looked at) a scope needs before any insight names it: pennies make none.
    public var floor = USD(nanos: 10_000_000_000)
    /// Features whose requests may wait (batch-able): the rollups do not keep `streamed`, so the organization names
    /// them; `batch_candidate` looks at these only.
    public var batchFeatures: [String] = []

    public init() {}
}

/// An organization's insights, their settings and the weekly digest's opt-in and sending record.
public protocol InsightStore: Sendable {
    /// Records one computation in ONE transaction: new keys are inserted `new`; keys already stored get `last_seen`
    /// and the fresh figures (a dismissed one stays dismissed, a resolved one becomes `new` again); stored keys not
    /// in `findings` turn `resolved`.
    func recordInsights(organizationID: String, findings: [Insight], at: Instant) async throws
    /// Newest first (`last_seen`, then id); all statuses when `status` is nil.
    func insights(organizationID: String, status: InsightStatus?) async throws -> [Insight]
    /// Throws `notFound` when the organization has no such insight.
    func dismissInsight(organizationID: String, id: String, audit: AuditRecord) async throws -> Insight
    /// When the organization's insights were last computed (nil: never).
    func insightsComputedAt(organizationID: String) async throws -> Instant?

    func insightSettings(organizationID: String) async throws -> InsightSettings
    func saveInsightSettings(organizationID: String, _ settings: InsightSettings, audit: AuditRecord) async throws

    /// The email channels that receive the weekly digest.
    func weeklyDigestChannelIDs(organizationID: String) async throws -> [String]
    /// Throws `notFound` when the organization has no such channel.
    func setWeeklyDigest(organizationID: String, channelID: String, enabled: Bool) async throws
    /// Records that `channelID` gets the digest of `week` (its Monday); false when it was already recorded (by this
    /// or another replica): that unique row, not a lock, sends each digest once.
    func claimWeeklyDigest(organizationID: String, channelID: String, week: CivilDate, at: Instant) async throws
        -> Bool
    /// Gives a claim back (its mail could not be sent to anyone), so that a later check sends that week's digest.
    func releaseWeeklyDigest(organizationID: String, channelID: String, week: CivilDate) async throws
}
