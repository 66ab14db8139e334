import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TallyCore
import TallyServer
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices
@testable import TallyWeb

/// A server on a fresh SQLite file with a project `web` (tokens: ingest+read, read only, admin) and a project `api`.
struct Fixture {
    let store: SQLiteStore
    let ingest: String
    let readOnly: String
    let admin: String
    let apiToken: String
    let ingestTokenID: String
    let dir: URL

    static func make() async throws -> Fixture {
        let temporary = try await TemporarySQLiteStore.make(prefix: "tally-api")
        let (store, dir) = (temporary.store, temporary.directory)
        let org = try await store.defaultOrganization(timeZone: "UTC")
        _ = try await store.createProject(organizationID: org.id, name: "web")
        _ = try await store.createProject(organizationID: org.id, name: "api")
        func issue(_ project: String, _ scopes: Set<Scope>) async throws -> (APIToken, String) {
            try await TokenSecret.issue(
                store: store, organizationID: org.id, projectName: project, scopes: scopes, name: nil)
        }
        let ingest = try await issue("web", [.ingest, .read])
        return Fixture(
            store: store, ingest: ingest.1, readOnly: try await issue("web", [.read]).1,
            admin: try await issue("web", [.admin]).1, apiToken: try await issue("api", [.ingest, .read]).1,
            ingestTokenID: ingest.0.id, dir: dir)
    }

    func app() -> some ApplicationProtocol {
        buildApplication(store: store, config: TallyConfig(), logger: Logger(label: "test"))
    }
}

struct Reply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String
    var json: JSONValue? { try? JSONParser.parse(Array(text.utf8)) }
    var errorCode: String? { if case .string(let s)? = json?["error"]?["code"] { s } else { nil } }
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, contentType: String? = "application/json",
        body: String? = nil
    ) async throws -> Reply {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let contentType, body != nil { headers[.contentType] = contentType }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        { r in
            Reply(status: r.status, headers: r.headers, text: String(buffer: r.body))
        }
    }
}

func event(_ id: String, _ time: String = "2026-11-20T10:15:00Z", model: String = "gpt-4o", extra: String = "")
    -> String
{
    #"{"id":"\#(id)","timestamp":"\#(time)","provider":"openai","model":"\#(model)","input_tokens":1000,"output_tokens":200,"cached_input_tokens":100\#(extra)}"#
}

func int(_ v: JSONValue?) -> Int64? { if case .number(let n)? = v { Int64(n) } else { nil } }
func str(_ v: JSONValue?) -> String? { if case .string(let s)? = v { s } else { nil } }
func array(_ v: JSONValue?) -> [JSONValue] { if case .array(let a)? = v { a } else { [] } }
func first(_ v: JSONValue?) -> JSONValue? { array(v).first }

@Suite struct AuthenticationTests {
    @Test func tokensAreRequiredAndScoped() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let missing = try await client.call(.get, "/api/v1/events")
            #expect(missing.status == .unauthorized && missing.errorCode == "unauthorized")
            #expect(try await client.call(.get, "/api/v1/events", token: "tly_wrong").status == .unauthorized)
            let forbidden = try await client.call(.post, "/api/v1/events", token: f.readOnly, body: event("a"))
            #expect(forbidden.status == .forbidden && forbidden.errorCode == "forbidden")
            #expect(try await client.call(.post, "/api/v1/events", token: f.admin, body: event("a")).status == .ok)
            try await f.store.revokeToken(organizationID: "org_default", id: f.ingestTokenID, at: .now)
            #expect(try await client.call(.get, "/api/v1/events", token: f.ingest).status == .unauthorized)
        }
    }

    @Test func errorsNeverEchoTheSecret() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(.post, "/api/v1/events", token: f.ingest, body: #"{"timestamp":"x"}"#)
            #expect(!r.text.contains(f.ingest))
        }
    }
}

