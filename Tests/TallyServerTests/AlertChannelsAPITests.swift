import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import TallyCore
import TallyServer
import TallyStoreSQL
import TallyTestSupport
import Testing

@testable import TallyServices

/// A receiver on a loopback port: records each request and answers with the next scripted status (then 200).
final class ScriptedReceiver: Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: String
    }
    let received = Mutex<[Received]>([])
    let script: Mutex<[Int]>
    init(_ statuses: [Int] = []) { script = Mutex(statuses) }

    var requests: [Received] { received.withLock { $0 } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/**") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            self.received.withLock { $0.append(Received(path: request.uri.path, headers: headers, body: body)) }
            let status = self.script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            return Response(status: .init(code: status))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }
}

@Suite struct AlertChannelsAPITests {
    static func fixture(allowLoopback: Bool = true, vault: Bool = true) async throws -> AccountsFixture {
        var f = try await AccountsFixture.make()
        if allowLoopback {
            f.options.config.upstreamPolicy = UpstreamAddressPolicy(
                allowance: try UpstreamAllowance.parse("127.0.0.0/8").get())
        }
        if !vault { f.options.vault = nil }
        return f
    }

    /// Create, read, change and delete each type; secrets never come back; the audit log names no target.
    @Test func channelsAreManagedAndSecretsNeverShown() async throws {
        let f = try await Self.fixture()
        _ = try await f.member("ada@example.com", .admin)
        try await f.app().test(.router) { client in
            var a = try await client.signIn("ada@example.com")
            let mail = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a,
                json: #"{"name":"Finance","type":"email","to":["fin@example.com"," ops@example.com"]}"#)
            #expect(mail.status == .created, "\(mail.text)")
            #expect(mail.json?["to"] == .array([.string("fin@example.com"), .string("ops@example.com")]))
            let hook = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a,
                json: #"{"type":"webhook","url":"http://127.0.0.1:9/hook","secret":"whsec_topsecret"}"#)
            #expect(
                hook.status == .created && hook.json?["secret_set"] == .bool(true)
                    && hook.json?["name"] == .string("Webhook"))
            #expect(!hook.text.contains("whsec_topsecret"))
            let slack = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a,
                json: #"{"type":"slack","webhook_url":"http://127.0.0.1:9/services/T0/B0/SECRETPATH"}"#)
            #expect(slack.status == .created && slack.json?["webhook_url"] == .string("http://127.0.0.1:9/…"))
            #expect(!slack.text.contains("SECRETPATH"))
            let list = try await client.send(.get, "/api/v1/alert-channels", browser: &a)
            #expect(!list.text.contains("SECRETPATH") && !list.text.contains("whsec_topsecret"))
            guard case .array(let items)? = list.json?["data"] else { Issue.record("no list"); return }
            #expect(items.count == 3)

            let hookID = try #require(str(hook.json?["id"]))
            let renamed = try await client.send(
                .patch, "/api/v1/alert-channels/\(hookID)", browser: &a, json: #"{"name":"Ops hook","secret":null}"#)
            #expect(renamed.status == .ok && renamed.json?["secret_set"] == .bool(false))
            let wrongField = try await client.send(
                .patch, "/api/v1/alert-channels/\(hookID)", browser: &a, json: #"{"to":["x@example.com"]}"#)
            #expect(wrongField.status == .badRequest && wrongField.text.contains("\"field\":\"to\""))
            let retype = try await client.send(
                .patch, "/api/v1/alert-channels/\(hookID)", browser: &a, json: #"{"type":"email"}"#)
            #expect(retype.status == .badRequest && retype.text.contains("\"field\":\"type\""))
            #expect(
                try await client.send(.delete, "/api/v1/alert-channels/\(hookID)", browser: &a).status == .noContent)
            #expect(try await client.send(.get, "/api/v1/alert-channels/\(hookID)", browser: &a).status == .notFound)

            let audit = try await f.store.auditRecords(organizationID: "org_default", limit: 20, before: nil)
            #expect(audit.filter { $0.action.hasPrefix("alert_channel.") }.count == 5)
            #expect(!audit.contains { $0.detail.contains("127.0.0.1") || $0.detail.contains("fin@example.com") })
        }
    }

    /// Each bad field is a 400 naming it; a loopback URL is refused unless the operator allows it.
    @Test func badInputIsRefusedByField() async throws {
        let f = try await Self.fixture(allowLoopback: false)
        _ = try await f.member("ada@example.com", .admin)
        try await f.app().test(.router) { client in
            var a = try await client.signIn("ada@example.com")
            let cases: [(String, String)] = [
                (#"{"type":"pager"}"#, "type"),
                (#"{"type":"email","to":["ok@example.com","x@example.com\r\nBcc: evil@example.com"]}"#, "to"),
                (#"{"type":"email"}"#, "to"),
                (#"{"type":"email","to":"a@example.com","url":"https://x.example"}"#, "url"),
                (#"{"type":"webhook","url":"file:///etc/passwd"}"#, "url"),
                (#"{"type":"slack","webhook_url":"javascript:alert(1)"}"#, "webhook_url"),
                (#"{"type":"webhook","url":"https://x.example","secret":""}"#, "secret"),
                (#"{"type":"email","to":["a@example.com"],"name":"a\u0000b"}"#, "name"),
                (#"{"type":"email","to":["a@example.com"],"colour":"red"}"#, "colour"),
            ]
            for (body, field) in cases {
                let r = try await client.send(.post, "/api/v1/alert-channels", browser: &a, json: body)
                #expect(r.status == .badRequest, "\(body): \(r.status)")
                #expect(r.text.contains("\"field\":\"\(field)\""), "\(body): \(r.text)")
            }
            let loopback = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a, json: #"{"type":"webhook","url":"http://127.0.0.1:9/"}"#)
            #expect(loopback.status == .unprocessableContent && loopback.errorCode == "upstream_not_allowed")
            #expect(loopback.text.contains("TALLY_ALLOW_PRIVATE_UPSTREAMS"))
            #expect(try await f.store.alertChannels(organizationID: "org_default").isEmpty)
        }
    }

    /// Without a vault, a channel with a secret is refused (409 naming the variable); email still works.
    @Test func secretsNeedTheVault() async throws {
        let f = try await Self.fixture(vault: false)
        _ = try await f.member("ada@example.com", .admin)
        try await f.app().test(.router) { client in
            var a = try await client.signIn("ada@example.com")
            let slack = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a,
                json: #"{"type":"discord","webhook_url":"http://127.0.0.1:9/x"}"#)
            #expect(slack.status == .conflict && slack.text.contains("TALLY_MASTER_KEY"))
            let mail = try await client.send(
                .post, "/api/v1/alert-channels", browser: &a, json: #"{"type":"email","to":["a@example.com"]}"#)
            #expect(mail.status == .created)
        }
    }

    /// Viewers and members cannot read or change channels; another organization's channel is not found.
    @Test func onlyAdminsOfTheOrganization() async throws {
        let f = try await Self.fixture()
        _ = try await f.member("ada@example.com", .admin)
        _ = try await f.member("vic@example.com", .viewer)
        try await f.store.createOrganization(Organization(id: "org_b", name: "B", timeZone: "UTC", createdAt: .now))
        let theirs = AlertChannel(
            id: "ch_b", organizationID: "org_b", name: "B", kind: .email, targets: ["b@example.com"], sealedSecret: nil,
            createdAt: .now, updatedAt: .now)
        try await f.store.createAlertChannel(theirs, audit: .make(organizationID: "org_b", actor: "t", action: "x"))
        try await f.app().test(.router) { client in
            var v = try await client.signIn("vic@example.com")
            #expect(try await client.send(.get, "/api/v1/alert-channels", browser: &v).status == .forbidden)
            #expect(
                try await client.send(
                    .post, "/api/v1/alert-channels", browser: &v, json: #"{"type":"email","to":["a@example.com"]}"#
                ).status == .forbidden)
            var a = try await client.signIn("ada@example.com")
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/v1/alert-channels/ch_b"), (.patch, "/api/v1/alert-channels/ch_b"),
                (.delete, "/api/v1/alert-channels/ch_b"), (.post, "/api/v1/alert-channels/ch_b/test"),
            ] {
                let r = try await client.send(method, path, browser: &a, json: #"{"name":"stolen"}"#)
                #expect(r.status == .notFound, "\(method) \(path): \(r.status)")
            }
            guard
                case .array(let mine)? = try await client.send(.get, "/api/v1/alert-channels", browser: &a).json?[
                    "data"]
            else { Issue.record("no list"); return }
            #expect(mine.isEmpty)
        }
        #expect(try await f.store.alertChannel(organizationID: "org_b", id: "ch_b") == theirs)
    }

    /// `/test` posts a signed example to the receiver and answers with the result; a 500 is `delivered: false`.
    @Test func theTestSendsNowAndAnswersTheResult() async throws {
        let f = try await Self.fixture()
        _ = try await f.member("ada@example.com", .admin)
        let receiver = ScriptedReceiver([500])
        try await receiver.application().test(.live) { live in
            let port = try #require(live.port)
            try await f.app().test(.router) { client in
                var a = try await client.signIn("ada@example.com")
                let hook = try await client.send(
                    .post, "/api/v1/alert-channels", browser: &a,
                    json: #"{"type":"webhook","url":"http://127.0.0.1:\#(port)/hook","secret":"s3cret"}"#)
                let id = try #require(str(hook.json?["id"]))
                let failed = try await client.send(.post, "/api/v1/alert-channels/\(id)/test", browser: &a)
                #expect(failed.status == .ok)
                #expect(failed.json?["delivered"] == .bool(false) && failed.json?["status"] == .number("500"))
                let ok = try await client.send(.post, "/api/v1/alert-channels/\(id)/test", browser: &a)
                #expect(ok.json?["delivered"] == .bool(true) && ok.json?["error"] == .null)
            }
            let last = try #require(receiver.requests.last)
            #expect(last.path == "/hook" && last.body.contains(#""type":"test""#))
            let signature = try #require(last.headers["x-tally-signature"])
            let t = try #require(signature.split(separator: ",").first?.dropFirst(2)).description
            #expect(
                signature
                    == AlertWebhookPayload.signature(secret: "s3cret", body: last.body, at: Instant(seconds: Int64(t)!))
            )
            #expect(last.headers["x-tally-alert-id"]?.hasPrefix("al_test") == true)
        }
    }
}
