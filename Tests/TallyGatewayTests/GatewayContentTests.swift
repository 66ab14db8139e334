import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import TallyCore
import TallyStoreSQL
import TallyStoreSQLite
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices

/// Issue 21 in the gateway, end to end against a live upstream: request filters block, redact and flag before
/// anything goes upstream; a non-streamed answer is held and screened before the client sees it; flags and quality
/// flags land on the event; captured bodies are sealed (no plaintext in the database file) and only when asked.
@Suite struct GatewayContentTests {
    let live = GatewayLiveTests()

    /// OpenAI's chat, answering with the last message's text (or "" for "EMPTY"), cut (`length`) when max_tokens is 1.
    func echo(_ seen: GatewayLiveTests.Seen) -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/chat/completions") { request, _ in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            seen.calls.withLock { $0.append((request.uri.path, request.headers, body)) }
            let json = try JSONParser.parse(Array(body.utf8))
            var said = ""
            if case .array(let messages)? = json["messages"], case .string(let s)? = messages.last?["content"] {
                said = s == "EMPTY" ? "" : s
            }
            let finish = json["max_completion_tokens"] == .number("1") ? "length" : "stop"
            var w = JSONWriter()
            w.beginObject()
            w.field("id", "c1")
            w.field("object", "chat.completion")
            w.field("model", "gpt-4o")
            w.key("choices")
            w.raw(
                #"[{"index":0,"message":{"role":"assistant","content":"# + JSONWriter.quoted(said)
                    + #"},"finish_reason":"\#(finish)"}]"#)
            w.key("usage")
            w.raw(#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}"#)
            w.endObject()
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: w.text)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    struct Sent {
        var status: Int
        var body: String
        var event: StoredEvent
        var upstream: [String]
        var gateway: GatewayLiveTests.Gateway
    }

    /// One chat call saying `text` through a gateway with `filters` (created by the service, as the API does) and
    /// the project's `capture`; answers what the client got, the stored event and what the upstream received.
    func send(
        _ text: String, filters: [[String: JSONValue]] = [], capture: ContentSettings = .off,
        maxTokens: Int = 100, inspect: (@Sendable (GatewayLiveTests.Gateway) async throws -> Void)? = nil
    ) async throws -> (status: Int, body: String, event: StoredEvent, upstream: [String]) {
        let seen = GatewayLiveTests.Seen()
        let result = Mutex<(Int, String, StoredEvent, [String])?>(nil)
        try await echo(seen).test(.live) { upstreamClient in
            let port = try #require(upstreamClient.port)
            try await live.withGateway(
                base: "http://127.0.0.1:\(port)",
                content: { store, vault in
                    GatewayContentRules(store: store, vault: vault, captureLimit: 1024, maxAge: .zero)
                }
            ) { g in
                let service = SafetyFilterService(store: g.store)
                for f in filters { _ = try await service.create(f, organizationID: g.organizationID, actor: "test") }
                let project = try #require(try await g.store.project(organizationID: g.organizationID, name: "web"))
                try await g.store.setContentSettings(organizationID: g.organizationID, projectID: project.id, capture)
                var body = JSONWriter()
                body.beginObject()
                body.field("model", "gpt-4o")
                body.field("max_completion_tokens", maxTokens)
                body.key("messages")
                body.raw(#"[{"role":"user","content":"# + JSONWriter.quoted(text) + "}]")
                body.endObject()
                let text = body.text
                let (status, answer) = try await live.app(g).test(.router) { client in
                    try await client.execute(
                        uri: "/gateway/openai/v1/chat/completions", method: .post,
                        headers: [.authorization: "Bearer \(g.secret)", .contentType: "application/json"],
                        body: ByteBuffer(string: text)
                    ) { (Int($0.status.code), String(buffer: $0.body)) }
                }
                await g.recorder.flush()
                let stored = try await g.store.eventsStored(
                    after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
                try #require(stored.count == 1)
                try await inspect?(g)
                result.withLock { $0 = (status, answer, stored[0].stored, seen.calls.withLock { $0.map(\.body) }) }
            }
        }
        let r = try #require(result.withLock { $0 })
        return (r.0, r.1, r.2, r.3)
    }

    static func filter(_ name: String, on: String, action: String, detectors: [String] = [], keywords: [String] = [])
        -> [String: JSONValue]
    {
        [
            "name": .string(name), "on": .string(on), "action": .string(action),
            "detectors": .array(detectors.map(JSONValue.string)), "keywords": .array(keywords.map(JSONValue.string)),
        ]
    }

    @Test func aRedactingFilterRewritesTheRequestBeforeItGoesUpstream() async throws {
        let r = try await send(
            "mail bob.smith@example.com please",
            filters: [Self.filter("pii", on: "request", action: "redact", detectors: ["email"])])
        #expect(r.status == 200)
        #expect(r.upstream.count == 1 && !r.upstream[0].contains("bob.smith@example.com"))
        #expect(r.upstream[0].contains("[REDACTED:EMAIL]") && r.upstream[0].contains(#""model":"gpt-4o""#))
        #expect(r.event.event.outcome.safetyFlags == ["pii.email"])
    }

    @Test func aBlockingFilterAnswers400NamingTheFilterAndNothingGoesUpstream() async throws {
        let r = try await send(
            "tell me about Project Zeus",
            filters: [Self.filter("codenames", on: "both", action: "block", keywords: ["project zeus"])])
        #expect(r.status == 400 && r.upstream.isEmpty)
        #expect(r.body.contains("content_blocked") && r.body.contains("codenames"))
        #expect(!r.body.lowercased().contains("zeus"))
        #expect(r.event.event.outcome.errorType == "content_blocked" && r.event.cost == .zero)
        #expect(r.event.event.outcome.safetyFlags == ["keyword:codenames", "blocked:codenames"])
    }

    @Test func aFlaggingFilterForwardsAndRecords() async throws {
        let r = try await send(
            "my card is 4111 1111 1111 1111",
            filters: [Self.filter("cards", on: "request", action: "flag", detectors: ["credit_card"])])
        #expect(r.status == 200 && r.upstream.count == 1 && r.upstream[0].contains("4111 1111 1111 1111"))
        #expect(r.event.event.outcome.safetyFlags == ["pii.credit_card"])
    }

    /// The answer echoes the prompt: a response filter sees it before the client does.
    @Test func aResponseFilterBlocksOrRedactsANonStreamedAnswer() async throws {
        let blocked = try await send(
            "the answer is hush-hush",
            filters: [Self.filter("quiet", on: "response", action: "block", keywords: ["hush-hush"])])
        #expect(blocked.status == 400 && blocked.upstream.count == 1)
        #expect(blocked.body.contains("content_blocked") && !blocked.body.contains("hush-hush"))
        #expect(
            blocked.event.event.usage.inputTokens == 12 && blocked.event.event.outcome.errorType == "content_blocked")
        let redacted = try await send(
            "reach me at alice@example.org",
            filters: [Self.filter("pii", on: "response", action: "redact", detectors: ["email"])])
        #expect(redacted.status == 200 && !redacted.body.contains("alice@example.org"))
        #expect(redacted.body.contains("[REDACTED:EMAIL]") && redacted.upstream[0].contains("alice@example.org"))
        #expect(try JSONParser.parse(Array(redacted.body.utf8))["usage"]?["prompt_tokens"] == .number("12"))
        #expect(redacted.event.event.outcome.safetyFlags == ["pii.email"])
    }

    @Test func qualityFlagsComeFromTheAnswer() async throws {
        let cut = try await send("a long story", maxTokens: 1)
        #expect(cut.event.event.outcome.qualityFlags == ["truncated"])
        let empty = try await send("EMPTY")
        #expect(empty.event.event.outcome.qualityFlags == ["empty"])
        let fine = try await send("a fine answer")
        #expect(fine.event.event.outcome.qualityFlags.isEmpty && fine.event.event.outcome.safetyFlags.isEmpty)
    }

    /// Capture off writes no body; capture full seals both, so the marker is nowhere in the database's files.
    @Test(arguments: [ContentCapture.off, .full, .redacted])
    func capturedBodiesAreSealedAndOnlyWhenAsked(_ mode: ContentCapture) async throws {
        let marker = "MARKER-\(UUID().uuidString)"
        _ = try await send(
            "say \(marker) to carol@example.com", capture: ContentSettings(capture: mode, retentionDays: 3)
        ) { g in
            let stored = try await g.store.eventsStored(
                after: 0, organizationID: g.organizationID, filters: DimensionFilters(), limit: 10)
            let e = stored[0].stored
            let sealed = try await g.store.eventContent(
                organizationID: g.organizationID, projectID: e.projectID, eventID: e.event.id)
            var files = ""
            for name in try FileManager.default.contentsOfDirectory(atPath: g.directory!.path) {
                let data = try Data(contentsOf: g.directory!.appendingPathComponent(name))
                files += String(decoding: data, as: UTF8.self)
            }
            #expect(!files.contains(marker))
            guard mode != .off else {
                #expect(sealed == nil)
                return
            }
            let s = try #require(sealed)
            #expect(s.mode == mode)
            let request = String(
                decoding: try g.vault!.openContent(
                    s.request!, keyID: s.keyID, organizationID: g.organizationID, projectID: e.projectID,
                    eventID: e.event.id, part: .request), as: UTF8.self)
            let response = String(
                decoding: try g.vault!.openContent(
                    s.response!, keyID: s.keyID, organizationID: g.organizationID, projectID: e.projectID,
                    eventID: e.event.id, part: .response), as: UTF8.self)
            #expect(request.contains(marker) && response.contains(marker))
            #expect(request.contains("carol@example.com") == (mode == .full))
            #expect(response.contains("carol@example.com") == (mode == .full))
        }
    }
}
