import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import Testing

@testable import TallyHTTP

/// The price entry's issue-16 fields through the API: accepted, refused by name, shown back, and priced.
@Suite struct PriceFormatAPITests {
    @Test func anOrganizationEntryWithTheNewFieldsRoundTripsAndPrices() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let entry =
                #"{"model":"team-model","from":"2026-01-01","prices":{"input":"2.00","cached_input":"0.50","output":"8.00"},"#
                + #""aliases":[{"name":"team-latest","from":"2026-06-01","to":"2026-07-01"}],"batch":"0.5","#
                + #""batch_prices":{"cached_input":"0.50"},"service_tier_multipliers":{"flex":"0.5"}}"#
            let created = try await client.call(.post, "/api/v1/prices", token: f.admin, body: entry)
            #expect(created.status == .created, "\(created.text)")
            let definition = created.json?["definition"]
            #expect(str(definition?["batch_prices"]?["cached_input"]) == "0.5")
            #expect(str(definition?["service_tier_multipliers"]?["flex"]) == "0.5")
            let alias = first(definition?["aliases"])
            #expect(str(alias?["name"]) == "team-latest" && str(alias?["to"]) == "2026-07-01")

            // The dated alias lists the entry on its days only.
            let june = try await client.call(
                .get, "/api/v1/prices?model=team-latest&at=2026-06-15", token: f.readOnly)
            #expect(array(june.json?["data"]).count == 1)
            let july = try await client.call(
                .get, "/api/v1/prices?model=team-latest&at=2026-07-01", token: f.readOnly)
            #expect(array(july.json?["data"]).count == 0)

            // flex ×0.5 and batch ×0.5 with cached input at its batch rate: 500000×2×0.25 = 0.25;
            // 500000×0.50 = 0.25; 1000×8×0.25 = 0.002.
            let quote = try await client.call(
                .post, "/api/v1/prices/quote", token: f.readOnly,
                body:
                    #"{"provider":"openai","model":"team-latest","timestamp":"2026-06-15T00:00:00Z","input_tokens":1000000,"cached_input_tokens":500000,"output_tokens":1000,"batch":true,"service_tier":"flex"}"#
            )
            #expect(str(quote.json?["cost_usd"]) == "0.502", "\(quote.text)")
            #expect(
                array(quote.json?["modifiers"]).compactMap { str($0) } == [
                    "service tier flex ×0.5", "batch ×0.5 except cached_input at its batch rate 0.5",
                ])
        }
    }

    @Test(arguments: [
        (#""fast":{"input":"1"}"#, "fast"),
        (
            #""service_tiers":{"flex":{"input":"1"}},"tiers":[{"above_input_tokens":1000,"prices":{"input":"2"}}]"#,
            "tiers[0].service_tiers"
        ),
        (#""aliases":[{"name":"x","from":"2026-02-01","to":"2026-01-01"}]"#, "aliases[0].to"),
    ])
    func aBadNewFieldIsA400NamingIt(_ extra: String, _ field: String) async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(
                .post, "/api/v1/prices", token: f.admin,
                body: #"{"model":"m","from":"2026-01-01","prices":{"input":"1"},\#(extra)}"#)
            #expect(r.status == .badRequest, "\(r.text)")
            #expect(str(first(r.json?["error"]?["details"])?["field"]) == field, "\(r.text)")
        }
    }

    @Test func aBuiltInEntryShowsItsLongContextServiceTiers() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(.get, "/api/v1/prices?model=gpt-5.4&at=2026-11-20", token: f.readOnly)
            let tier = first(first(r.json?["data"])?["definition"]?["tiers"])
            #expect(str(tier?["service_tiers"]?["priority"]?["input"]) == "10")
            #expect(str(tier?["batch_prices"]?["cached_input"]) == "0.25")
        }
    }
}
