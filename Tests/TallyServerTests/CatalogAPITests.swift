import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import TallyCore
import TallyPrice
import TallyServer
import TallyStoreSQL
import Testing

@testable import TallyServices

/// `GET`/`POST /api/v1/prices/catalog`: the catalog in force; a newer file previewed (diff, impact) and applied by the
/// instance's own organization only; bad files 400 naming the entry and field; older ones 409.
@Suite struct CatalogAPITests {
    /// The built-in file with a later revision, gpt-4o's input rate at $5 and one model it does not know.
    static func newer(revision: String = "2026-12-03T13:00:00Z", acmeInput: String = "1") -> String {
        guard case .object(var root) = try! JSONParser.parse(Array(CatalogFileText.builtIn.utf8)),
            let at = root.firstIndex(where: { $0.0 == "entries" }), case .array(var entries) = root[at].1
        else { fatalError("the built-in catalog has no entries") }
        root[root.firstIndex { $0.0 == "revision" }!].1 = .string(revision)
        let gpt4o = entries.firstIndex { $0["id"] == .string("openai:gpt-4o:2024-10-02") }!
        entries[gpt4o] = setting(entries[gpt4o], "prices", "input", to: .string("5.00"))
        entries.append(
            .object([
                ("id", .string("openai:acme-9:2026-01-01")), ("provider", .string("openai")),
                ("model", .string("acme-9")), ("from", .string("2026-01-01")),
                ("source", .string("https://example.com")),
                ("prices", .object([("input", .string(acmeInput)), ("output", .string("1"))])),
            ]))
        root[at].1 = .array(entries)
        return JSONWriter.encode(.object(root))
    }

    static func setting(_ value: JSONValue, _ key: String, _ inner: String, to new: JSONValue) -> JSONValue {
        guard case .object(var members) = value, let i = members.firstIndex(where: { $0.0 == key }),
            case .object(var set) = members[i].1, let j = set.firstIndex(where: { $0.0 == inner })
        else { fatalError("no \(key).\(inner)") }
        set[j].1 = new
        members[i].1 = .object(set)
        return .object(members)
    }

    @Test func previewThenApplyThenPriceWithIt() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let shown = try await client.call(.get, "/api/v1/prices/catalog", token: f.readOnly)
            #expect(shown.status == .ok)
            #expect(str(shown.json?["revision"]) == "2026-12-03T12:00:00Z" && str(shown.json?["source"]) == "built-in")
            #expect(shown.json?["applied_at"] == .null && !array(shown.json?["entries"]).isEmpty)

