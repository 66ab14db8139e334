import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TallyCore
import TallyIngest
import TallyPrice
import TallyProviders
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices

typealias Controller = GatewayController<SQLiteStore>
typealias Upstream = GatewayCredentials<SQLiteStore>.Upstream

func token(scopes: Set<Scope> = [.gateway]) -> APIToken {
    APIToken(
        id: "tok_1", organizationID: "org_1", projectID: "prj_1", projectName: "web", name: nil, scopes: scopes,
        hint: "abcd",
        createdAt: Instant(seconds: 1_800_000_000))
}

func call(_ provider: ProviderKind, _ rest: Substring, passThrough: Bool = false) throws -> GatewayCall {
    GatewayCall(provider: provider, route: try GatewayRoute(rest), token: token(), passThrough: passThrough)
}

func connection(_ id: String, _ name: String, provider: ProviderKind = .openai, baseURL: String? = nil)
    -> ProviderConnection
{
    let now = Instant(seconds: 1_800_000_000)
    return ProviderConnection(
        id: id, organizationID: "org_1", provider: provider, name: name, baseURL: baseURL, apiKey: nil,
        apiKeyMask: nil, adminKey: nil, adminKeyMask: nil, validatedAt: now, validationError: nil,
        createdAt: now, updatedAt: now)
}

func request(_ method: HTTPRequest.Method = .post, _ path: String, headers: HTTPFields = [:]) -> Request {
    Request(
        head: HTTPRequest(method: method, scheme: "http", authority: "tally.test", path: path, headerFields: headers),
        body: RequestBody(buffer: ByteBuffer()))
}

/// Choose upstream: which of the organization's connections a call goes to, and with which key.
@Suite struct GatewayChooseUpstreamTests {
    let all = [
        Upstream(connection: connection("conn_a", "main", baseURL: "https://proxy.example/v1"), apiKey: "sk-main"),
        Upstream(connection: connection("conn_b", "second"), apiKey: "sk-second"),
        Upstream(connection: connection("conn_c", "keyless"), apiKey: nil),
    ]

    @Test func theOldestUnlessOneIsNamedByNameOrId() throws {
        let c = try call(.openai, "v1/chat/completions")
        let oldest = try Controller.choose(nil, among: all, c)
        #expect(
            oldest.connection?.id == "conn_a" && oldest.key == "sk-main" && oldest.base == "https://proxy.example/v1")
        #expect(try Controller.choose("second", among: all, c).key == "sk-second")
        let byID = try Controller.choose("conn_b", among: all, c)
        #expect(byID.connection?.name == "second" && byID.base == ProviderValidator.defaultBaseURL(.openai))
    }

    @Test func aConnectionTheOrganizationDoesNotHaveIsRefusedInBothModes() throws {
        for passThrough in [false, true] {
            let c = try call(.anthropic, "v1/messages", passThrough: passThrough)
            #expect(throws: GatewayRefusal(401, "Tally gateway: no anthropic connection named 'conn_elsewhere'")) {
                try Controller.choose("conn_elsewhere", among: all, c)
            }
        }
    }

    @Test func withoutPassThroughAConnectionWithAKeyIsNeeded() throws {
        let c = try call(.google, "v1beta/models")
        #expect(
            throws: GatewayRefusal(
                401, "Tally gateway: no google connection in this organization; add one in Settings → Providers")
        ) {
            try Controller.choose(nil, among: [], c)
        }
        #expect(throws: GatewayRefusal(401, "Tally gateway: the connection 'keyless' has no usable API key")) {
            try Controller.choose("keyless", among: all, c)
        }
    }

    /// In pass-through mode the app's own key goes upstream: the connection gives only its base URL, or none the
    /// provider's public one.
    @Test func passThroughSendsNoConnectionKey() throws {
        let c = try call(.openai, "v1/chat/completions", passThrough: true)
        let chosen = try Controller.choose(nil, among: all, c)
        #expect(chosen.connection?.id == "conn_a" && chosen.key == nil && chosen.base == "https://proxy.example/v1")
        let none = try Controller.choose(nil, among: [], c)
        #expect(none.connection == nil && none.key == nil && none.base == ProviderValidator.defaultBaseURL(.openai))
        #expect(try Controller.choose("keyless", among: all, c).key == nil)
    }
}

