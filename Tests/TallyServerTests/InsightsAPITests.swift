import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import TallyServices
import Testing

/// `/api/v1/insights*` and `/api/v1/insight-settings` through the router: computing, listing with the status filter,
/// dismissing, who may do what, refusals naming the field, and TALLY_INSIGHT_INTERVAL.
@Suite struct InsightsAPITests {
    @Test func insightIntervalIsReadAndChecked() throws {
        #expect(try AppConfig.load(environment: [:], flags: [:]).insightIntervalSeconds == 900)
        #expect(
            try AppConfig.load(environment: ["TALLY_INSIGHT_INTERVAL": "1h"], flags: [:]).insightIntervalSeconds == 3600
        )
        #expect(
            try AppConfig.load(environment: ["TALLY_INSIGHT_INTERVAL": "off"], flags: [:]).insightIntervalSeconds == nil
        )
        #expect(throws: AppConfig.Problem.self) {
            try AppConfig.load(environment: ["TALLY_INSIGHT_INTERVAL": "2d"], flags: [:])
        }
    }

    /// Failed o3 calls of a feature named with HTML, $1 each, on the 10 days before today.
    static var failures: String {
        let day: Int64 = 86_400_000_000
        let items = (2...11).map { n in
            let t = Instant(microseconds: Instant.now.microseconds - Int64(n) * day).rfc3339
            return
                #"{"id":"f\#(n)","timestamp":"\#(t)","provider":"openai","model":"gpt-4o","input_tokens":400000,"output_tokens":0,"status":"error","feature":"<script>x</script>"}"#
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    @Test func computeListDismiss() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let ingested = try await client.call(.post, "/api/v1/events", token: f.ingest, body: Self.failures)
            #expect(ingested.status == .ok, "\(ingested.text)")
            #expect(try await client.call(.get, "/api/v1/insights", token: f.admin).text == #"{"data":[]}"#)
            // A floor of $1 so the $10 of failures count; then compute now.
            let put = try await client.call(
                .put, "/api/v1/insight-settings", token: f.admin, body: #"{"floor_usd":"1"}"#)
            #expect(put.status == .ok && str(put.json?["floor_usd"]) == "1.00", "\(put.text)")
            let checked = try await client.call(.post, "/api/v1/insights/check", token: f.admin)
            #expect(checked.status == .ok, "\(checked.text)")
            let errors = try #require(array(checked.json?["data"]).first { str($0["kind"]) == "error_spend" })
            // 10 calls of 400k input tokens of gpt-4o at $2.50 per million: $1 each.
            #expect(str(errors["estimated_monthly_savings_usd"]) == "10.00")
            #expect(str(errors["evidence"]?["error_cost_usd"]) == "10.00")
            #expect(errors["evidence"]?["failed_requests"] == .number("10"))
            #expect(str(errors["status"]) == "new")
            #expect(str(errors["explorer_url"])?.hasPrefix("/usage?") == true)
            let id = try #require(str(errors["id"]))

            let dismissed = try await client.call(.post, "/api/v1/insights/\(id)/dismiss", token: f.admin)
            #expect(dismissed.status == .ok && str(dismissed.json?["status"]) == "dismissed")
            let open = try await client.call(.get, "/api/v1/insights?status=new", token: f.admin)
            #expect(!array(open.json?["data"]).contains { str($0["id"]) == id })
            let hidden = try await client.call(.get, "/api/v1/insights?status=dismissed", token: f.admin)
            #expect(array(hidden.json?["data"]).compactMap { str($0["id"]) } == [id])
            // Still dismissed after computing again.
            _ = try await client.call(.post, "/api/v1/insights/check", token: f.admin)
            let again = try await client.call(.get, "/api/v1/insights?status=dismissed", token: f.admin)
            #expect(array(again.json?["data"]).compactMap { str($0["id"]) } == [id])

            // Unknown, malformed (NUL) ids: 404; a bad status: 400 naming it.
            for bad in ["in_000000000000000000000000", "in_%00", "nope"] {
                #expect(
                    try await client.call(.post, "/api/v1/insights/\(bad)/dismiss", token: f.admin).status == .notFound)
            }
            let badStatus = try await client.call(.get, "/api/v1/insights?status=open", token: f.admin)
            #expect(badStatus.status == .badRequest && badStatus.text.contains("status"))
        }
    }

    @Test func whoMayDoWhatAndSettingsRefusals() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            for path in ["/api/v1/insights", "/api/v1/insight-settings"] {
                #expect(try await client.call(.get, path, token: f.readOnly).status == .forbidden)
                #expect(try await client.call(.get, path, token: f.admin).status == .ok)
            }
            #expect(try await client.call(.post, "/api/v1/insights/check", token: f.ingest).status == .forbidden)
            #expect(
                try await client.call(.put, "/api/v1/insight-settings", token: f.ingest, body: "{}").status
                    == .forbidden)
            let defaults = try await client.call(.get, "/api/v1/insight-settings", token: f.admin)
            #expect(defaults.json?["concentration_percent"] == .number("80"))
            #expect(defaults.json?["growth_percent"] == .number("50"))
            #expect(str(defaults.json?["floor_usd"]) == "10.00")
            for (body, field) in [
                (#"{"growth_percent":0}"#, "growth_percent"),
                (#"{"low_cache_share_percent":101}"#, "low_cache_share_percent"),
                (#"{"floor_usd":"1e3"}"#, "floor_usd"), (#"{"batch_features":"x"}"#, "batch_features"),
                (#"{"batch_features":["a\u0000b"]}"#, "batch_features"), (#"{"extra":1}"#, "extra"),
            ] {
                let reply = try await client.call(.put, "/api/v1/insight-settings", token: f.admin, body: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.text.contains("\"\(field)\""), "\(body): \(reply.text)")
            }
            #expect(
                try await client.call(.get, "/api/v1/insight-settings", token: f.admin).text == defaults.text,
                "a refused change changes nothing")
        }
    }
}
