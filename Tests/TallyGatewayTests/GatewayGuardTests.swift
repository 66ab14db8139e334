import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TallyCore
import TallyProviders
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices

/// A guard that answers as told and remembers what it was asked and told.
final class FakeGuard: GatewayGuard {
    enum Answer: Sendable { case proceed, block(PolicyBlock), fail }
    struct Down: Error {}

    let answer: Answer
    let admitted = Mutex<[GuardedCall]>([])
    let settled = Mutex<[(ticket: GuardTicket, outcome: GuardOutcome)]>([])
    /// Each settle as it happens, for a settle that comes from a task of its own.
    let settles: AsyncStream<GuardOutcome>
    private let settleSink: AsyncStream<GuardOutcome>.Continuation

    init(_ answer: Answer = .proceed) {
        self.answer = answer
        (settles, settleSink) = AsyncStream.makeStream()
    }

    static func ticket(_ organizationID: String) -> GuardTicket {
        GuardTicket(
            organizationID: organizationID, reservationID: "res_test",
            settlements: ["budget:bud_1:2026-12-01": .cost, "concurrent:pol_1": .release])
    }

    func admit(_ call: GuardedCall) async throws -> GuardDecision {
        admitted.withLock { $0.append(call) }
        switch answer {
        case .proceed: return .proceed(Self.ticket(call.organizationID))
        case .block(let block): return .block(block)
        case .fail: throw Down()
        }
    }

    func settle(_ ticket: GuardTicket, _ outcome: GuardOutcome) async {
        settled.withLock { $0.append((ticket, outcome)) }
        settleSink.yield(outcome)
    }
}

/// A dollar a million input tokens and ten a million output (1,000 and 10,000 nano-dollars a token), entry "test".
struct TokenPricer: Pricer {
    func quote(_ event: UsageEvent, organizationID: String) -> PriceQuote? {
        PriceQuote(
            cost: USD(nanos: event.usage.inputTokens * 1_000 + event.usage.outputTokens * 10_000), priceID: "test")
    }
}

/// What the guard is asked: the call as each provider's request states it.
@Suite struct GatewayGuardedCallTests {
    let live = GatewayLiveTests()