/// Prepare: the request as it goes upstream.
@Suite struct GatewayPrepareTests {
    func head(_ c: GatewayCall, key: String?, _ r: Request) -> HTTPClientRequest {
        Controller.upstreamHead(c, ChosenUpstream(connection: nil, key: key, base: "https://up.example/base"), r)
    }

    @Test func theConnectionsKeyReplacesTheTallyTokenAndOnlyAllowedHeadersGo() throws {
        let headers: HTTPFields = [
            .authorization: "Bearer tly_secret", .cookie: "tally_session=s", .contentType: "application/json",
            .init("X-Tally-Feature")!: "chat", .init("OpenAI-Beta")!: "assistants=v2",
            .init("X-CSRF-Token")!: "c", .init("X-Forwarded-For")!: "10.0.0.1", .init("X-Stainless-Lang")!: "python",
        ]
        let up = head(
            try call(.openai, "v1/chat/c%6Fmpletions"), key: "sk-real",
            request(.post, "/gateway/openai/v1/chat/c%6Fmpletions?limit=1", headers: headers))
        #expect(up.url == "https://up.example/base/v1/chat/completions?limit=1")
        #expect(up.method == .POST)
        #expect(up.headers["Authorization"] == ["Bearer sk-real"])
        #expect(up.headers["Content-Type"] == ["application/json"])
        #expect(up.headers["OpenAI-Beta"] == ["assistants=v2"])
        #expect(up.headers["X-Stainless-Lang"] == ["python"])
        for gone in ["Cookie", "X-Tally-Feature", "X-CSRF-Token", "X-Forwarded-For", "Host"] {
            #expect(!up.headers.contains(name: gone), "\(gone)")
        }
    }

    @Test func anthropicTakesTheKeyInItsOwnHeader() throws {
        let up = head(
            try call(.anthropic, "v1/messages"), key: "sk-ant-real",
            request(
                .post, "/gateway/anthropic/v1/messages",
                headers: [
                    .authorization: "Bearer tly_secret",
                    .init("anthropic-version")!: "2023-06-01",
                ]))
        #expect(up.headers["x-api-key"] == ["sk-ant-real"])
        #expect(!up.headers.contains(name: "Authorization"))
        #expect(up.headers["anthropic-version"] == ["2023-06-01"])
    }

    /// Gemini's `?key=` carried the Tally token: it is dropped, the rest of the query kept; in pass-through mode it is
    /// the app's own key and goes as sent.
    @Test func geminisQueryKeyIsDroppedUnlessPassedThrough() throws {
        let path = "/gateway/google/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=tly_secret"
        let rest: Substring = "v1beta/models/gemini-2.5-flash:streamGenerateContent"
        let up = head(try call(.google, rest), key: "AIza-real", request(.post, path))
        #expect(up.url == "https://up.example/base/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        #expect(up.headers["x-goog-api-key"] == ["AIza-real"])
        let passed = head(
            try call(.google, rest, passThrough: true), key: nil,
            request(
                .post, path, headers: [.init("x-goog-api-key")!: "AIza-app", .init("X-Tally-Token")!: "tly_secret"]))
        #expect(passed.url.hasSuffix("?alt=sse&key=tly_secret"))
        #expect(passed.headers["x-goog-api-key"] == ["AIza-app"])
        #expect(!passed.headers.contains(name: "X-Tally-Token"))
    }

