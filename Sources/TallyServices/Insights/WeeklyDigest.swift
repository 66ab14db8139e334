import Logging
import TallyCore
import TallyForecast
import TallyMail

/// The weekly digest mail (issue 18): the insights found new since the last digest and the month-end forecast, to
/// every email channel that opted in, once per channel and week, on Monday morning in the organization's time zone.
public struct WeeklyDigest<Store: InsightServiceStore & AlertChannelStore>: Sendable {
    public let store: Store
    public let forecasts: any ForecastSource
    public let mailer: (any Mailer)?
    public let publicURL: String
    public let logger: Logger

    public init(
        store: Store, forecasts: any ForecastSource, mailer: (any Mailer)?, publicURL: String, logger: Logger
    ) {
        self.store = store
        self.forecasts = forecasts
        self.mailer = mailer
        self.publicURL = publicURL
        self.logger = logger
    }

    /// The local hour on Monday from which the week's digest goes out.
    public static var sendHour: Int64 { 8 }

    /// The Monday of the week whose digest is due at `now` in `zone`: from Monday 08:00 to the next Monday 08:00.
    public static func dueWeek(at now: Instant, zone: TimeZoneRules) -> CivilDate {
        let shifted = Instant(microseconds: now.microseconds - sendHour * 3_600_000_000)
        let day = zone.localDate(of: shifted)
        return day.addingDays(Int64(1 - day.isoWeekday))
    }

    /// Sends every organization's due digests; answers how many mails went out. A channel whose digest another
    /// replica claimed is skipped; a failed send is logged, and when no recipient got it the claim is given back.
    @discardableResult
    public func sendDue(at now: Instant) async throws -> Int {
        guard let mailer else { return 0 }
        var sent = 0
        for organizationID in try await store.organizationIDs() {
            guard let organization = try await store.organization(id: organizationID) else { continue }
            let channelIDs = try await store.weeklyDigestChannelIDs(organizationID: organizationID)
            guard !channelIDs.isEmpty else { continue }
            let zone = TimeZoneRules(identifier: organization.timeZone) ?? .utc
            let week = Self.dueWeek(at: now, zone: zone)
            let channels = try await store.alertChannels(organizationID: organizationID).filter {
                channelIDs.contains($0.id)
            }
            var content: DigestContent?
            for channel in channels {
                guard
                    try await store.claimWeeklyDigest(
                        organizationID: organizationID, channelID: channel.id, week: week, at: now)
                else { continue }
                if content == nil { content = try await self.content(organization, week: week, at: now) }
                guard let content else { continue }
                var delivered = 0
                for address in channel.targets {
                    do {
                        try await mailer.send(
                            MailMessage(
                                to: address, subject: content.subject, text: content.text, html: content.html))
                        sent += 1
                        delivered += 1
                    } catch {
                        logger.error(
                            "weekly digest not sent",
                            metadata: [
                                "organization": "\(organizationID)", "channel": "\(channel.id)",
                                // A category: the mailer's own text quotes the recipient and the server's reply.
                                "error":
                                    "\((error as? SMTPError).map(AlertSender.category) ?? "the mail could not be sent")",
                            ])
                    }
                }
                // Nobody got it: the claim is given back and a later check tries again (a partial send keeps it, so
                // the recipients who got it do not get it twice).
                if delivered == 0, !channel.targets.isEmpty {
                    try await store.releaseWeeklyDigest(
                        organizationID: organizationID, channelID: channel.id, week: week)
                }
            }
        }
        return sent
    }

    func content(_ organization: Organization, week: CivilDate, at now: Instant) async throws -> DigestContent {
        let since = (TimeZoneRules(identifier: organization.timeZone) ?? .utc).startOfDay(week.addingDays(-7))
        let fresh = try await store.insights(organizationID: organization.id, status: .new).filter {
            $0.firstSeen >= since
        }
        var forecast: ForecastAnswer?
        do {
            forecast = try await forecasts.forecast(ForecastRequest(organizationID: organization.id, now: now))
        } catch {
            logger.error(
                "weekly digest without forecast", metadata: ["organization": "\(organization.id)", "error": "\(error)"])
        }
        return DigestContent(
            organizationName: organization.name, week: week, insights: fresh, forecast: forecast,
            publicURL: publicURL)
    }
}

/// The digest's subject, plain text and HTML; every value from the organization's data is escaped in the HTML.
public struct DigestContent: Sendable {
    public var subject: String
    public var text: String
    public var html: String

    public init(
        organizationName: String, week: CivilDate, insights: [Insight], forecast: ForecastAnswer?, publicURL: String
    ) {
        let e = AlertText.html
        let base = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        subject = "[Tally] Weekly digest, week of \(week)"
        var lines = ["Tally weekly digest for \(organizationName), week of \(week)", ""]
        var html = "<!DOCTYPE html><html><body style=\"font-family:sans-serif;color:#1a1a1a\">"
        html += "<h2>Tally weekly digest for \(e(organizationName))</h2><p>Week of \(week)</p>"
        if let forecast {
            let band = forecast.periodEnd.band
            let sentence =
                "This month is forecast to end at \(InsightText.usd(band.p50)) (likely between \(InsightText.usd(band.p10)) and \(InsightText.usd(band.p90))) on \(forecast.periodEnd.day)."
            lines += ["Month-end forecast", sentence, ""]
            html += "<h3>Month-end forecast</h3><p>\(e(sentence))</p>"
        }
        lines.append(insights.isEmpty ? "No new insights this week." : "New insights (\(insights.count))")
        html += "<h3>New insights</h3>"
        if insights.isEmpty { html += "<p>No new insights this week.</p>" } else { html += "<ul>" }
        for i in insights {
            let savings = i.finding.estimatedMonthlySavings.map { " Estimated saving: \(InsightText.usd($0)) a month." }
            lines += [
                "", "- " + i.finding.title, "  " + i.finding.detail + (savings ?? ""),
                "  " + base + i.finding.explorerURL,
            ]
            html += "<li><p><strong>\(e(i.finding.title))</strong></p><p>\(e(i.finding.detail))\(e(savings ?? ""))</p>"
            html += "<p><a href=\"\(e(base + i.finding.explorerURL))\">See the usage behind it</a></p></li>"
        }
        if !insights.isEmpty { html += "</ul>" }
        lines += ["", "All insights: \(base)/insights", "", AlertMessage.estimateNote]
        html += "<p><a href=\"\(e(base + "/insights"))\">All insights</a></p>"
        html += "<p style=\"color:#666;font-size:smaller\">\(e(AlertMessage.estimateNote))</p></body></html>"
        text = lines.joined(separator: "\n") + "\n"
        self.html = html
    }
}
