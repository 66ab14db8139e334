import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TallyCore
import TallyStoreSQL
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServer
@testable import TallyServices
@testable import TallyWeb

/// The dashboard over HTTP: sign-in gate, figures equal to the API's, exports, live feed, roles, errors.
@Suite struct DashboardHTTPTests {
    /// The first `attribute="…"` after `marker` in the page.
    func attribute(_ name: String, after marker: String, in html: String) -> String? {
        guard let start = html.range(of: marker),
            let r = html.range(of: name + "=\"", range: start.upperBound..<html.endIndex)
        else { return nil }
        return String(html[r.upperBound...].prefix { $0 != "\"" })
    }

    func signedInOwner(_ f: AccountsFixture) async throws -> String {
        _ = try await f.member("ada@example.com", .owner)
        _ = try await f.store.createProject(organizationID: "org_default", name: "web")
        let (_, secret) = try await TokenSecret.issue(
            store: f.store, organizationID: "org_default", projectName: "web",
            scopes: [.admin], name: nil)
        return secret
    }

    func post(_ client: some TestClientProtocol, _ token: String, _ events: String) async throws {
        let reply = try await client.call(.post, "/api/v1/events", token: token, body: events)
        #expect(reply.status == .ok, "\(reply.text)")
    }

    /// Three events a few minutes back, but never before today's UTC midnight: the pages' "today" and "this cycle" must
    /// hold them at any hour (in the first minutes of a day they are squeezed between midnight and now).
    /// In microseconds, so they stay in order even in a day's first second (in whole seconds the three were equal
    /// then, and "newest first" became insertion order: seen with scripts/test-at-clock year-end).
    func events(now: Instant = .now) -> String {
        let sinceMidnight = now.microseconds % 86_400_000_000
        let t = { (minutes: Int64) in
            Instant(microseconds: now.microseconds - min(60_000_000 * minutes, sinceMidnight * minutes / 13)).rfc3339
        }
        return """
            [{"id":"a1","timestamp":"\(t(5))","provider":"openai","model":"gpt-4o-mini","feature":"chat","input_tokens":1200,"output_tokens":300},
             {"id":"a2","timestamp":"\(t(9))","provider":"anthropic","model":"claude-sonnet-4-5","feature":"search","input_tokens":5000,"output_tokens":700},
             {"id":"a3","timestamp":"\(t(12))","provider":"openai","model":"mystery-model","feature":"chat","input_tokens":10,"output_tokens":10,"status":"error"}]
            """
    }

    /// Posting `events()` and reading the pages back must happen on one UTC day: a test straddling midnight posted
    /// "today" and then read the next day's empty cards (seen with scripts/test-at-clock at 23:59:45). A test takes
    /// seconds, so in a day's last `margin` seconds this waits, watching the clock, until the next day has begun.
    func clearOfMidnight(margin: Int64 = 30) async throws {
        let next = (floorDiv(Instant.now.seconds, 86_400) + 1) * 86_400
        guard next - Instant.now.seconds <= margin else { return }
        while Instant.now.seconds < next { try await Task.sleep(for: .milliseconds(50)) }  // ends within `margin` s
    }