    @Test func theModelAndStreamingAreReadFromTheBodyOrGeminisPath() throws {
        let json = try JSONParser.parse(Array(#"{"model":"models/gemini-2.5-pro","stream":true}"#.utf8))
        // Gemini runs the model its path names, whatever the body says.
        #expect(Controller.requestedModel(.google, json, rest: "v1beta/models/other:generateContent") == "other")
        #expect(Controller.requestedModel(.openai, json, rest: "chat/completions") == "gemini-2.5-pro")
        #expect(
            Controller.requestedModel(.google, nil, rest: "v1beta/models/gemini-2.5-flash:streamGenerateContent")
                == "gemini-2.5-flash")
        #expect(Controller.requestedModel(.openai, nil, rest: "v1/models/gpt-4o") == nil)
        #expect(Controller.isStreamed(.openai, json, rest: "v1/chat/completions"))
        #expect(Controller.isStreamed(.google, nil, rest: "v1beta/models/m:streamGenerateContent"))
        #expect(!Controller.isStreamed(.google, nil, rest: "v1beta/models/m:generateContent"))
    }

    @Test func anOpenAIChatStreamIsAskedForItsUsageOnce() throws {
        let asked = try JSONParser.parse(Array(#"{"model":"gpt-4o","stream":true}"#.utf8))
        let patched = try #require(Controller.askingForUsage(.openai, .openAIChat, asked))
        #expect(patched["stream_options"]?["include_usage"] == .bool(true))
        let already = try JSONParser.parse(Array(#"{"stream":true,"stream_options":{"include_usage":true}}"#.utf8))
        #expect(Controller.askingForUsage(.openai, .openAIChat, already) == nil)
        #expect(Controller.askingForUsage(.anthropic, .anthropicMessages, asked) == nil)
        #expect(
            Controller.askingForUsage(.openai, .openAIChat, try JSONParser.parse(Array(#"{"stream":false}"#.utf8)))
                == nil)
    }
}

/// The whole controller on a fresh SQLite store, forwarding to a live upstream on port 0.
@Suite struct GatewayLiveTests {
    /// What the upstream saw of each call.
    final class Seen: Sendable {
        let calls = Mutex<[(path: String, headers: HTTPFields, body: String)]>([])
    }

    struct Gateway {
        let store: SQLiteStore
        let recorder: GatewayRecorder<SQLiteStore>
        let controller: Controller
        let http: GatewayHTTP
        let secret: String
        let organizationID: String
        /// The SQLite file's folder (issue 21's tests look for plaintext in it) and the vault that sealed the keys.
        var directory: URL? = nil
        var vault: Vault? = nil
    }

    /// A gateway whose one OpenAI connection ("main", key `sk-upstream-key`) points at `base` (and one of each of
    /// `others`, "main-<provider>", there too), asking `gatewayGuard` before each call and pricing with `pricer`.
    func gateway(
        base: String, timeouts: GatewayTimeouts = GatewayTimeouts(), gatewayGuard: any GatewayGuard = NoGuard(),
        pricer: any Pricer = NoPrices(), others: [ProviderKind] = [],
        content: ((SQLiteStore, Vault) -> any GatewayContentSource)? = nil
    ) async throws -> Gateway {
        let temporary = try await TemporarySQLiteStore.make(prefix: "tally-gateway")
        let store = temporary.store
        let org = try await store.defaultOrganization(timeZone: "UTC")
        _ = try await store.createProject(organizationID: org.id, name: "web")
        let (_, secret) = try await TokenSecret.issue(
            store: store, organizationID: org.id, projectName: "web", scopes: [.gateway], name: nil)
        let vault = Vault(master: .generate())
        var c = connection("conn_main", "main", baseURL: base)
        c.organizationID = org.id
        c.apiKey = try vault.seal("sk-upstream-key", organizationID: org.id, connectionID: c.id, field: .apiKey)
        try await store.createConnection(
            c, audit: .make(organizationID: org.id, actor: "test", action: "connection.create"))
        for provider in others {
            var o = connection(
                "conn_\(provider.rawValue)", "main-\(provider.rawValue)", provider: provider, baseURL: base)
            o.organizationID = org.id
            o.apiKey = try vault.seal("sk-upstream-key", organizationID: org.id, connectionID: o.id, field: .apiKey)
            try await store.createConnection(
                o, audit: .make(organizationID: org.id, actor: "test", action: "connection.create"))
        }
        let policy = UpstreamAddressPolicy(allowance: try UpstreamAllowance.parse("127.0.0.0/8").get())
        let http = GatewayHTTP(timeouts: timeouts, policy: policy)
        let recorder = GatewayRecorder(
            pipeline: IngestPipeline(store: store, pricer: pricer), logger: Logger(label: "test"))
        let credentials = GatewayCredentials(
            auth: Authenticator(store: store), store: store,
            connections: ConnectionService(store: store, vault: vault), vault: vault)
        let controller = Controller(
            credentials: credentials, recorder: recorder, http: http, gatewayGuard: gatewayGuard,
            buffers: GatewayBuffers(), content: content?(store, vault) ?? NoGatewayContent(),
            logger: Logger(label: "test"))
        return Gateway(
            store: store, recorder: recorder, controller: controller, http: http, secret: secret,
            organizationID: org.id,
            directory: temporary.directory, vault: vault)
    }

    /// `gateway(base:)` for the length of `body`; its HTTP client is shut down whatever happens.
    func withGateway(
        base: String, timeouts: GatewayTimeouts = GatewayTimeouts(), gatewayGuard: any GatewayGuard = NoGuard(),
        pricer: any Pricer = NoPrices(), others: [ProviderKind] = [],
        content: ((SQLiteStore, Vault) -> any GatewayContentSource)? = nil, _ body: (Gateway) async throws -> Void
    ) async throws {
        let g = try await gateway(
            base: base, timeouts: timeouts, gatewayGuard: gatewayGuard, pricer: pricer, others: others,
            content: content)
        let outcome: Result<Void, any Error>
        do {
            try await body(g)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        try await g.http.http.shutdown()
        try outcome.get()
    }

    func app(_ gateway: Gateway) -> some ApplicationProtocol {
        let router = Router(context: TallyRequestContext.self)
        gateway.controller.addRoutes(to: router)
        return Application(router: router)
    }

    func upstream(_ seen: Seen) -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            seen.calls.withLock { $0.append((request.uri.path, request.headers, String(buffer: body))) }
            let answer =
                #"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-08-06","choices":[{"index":0,"#
                + #""message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"#
                + #""usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/json", .init("x-request-id")!: "req_live_1",
                    .setCookie: "upstream=1", .init("openai-processing-ms")!: "5",
                ],
                body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    @Test func aCallGoesUpstreamWithTheConnectionsKeyAndIsRecorded() async throws {
        let seen = Seen()
        try await upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            try await withGateway(base: "http://127.0.0.1:\(port)") { g in
                try await app(g).test(.router) { client in
                    let body = #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"user":"u-42"}"#
                    try await client.execute(
                        uri: "/gateway/openai/v1/chat/completions", method: .post,
                        headers: [
                            .authorization: "Bearer \(g.secret)", .contentType: "application/json",
                            .cookie: "tally_session=s",
                            .init("X-Tally-Feature")!: "support", .init("X-Stainless-Retry-Count")!: "2",
                        ], body: ByteBuffer(string: body)
                    ) { response in
                        #expect(response.status == .ok)
                        #expect(String(buffer: response.body).contains(#""total_tokens":15"#))
                        #expect(response.headers[.setCookie] == nil)
                        #expect(response.headers[.init("openai-processing-ms")!] == "5")
                        #expect(response.headers[.init("Content-Security-Policy")!] == "sandbox; default-src 'none'")
                    }
                }
                let calls = seen.calls.withLock { $0 }
                try #require(calls.count == 1)
                #expect(calls[0].path == "/v1/chat/completions")
                #expect(calls[0].headers[.authorization] == "Bearer sk-upstream-key")
                #expect(calls[0].headers[.cookie] == nil && calls[0].headers[.init("X-Tally-Feature")!] == nil)
                #expect(
                    calls[0].body == #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"user":"u-42"}"#)

                await g.recorder.flush()
                let stored = try #require(
                    try await g.store.event(organizationID: g.organizationID, id: "gw_req_live_1", projectIDs: nil))
                #expect(stored.event.source == .gateway)
                #expect(stored.event.model == "gpt-4o-2024-08-06")
                #expect(stored.event.usage.inputTokens == 12 && stored.event.usage.outputTokens == 3)
                #expect(stored.event.attribution.feature == "support" && stored.event.attribution.user == "u-42")
                #expect(stored.event.outcome.httpStatus == 200)
                // Issue 22: the SDK's attempt number, the token's label (its name, else its id), the operation.
                #expect(stored.event.outcome.retries == 2 && stored.event.operation == .chat)
                let token = try #require(try await g.store.tokens(organizationID: g.organizationID).first)
                #expect(stored.event.attribution.apiKey == (token.name ?? token.id))
            }
        }
    }

    /// A refusal before anything is forwarded is answered in the provider's format and reaches no upstream.
    @Test func refusalsAnswerInTheProvidersFormatAndSendNothing() async throws {
        let seen = Seen()
        try await upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            try await withGateway(base: "http://127.0.0.1:\(port)") { g in
                try await app(g).test(.router) { client in
                    let cases: [(HTTPFields, String, HTTPResponse.Status, String)] = [
                        ([:], "/gateway/openai/v1/chat/completions", .unauthorized, "no Tally token"),
                        (
                            [.authorization: "Bearer tly_wrong"], "/gateway/openai/v1/chat/completions", .unauthorized,
                            "not valid"
                        ),
                        (
                            [.authorization: "Bearer \(g.secret)"], "/gateway/openai/v1/%2e%2e/files", .badRequest,
                            "invalid_path"
                        ),
                        (
                            [.authorization: "Bearer \(g.secret)"], "/gateway/openai/v1/files", .forbidden,
                            "endpoint_not_allowed"
                        ),
                        (
                            [.authorization: "Bearer \(g.secret)", .init("X-Tally-Connection")!: "other"],
                            "/gateway/openai/v1/chat/completions",
                            .unauthorized, "no openai connection named 'other'"
                        ),
                    ]
                    for (headers, path, status, text) in cases {
                        try await client.execute(
                            uri: path, method: .post, headers: headers, body: ByteBuffer(string: "{}")
                        ) { response in
                            #expect(response.status == status, "\(path)")
                            #expect(
                                String(buffer: response.body).contains(text),
                                "\(path): \(String(buffer: response.body))")
                            #expect(response.headers[.contentType] == "application/json")
                        }
                    }
                }
                #expect(seen.calls.withLock { $0.count } == 0)
            }
        }
    }

    /// An upstream that is not there: Tally answers 502 in the provider's format and records the failed call (with the model asked for).
    @Test func anUnreachableUpstreamIsAnsweredAndRecorded() async throws {
        var timeouts = GatewayTimeouts()
        timeouts.connect = .seconds(2)
        try await withGateway(base: "http://127.0.0.1:1", timeouts: timeouts) { g in
            try await app(g).test(.router) { client in
                try await client.execute(
                    uri: "/gateway/openai/v1/chat/completions", method: .post,
                    headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"model":"gpt-4o","messages":[]}"#)
                ) { response in
                    #expect(response.status == .badGateway)
                    #expect(String(buffer: response.body).contains("could not reach openai at http://127.0.0.1:1:"))
                    #expect(response.headers[.init("x-should-retry")!] == "true")
                }
            }
            await g.recorder.flush()
            let page = try await g.store.eventsStored(
                after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
            #expect(page.count == 1)
            #expect(page.first?.stored.event.outcome.errorType == "upstream_unreachable")
            #expect(page.first?.stored.event.model == "gpt-4o")
        }
    }
}