@Suite struct IngestTests {
    @Test func acceptsEveryEnvelopeAndCountsDuplicates() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let one = try await client.call(.post, "/api/v1/events", token: f.ingest, body: event("a"))
            #expect(one.status == .ok && one.text == #"{"accepted":1,"duplicates":0}"#)
            let array = try await client.call(
                .post, "/api/v1/events", token: f.ingest, body: "[\(event("a")),\(event("b"))]")
            #expect(array.text == #"{"accepted":1,"duplicates":1}"#)
            let wrapped = try await client.call(
                .post, "/api/v1/events", token: f.ingest, body: #"{"events":[\#(event("c"))]}"#)
            #expect(wrapped.text == #"{"accepted":1,"duplicates":0}"#)
            let ndjson = try await client.call(
                .post, "/api/v1/events", token: f.ingest, contentType: "application/x-ndjson",
                body: event("d") + "\n" + event("e") + "\n")
            #expect(ndjson.text == #"{"accepted":2,"duplicates":0}"#)
            // The same id in another project is another event.
            let other = try await client.call(.post, "/api/v1/events", token: f.apiToken, body: event("a"))
            #expect(other.text == #"{"accepted":1,"duplicates":0}"#)
        }
    }

    @Test func oneBadEventRejectsTheWholeBatch() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "[\(event("a")),\(event("b", extra: #","reasoning_tokens":300"#))]")
            #expect(r.status == .badRequest && r.errorCode == "invalid_request")
            let detail = first(r.json?["error"]?["details"])
            #expect(int(detail?["index"]) == 1 && str(detail?["field"]) == "reasoning_tokens")
            let list = try await client.call(.get, "/api/v1/events", token: f.ingest)
            let listed = array(list.json?["data"])
            #expect(listed.isEmpty)
        }
    }

    @Test func badInputGetsAClear4xx() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let unknown = try await client.call(
                .post, "/api/v1/events", token: f.ingest, body: event("a", extra: #","colour":"red""#))
            #expect(unknown.status == .badRequest && unknown.text.contains("colour"))
            let content = try await client.call(
                .post, "/api/v1/events", token: f.ingest, body: event("a", extra: #","messages":[]"#))
            #expect(content.status == .badRequest && content.errorCode == "content_not_allowed")
            let malformed = try await client.call(.post, "/api/v1/events", token: f.ingest, body: "{\"id\":")
            #expect(malformed.status == .badRequest && malformed.errorCode == "invalid_request")
            let wrongType = try await client.call(
                .post, "/api/v1/events", token: f.ingest, contentType: "text/plain", body: event("a"))
            #expect(wrongType.status == .unsupportedMediaType && wrongType.errorCode == "unsupported_media_type")
            let huge = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "[" + String(repeating: " ", count: 1 << 20) + event("a") + "]")
            #expect(huge.status == .contentTooLarge && huge.errorCode == "payload_too_large")
            let many = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "[" + (0..<1001).map { event("m\($0)") }.joined(separator: ",") + "]")
            #expect(many.status == .contentTooLarge)
            let foreign = try await client.call(
                .post, "/api/v1/events", token: f.ingest, body: event("a", extra: #","project":"api""#))
            #expect(foreign.status == .badRequest && foreign.text.contains("project"))
            let adminForeign = try await client.call(
                .post, "/api/v1/events", token: f.admin, body: event("z", extra: #","project":"api""#))
            #expect(adminForeign.status == .ok)
            let unknownProject = try await client.call(
                .post, "/api/v1/events", token: f.admin, body: event("y", extra: #","project":"nope""#))
            #expect(unknownProject.status == .badRequest && unknownProject.text.contains("unknown project"))
        }
    }
}

@Suite struct ReadTests {
    @Test func summaryGroupsAndScopesToTheTokensProject() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            _ = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "["
                    + [
                        event("a", "2026-11-20T10:00:00Z"), event("b", "2026-11-20T23:30:00Z", model: "gpt-4o-mini"),
                        event("c", "2026-11-21T00:30:00Z"),
                    ].joined(separator: ",") + "]")
            _ = try await client.call(
                .post, "/api/v1/events", token: f.apiToken, body: event("x", "2026-11-20T10:00:00Z"))
            let r = try await client.call(
                .get, "/api/v1/usage/summary?from=2026-11-20&to=2026-11-22&group_by=day,model", token: f.ingest)
            #expect(r.status == .ok)
            #expect(str(r.json?["time_zone"]) == "UTC" && str(r.json?["currency"]) == "USD")
            #expect(int(r.json?["totals"]?["requests"]) == 3 && int(r.json?["totals"]?["input_tokens"]) == 3000)
            // gpt-4o: 900×2.50 + 100×1.25 + 200×10 = 0.004375 (twice); gpt-4o-mini: 900×0.15 + 100×0.075 + 200×0.60 = 0.0002625
            #expect(
                str(r.json?["totals"]?["cost_usd"]) == "0.0090125" && int(r.json?["totals"]?["unpriced_requests"]) == 0)
            let groups = array(r.json?["groups"]).map {
                "\(str($0["day"]) ?? "")/\(str($0["model"]) ?? "")/\(int($0["requests"]) ?? 0)"
            }
            #expect(groups == ["2026-11-20/gpt-4o/1", "2026-11-20/gpt-4o-mini/1", "2026-11-21/gpt-4o/1"])
            let all = try await client.call(
                .get, "/api/v1/usage/summary?from=2026-11-20&to=2026-11-22&group_by=project", token: f.admin)
            let projects = array(all.json?["groups"]).compactMap { str($0["project"]) }.sorted()
            #expect(projects == ["api", "web"])
        }
    }

    @Test(arguments: [
        "group_by=colour", "group_by=day,month", "from=yesterday", "from=2026-11-22&to=2026-11-20", "limit=5",
        "modle=gpt-4o",
    ])
    func badQueryParametersAre400(query: String) async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            let r = try await client.call(.get, "/api/v1/usage/summary?\(query)", token: f.ingest)
            #expect(r.status == .badRequest && r.errorCode == "invalid_request")
        }
    }

    @Test func eventsPageAndOneEventAndIsolation() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            _ = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "[" + (0..<5).map { event("e\($0)", "2026-11-20T10:0\($0):00Z") }.joined(separator: ",") + "]")
            let first = try await client.call(.get, "/api/v1/events?limit=2", token: f.ingest)
            #expect(array(first.json?["data"]).compactMap { str($0["id"]) } == ["e4", "e3"])
            let cursor = try #require(str(first.json?["next_cursor"]))
            let second = try await client.call(.get, "/api/v1/events?limit=2&cursor=\(cursor)", token: f.ingest)
            #expect(array(second.json?["data"]).compactMap { str($0["id"]) } == ["e2", "e1"])
            #expect(try await client.call(.get, "/api/v1/events?cursor=garbage", token: f.ingest).status == .badRequest)
            let one = try await client.call(.get, "/api/v1/events/e3", token: f.ingest)
            #expect(one.status == .ok && str(one.json?["id"]) == "e3" && str(one.json?["cost_usd"]) == "0.004375")
            #expect(int(one.json?["cached_input_tokens"]) == 100 && str(one.json?["project"]) == "web")
            let hidden = try await client.call(.get, "/api/v1/events/e3", token: f.apiToken)
            #expect(hidden.status == .notFound && hidden.errorCode == "not_found")
            #expect(array(try await client.call(.get, "/api/v1/events", token: f.apiToken).json?["data"]).isEmpty)
        }
    }

    @Test func exportStreamsEveryFormatAndNeutralisesFormulas() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            _ = try await client.call(
                .post, "/api/v1/events", token: f.ingest,
                body: "["
                    + [
                        event("a", extra: #","feature":"=SUM(A1)""#), event("b", extra: #","user":"x,\"y\"""#),
                    ].joined(separator: ",") + "]")
            let csv = try await client.call(.get, "/api/v1/events/export?format=csv", token: f.ingest)
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first?.hasPrefix("id,timestamp,provider,model") == true && lines.count == 3)
            #expect(csv.text.contains(",'=SUM(A1),") && csv.text.contains(#""x,""y""""#))
            let json = try await client.call(.get, "/api/v1/events/export?format=json", token: f.ingest)
            #expect(array(json.json).count == 2)
            let ndjson = try await client.call(
                .get, "/api/v1/events/export?format=ndjson&feature=%3DSUM(A1)", token: f.ingest)
            #expect(ndjson.text.split(separator: "\n").count == 1)
            #expect(
                try await client.call(.get, "/api/v1/events/export?format=xml", token: f.ingest).status == .badRequest)
        }
    }
}

