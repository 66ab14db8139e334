import Logging
import TallyCore
import TallyDocuments
import TallyMail

/// Scheduled statements (issue 20): to each email channel that opted in, the month's statement (PDF and CSV
/// attached) from 08:00 on the first day of the next month, and the week's summary (CSV attached) from Monday 08:00,
/// in the organization's time zone; once per channel and period across replicas (`claimReportMailing`).
/// `send` mails one now, for the API's send-now test.
public struct StatementMailer<Store: StatementStore & ScheduledReportStore & CatalogRevisionStore>: Sendable {
    public let statements: StatementService<Store>
    public let mailer: (any Mailer)?
    public let publicURL: String
    public let logger: Logger

    package init(statements: StatementService<Store>, mailer: (any Mailer)?, publicURL: String, logger: Logger) {
        self.statements = statements
        self.mailer = mailer
        self.publicURL = publicURL
        self.logger = logger
    }

    var store: Store { statements.store }

    /// The local hour from which a period's statement goes out.
    public static var sendHour: Int64 { 8 }

    /// The period due at `now`: the month (or ISO week) before the one `now` is in, counted from 08:00 local of its
    /// first day, so the last night's events are in.
    public static func duePeriod(_ report: ScheduledReport, at now: Instant, zone: TimeZoneRules) -> String {
        let day = zone.localDate(of: Instant(microseconds: now.microseconds - sendHour * 3_600_000_000))
        switch report {
        case .monthlyStatement:
            return StatementPeriods.month(day.firstOfMonth.addingMonths(-1), zone: zone).label
        case .weeklySummary:
            return StatementPeriods.week(day.addingDays(Int64(1 - day.isoWeekday) - 7), zone: zone).label
        }
    }

    /// Sends every organization's due statements; answers how many mails went out. A failed send is logged; when no
    /// recipient got it the claim is given back so a later check tries again.
    @discardableResult
    public func sendDue(at now: Instant) async throws -> Int {
        guard mailer != nil else { return 0 }
        var sent = 0
        for organizationID in try await store.organizationIDs() {
            guard let organization = try await store.organization(id: organizationID) else { continue }
            let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
            for report in ScheduledReport.allCases {
                let ids = try await store.reportChannelIDs(organizationID: organizationID, report: report)
                guard !ids.isEmpty else { continue }
                let period = Self.duePeriod(report, at: now, zone: zone)
                for channel in try await store.alertChannels(organizationID: organizationID)
                where ids.contains(channel.id) {
                    guard
                        try await store.claimReportMailing(
                            organizationID: organizationID, channelID: channel.id, report: report, period: period,
                            at: now)
                    else { continue }
                    let delivered: [String]
                    do {
                        delivered = try await send(report, period: period, to: channel, now: now)
                    } catch {
                        // Given back for a later check; the other channels and organizations go on.
                        try? await store.releaseReportMailing(
                            organizationID: organizationID, channelID: channel.id, report: report, period: period)
                        logger.error(
                            "statement not built for mailing",
                            metadata: [
                                "organization": "\(organizationID)", "report": "\(report.rawValue)",
                                "error": "\(error)",
                            ])
                        continue
                    }
                    sent += delivered.count
                    if delivered.isEmpty, !channel.targets.isEmpty {
                        try await store.releaseReportMailing(
                            organizationID: organizationID, channelID: channel.id, report: report, period: period)
                    }
                }
            }
        }
        return sent
    }

    /// Mails `report` for `period` (nil: the one due now) to the channel's addresses; answers those that took it.
    public func send(_ report: ScheduledReport, period: String?, to channel: AlertChannel, now: Instant = .now)
        async throws -> [String]
    {
        guard let mailer else { throw TallyError.conflict("no mail server is configured (TALLY_SMTP_URL)") }
        guard channel.kind == .email else {
            throw TallyError.invalid([FieldProblem(field: "report", reason: "only email channels get statements")])
        }
        let organization = try await statements.organization(channel.organizationID)
        let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
        let label = period ?? Self.duePeriod(report, at: now, zone: zone)
        let teams = try await store.teams(organizationID: organization.id)
        let statement = try await statements.statement(
            period: label, billingCycle: nil, groupBy: teams.isEmpty ? .project : .team,
            organizationID: organization.id, now: now)
        var attachments = [
            MailAttachment(
                filename: "tally-statement-\(statement.period.label).csv", contentType: "text/csv; charset=utf-8",
                bytes: Array(StatementCSV.render(statement).utf8))
        ]
        if report == .monthlyStatement {
            attachments.insert(
                MailAttachment(
                    filename: "tally-statement-\(statement.period.label).pdf", contentType: "application/pdf",
                    bytes: try StatementPDF.render(statement, fonts: try DocumentFonts.standard())),
                at: 0)
        }
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        let text =
            StatementText.render(statement) + "\nOn the dashboard: \(base)/statements?period="
            + TextEncoding.percentEncoded(statement.period.label, keeping: "") + "\n"
        let subject =
            (report == .monthlyStatement ? "[Tally] Statement " : "[Tally] Weekly summary ")
            + "\(statement.period.label): \(StatementFigures.money(statement.totals.cost))"
        var delivered: [String] = []
        for address in channel.targets {
            do {
                try await mailer.send(MailMessage(to: address, subject: subject, text: text, attachments: attachments))
                delivered.append(address)
            } catch {
                logger.error(
                    "statement not mailed",
                    metadata: [
                        "organization": "\(organization.id)", "channel": "\(channel.id)",
                        "report": "\(report.rawValue)",
                        "error": "\((error as? SMTPError).map(AlertSender.category) ?? "the mail could not be sent")",
                    ])
            }
        }
        return delivered
    }
}
