import Foundation
import TallyCore
import Testing

@testable import TallyServices

/// What each channel's message says: the figures, the period in the organization's days, the explorer link, the
/// estimate note; names from the organization's data escaped or kept inert.
@Suite struct AlertMessageTests {
    static let hostile = "<script>alert(1)</script> & \"Search\" @everyone"

    static func message(type: AlertType = .budgetThreshold, scope: BudgetScope? = nil) -> AlertMessage {
        let alert = Alert(
            id: "al_1", organizationID: "org_1", type: type, dedupeKey: "k",
            firedAt: Instant(rfc3339: "2026-12-31T23:30:00Z")!, budgetID: type == .budgetThreshold ? "bud_1" : nil,
            rule: type == .budgetThreshold ? nil : type.rawValue,
            scope: scope ?? [.project: ["prj_1"], .model: ["gpt-4o", "o3&x=1"]],
            figures: AlertFigures(
                // December in New York: 05:00Z on the 1st to 05:00Z on January 1st.
                periodStart: Instant(rfc3339: "2026-12-01T05:00:00Z")!,
                periodEnd: Instant(rfc3339: "2027-01-01T05:00:00Z")!, spent: USD(decimal: "226.1"),
                amount: USD(decimal: "250"), percent: "90.44", threshold: 90,
                summary: "Budget '\(hostile)' passed 90% of $250.00"))
        let org = Organization(
            id: "org_1", name: "Acme <b>", timeZone: "America/New_York", createdAt: Instant(seconds: 0))
        return AlertMessage(
            alert: alert, organization: org, budgetName: hostile, projectNames: ["prj_1": "web app"],
            publicURL: "https://tally.example.com/")
    }

