import NIOCore
import TallyCore
import Testing

@testable import TallyGateway
@testable import TallyHTTP
@testable import TallyServices

@Suite struct GatewayDurationTests {
    @Test func durationsAreWrittenAsTheSettingsAre() {
        #expect(Duration.milliseconds(500).shortText == "500ms")
        #expect(Duration.seconds(10).shortText == "10s")
        #expect(Duration.seconds(600).shortText == "10m")
        #expect(Duration.milliseconds(1500).shortText == "1500ms")
    }
}

@Suite struct GatewayStreamTailTests {
    func tail(_ pieces: String...) -> SentTail {
        var t = SentTail()
        for p in pieces { t.note(ByteBuffer(string: p)) }
        return t
    }

    @Test func anEventEndsAtABlankLine() {
        #expect(tail().atEventBoundary)
        #expect(tail("data: {\"a\":1}\n\n").atEventBoundary)
        #expect(tail("event: ping\r\ndata: {}\r\n\r\n").atEventBoundary)
        #expect(tail("data: {\"a\":1}\n", "\n").atEventBoundary)
        #expect(tail("data: {\"a\":1}\n", "\n", "", "").atEventBoundary)
    }

    @Test func halfAnEventIsNotABoundary() {
        #expect(!tail("data: {\"a\":").atEventBoundary)
        #expect(!tail("data: {\"a\":1}\n").atEventBoundary)
        #expect(!tail("data: {}\n\n", "data: {").atEventBoundary)
        #expect(!tail("event: ping\r\n").atEventBoundary)
    }
}

@Suite struct GatewayStreamErrorTests {
    @Test func openAIAndAnthropicStreamsEndWithTheirOwnErrorEvent() throws {
        let openai = try #require(GatewayErrors.streamEvent(.openai, message: "m \"q\"", code: "upstream_idle_timeout"))
        #expect(
            openai
                == #"data: {"error":{"message":"m \"q\"","type":"timeout","param":null,"code":"upstream_idle_timeout"}}"#
                + "\n\n")
        let anthropic = try #require(GatewayErrors.streamEvent(.anthropic, message: "m", code: "upstream_idle_timeout"))
        #expect(
            anthropic == "event: error\n" + #"data: {"type":"error","error":{"type":"timeout_error","message":"m"}}"#
                + "\n\n")
        #expect(GatewayErrors.streamEvent(.google, message: "m", code: "x") == nil)
    }
}

/// The tier a gateway event records: the answer's, else the request's, each held to the API's `service_tier` rules.
@Suite struct GatewayServiceTierTests {
    func request(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func theAnswerWinsOverTheRequest() throws {
        // OpenAI serves a request for `fast` (or `auto`) at priority, and says so.
        let fast = try request(#"{"model":"gpt-5","service_tier":"fast"}"#)
        #expect(Controller.serviceTier(.openai, answered: "priority", requestJSON: fast) == "priority")
        #expect(Controller.serviceTier(.openai, answered: nil, requestJSON: fast) == "fast")
        #expect(Controller.serviceTier(.openai, answered: nil, requestJSON: nil) == nil)
        let standardOnly = try request(#"{"model":"claude-haiku-4-5","service_tier":"standard_only"}"#)
        #expect(Controller.serviceTier(.anthropic, answered: nil, requestJSON: standardOnly) == "standard")
    }

    /// A control character in the answer's tier (ServiceTier.name keeps any short string) is refused by the rules:
    /// dropped, and the request's tier used; a request's hostile tier is dropped as well, never stored.
    @Test func aValueTheRulesRefuseIsDroppedNeverStored() throws {
        let flex = try request(#"{"service_tier":"flex"}"#)
        #expect(Controller.serviceTier(.openai, answered: "pri\u{0}ority", requestJSON: flex) == "flex")
        #expect(Controller.serviceTier(.openai, answered: "flex\n", requestJSON: nil) == nil)
        let hostile = try request(#"{"service_tier":"fl\u001bex"}"#)
        #expect(Controller.serviceTier(.openai, answered: nil, requestJSON: hostile) == nil)
        let long = try request(#"{"service_tier":"\#(String(repeating: "x", count: 10_240))"}"#)
        #expect(Controller.serviceTier(.openai, answered: nil, requestJSON: long) == nil)
        let number = try request(#"{"service_tier":42}"#)
        #expect(Controller.serviceTier(.anthropic, answered: nil, requestJSON: number) == nil)
    }
}
