import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices
@testable import TallyWeb

@Suite struct PricesAPITests {
    @Test func quoteExplainsTheCostLineByLineAndStoresNothing() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let body =
                #"{"provider":"anthropic","model":"claude-sonnet-4-5-20250929","timestamp":"2026-11-20T10:00:00Z","input_tokens":100000,"cached_input_tokens":50000,"cache_write_input_tokens":30000,"cache_write_1h_input_tokens":10000,"output_tokens":2000}"#
            let r = try await client.call(.post, "/api/v1/prices/quote", token: f.readOnly, body: body)
            #expect(r.status == .ok, "\(r.text)")
            let j = try #require(r.json)
            // 20000×3 + 50000×0.30 + 20000×3.75 + 10000×6 + 2000×15 (per 1M) = 0.06 + 0.015 + 0.075 + 0.06 + 0.03
            #expect(str(j["cost_usd"]) == "0.24")
            #expect(str(j["model_resolved"]) == "claude-sonnet-4-5")
            #expect(str(j["price_id"])?.isEmpty == false)
            #expect(j["estimate"] == .bool(true))
            let lines = array(j["lines"])
            #expect(
                lines.map { str($0["token_class"]) } == [
                    "input", "cached_input", "cache_write_5m", "cache_write_1h", "output",
                ])
            let cached = try #require(lines.first { str($0["token_class"]) == "cached_input" })
            #expect(
                int(cached["tokens"]) == 50000 && str(cached["usd_per_million"]) == "0.3"
                    && str(cached["cost_usd"]) == "0.015")
            let events = try await client.call(.get, "/api/v1/events", token: f.readOnly)
            let stored = array(events.json?["data"])
            #expect(stored.isEmpty)
        }
    }

    @Test func quoteOfAnUnknownModelIsNullNotZero() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(
                .post, "/api/v1/prices/quote", token: f.readOnly,
                body: #"{"provider":"acme","model":"acme-large","input_tokens":10}"#)
            #expect(r.status == .ok)
            #expect(r.json?["cost_usd"] == .null)
            #expect(str(r.json?["reason"])?.contains("acme-large") == true)
            let bad = try await client.call(
                .post, "/api/v1/prices/quote", token: f.readOnly,
                body: #"{"provider":"openai","model":"gpt-4o","input_tokens":-1}"#)
            #expect(bad.status == .badRequest && str(first(bad.json?["error"]?["details"])?["field"]) == "input_tokens")
        }
    }

    @Test func ingestedEventsArePricedAndExplainedAndUnpricedOnesListed() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let body =
                "[" + event("a", extra: #","provider_cost_usd":"0.004""#) + "," + event("b", model: "mystery-model")
                + "]"
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: body).status == .ok)
            let shown = try await client.call(.get, "/api/v1/events/a", token: f.readOnly)
            let j = try #require(shown.json)
            // gpt-4o: 900×2.50 + 100×1.25 + 200×10 (per 1M) = 0.00225 + 0.000125 + 0.002
            #expect(str(j["cost_usd"]) == "0.004375")
            #expect(str(j["cost_difference_usd"]) == "0.000375")
            #expect(str(j["cost_breakdown"]?["cost_usd"]) == "0.004375")
            #expect(array(j["cost_breakdown"]?["lines"]).count == 3)
            let unknown = try await client.call(.get, "/api/v1/events/b", token: f.readOnly)
            #expect(unknown.json?["cost_usd"] == .null && unknown.json?["cost_breakdown"] == .null)

            let unpriced = try await client.call(.get, "/api/v1/prices/unpriced", token: f.readOnly)
            let row = try #require(first(unpriced.json?["data"]))
            #expect(
                str(row["model"]) == "mystery-model" && int(row["requests"]) == 1 && int(row["input_tokens"]) == 1000)
            #expect(str(row["first_seen"]) == "2026-11-20T10:15:00Z")

            let summary = try await client.call(
                .get, "/api/v1/usage/summary?from=2026-11-20&to=2026-11-21", token: f.readOnly)
            #expect(str(summary.json?["totals"]?["cost_usd"]) == "0.004375")
            #expect(int(summary.json?["totals"]?["unpriced_requests"]) == 1)
        }
    }

    @Test func organizationPricesOverrideFromTheirDateAndRecomputeAppliesOnPurpose() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let body =
                "[" + event("old", "2026-11-09T12:00:00Z") + "," + event("new", "2026-11-12T12:00:00Z") + ","
                + event("m", "2026-11-12T12:00:00Z", model: "mystery-model") + "]"
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: body).status == .ok)

            let entry =
                #"{"model":"gpt-4o","from":"2026-11-10","prices":{"input":"2.00","cached_input":"1.00","output":"8.00"},"note":"negotiated"}"#
            #expect(try await client.call(.post, "/api/v1/prices", token: f.readOnly, body: entry).status == .forbidden)
            let bad = try await client.call(
                .post, "/api/v1/prices", token: f.admin,
                body: #"{"model":"x","from":"2026-11-10","prices":{"input":"cheap"}}"#)
            #expect(bad.status == .badRequest && str(first(bad.json?["error"]?["details"])?["field"]) == "prices.input")
            let created = try await client.call(.post, "/api/v1/prices", token: f.admin, body: entry)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(str(created.json?["id"]))
            let mystery = #"{"model":"mystery-model","from":"2026-01-01","prices":{"input":"1","output":"1"}}"#
            #expect(try await client.call(.post, "/api/v1/prices", token: f.admin, body: mystery).status == .created)

            let listed = try await client.call(.get, "/api/v1/prices?model=gpt-4o&at=2026-11-12", token: f.readOnly)
            #expect(array(listed.json?["data"]).contains { str($0["id"]) == id })

            // Stored costs do not move by themselves.
            #expect(
                str(try await client.call(.get, "/api/v1/events/new", token: f.readOnly).json?["cost_usd"])
                    == "0.004375")

            let window = #""from":"2026-11-01","to":"2026-11-30""#
            let dry = try await client.call(
                .post, "/api/v1/prices/recompute", token: f.admin, body: "{\(window),\"dry_run\":true}")
            #expect(dry.status == .ok, "\(dry.text)")
            // new: 900×2 + 100×1 + 200×8 = 0.0018 + 0.0001 + 0.0016 = 0.0035; mystery: 1000×1 + 200×1 = 0.0012
            #expect(int(dry.json?["events"]) == 3 && int(dry.json?["changed"]) == 2)
            #expect(str(dry.json?["cost_before"]) == "0.00875" && str(dry.json?["cost_after"]) == "0.009075")
            #expect(array(dry.json?["by_model"]).count == 2)
            #expect(
                str(try await client.call(.get, "/api/v1/events/new", token: f.readOnly).json?["cost_usd"])
                    == "0.004375")

            let applied = try await client.call(.post, "/api/v1/prices/recompute", token: f.admin, body: "{\(window)}")
            #expect(applied.json?["applied"] == .bool(true))
            #expect(
                str(try await client.call(.get, "/api/v1/events/new", token: f.readOnly).json?["cost_usd"]) == "0.0035")
            #expect(
                str(try await client.call(.get, "/api/v1/events/old", token: f.readOnly).json?["cost_usd"])
                    == "0.004375")
            let summary = try await client.call(
                .get, "/api/v1/usage/summary?from=2026-11-01&to=2026-11-30", token: f.readOnly)
            #expect(str(summary.json?["totals"]?["cost_usd"]) == "0.009075")
            #expect(int(summary.json?["totals"]?["unpriced_requests"]) == 0)
            let again = try await client.call(
                .post, "/api/v1/prices/recompute", token: f.admin, body: "{\(window),\"dry_run\":true}")
            #expect(int(again.json?["changed"]) == 0)

            // Ending the entry: events after the end date go back to the list price on the next recompute.
            #expect(
                try await client.call(.delete, "/api/v1/prices/\(id)?on=2026-11-11", token: f.admin).status
                    == .noContent)
            let after = try await client.call(
                .post, "/api/v1/prices/recompute", token: f.admin, body: "{\(window),\"dry_run\":true}")
            #expect(int(after.json?["changed"]) == 1)
            #expect(try await client.call(.delete, "/api/v1/prices/price_nope", token: f.admin).status == .notFound)
            let missing = try await client.call(
                .post, "/api/v1/prices/recompute", token: f.admin, body: #"{"to":"2026-11-30"}"#)
            #expect(missing.status == .badRequest && str(first(missing.json?["error"]?["details"])?["field"]) == "from")
        }
    }
}
