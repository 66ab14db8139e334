import Foundation
import Hummingbird
import HummingbirdTesting
import TallyCore
import TallyServer
import TallyStoreSQL
import Testing

/// Issue 22's gaps in the ingest and summary APIs: aliases other clients send, `total_tokens`, the default timestamp,
/// `operation` and tags as summary dimensions; and the live route's plain-HTTP answers.
@Suite struct MoreWaysInAPITests {
    @Test func aliasesAndTheDefaultTimestamp() async throws {
        let f = try await Fixture.make()
        let org = try await f.store.defaultOrganization(timeZone: "UTC")
        let api = try #require(try await f.store.project(organizationID: org.id, name: "api"))
        try await f.app().test(.router) { client in
            let before = Instant.now
            // project_id by id and by name (an admin token may name another project); no timestamp: now.
            var r = try await client.call(
                .post, "/api/v1/events", token: f.admin,
                body: #"""
                    [{"id":"by-id","project_id":"\#(api.id)","provider":"openai","model":"gpt-4o","input_tokens":10,"output_tokens":5,"total_tokens":15},
                     {"id":"by-name","project_id":"api","request_timestamp":"2026-11-20T10:00:00Z","provider":"openai","model":"gpt-4o"}]
                    """#)
            #expect(r.status == .ok, "\(r.text)")
            r = try await client.call(.get, "/api/v1/events/by-id", token: f.admin)
            #expect(str(r.json?["project"]) == "api")
            let stamped = try #require(str(r.json?["timestamp"]).flatMap { Instant(rfc3339: $0) })
            #expect(stamped >= Instant(microseconds: before.microseconds / 1_000_000 * 1_000_000))
            #expect(stamped <= Instant.now)
            r = try await client.call(.get, "/api/v1/events/by-name", token: f.admin)
            #expect(str(r.json?["project"]) == "api" && str(r.json?["timestamp"]) == "2026-11-20T10:00:00Z")
            // A project token may use its own project's id, and no other.
            let web = try #require(try await f.store.project(organizationID: org.id, name: "web"))
            r = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: #"{"project_id":"\#(web.id)","provider":"openai","model":"gpt-4o"}"#)
            #expect(r.status == .ok, "\(r.text)")
            r = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: #"{"project_id":"\#(api.id)","provider":"openai","model":"gpt-4o"}"#)
            #expect(r.status == .badRequest && r.text.contains("project"))
            // total_tokens must add up; the error names it and nothing is stored.
            r = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body:
                    #"[{"id":"ok-1","provider":"openai","model":"gpt-4o"},{"id":"bad-total","provider":"openai","model":"gpt-4o","input_tokens":10,"output_tokens":5,"total_tokens":16}]"#
            )
            #expect(r.status == .badRequest && r.text.contains("total_tokens"))
            #expect(try await client.call(.get, "/api/v1/events/ok-1", token: f.ingest).status == .notFound)
        }
    }

    @Test func operationAndTagsAreSummaryDimensions() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r0 = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "["
                    + [
                        event("a", extra: #","operation":"chat","tags":{"team":"red"}"#),
                        event("b", extra: #","operation":"embedding","tags":{"team":"red"}"#),
                        event("c", extra: #","operation":"chat","tags":{"team":"blue","region":"eu"}"#),
                        event("d", extra: #","operation":"chat""#),
                    ].joined(separator: ",") + "]")
            #expect(r0.status == .ok, "\(r0.text)")
            let range = "from=2026-11-20&to=2026-11-21"
            var r = try await client.call(
                .get, "/api/v1/usage/summary?\(range)&group_by=operation,tag:team", token: f.ingest)
            #expect(r.status == .ok, "\(r.text)")
            let groups = Set(
                array(r.json?["groups"]).map {
                    "\(str($0["operation"]) ?? "-")/\(str($0["tag:team"]) ?? "none")/\(int($0["requests"]) ?? 0)"
                })
            #expect(groups == ["chat/red/1", "embedding/red/1", "chat/blue/1", "chat/none/1"])
            r = try await client.call(
                .get, "/api/v1/usage/summary?\(range)&group_by=tag:region&operation=chat", token: f.ingest)
            let regions = Set(
                array(r.json?["groups"]).map { "\(str($0["tag:region"]) ?? "none")/\(int($0["requests"]) ?? 0)" })
            #expect(regions == ["eu/1", "none/2"])
            for bad in ["tag:", "tag:a%20b", "tag:%22x%22", "tag:" + String(repeating: "k", count: 65)] {
                r = try await client.call(.get, "/api/v1/usage/summary?group_by=\(bad)", token: f.ingest)
                #expect(r.status == .badRequest && r.text.contains("group_by"), "\(bad)")
            }
            r = try await client.call(
                .get, "/api/v1/usage/summary?group_by=tag:team&ledger=provider", token: f.admin)
            #expect(r.status == .badRequest)
        }
    }

    @Test func theLiveRouteSaysWhyWithoutAnUpgrade() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            #expect(try await client.call(.get, "/api/v1/live").status == .unauthorized)
            let r = try await client.call(.get, "/api/v1/live", token: f.readOnly)
            #expect(r.status == .upgradeRequired && r.errorCode == "websocket_required")
        }
    }
}
