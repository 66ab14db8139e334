/// An organization's safety filter as stored and as the API shows it (issue 21): which detectors, keywords and
/// patterns, on which side of a gateway call, and what to do on a match. TallySafety runs it.
public struct SafetyFilter: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    /// 1–64 characters, no comma or control character: it is part of the flags an event records (`keyword:<name>`).
    public var name: String
    /// nil: every project of the organization; else the one project (by id).
    public var projectID: String?
    public var detectors: [String]
    public var keywords: [String]
    public var patterns: [String]
    /// `request`, `response` or `both`.
    public var side: String
    /// `block`, `redact` or `flag`.
    public var action: String
    public var createdAt: Instant
    public var updatedAt: Instant

    public init(
        id: String, organizationID: String, name: String, projectID: String?, detectors: [String], keywords: [String],
        patterns: [String], side: String, action: String, createdAt: Instant, updatedAt: Instant
    ) {
        self.id = id
        self.organizationID = organizationID
        self.name = name
        self.projectID = projectID
        self.detectors = detectors
        self.keywords = keywords
        self.patterns = patterns
        self.side = side
        self.action = action
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public protocol SafetyFilterStore: Sendable {
    /// Oldest first: the order the gateway runs them in.
    func safetyFilters(organizationID: String) async throws -> [SafetyFilter]
    func createSafetyFilter(_ filter: SafetyFilter, audit: AuditRecord) async throws
    func updateSafetyFilter(_ filter: SafetyFilter, audit: AuditRecord) async throws
    func deleteSafetyFilter(organizationID: String, id: String, audit: AuditRecord) async throws
}

/// The flags recorded on events, counted: what the explorer groups by and the truncation insight reads.
public struct FlagCount: Sendable, Equatable {
    /// `safety` or `quality`.
    public var kind: String
    public var flag: String
    /// nil unless the query grouped by feature (then nil is "no feature").
    public var feature: String?
    public var requests: Int64
    public var cost: USD

    public init(kind: String, flag: String, feature: String?, requests: Int64, cost: USD) {
        self.kind = kind
        self.flag = flag
        self.feature = feature
        self.requests = requests
        self.cost = cost
    }
}

public struct FlagQuery: Sendable {
    public var organizationID: String
    public var from: Instant
    public var to: Instant
    public var filters: DimensionFilters
    /// Count per feature as well (the insight), and the feature's requests in all (`FlagTotals`).
    public var byFeature: Bool

    public init(organizationID: String, from: Instant, to: Instant, filters: DimensionFilters, byFeature: Bool) {
        self.organizationID = organizationID
        self.from = from
        self.to = to
        self.filters = filters
        self.byFeature = byFeature
    }
}

public struct FlagCounts: Sendable, Equatable {
    /// Per flag (and feature, when asked), largest first.
    public var flags: [FlagCount]
    /// Requests of the range and filters in all, per feature when asked ("" for none): the denominators of shares.
    public var requests: [String: Int64]

    public init(flags: [FlagCount], requests: [String: Int64]) {
        self.flags = flags
        self.requests = requests
    }
}

public protocol FlagStore: Sendable {
    func flagCounts(_ query: FlagQuery) async throws -> FlagCounts
}
