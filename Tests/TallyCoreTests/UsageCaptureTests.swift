import Testing
import TallyCore
@testable import TallyIngest

/// The gateway reads usage from responses as they stream past, in each provider's documented shapes.
@Suite struct UsageCaptureTests {
    func feed(_ capture: inout UsageCapture, _ text: String, chunk: Int = 7) {
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {  // arbitrary chunk boundaries, as the network cuts them
            capture.consume(bytes[i..<min(i + chunk, bytes.count)])
            i += chunk
        }
    }

    @Test func openAIChatStreamTakesTheFinalUsageChunk() {
        var c = UsageCapture(kind: .openAIChat, streamed: true, requestedModel: "gpt-4o-mini")
        feed(&c, """
            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}

            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4}}}

            data: [DONE]


            """)
        let r = c.finish(status: 200)
        #expect(r.model == "gpt-4o-mini-2024-07-18" && r.finishReason == "stop" && r.streamed)
        #expect(r.usage?.inputTokens == 12 && r.usage?.outputTokens == 5 && r.usage?.cachedInputTokens == 4)
    }

    @Test func anthropicStreamMergesStartAndDelta() {
        var c = UsageCapture(kind: .anthropicMessages, streamed: true, requestedModel: nil)
        feed(&c, """
            event: message_start
            data: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":1}}}

            event: ping
            data: {"type":"ping"}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}

            event: message_stop
            data: {"type":"message_stop"}


            """, chunk: 13)
        let r = c.finish(status: 200)
        #expect(r.model == "claude-sonnet-4-5-20250929" && r.finishReason == "end_turn")
        #expect(r.usage?.inputTokens == 130 && r.usage?.cachedInputTokens == 100 && r.usage?.cacheWriteInputTokens == 20)
        #expect(r.usage?.outputTokens == 42, "the delta's output count replaces the start's")
    }

    @Test func geminiArrayStreamAndErrors() {
        var c = UsageCapture(kind: .geminiGenerate, streamed: true, requestedModel: "gemini-2.5-flash")
        feed(&c, """
            [{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1},"modelVersion":"gemini-2.5-flash"}
            ,{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":6,"thoughtsTokenCount":3},"modelVersion":"gemini-2.5-flash"}
            ]
            """)
        let r = c.finish(status: 200)
        #expect(r.usage?.inputTokens == 8 && r.usage?.outputTokens == 9 && r.usage?.reasoningTokens == 3 && r.finishReason == "STOP")
        var e = UsageCapture(kind: .openAIChat, streamed: false, requestedModel: "gpt-4o")
        feed(&e, #"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#)
        let failed = e.finish(status: 429)
        #expect(failed.errorType == "requests" && failed.usage == nil && failed.model == "gpt-4o")
    }

    @Test func theUsageChunkTheClientDidNotAskForIsRemoved() {
        var f = StreamFilter()
        let stream = """
            data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}

            data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}

            data: [DONE]


            """
        var out: [UInt8] = []
        for byte in stream.utf8 { out += f.pass([byte]) }  // one byte at a time: events split anywhere
        out += f.flush()
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.contains("\"content\":\"Hi\"") && text.contains("[DONE]"))
        #expect(!text.contains("usage"))
    }
}
