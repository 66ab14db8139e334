import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import Testing

@testable import TallyServices

/// `/api/v1/alerts*` and `/api/v1/alert-rules` through the router: who may do what, the dry run, paging, and refusals
/// naming the parameter; and TALLY_ALERT_INTERVAL.
@Suite struct AlertsAPITests {
    @Test func alertIntervalIsReadAndChecked() throws {
        #expect(try AppConfig.load(environment: [:], flags: [:]).alertIntervalSeconds == 60)
        #expect(try AppConfig.load(environment: ["TALLY_ALERT_INTERVAL": "30s"], flags: [:]).alertIntervalSeconds == 30)
        #expect(
            try AppConfig.load(environment: ["TALLY_ALERT_INTERVAL": "off"], flags: [:]).alertIntervalSeconds == nil)
        for wrong in ["0", "2d", "soon", "-5", "99999999999999999999999"] {
            #expect {
                try AppConfig.load(environment: ["TALLY_ALERT_INTERVAL": wrong], flags: [:])
            } throws: { error in
                (error as? AppConfig.Problem)?.lines == [
                    "TALLY_ALERT_INTERVAL must be a duration from 1s to 1d such as 30s, 1m or 60, or off (got \"\(wrong)\")"
                ]
            }
        }
    }

    /// One gpt-4o call of a million input tokens ($2.50) now: a spike of the organization and of project web.
    static let spend =
        #"[{"id":"big","timestamp":"\#(Instant.now.rfc3339)","provider":"openai","model":"gpt-4o","input_tokens":1000000,"output_tokens":0}]"#

    @Test func aDryRunRecordsNothingAndTheHistoryPages() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: Self.spend).status == .ok)
            let dry = try await client.call(.post, "/api/v1/alerts/check?dry_run=true", token: f.admin)
            #expect(dry.status == .ok, "\(dry.text)")
            #expect(dry.json?["dry_run"] == .bool(true))
            #expect(array(dry.json?["fired"]).map { str($0["type"]) } == ["spike", "spike"])
            let empty = try await client.call(.get, "/api/v1/alerts", token: f.admin)
            #expect(empty.text == #"{"data":[],"next_cursor":null}"#)

            let fired = try await client.call(.post, "/api/v1/alerts/check", token: f.admin)
            #expect(fired.json?["dry_run"] == .bool(false) && array(fired.json?["fired"]).count == 2)
            #expect(array(try await client.call(.post, "/api/v1/alerts/check", token: f.admin).json?["fired"]).isEmpty)

            let page1 = try await client.call(.get, "/api/v1/alerts?limit=1&type=spike", token: f.admin)
            let cursor = try #require(str(page1.json?["next_cursor"]))
            #expect(array(page1.json?["data"]).count == 1)
            let page2 = try await client.call(
                .get, "/api/v1/alerts?limit=1&type=spike&cursor=\(cursor)", token: f.admin)
            #expect(array(page2.json?["data"]).count == 1 && page2.json?["next_cursor"] == .null)
            let ids = (array(page1.json?["data"]) + array(page2.json?["data"])).compactMap { str($0["id"]) }
            #expect(Set(ids).count == 2)
            let project = try #require(
                (array(page1.json?["data"]) + array(page2.json?["data"])).first { $0["scope"]?["project"] != nil })
            #expect(array(project["scope"]?["project"]).map { str($0) } == ["web"])
            #expect(str(project["figures"]?["spent_usd"]) == "2.50")
            #expect(array(project["deliveries"]).isEmpty)

            let acknowledged = try await client.call(.post, "/api/v1/alerts/\(ids[0])/acknowledge", token: f.admin)
            #expect(acknowledged.status == .ok && str(acknowledged.json?["status"]) == "acknowledged")
            let open = try await client.call(.get, "/api/v1/alerts?status=open", token: f.admin)
            #expect(array(open.json?["data"]).compactMap { str($0["id"]) } == [ids[1]])
        }
    }

    @Test func whoMayDoWhat() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            // A project's token reads only its project: alerts are the organization's.
            for path in ["/api/v1/alerts", "/api/v1/alert-rules"] {
                #expect(try await client.call(.get, path, token: f.readOnly).status == .forbidden)
                #expect(try await client.call(.get, path, token: f.admin).status == .ok)
            }
            #expect(try await client.call(.post, "/api/v1/alerts/check", token: f.ingest).status == .forbidden)
            #expect(
                try await client.call(
                    .put, "/api/v1/alert-rules", token: f.ingest, body: #"{"spike":{"enabled":false}}"#
                )
                .status == .forbidden)
            #expect(
                try await client.call(.post, "/api/v1/alerts/al_nope/acknowledge", token: f.ingest).status == .forbidden
            )
            let missing = try await client.call(.post, "/api/v1/alerts/al_nope/acknowledge", token: f.admin)
            #expect(missing.status == .notFound && missing.errorCode == "not_found")
            #expect(try await client.call(.get, "/api/v1/alerts").status == .unauthorized)
        }
    }

    @Test func wrongParametersAreNamed() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            for (query, name) in [
                ("type=nonsense", "type"), ("status=closed", "status"), ("limit=0", "limit"), ("limit=201", "limit"),
                ("cursor=%3Cscript%3E", "cursor"), ("cursor=al_%00", "cursor"), ("from=yesterday", "from"),
                ("from=2026-11-02&to=2026-11-01", "to"), ("colour=red", "colour"),
            ] {
                let r = try await client.call(.get, "/api/v1/alerts?\(query)", token: f.admin)
                #expect(r.status == .badRequest, "\(query): \(r.text)")
                #expect(r.text.contains(name), "\(query): \(r.text)")
            }
            let dry = try await client.call(.post, "/api/v1/alerts/check?dry_run=maybe", token: f.admin)
            #expect(dry.status == .badRequest && dry.text.contains("dry_run"))
            let rules = try await client.call(
                .put, "/api/v1/alert-rules", token: f.admin, body: #"{"spike":{"threshold_percent":1e400}}"#)
            #expect(rules.status == .badRequest && rules.text.contains("spike.threshold_percent"), "\(rules.text)")
            let channel = try await client.call(
                .put, "/api/v1/alert-rules", token: f.admin, body: #"{"channels":["ch_elsewhere"]}"#)
            #expect(channel.status == .badRequest && channel.text.contains("not an alert channel"), "\(channel.text)")
            let saved = try await client.call(
                .put, "/api/v1/alert-rules", token: f.admin, body: #"{"spike":{"floor_usd":"5"}}"#)
            #expect(str(saved.json?["spike"]?["floor_usd"]) == "5.00")
            #expect(try await client.call(.get, "/api/v1/alert-rules", token: f.admin).text == saved.text)
        }
    }
}
