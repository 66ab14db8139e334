/// Statements mailed on a schedule (issue 20) to the email channels that opted in: the month's statement (PDF and
/// CSV attached) on the first day of the next month, and a weekly summary on Monday. Each goes once per channel and
/// period across replicas, by a unique row claimed before sending.
public enum ScheduledReport: String, Sendable, CaseIterable {
    case monthlyStatement = "monthly_statement"
    case weeklySummary = "weekly_summary"
}

public protocol ScheduledReportStore: Sendable {
    /// The organization's email channels opted in to `report`, oldest first.
    func reportChannelIDs(organizationID: String, report: ScheduledReport) async throws -> [String]
    /// Throws `notFound` for a channel that is not the organization's.
    func setReportSchedule(organizationID: String, channelID: String, report: ScheduledReport, enabled: Bool)
        async throws
    /// True when this call claimed the period's mailing (no replica had); false when it was claimed already.
    func claimReportMailing(
        organizationID: String, channelID: String, report: ScheduledReport, period: String, at: Instant
    ) async throws -> Bool
    /// Gives a claim back (nobody got the mail), so a later check tries again.
    func releaseReportMailing(organizationID: String, channelID: String, report: ScheduledReport, period: String)
        async throws
}