    @Test func signedOutPagesGoToSignInAndComeBack() async throws {
        let f = try await AccountsFixture.make()
        _ = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = Browser()
            #expect(try await client.send(.get, "/", browser: &b).headers[.location] == "/login")
            for path in ["/usage?group_by=feature", "/events", "/settings/tokens"] {
                let r = try await client.send(.get, path, browser: &b)
                #expect(r.status == .seeOther && r.headers[.location]?.hasPrefix("/login?next=") == true, "\(path)")
            }
            let usage = try await client.send(.get, "/usage?group_by=feature", browser: &b)
            #expect(usage.headers[.location] == "/login?next=/usage%3Fgroup_by%3Dfeature")
            let live = try await client.send(.get, "/events/live", browser: &b)
            #expect(live.status == .unauthorized)
        }
    }

    @Test func overviewFiguresEqualTheSummaryAPI() async throws {
        let f = try await AccountsFixture.make()
        let token = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            let empty = try await client.send(.get, "/", browser: &b)
            #expect(empty.status == .ok && empty.text.contains(#"id="getting-started""#))

            try await clearOfMidnight()
            try await post(client, token, events())
            let page = try await client.send(.get, "/", browser: &b)
            #expect(page.status == .ok && !page.text.contains("getting-started"))
            let from = try #require(attribute("data-from", after: #"id="cycle""#, in: page.text))
            let to = try #require(attribute("data-to", after: #"id="cycle""#, in: page.text))
            let summary = try await client.call(.get, "/api/v1/usage/summary?from=\(from)&to=\(to)", token: token)
            let totals = try #require(summary.json?["totals"])
            #expect(attribute("data-value", after: #"id="card-spend""#, in: page.text) == str(totals["cost_usd"]))
            #expect(attribute("data-value", after: #"id="card-requests""#, in: page.text) == "3")
            #expect(attribute("data-value", after: #"id="card-tokens""#, in: page.text) == "7220")
            #expect(attribute("data-value", after: #"id="card-error-rate""#, in: page.text) == "1")
            #expect(attribute("data-value", after: #"id="card-unpriced""#, in: page.text) == "1")
            // The top model is the most expensive one, with the API's own figure.
            let byModel = try await client.call(
                .get, "/api/v1/usage/summary?from=\(from)&to=\(to)&group_by=model", token: token)
            let sonnet = byModel.json?["groups"]?.arrayValue?.first { str($0["model"]) == "claude-sonnet-4-5" }
            #expect(
                attribute("data-value", after: #"<table id="top-models""#, in: page.text) == str(sonnet?["cost_usd"]))
        }
    }

    @Test func explorerExportsExactlyTheRowsTheAPIGroups() async throws {
        let f = try await AccountsFixture.make()
        let token = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            try await clearOfMidnight()
            try await post(client, token, events())
            let page = try await client.send(.get, "/usage?group_by=feature&grain=none&preset=today", browser: &b)
            #expect(page.status == .ok)
            #expect(
                page.text.contains(#"<td data-col="feature">chat</td>"#)
                    && page.text.contains(#"<td data-col="feature">search</td>"#))
            let csv = try await client.send(
                .get, "/usage/export?format=csv&group_by=feature&grain=none&preset=today", browser: &b)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(csv.headers[.contentDisposition]?.contains("attachment") == true)
            let lines = csv.text.split(separator: "\r\n").map(String.init)
            #expect(
                lines.first
                    == "feature,requests,input_tokens,output_tokens,cached_input_tokens,reasoning_tokens,errors,cost_usd,unpriced_requests"
            )
            let api = try await client.call(
                .get, "/api/v1/usage/summary?from=\(Instant.now.adding(seconds: -3600).rfc3339)&group_by=feature",
                token: token)
            let search = api.json?["groups"]?.arrayValue?.first { str($0["feature"]) == "search" }
            let row = lines.first { $0.hasPrefix("search,") }?.split(separator: ",", omittingEmptySubsequences: false)
            #expect(row.map { String($0[7]) } == str(search?["cost_usd"]))
            #expect(row.map { String($0[1]) } == "1")
            let json = try await client.send(
                .get, "/usage/export?format=json&group_by=feature&grain=none&preset=today", browser: &b)
            #expect(json.json?["rows"]?.arrayValue?.count == 2 && str(json.json?["group_by"]) == "feature")
        }
    }

    @Test func badExplorerInputNamesTheField() async throws {
        let f = try await AccountsFixture.make()
        _ = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            let page = try await client.send(.get, "/usage?preset=someday&group_by=colour", browser: &b)
            #expect(page.status == .badRequest)
            #expect(page.text.contains(#"data-error-for="preset" id="preset-error">is not a known range"#))
            #expect(page.text.contains(#"data-error-for="group_by" id="group_by-error">must be one of"#))
            let export = try await client.send(.get, "/usage/export?format=xml", browser: &b)
            #expect(export.status == .badRequest && export.errorCode == "invalid_request")
            let unknown = try await client.send(.get, "/settings/nothing", browser: &b)
            #expect(unknown.status == .notFound)
            let missing = try await client.send(.get, "/events/no-such-event", browser: &b)
            #expect(missing.status == .notFound && missing.text.contains(#"id="main-nav""#))
        }
    }

    @Test func eventPageShowsTheBreakdownTheAPIGives() async throws {
        let f = try await AccountsFixture.make()
        let token = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            try await post(client, token, events())
            let list = try await client.send(.get, "/events", browser: &b)
            let ids = list.text.components(separatedBy: "data-event-id=\"").dropFirst().map {
                String($0.prefix { $0 != "\"" })
            }
            #expect(ids == ["a1", "a2", "a3"], "newest first")
            let page = try await client.send(.get, "/events/a2", browser: &b)
            let api = try await client.call(.get, "/api/v1/events/a2", token: token)
            #expect(attribute("data-value", after: "<tfoot>", in: page.text) == str(api.json?["cost_usd"]))
            #expect(page.text.contains(#"id="price-date""#))
        }
    }

    @Test func liveStreamSendsEachNewEventOnce() async throws {
        var f = try await AccountsFixture.make()
        f.options.liveStreamSeconds = 3
        let token = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            try await post(
                client, token,
                #"[{"id":"old","timestamp":"\#(Instant.now.rfc3339)","provider":"openai","model":"gpt-4o","input_tokens":1}]"#
            )
            let poster = Task {
                try await Task.sleep(for: .milliseconds(1200))
                try await post(
                    client, token,
                    #"[{"id":"fresh","timestamp":"\#(Instant.now.rfc3339)","provider":"openai","model":"gpt-4o","input_tokens":1}]"#
                )
            }
            let stream = try await client.send(.get, "/events/live?provider=openai", browser: &b)
            try await poster.value
            #expect(stream.headers[.contentType] == "text/event-stream")
            #expect(
                stream.text.components(separatedBy: "data-event-id=\"fresh\"").count == 2, "\(stream.text.prefix(400))")
            #expect(!stream.text.contains("data-event-id=\"old\""), "only events stored after the page opened")
            #expect(stream.text.contains("event: usage\ndata: <tr"))
        }
    }

    @Test func viewersSeeNoManagementForms() async throws {
        let f = try await AccountsFixture.make()
        _ = try await signedInOwner(f)
        _ = try await f.member("vi@example.com", .viewer)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("vi@example.com")
            for (tab, form) in [
                ("providers", #"id="add-connection""#), ("projects", #"id="create-project""#),
                ("tokens", #"id="create-token""#),
                ("members", #"id="invite""#), ("prices", #"id="reprice""#), ("organization", "data-api=\"PATCH"),
            ] {
                let page = try await client.send(.get, "/settings/\(tab)", browser: &b)
                // Provider connections are for admins, as in the API (GET /api/v1/provider-connections).
                #expect(page.status == (tab == "providers" ? .forbidden : .ok), "\(tab)")
                #expect(!page.text.contains(form), "a viewer gets no \(form) form on \(tab)")
            }
            var owner = try await client.signIn("ada@example.com")
            let tokens = try await client.send(.get, "/settings/tokens", browser: &owner)
            #expect(tokens.text.contains(#"id="create-token""#) && tokens.text.contains(#"<meta name="csrf-token""#))
        }
    }

    @Test func billingCycleDayIsSettableAndValidated() async throws {
        let f = try await AccountsFixture.make()
        let token = try await signedInOwner(f)
        try await f.app().test(.router) { client in
            var b = try await client.signIn("ada@example.com")
            let bad = try await client.send(
                .patch, "/api/v1/organization", browser: &b, json: #"{"billing_cycle_day":31}"#)
            #expect(
                bad.status == .badRequest
                    && bad.json?["error"]?["details"]?.arrayValue?.first?["field"] == .string("billing_cycle_day"))
            let ok = try await client.send(
                .patch, "/api/v1/organization", browser: &b, json: #"{"billing_cycle_day":"15"}"#)
            #expect(ok.status == .ok && ok.json?["billing_cycle_day"] == .number("15"))
            try await clearOfMidnight()
            try await post(client, token, events())
            let page = try await client.send(.get, "/", browser: &b)
            let from = try #require(attribute("data-from", after: #"id="cycle""#, in: page.text))
            let expected = BillingCycle.containing(.now, startDay: 15, zone: .utc).range.from.rfc3339
            #expect(from == expected)
        }
    }

    @Test func assetsAreServedWithLongCaching() async throws {
        let f = try await AccountsFixture.make()
        try await f.app().test(.router) { client in
            var b = Browser()
            let css = try await client.send(.get, "/assets/tally.css", browser: &b)
            #expect(
                css.status == .ok && css.headers[.contentType]?.hasPrefix("text/css") == true
                    && css.text.contains("--accent"))
            #expect(css.headers[.cacheControl]?.contains("immutable") == true)
            let js = try await client.send(.get, "/assets/tally.js", browser: &b)
            #expect(js.status == .ok && js.text.contains("EventSource"))
        }
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
}