@Suite struct OperationsTests {
    @Test func healthReadinessMetrics() async throws {
        let f = try await Fixture.make()
        try await f.app().test(.router) { client in
            #expect(try await client.call(.get, "/healthz").status == .ok)
            #expect(
                try await client.call(.get, "/readyz").text
                    == #"{"status":"ready","details":{"price_catalog":{"revision":"2026-12-03T12:00:00Z","source":"built-in"}}}"#
            )
            #expect(try await client.call(.get, "/metrics").status == .ok)
            let notFound = try await client.call(.get, "/api/v1/nothing-here", token: f.ingest)
            #expect(notFound.status == .notFound && notFound.errorCode == "not_found")
        }
    }

    /// The OpenAPI document and the router describe the same routes, method for method.
    @Test func openAPIDocumentMatchesTheRouter() async throws {
        let f = try await Fixture.make()
        let router = buildRouter(store: f.store, logger: Logger(label: "test"))
        let routes = Set(
            router.routes.map { route -> String in
                let path = route.path.description.split(separator: "/").map {
                    $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0)
                }
                return "\(route.method.rawValue.lowercased()) /" + path.joined(separator: "/")
            })
        let doc = try JSONParser.parse(OpenAPIDocument.bytes)
        guard case .object(let paths)? = doc["paths"] else { Issue.record("no paths"); return }
        var documented = Set<String>()
        for (path, item) in paths {
            guard case .object(let methods) = item else { continue }
            for (method, _) in methods where ["get", "post", "put", "patch", "delete"].contains(method) {
                documented.insert("\(method) \(path)")
            }
        }
        #expect(routes == documented)
        #expect(routes.count >= 9)
        // The binary carries the reviewed file (scripts/embed-data).
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Sources/TallyServer/Resources/openapi.json")
        #expect(
            FileManager.default.contents(atPath: source.path).map(Array.init) == OpenAPIDocument.bytes
                || FileManager.default.contents(atPath: source.path).map { Array($0.dropLast()) }
                    == OpenAPIDocument.bytes
        )
    }
}