    /// Every case ends at the guard (it blocks), so nothing needs an upstream.
    func asked(
        _ g: GatewayLiveTests.Gateway, _ provider: ProviderKind, _ path: String, body: String,
        headers extra: HTTPFields = [:]
    ) async throws -> GuardedCall {
        let fake = try #require(g.controller.gatewayGuard as? FakeGuard)
        let before = fake.admitted.withLock { $0.count }
        let headers: HTTPFields =
            [.authorization: "Bearer \(g.secret)", .contentType: "application/json"] + extra
        try await live.app(g).test(.router) { client in
            try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) {
                #expect($0.status == .forbidden, "\(path)")
            }
        }
        let calls = fake.admitted.withLock { $0 }
        try #require(calls.count == before + 1)
        return calls[before]
    }

    static let denied = PolicyBlock(
        rule: .modelsDeny, policyID: "pol_1", budgetID: nil, status: 403, code: "permission_denied", message: "no")

    @Test func theCallIsReadFromEachProvidersRequest() async throws {
        try await live.withGateway(
            base: "http://127.0.0.1:1", gatewayGuard: FakeGuard(.block(Self.denied)), others: [.anthropic, .google]
        ) { g in
            let chat = #"{"model":"gpt-4o","max_completion_tokens":100,"max_tokens":50,"user":"u-body","stream":true}"#
            let openai = try await asked(
                g, .openai, "/gateway/openai/v1/chat/completions", body: chat,
                headers: [.init("X-Tally-Feature")!: "support", .init("X-Tally-Environment")!: "prod"])
            let token = try #require(try await g.store.tokens(organizationID: g.organizationID).first)
            let projectID = try #require(try await g.store.projects(organizationID: g.organizationID).first?.id)
            #expect(
                openai
                    == GuardedCall(
                        organizationID: g.organizationID, projectID: projectID, tokenID: token.id, user: "u-body",
                        feature: "support", environment: "prod", provider: "openai", model: "gpt-4o",
                        requestedMaxOutputTokens: 100,
                        // The body as the client sent it, not as patched to ask for the usage chunk.
                        inputTokensBound: chat.utf8.count, at: openai.at, apiKey: token.name ?? token.id))

            let withHeader = try await asked(
                g, .openai, "/gateway/openai/v1/chat/completions", body: #"{"model":"gpt-4o","user":"u-body"}"#,
                headers: [.init("X-Tally-User")!: "u-head"])
            #expect(withHeader.user == "u-head" && withHeader.requestedMaxOutputTokens == nil)
            #expect(withHeader.feature == nil && withHeader.environment == nil)

            let legacy = try await asked(
                g, .openai, "/gateway/openai/v1/chat/completions", body: #"{"model":"gpt-4o","max_tokens":50}"#)
            #expect(legacy.requestedMaxOutputTokens == 50 && legacy.user == nil)
            let responses = try await asked(
                g, .openai, "/gateway/openai/v1/responses", body: #"{"model":"gpt-5","max_output_tokens":70}"#)
            #expect(responses.requestedMaxOutputTokens == 70 && responses.model == "gpt-5")

            let messages = #"{"model":"claude-sonnet-4-5","max_tokens":1024,"metadata":{"user_id":"u-meta"}}"#
            let anthropic = try await asked(
                g, .anthropic, "/gateway/anthropic/v1/messages", body: messages)
            #expect(anthropic.provider == "anthropic" && anthropic.model == "claude-sonnet-4-5")
            #expect(anthropic.requestedMaxOutputTokens == 1024 && anthropic.user == "u-meta")
            #expect(anthropic.inputTokensBound == messages.utf8.count)

            let generate = #"{"contents":[],"generationConfig":{"maxOutputTokens":256}}"#
            let gemini = try await asked(
                g, .google, "/gateway/google/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                body: generate)
            #expect(gemini.provider == "google" && gemini.model == "gemini-2.5-flash")
            #expect(gemini.requestedMaxOutputTokens == 256 && gemini.inputTokensBound == generate.utf8.count)

            // Answers multiply the worst case; a model name the events would refuse reaches the guard as none.
            let many = try await asked(
                g, .openai, "/gateway/openai/v1/chat/completions", body: #"{"model":"gpt-4o","n":3}"#)
            #expect(many.answers == 3)
            let hostile = try await asked(
                g, .openai, "/gateway/openai/v1/chat/completions", body: #"{"model":"gpt-4o\u0000x"}"#)
            #expect(hostile.model == nil && hostile.answers == 1)

            // A body Tally does not read streams upstream: no bound from it.
            let counted = try await asked(
                g, .google, "/gateway/google/v1beta/models/gemini-2.5-pro:countTokens", body: generate)
            #expect(counted.model == "gemini-2.5-pro" && counted.inputTokensBound == 0)
            #expect(counted.requestedMaxOutputTokens == nil)
        }
    }

    /// The user the guard sees is the one the event records: one function reads both.
    @Test func theGuardAndTheEventShareTheUser() throws {
        func user(_ headers: HTTPFields, _ body: String) throws -> String? {
            Controller.attributedUser(
                request(.post, "/gateway/openai/v1/chat/completions", headers: headers),
                try JSONParser.parse(Array(body.utf8)))
        }
        #expect(try user([.init("X-Tally-User")!: "h"], #"{"user":"b","metadata":{"user_id":"m"}}"#) == "h")
        #expect(try user([.init("X-Tally-User")!: ""], #"{"user":"b","metadata":{"user_id":"m"}}"#) == "b")
        #expect(try user([:], #"{"user":7,"metadata":{"user_id":"m"}}"#) == "m")
        #expect(try user([:], #"{}"#) == nil)
    }
}

/// A blocked call: answered by Tally in the provider's error format, never forwarded, recorded as a block.
@Suite struct GatewayBlockTests {
    let live = GatewayLiveTests()

    /// (block, what OpenAI's body says, Anthropic's, Gemini's)
    static let blocks: [(PolicyBlock, String, String, String)] = [
        (
            PolicyBlock(
                rule: .modelsDeny, policyID: "pol_1", budgetID: nil, status: 403, code: "permission_denied",
                message: "Tally gateway: blocked by policy 'no-opus' (models_deny: claude-opus-*)"),
            "permission_denied", "permission_error", "PERMISSION_DENIED"
        ),
        (
            PolicyBlock(
                rule: .requestsPerMinute, policyID: "pol_2", budgetID: nil, status: 429, code: "rate_limit_exceeded",
                message: "Tally gateway: blocked by policy 'rpm' (requests_per_minute: 60 per minute); retry in 23 s",
                retryAfterSeconds: 23),
            "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"
        ),
        (
            PolicyBlock(
                rule: .budget, policyID: nil, budgetID: "bud_1", status: 429, code: "budget_exceeded",
                message: "Tally gateway: budget 'team' is exhausted ($10.00 for Dec 2026)"),
            "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED"
        ),
        (
            PolicyBlock(
                rule: .maxOutputTokens, policyID: "pol_3", budgetID: nil, status: 400, code: "invalid_request",
                message: "Tally gateway: blocked by policy 'short' (max_output_tokens: 1000)"),
            "invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"
        ),
    ]

    static let calls: [(ProviderKind, String, String)] = [
        (.openai, "/gateway/openai/v1/chat/completions", #"{"model":"gpt-4o","max_tokens":5000}"#),
        (.anthropic, "/gateway/anthropic/v1/messages", #"{"model":"claude-opus-4-5","max_tokens":5000}"#),
        (
            .google, "/gateway/google/v1beta/models/gemini-2.5-pro:generateContent",
            #"{"generationConfig":{"maxOutputTokens":5000}}"#
        ),
    ]

    @Test(arguments: 0..<4)
    func aBlockIsAnsweredInEachProvidersFormatAndNeverForwarded(_ index: Int) async throws {
        let (block, openAIType, anthropicType, geminiStatus) = Self.blocks[index]
        let seen = GatewayLiveTests.Seen()
        try await live.upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            let fake = FakeGuard(.block(block))
            try await live.withGateway(
                base: "http://127.0.0.1:\(port)", gatewayGuard: fake, pricer: TokenPricer(),
                others: [.anthropic, .google]
            ) { g in
                try await live.app(g).test(.router) { client in
                    for (provider, path, body) in Self.calls {
                        try await client.execute(
                            uri: path, method: .post,
                            headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                            body: ByteBuffer(string: body)
                        ) { response in
                            #expect(response.status.code == block.status, "\(provider)")
                            #expect(response.headers[.init("x-should-retry")!] == "false", "\(provider)")
                            #expect(response.headers[.retryAfter] == block.retryAfterSeconds.map(String.init))
                            #expect(response.headers[.contentType] == "application/json")
                            let json = try JSONParser.parse(Array(response.body.readableBytesView))
                            let error = try #require(json["error"])
                            #expect(error["message"] == .string(block.message), "\(provider)")
                            switch provider {
                            case .openai:
                                #expect(error["type"] == .string(openAIType))
                                #expect(error["code"] == .string(block.code))
                            case .anthropic:
                                #expect(json["type"] == .string("error"))
                                #expect(error["type"] == .string(anthropicType))
                            case .google:
                                #expect(error["status"] == .string(geminiStatus))
                                #expect(error["code"] == .number(String(block.status)))
                            }
                        }
                    }
                }
                #expect(seen.calls.withLock { $0.count } == 0)
                #expect(fake.admitted.withLock { $0.count } == 3)
                #expect(fake.settled.withLock { $0.isEmpty })

                await g.recorder.flush()
                let page = try await g.store.eventsStored(
                    after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
                #expect(page.count == 3)
                for item in page {
                    let stored = item.stored
                    #expect(stored.event.source == .gateway)
                    #expect(stored.event.outcome.status == .error)
                    #expect(stored.event.outcome.errorType == "blocked:\(block.rule.rawValue)")
                    #expect(stored.event.outcome.httpStatus == block.status)
                    #expect(stored.event.usage.inputTokens == 0 && stored.event.usage.outputTokens == 0)
                    // Nothing went upstream: it cost nothing ($0, not unpriced), whatever the catalog says.
                    #expect(stored.cost == .zero && stored.priceID == nil)
                }
                #expect(
                    Set(page.map(\.stored.event.model)) == ["gpt-4o", "claude-opus-4-5", "gemini-2.5-pro"])
            }
        }
    }

    /// A guard that cannot decide: 503, retryable, and nothing forwarded or settled.
    /// A key given twice is read differently by Tally (the first) and the providers (the last): such a body is refused
    /// before the guard judges it, and nothing is forwarded.
    @Test func aBodyRepeatingAKeyIsRefused() async throws {
        let seen = GatewayLiveTests.Seen()
        try await live.upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            let fake = FakeGuard(.fail)
            try await live.withGateway(base: "http://127.0.0.1:\(port)", gatewayGuard: fake) { g in
                try await live.app(g).test(.router) { client in
                    for body in [
                        #"{"model":"gpt-4o-mini","model":"o3-pro","messages":[]}"#,
                        #"{"model":"gpt-4o","messages":[{"role":"user","content":"a","content":"b"}]}"#,
                    ] {
                        try await client.execute(
                            uri: "/gateway/openai/v1/chat/completions", method: .post,
                            headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                            body: ByteBuffer(string: body)
                        ) { response in
                            #expect(response.status == .badRequest)
                            #expect(String(buffer: response.body).contains("repeats the key"))
                        }
                    }
                }
                #expect(seen.calls.withLock { $0.count } == 0)
                #expect(fake.admitted.withLock { $0.count } == 0)
            }
        }
    }

    @Test func aGuardThatCannotDecideAnswers503AndForwardsNothing() async throws {
        let seen = GatewayLiveTests.Seen()
        try await live.upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            let fake = FakeGuard(.fail)
            try await live.withGateway(base: "http://127.0.0.1:\(port)", gatewayGuard: fake) { g in
                try await live.app(g).test(.router) { client in
                    try await client.execute(
                        uri: "/gateway/openai/v1/chat/completions", method: .post,
                        headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                        body: ByteBuffer(string: #"{"model":"gpt-4o","messages":[]}"#)
                    ) { response in
                        #expect(response.status == .serviceUnavailable)
                        #expect(response.headers[.init("x-should-retry")!] == "true")
                        #expect(response.headers[.retryAfter] == "1")
                        let json = try JSONParser.parse(Array(response.body.readableBytesView))
                        #expect(json["error"]?["code"] == .string("guard_unavailable"))
                    }
                }
                #expect(seen.calls.withLock { $0.count } == 0)
                #expect(fake.admitted.withLock { $0.count } == 1)
                #expect(fake.settled.withLock { $0.isEmpty })
            }
        }
    }
}

/// An admitted call's ticket is settled exactly once, with the event's priced cost, however the call ends.
@Suite struct GatewaySettleTests {
    let live = GatewayLiveTests()

    /// OpenAI's chat: a JSON answer (12 in, 3 out), a stream whose last chunk has the usage (20 in, 5 out), or for
    /// the model "boom" a 500.
    func upstream(_ seen: GatewayLiveTests.Seen) -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            seen.calls.withLock { $0.append((request.uri.path, request.headers, body)) }
            if body.contains(#""model":"boom""#) {
                return Response(
                    status: .internalServerError, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"boom","type":"server_error"}}"#)))
            }
            guard body.contains(#""stream":true"#) else {
                let answer =
                    #"{"id":"c1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"#
                    + #""message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"#
                    + #""usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: answer)))
            }
            let chunk = #"{"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":"#
            let events = [
                chunk + #"[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
                chunk + #"[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
                chunk + #"[],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25}}"#, "[DONE]",
            ]
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for event in events { try await writer.write(ByteBuffer(string: "data: \(event)\n\n")) }
                    try await writer.finish(nil)
                })
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    /// Sends `body` to OpenAI's chat through the gateway; answers the status, and the call's one settle and event.
    func settled(_ body: String, base: String? = nil) async throws -> (Int, GuardOutcome, StoredEvent) {
        let seen = GatewayLiveTests.Seen()
        let result = Mutex<(Int, GuardOutcome, StoredEvent)?>(nil)
        try await upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            let fake = FakeGuard()
            var timeouts = GatewayTimeouts()
            timeouts.connect = .seconds(2)
            try await live.withGateway(
                base: base ?? "http://127.0.0.1:\(port)", timeouts: timeouts, gatewayGuard: fake,
                pricer: TokenPricer()
            ) { g in
                let status = try await live.app(g).test(.router) { client in
                    try await client.execute(
                        uri: "/gateway/openai/v1/chat/completions", method: .post,
                        headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                        body: ByteBuffer(string: body)
                    ) { Int($0.status.code) }
                }
                let settles = fake.settled.withLock { $0 }
                try #require(settles.count == 1)
                #expect(settles[0].ticket == FakeGuard.ticket(g.organizationID))
                await g.recorder.flush()
                let page = try await g.store.eventsStored(
                    after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
                try #require(page.count == 1)
                let stored = page[0].stored
                result.withLock { $0 = (status, settles[0].outcome, stored) }
            }
        }
        return try #require(result.withLock { $0 })
    }

    @Test func aCallThatSucceedsSettlesWithItsPricedCost() async throws {
        let (status, outcome, stored) = try await settled(#"{"model":"gpt-4o","messages":[]}"#)
        #expect(status == 200)
        #expect(outcome == GuardOutcome(cost: USD(nanos: 12 * 1_000 + 3 * 10_000), tokens: 15))
        #expect(stored.cost == outcome.cost && stored.priceID == "test")
    }

    @Test func aStreamThatSucceedsSettlesWithItsPricedCost() async throws {
        let (status, outcome, stored) = try await settled(#"{"model":"gpt-4o","stream":true,"messages":[]}"#)
        #expect(status == 200)
        #expect(outcome == GuardOutcome(cost: USD(nanos: 20 * 1_000 + 5 * 10_000), tokens: 25))
        #expect(stored.cost == outcome.cost && stored.event.outcome.streamed == true)
    }

    @Test func anUpstreamErrorSettlesWithWhatItUsed() async throws {
        let (status, outcome, stored) = try await settled(#"{"model":"boom","messages":[]}"#)
        #expect(status == 500)
        #expect(outcome == GuardOutcome(cost: nil, tokens: 0))
        #expect(stored.event.outcome.httpStatus == 500 && stored.cost == nil)
    }

    @Test func anUnreachableUpstreamSettlesHavingUsedNothing() async throws {
        let (status, outcome, stored) = try await settled(
            #"{"model":"gpt-4o","messages":[]}"#, base: "http://127.0.0.1:1")
        #expect(status == 502)
        #expect(outcome == GuardOutcome(cost: nil, tokens: 0))
        #expect(stored.event.outcome.errorType == "upstream_unreachable")
    }

    /// A client that goes away at the answer's first byte: the call still ends, is recorded and settles once.
    @Test func aClientThatGoesAwaySettlesOnce() async throws {
        let seen = GatewayLiveTests.Seen()
        try await upstream(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            let fake = FakeGuard()
            try await live.withGateway(
                base: "http://127.0.0.1:\(port)", gatewayGuard: fake, pricer: TokenPricer()
            ) { g in
                let headers: HTTPFields = [.authorization: "Bearer \(g.secret)", .contentType: "application/json"]
                let request = Request(
                    head: HTTPRequest(
                        method: .post, scheme: "http", authority: "tally.test",
                        path: "/gateway/openai/v1/chat/completions", headerFields: headers),
                    body: RequestBody(buffer: ByteBuffer(string: #"{"model":"gpt-4o","stream":true}"#)))
                let response = try await g.controller.forward(.openai, request)
                #expect(response.status == .ok)
                try await response.body.write(GoneWriter())
                let settles = fake.settled.withLock { $0 }
                try #require(settles.count == 1)
                await g.recorder.flush()
                let page = try await g.store.eventsStored(
                    after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
                let stored = try #require(page.first?.stored)
                #expect(stored.event.outcome.errorType == "client_disconnected")
                let usage = stored.event.usage
                #expect(
                    settles[0].outcome
                        == GuardOutcome(cost: stored.cost, tokens: Int(usage.inputTokens + usage.outputTokens)))
            }
        }
    }

    /// A client gone before the answer's first write.
    struct GoneWriter: ResponseBodyWriter {
        struct Gone: Error {}
        mutating func write(_ buffer: ByteBuffer) async throws { throw Gone() }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws { throw Gone() }
    }

    @Test func aTicketSettlesOnceAndADroppedOneAsHavingUsedNothing() async throws {
        let fake = FakeGuard()
        var settles = fake.settles.makeAsyncIterator()
        let once = TicketSettler(fake, FakeGuard.ticket("org_1"))
        await once.settle(GuardOutcome(cost: USD(nanos: 5), tokens: 2))
        await once.settle(GuardOutcome(cost: USD(nanos: 7), tokens: 3))
        #expect(await settles.next() == GuardOutcome(cost: USD(nanos: 5), tokens: 2))
        // Never settled (the server never wrote the answer): settled when dropped, as having used nothing.
        var dropped: TicketSettler? = TicketSettler(fake, FakeGuard.ticket("org_2"))
        #expect(dropped != nil)
        dropped = nil
        #expect(await settles.next() == GuardOutcome(cost: nil, tokens: 0))
        let all = fake.settled.withLock { $0 }
        #expect(all.map(\.ticket.organizationID) == ["org_1", "org_2"])
    }
}