            let body = "[" + event("a") + "," + event("b", model: "acme-9") + "]"
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: body).status == .ok)

            let preview = try await client.call(.post, "/api/v1/prices/catalog", token: f.admin, body: Self.newer())
            #expect(preview.status == .ok, "\(preview.text)")
            let p = try #require(preview.json)
            #expect(
                str(p["revision"]) == "2026-12-03T13:00:00Z" && str(p["current_revision"]) == "2026-12-03T12:00:00Z")
            #expect(p["applied"] == .bool(false))
            #expect(array(p["added"]).map { str($0["entry"]) } == ["openai:acme-9:2026-01-01"])
            #expect(
                array(p["changed"]).map { [str($0["entry"]), str($0["cell"]), str($0["old"]), str($0["new"])] } == [
                    ["openai:gpt-4o:2024-10-02", "prices.input", "2.50", "5.00"]
                ])
            #expect(array(p["ended"]).isEmpty)
            // Event a (gpt-4o) costs more, event b (acme-9) gets a price: two events a recompute would change.
            #expect(int(p["recompute_impact"]?["events"]) == 2)
            #expect(
                array(p["recompute_impact"]?["by_model"]).map {
                    [str($0["model"]), int($0["events"]).map(String.init)]
                }
                    == [["acme-9", "1"], ["gpt-4o", "1"]])

            let applied = try await client.call(
                .post, "/api/v1/prices/catalog?apply=true", token: f.admin, body: Self.newer())
            #expect(applied.status == .ok, "\(applied.text)")
            #expect(applied.json?["applied"] == .bool(true))
            let now = try await client.call(.get, "/api/v1/prices/catalog", token: f.readOnly)
            #expect(str(now.json?["revision"]) == "2026-12-03T13:00:00Z" && str(now.json?["source"]) == "stored")
            #expect(
                str(now.json?["applied_at"]) != nil
                    && array(now.json?["entries"]).count == CatalogDocument.builtIn.entries.count + 1)

            // Stored costs stay until re-priced; a new event is priced with the new rates at once:
            // 900 × 5.00 + 100 × 1.25 + 200 × 10 per 1M = 0.0045 + 0.000125 + 0.002.
            let old = try await client.call(.get, "/api/v1/events/a", token: f.readOnly)
            #expect(str(old.json?["cost_usd"]) == "0.004375")
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: event("c")).status == .ok)
            let new = try await client.call(.get, "/api/v1/events/c", token: f.readOnly)
            #expect(str(new.json?["cost_usd"]) == "0.006625")

            let readiness = try await client.call(.get, "/readyz")
            #expect(str(readiness.json?["details"]?["price_catalog"]?["revision"]) == "2026-12-03T13:00:00Z")
        }
    }

    @Test func badOlderAndForbiddenFiles() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let malformed = Self.newer(acmeInput: "cheap")
            let bad = try await client.call(.post, "/api/v1/prices/catalog", token: f.admin, body: malformed)
            #expect(bad.status == .badRequest && bad.errorCode == "invalid_request")
            let acme = CatalogDocument.builtIn.entries.count
            #expect(str(first(bad.json?["error"]?["details"])?["field"]) == "entries[\(acme)].prices.input")
            #expect(str(bad.json?["error"]?["message"])?.contains(#"entry "openai:acme-9:2026-01-01""#) == true)

            let older = try await client.call(
                .post, "/api/v1/prices/catalog", token: f.admin, body: Self.newer(revision: "2026-01-01T00:00:00Z"))
            #expect(older.status == .conflict)
            #expect(
                str(older.json?["error"]?["message"])
                    == "catalog revision 2026-01-01T00:00:00Z is older than the catalog in force, revision "
                    + "2026-12-03T12:00:00Z (built-in); an older catalog is never applied")

            let viewer = try await client.call(.post, "/api/v1/prices/catalog", token: f.readOnly, body: Self.newer())
            #expect(viewer.status == .forbidden)

            // An admin of an organization created later (a tenant) may preview but not apply, and its impact counts
            // its own events only (the instance's gpt-4o event would change).
            #expect(try await client.call(.post, "/api/v1/events", token: f.ingest, body: event("a")).status == .ok)
            let own = try await client.call(.post, "/api/v1/prices/catalog", token: f.admin, body: Self.newer())
            #expect(int(own.json?["recompute_impact"]?["events"]) == 1)
            let tenant = Organization(
                id: "org_tenant", name: "Tenant", timeZone: "UTC", createdAt: .now.adding(seconds: 60))
            try await f.store.createOrganization(tenant)
            _ = try await f.store.createProject(organizationID: tenant.id, name: "t")
            let tenantAdmin = try await TokenSecret.issue(
                store: f.store, organizationID: tenant.id, projectName: "t", scopes: [.admin], name: nil
            ).secret
            let tenantPreview = try await client.call(
                .post, "/api/v1/prices/catalog", token: tenantAdmin, body: Self.newer())
            #expect(tenantPreview.status == .ok && int(tenantPreview.json?["recompute_impact"]?["events"]) == 0)
            let tenantApply = try await client.call(
                .post, "/api/v1/prices/catalog?apply=true", token: tenantAdmin, body: Self.newer())
            #expect(tenantApply.status == .forbidden)
            #expect(str(tenantApply.json?["error"]?["message"])?.contains("the one created first") == true)
            #expect(try await f.store.newestCatalogRevision(newerThan: nil) == nil)

            let huge = try await client.call(
                .post, "/api/v1/prices/catalog", token: f.admin,
                body: String(repeating: " ", count: CatalogSource.maxBytes + 1))
            #expect(huge.status == .contentTooLarge)

            let unknownParameter = try await client.call(
                .post, "/api/v1/prices/catalog?aply=true", token: f.admin, body: Self.newer())
            #expect(unknownParameter.status == .badRequest)
        }
    }
}

/// The built-in file's text, as compiled in.
enum CatalogFileText {
    static let builtIn = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../prices/catalog.json"), encoding: .utf8)
}
