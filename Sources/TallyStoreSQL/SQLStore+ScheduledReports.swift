import TallyCore

/// Scheduled statements (issue 20): the email channels' opt-ins (a column per report on `alert_channels`) and the
/// mailings claimed per channel and period (`report_mailings`), written once for both dialects.
extension SQLStore {
    public func reportChannelIDs(organizationID: String, report: ScheduledReport) async throws -> [String] {
        try await database.query(
            statement([
                ("SELECT id FROM alert_channels WHERE org_id = ", .text(organizationID)),
                (" AND kind = 'email' AND \(Self.reportColumn(report)) = 1 ORDER BY created_us, id", nil),
            ])
        ).map { try $0.text("id") }
    }

    public func setReportSchedule(organizationID: String, channelID: String, report: ScheduledReport, enabled: Bool)
        async throws
    {
        let changed = try await database.execute(
            statement([
                ("UPDATE alert_channels SET \(Self.reportColumn(report)) = ", .int(enabled ? 1 : 0)),
                (" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(channelID)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("alert channel '\(channelID)'") }
    }

    public func claimReportMailing(
        organizationID: String, channelID: String, report: ScheduledReport, period: String, at: Instant
    ) async throws -> Bool {
        var insert = insertStatement(
            "report_mailings", ["org_id", "channel_id", "report", "period", "sent_us"],
            [.text(organizationID), .text(channelID), .text(report.rawValue), .text(period), .int(at.microseconds)])
        insert.append(" ON CONFLICT (org_id, channel_id, report, period) DO NOTHING")
        return try await database.execute(insert) == 1
    }

    public func releaseReportMailing(
        organizationID: String, channelID: String, report: ScheduledReport, period: String
    ) async throws {
        try await database.execute(
            statement([
                ("DELETE FROM report_mailings WHERE org_id = ", .text(organizationID)),
                (" AND channel_id = ", .text(channelID)), (" AND report = ", .text(report.rawValue)),
                (" AND period = ", .text(period)),
            ]))
    }

    /// The column from the code's own list, never from input.
    static func reportColumn(_ report: ScheduledReport) -> String {
        switch report {
        case .monthlyStatement: "monthly_statement"
        case .weeklySummary: "weekly_summary"
        }
    }
}
