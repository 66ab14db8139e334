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
