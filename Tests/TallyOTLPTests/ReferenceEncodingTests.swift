import TallyCore
import TallyOTLP
import Testing

/// A body encoded by the reference implementation, not by SwiftProtobuf: Python's `opentelemetry-proto` 1.45.2
/// messages (what `opentelemetry-exporter-otlp-proto-http` sends), holding what opentelemetry-instrumentation-openai-v2
/// 2.4b0 records by default (`gen_ai.system`, `gen_ai.openai.response.service_tier`): one chat call and one that
/// failed before an answer (`error.type`, status ERROR, no model answered, no usage).
@Suite struct ReferenceEncodingTests {
    static let hex =
        "0a99080aba010a220a1674656c656d657472792e73646b2e6c616e677561676512080a06707974686f6e0a250a1274656c65"
        + "6d657472792e73646b2e6e616d65120f0a0d6f70656e74656c656d657472790a210a1574656c656d657472792e73646b2e76"
        + "657273696f6e12080a06312e33392e300a1d0a0c736572766963652e6e616d65120d0a0b737570706f72742d626f740a2b0a"
        + "1b6465706c6f796d656e742e656e7669726f6e6d656e742e6e616d65120c0a0a70726f64756374696f6e12d9060a300a276f"
        + "70656e74656c656d657472792e696e737472756d656e746174696f6e2e6f70656e61695f76321205322e3462301292040a10"
        + "0af7651916cd43dd8448eb211c80319c1208b7ad6b71692033312a1063686174206770742d346f2d6d696e693003390070eb"
        + "373d897e18418068956a3d897e184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a190a"
        + "0d67656e5f61692e73797374656d12080a066f70656e61694a250a1467656e5f61692e726571756573742e6d6f64656c120d"
        + "0a0b6770742d346f2d6d696e694a2f0a2267656e5f61692e6f70656e61692e726571756573742e736572766963655f746965"
        + "7212090a0764656661756c744a220a0e7365727665722e6164647265737312100a0e6170692e6f70656e61692e636f6d4a12"
        + "0a0b7365727665722e706f7274120318bb034a310a1567656e5f61692e726573706f6e73652e6d6f64656c12180a16677074"
        + "2d346f2d6d696e692d323032342d30372d31384a2c0a1e67656e5f61692e726573706f6e73652e66696e6973685f72656173"
        + "6f6e73120a2a080a060a0473746f704a230a1267656e5f61692e726573706f6e73652e6964120d0a0b63686174636d706c2d"
        + "42314a300a2367656e5f61692e6f70656e61692e726573706f6e73652e736572766963655f7469657212090a076465666175"
        + "6c744a200a1967656e5f61692e75736167652e696e7075745f746f6b656e7312031880104a200a1a67656e5f61692e757361"
        + "67652e6f75747075745f746f6b656e73120218117a0085010001000012e6010a100af7651916cd43dd8448eb211c80319c12"
        + "0800000000000000aa2a1063686174206770742d346f2d6d696e693003390070eb373d897e18418068956a3d897e184a1f0a"
        + "1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a190a0d67656e5f61692e73797374656d12080a"
        + "066f70656e61694a250a1467656e5f61692e726571756573742e6d6f64656c120d0a0b6770742d346f2d6d696e694a220a0a"
        + "6572726f722e7479706512140a12415049436f6e6e656374696f6e4572726f727a151211436f6e6e656374696f6e20657272"
        + "6f722e18028501000100001a2768747470733a2f2f6f70656e74656c656d657472792e696f2f736368656d61732f312e3238"
        + "2e30"

    static var bytes: [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
        }
    }

    @Test func theReferenceEncodingBecomesTwoEvents() throws {
        let request = try OTLPTraces.decode(Self.bytes, encoding: .protobuf)
        #expect(request.spanCount == 2)
        let result = OTLPTraces.events(from: request, now: F.now)
        #expect(result.rejectedSpans == 0)
        #expect(result.ignoredSpans == 0)
        try #require(result.events.count == 2)

        var chat = UsageEvent(
            id: "0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            timestamp: Instant(seconds: 1_764_999_000), provider: "openai", model: "gpt-4o-mini-2024-07-18",
            operation: .chat, source: .otlp)
        chat.usage.inputTokens = 2048
        chat.usage.outputTokens = 17
        chat.attribution = Attribution(
            environment: "production", tags: ["service": "support-bot", "provider_request_id": "chatcmpl-B1"])
        chat.serviceTier = "default"
        chat.outcome.latencyMs = 850
        chat.outcome.finishReason = "stop"
        #expect(result.events[0] == chat)

        var failed = UsageEvent(
            id: "0af7651916cd43dd8448eb211c80319c-00000000000000aa",
            timestamp: Instant(seconds: 1_764_999_000), provider: "openai", model: "gpt-4o-mini", operation: .chat,
            source: .otlp)
        failed.attribution = Attribution(environment: "production", tags: ["service": "support-bot"])
        failed.outcome.status = .error
        failed.outcome.errorType = "APIConnectionError"
        failed.outcome.latencyMs = 850
        #expect(result.events[1] == failed)
    }
}