    @Test func periodScopeAndExplorerLinkAreInTheOrganizationsTerms() {
        let m = Self.message()
        #expect(m.firstDay == CivilDate(year: 2026, month: 12, day: 1))
        #expect(m.lastDay == CivilDate(year: 2026, month: 12, day: 31))
        #expect(
            m.explorerURL
                == "https://tally.example.com/usage?preset=custom&from=2026-12-01&to=2026-12-31&model=gpt-4o,o3%26x%3D1&project=web%20app"
        )
        #expect(m.scope.map(\.dimension) == ["model", "project"])
    }

    @Test func theWebhookBodyHasExactlyTheDocumentedFields() throws {
        let body = AlertWebhookPayload.body(Self.message())
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as! [String: Any]
        #expect(
            Set(json.keys) == [
                "id", "type", "organization", "budget", "period", "spent_usd", "amount_usd", "percent", "threshold",
                "occurred_at", "url",
            ])
        #expect(json["spent_usd"] as? String == "226.10" && json["amount_usd"] as? String == "250.00")
        #expect(json["percent"] as? String == "90.44" && json["threshold"] as? Int == 90)
        #expect((json["budget"] as? [String: String]) == ["id": "bud_1", "name": Self.hostile])
        #expect((json["organization"] as? [String: String]) == ["id": "org_1", "name": "Acme <b>"])
        #expect(
            (json["period"] as? [String: String])
                == ["start": "2026-12-01T05:00:00Z", "end": "2027-01-01T05:00:00Z"])
        #expect(json["occurred_at"] as? String == "2026-12-31T23:30:00Z")

        let spike = AlertWebhookPayload.body(Self.message(type: .spike, scope: [:]))
        let spikeJSON = try JSONSerialization.jsonObject(with: Data(spike.utf8)) as! [String: Any]
        #expect(spikeJSON["rule"] as? String == "spike" && spikeJSON["budget"] == nil)
    }

    /// The signature is the documented HMAC: this vector was computed with Python's hmac module.
    @Test func theSignatureIsHMACSHA256OfTimeDotBody() {
        let header = AlertWebhookPayload.signature(
            secret: "whsec_test", body: #"{"id":"al_1"}"#, at: Instant(seconds: 1_764_669_600))
        #expect(header == "t=1764669600,v1=c836d3e7cd92f5a547f1c3041697ed3f0c9f13881029b086fa3e5487880ba56d")
    }

    @Test func theMailCarriesFiguresBarLinkAndNoteWithNamesEscaped() {
        let m = Self.message()
        let text = AlertEmail.text(m), html = AlertEmail.html(m)
        for part in [text, html] {
            #expect(part.contains("$226.10") && part.contains("$250.00") && part.contains("90.44%"))
            #expect(part.contains("2026-12-01 to 2026-12-31"))
            #expect(part.contains("Costs are estimates"))
        }
        #expect(text.contains("[#########-] 90%"))
        #expect(text.contains(m.explorerURL))
        #expect(html.contains("href=\"https://tally.example.com/usage?preset=custom&amp;from=2026-12-01"))
        #expect(
            !html.contains("<script>")
                && html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Search&quot;"))
        #expect(!html.contains("Acme <b>") && html.contains("Acme &lt;b&gt;"))
        #expect(html.contains("width=\"90%\""))
        #expect(!AlertEmail.subject(m).contains("\n"))
    }

    @Test func slackIsBlockKitAndDiscordAnEmbedThatMentionsNobody() throws {
        let m = Self.message()
        let slack = try JSONSerialization.jsonObject(with: Data(SlackMessage.body(m).utf8)) as! [String: Any]
        let blocks = slack["blocks"] as! [[String: Any]]
        #expect(blocks.map { $0["type"] as! String } == ["header", "section", "section", "context", "actions"])
        #expect(((blocks[2]["fields"] as! [[String: Any]]).first?["type"] as? String) == "plain_text")
        let button = (blocks[4]["elements"] as! [[String: Any]])[0]
        #expect(button["type"] as? String == "button" && button["url"] as? String == m.explorerURL)

        let discord = try JSONSerialization.jsonObject(with: Data(DiscordMessage.body(m).utf8)) as! [String: Any]
        #expect((discord["allowed_mentions"] as? [String: [String]]) == ["parse": []])
        let embed = (discord["embeds"] as! [[String: Any]])[0]
        #expect(embed["url"] as? String == m.explorerURL)
        #expect((embed["fields"] as! [[String: Any]]).contains { $0["value"] as? String == "$226.10" })
        #expect((embed["footer"] as? [String: String])?["text"]?.contains("estimates") == true)
    }

    /// A spike on a feature named like markup: Slack's mrkdwn fallback gets entities, Discord's markdown backslashes.
    @Test func ingestedNamesCannotPingOrLinkInSlackOrDiscord() throws {
        let name = "<!channel> <https://evil.example|x> [y](https://evil.example) **z**"
        let alert = Alert(
            id: "al_1", organizationID: "org_1", type: .spike, dedupeKey: "k", firedAt: Instant(seconds: 0),
            rule: "spike", scope: [.feature: [name]],
            figures: AlertFigures(
                spent: USD(decimal: "12.5"), amount: USD(decimal: "4"), percent: "312.50", threshold: 100,
                summary: "Spend on feature \(name) today is 312.50% of its 7-day daily average"))
        let org = Organization(id: "org_1", name: "Acme", timeZone: "UTC", createdAt: Instant(seconds: 0))
        let m = AlertMessage(
            alert: alert, organization: org, budgetName: nil, projectNames: [:], publicURL: "https://t.example")

        let slack = try JSONSerialization.jsonObject(with: Data(SlackMessage.body(m).utf8)) as! [String: Any]
        let text = try #require(slack["text"] as? String)
        #expect(text.contains("&lt;!channel&gt; &lt;https://evil.example|x&gt;"))
        #expect(!text.contains("<") && !text.contains(">"))

        let discord = try JSONSerialization.jsonObject(with: Data(DiscordMessage.body(m).utf8)) as! [String: Any]
        let embed = (discord["embeds"] as! [[String: Any]])[0]
        let description = try #require(embed["description"] as? String)
        #expect(description.contains(#"\[y\]\(https://evil.example\) \*\*z\*\*"#))
        #expect(!description.contains("[y](") && !description.contains(" **z"))
        #expect(DiscordMessage.escaped(#"a\_b"#) == #"a\\\_b"#)
    }

    @Test func retriesBackOffAndStopAfterADay() {
        let policy = AlertRetryPolicy(baseSeconds: 30, capSeconds: 3600, giveUpSeconds: 86_400)
        #expect(policy.delay(afterAttempts: 1, jitter: 1) == 30)
        #expect(policy.delay(afterAttempts: 2, jitter: 1) == 60)
        #expect(policy.delay(afterAttempts: 5, jitter: 1) == 480)
        #expect(policy.delay(afterAttempts: 40, jitter: 1) == 3600)
        #expect(policy.delay(afterAttempts: 3, jitter: 1.2) == 144)

        let fired = Instant(rfc3339: "2026-12-01T00:00:00Z")!
        let d = AlertDelivery(
            id: "dl_1", organizationID: "org_1", alertID: "al_1", channelID: "ch_1", nextAttemptAt: fired,
            createdAt: fired)
        let soon = policy.finished(d, .retry(status: 503, error: "HTTP 503"), firedAt: fired, at: fired)
        #expect(soon.status == .pending && soon.attempts == 1 && soon.lastError == "HTTP 503")
        #expect(soon.nextAttemptAt > fired)
        let late = policy.finished(
            d, .retry(status: 503, error: "HTTP 503"), firedAt: fired, at: fired.adding(seconds: 86_390))
        #expect(late.status == .failed && late.lastError?.hasPrefix("gave up after 24 hours") == true)
        let asked = policy.finished(
            d, .retry(status: 429, error: "HTTP 429", after: 600), firedAt: fired, at: fired)
        #expect(asked.status == .pending && asked.nextAttemptAt == fired.adding(seconds: 600))
        let greedy = policy.finished(
            d, .retry(status: 429, error: "HTTP 429", after: 999_999), firedAt: fired, at: fired)
        #expect(greedy.nextAttemptAt == fired.adding(seconds: 3600))
        let refused = policy.finished(d, .failed(status: 404, error: "HTTP 404"), firedAt: fired, at: fired)
        #expect(refused.status == .failed && refused.attempts == 1)
        let done = policy.finished(d, .delivered(status: 200), firedAt: fired, at: fired)
        #expect(done.status == .delivered && done.deliveredAt == fired && done.lastError == nil)
    }

    @Test func channelFieldsAreCheckedByName() {
        #expect(throws: TallyError.self) {
            try AlertChannelRules.recipients(["ok@example.com", "a@b.c\r\nBcc: x@y.z"])
        }
        do {
            _ = try AlertChannelRules.recipients(["ok@example.com", "a@b.c\nBcc: x@y.z"])
        } catch let TallyError.invalid(problems) {
            #expect(problems.map(\.field) == ["to"] && problems[0].reason.hasPrefix("entry 2 "))
        } catch { Issue.record("\(error)") }
        #expect(throws: TallyError.self) { try AlertChannelRules.recipients([]) }
        #expect(throws: TallyError.self) { try AlertChannelRules.recipients(Array(repeating: "a@b.co", count: 21)) }
        #expect((try? AlertChannelRules.recipients([" a@b.co ", "a@b.co"])) == ["a@b.co"])
        for bad in [
            "ftp://x.example/", "javascript:alert(1)", "https://user:pw@x.example/", "https:///x", "http://x .y/",
        ] {
            #expect(throws: TallyError.self, "\(bad)") { try AlertChannelRules.url(bad, field: "url") }
        }
        #expect((try? AlertChannelRules.url("https://hooks.example.com/a?b=c", field: "url")) != nil)
        #expect(throws: TallyError.self) { try AlertChannelRules.secret("with\u{0}nul") }
        #expect(AlertChannelRules.mask("https://hooks.slack.com/services/T0/B0/XXXX") == "https://hooks.slack.com/…")
    }

    @Test func aChannelSecretOpensOnlyForItsChannel() throws {
        let vault = Vault(master: MasterKey.generate())
        let sealed = try vault.sealChannelSecret(
            "https://hooks.slack.com/services/T/B/S", organizationID: "org_1", channelID: "ch_1")
        #expect(!sealed.contains("hooks.slack.com"))
        #expect(try vault.openChannelSecret(sealed, organizationID: "org_1", channelID: "ch_1").hasSuffix("/T/B/S"))
        #expect(throws: Vault.Failure.self) {
            try vault.openChannelSecret(sealed, organizationID: "org_1", channelID: "ch_2")
        }
        #expect(throws: Vault.Failure.self) {
            try vault.openChannelSecret(sealed, organizationID: "org_2", channelID: "ch_1")
        }
    }
}
