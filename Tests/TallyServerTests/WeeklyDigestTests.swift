import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import TallyCore
import TallyForecast
import TallyMail
import TallyServer
import TallyServices
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// The weekly digest: the opt-in through the channel API, sent once per channel and week from Monday 08:00 in the
/// organization's time zone, with the new insights and the month-end forecast, hostile names escaped in the HTML.
@Suite struct WeeklyDigestTests {
    final class Outbox: Mailer {
        let sent = Mutex<[MailMessage]>([])
        func send(_ message: MailMessage) async throws { sent.withLock { $0.append(message) } }
        var messages: [MailMessage] { sent.withLock { $0 } }
    }

    struct DownMailer: Mailer {
        func send(_ message: MailMessage) async throws { throw TallyError.unavailable("the mail server is down") }
    }

    /// A month-end forecast of $1,234.50 (p10 $1,000, p90 $1,500) on 2026-11-30.
    struct FixedForecast: ForecastSource {
        func forecast(_ request: ForecastRequest) async throws -> ForecastAnswer {
            func usd(_ s: String) -> USD { USD(decimal: s)! }
            return ForecastAnswer(
                method: "test", history: [], forecast: [],
                periodEnd: (
                    CivilDate(year: 2026, month: 11, day: 30),
                    Quantiles(p1: usd("900"), p10: usd("1000"), p50: usd("1234.5"), p90: usd("1500"), p99: usd("1600"))
                ), budget: nil, backtest: Backtest(mase: nil, mape: nil, coverageP10P90: nil, days: 0))
        }
        func anomalies(_ request: AnomalyRequest) async throws -> [Anomaly] { [] }
    }

    @Test func dueWeekStartsMondayAtEightLocal() {
        let zone = TimeZoneRules(identifier: "America/New_York")!
        // Monday 2026-11-23 07:59 in New York (12:59 UTC): still the week of the 16th.
        #expect(
            WeeklyDigest<SQLiteStore>.dueWeek(at: at("2026-11-23T12:59:00Z"), zone: zone).description == "2026-11-16")
        #expect(
            WeeklyDigest<SQLiteStore>.dueWeek(at: at("2026-11-23T13:00:00Z"), zone: zone).description == "2026-11-23")
        #expect(
            WeeklyDigest<SQLiteStore>.dueWeek(at: at("2026-11-29T23:00:00Z"), zone: zone).description == "2026-11-23")
    }

    @Test func optInThroughTheAPIThenOneMailPerWeek() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let created = try await client.call(
                .post, "/api/v1/alert-channels", token: f.admin,
                body: #"{"name":"Finance","type":"email","to":["fin@example.com"],"weekly_digest":true}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json?["weekly_digest"] == .bool(true))
            let id = try #require(str(created.json?["id"]))
            for (body, status) in [
                (
                    #"{"name":"Hook","type":"webhook","url":"https://example.com/h","weekly_digest":true}"#,
                    HTTPResponse.Status.badRequest
                ),
                (#"{"name":"M","type":"email","to":["a@example.com"],"weekly_digest":"yes"}"#, .badRequest),
            ] {
                let reply = try await client.call(.post, "/api/v1/alert-channels", token: f.admin, body: body)
                #expect(reply.status == status && reply.text.contains("weekly_digest"), "\(reply.text)")
            }
            let off = try await client.call(
                .patch, "/api/v1/alert-channels/\(id)", token: f.admin, body: #"{"weekly_digest":false}"#)
            #expect(off.json?["weekly_digest"] == .bool(false))
            _ = try await client.call(
                .patch, "/api/v1/alert-channels/\(id)", token: f.admin, body: #"{"weekly_digest":true}"#)
            let list = try await client.call(.get, "/api/v1/alert-channels", token: f.admin)
            #expect(array(list.json?["data"]).first?["weekly_digest"] == .bool(true))
        }
        let org = "org_default"
        let now = at("2026-11-23T09:00:00Z")
        try await f.store.recordInsights(
            organizationID: org,
            findings: [
                Insight(
                    id: InsightEngine.id(organizationID: org, key: "error_spend"), organizationID: org,
                    finding: InsightFinding(
                        kind: .errorSpend, key: "error_spend", title: "$20.00 went to <script>failed</script> requests",
                        detail: "Feature <b>x</b> failed.", evidence: [], estimatedMonthlySavings: USD(decimal: "20"),
                        explorerURL: "/usage?status=error"),
                    status: .new, firstSeen: at("2026-11-22T00:00:00Z"), lastSeen: at("2026-11-22T00:00:00Z"))
            ], at: at("2026-11-22T00:00:00Z"))
        // A mail server that is down: nobody got the digest, so the week is not spent.
        let down = WeeklyDigest(
            store: f.store, forecasts: FixedForecast(), mailer: DownMailer(), publicURL: "https://tally.example.com",
            logger: Logger(label: "test"))
        #expect(try await down.sendDue(at: now) == 0)
        let outbox = Outbox()
        let digest = WeeklyDigest(
            store: f.store, forecasts: FixedForecast(), mailer: outbox, publicURL: "https://tally.example.com",
            logger: Logger(label: "test"))
        #expect(try await digest.sendDue(at: now) == 1)
        #expect(try await digest.sendDue(at: now) == 0, "once per channel and week")
        let mail = try #require(outbox.messages.first)
        #expect(mail.to == "fin@example.com")
        #expect(mail.subject == "[Tally] Weekly digest, week of 2026-11-23")
        #expect(
            mail.text.contains("This month is forecast to end at $1,234.50 (likely between $1,000.00 and $1,500.00)"))
        #expect(mail.text.contains("$20.00 went to <script>failed</script> requests"))
        #expect(mail.text.contains("https://tally.example.com/usage?status=error"))
        let html = try #require(mail.html)
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;failed&lt;/script&gt;"))
        #expect(!html.contains("<b>x</b>"))
        // The next week: another digest, without the insight (no longer new that week).
        #expect(try await digest.sendDue(at: at("2026-11-30T09:00:00Z")) == 1)
        #expect(outbox.messages.last?.text.contains("No new insights this week.") == true)
    }
}
