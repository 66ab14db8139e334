/// A closed month (issue 20): its statements are numbered and frozen as they were at closing, and re-pricing refuses
/// to change its events until it is reopened. Late events may still arrive for it; they show in the usage views, not
/// in the closed statement (the books of a closed month do not move).
public struct ClosedPeriod: Sendable, Equatable {
    public var organizationID: String
    /// `2026-11`: a calendar month of the organization's zone.
    public var month: String
    /// `ST-202611-1`: the month and how many times it has been closed, so a month closed again gets a new number.
    public var number: String
    /// The month's local days in UTC, as they were when it was closed.
    public var range: TimeRange
    public var closedAt: Instant
    /// The member's email, or the token's name.
    public var closedBy: String
    /// The statements at closing, one per grouping, as `StatementCodec` writes them (a JSON object keyed by
    /// grouping). Empty when only the figures' header is read (`closedPeriods`).
    public var statements: String

    public init(
        organizationID: String, month: String, number: String, range: TimeRange, closedAt: Instant, closedBy: String,
        statements: String
    ) {
        self.organizationID = organizationID
        self.month = month
        self.number = number
        self.range = range
        self.closedAt = closedAt
        self.closedBy = closedBy
        self.statements = statements
    }

    /// The number of the `closing`-th closing of `month` (`2026-11`).
    public static func number(month: String, closing: Int) -> String {
        "ST-" + month.filter { $0 != "-" } + "-\(closing)"
    }
}

public protocol PeriodStore: Sendable {
    /// How many times the month has been closed before (reopened closings included).
    func closingCount(organizationID: String, month: String) async throws -> Int
    /// How many re-pricings the organization has applied (their audit records): read before a month's snapshot is
    /// computed, and checked again when it is stored.
    func repricingCount(organizationID: String) async throws -> Int
    /// Records the closing as the month's `closing`-th. Throws `conflict` when the month is closed already (or
    /// another closing of it won the race), or when a re-pricing was applied since `repricings` was read (the
    /// snapshot may hold the old prices: close again).
    func closePeriod(_ period: ClosedPeriod, closing: Int, repricings: Int, audit: AuditRecord) async throws
    /// Throws `notFound` when the month is not closed.
    func reopenPeriod(organizationID: String, month: String, audit: AuditRecord) async throws
    /// Newest month first, without their statements.
    func closedPeriods(organizationID: String) async throws -> [ClosedPeriod]
    /// With its statements.
    func closedPeriod(organizationID: String, month: String) async throws -> ClosedPeriod?
}
