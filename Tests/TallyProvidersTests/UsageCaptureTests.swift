import TallyCore
import Testing

@testable import TallyProviders

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
        feed(
            &c,
            """
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
        feed(
            &c,
            """
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
        #expect(
            r.usage?.inputTokens == 130 && r.usage?.cachedInputTokens == 100 && r.usage?.cacheWriteInputTokens == 20)
        #expect(r.usage?.outputTokens == 42, "the delta's output count replaces the start's")
    }

    /// The newer API repeats the whole usage in `message_delta` (cumulative, e.g. after a server tool's second
    /// sampling pass), and a later delta may send a count as null. Written by hand: input 40 uncached + 8192 cache reads
    /// + 2048 cache writes (512 of them 1h, from the start's split) = 10280; output from the last delta, 300.
    @Test func anthropicFullUsageDeltaReplacesNeverAddsAndNullKeepsTheCount() {
        var c = UsageCapture(kind: .anthropicMessages, streamed: true, requestedModel: nil)
        feed(
            &c,
            """
            event: message_start
            data: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":12,"cache_creation_input_tokens":2048,"cache_read_input_tokens":4096,"cache_creation":{"ephemeral_5m_input_tokens":1536,"ephemeral_1h_input_tokens":512},"output_tokens":1}}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"pause_turn"},"usage":{"input_tokens":40,"cache_creation_input_tokens":2048,"cache_read_input_tokens":8192,"output_tokens":150,"server_tool_use":{"web_search_requests":1}}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":null,"cache_creation_input_tokens":null,"cache_read_input_tokens":null,"output_tokens":300,"server_tool_use":null}}

            event: message_stop
            data: {"type":"message_stop"}


            """, chunk: 11)
        let r = c.finish(status: 200)
        #expect(r.finishReason == "end_turn")
        #expect(
            r.usage?.inputTokens == 10280, "40 + 8192 + 2048: neither the start's 12 + 4096 added, nor lost to a null")
        #expect(
            r.usage?.cachedInputTokens == 8192 && r.usage?.cacheWriteInputTokens == 2048
                && r.usage?.cacheWrite1hInputTokens == 512)
        #expect(r.usage?.outputTokens == 300)
    }

    @Test func geminiArrayStreamAndErrors() {
        var c = UsageCapture(kind: .geminiGenerate, streamed: true, requestedModel: "gemini-2.5-flash")
        feed(
            &c,
            """
            [{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1},"modelVersion":"gemini-2.5-flash"}
            ,{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":6,"thoughtsTokenCount":3},"modelVersion":"gemini-2.5-flash"}
            ]
            """)
        let r = c.finish(status: 200)
        #expect(
            r.usage?.inputTokens == 8 && r.usage?.outputTokens == 9 && r.usage?.reasoningTokens == 3
                && r.finishReason == "STOP")
        var e = UsageCapture(kind: .openAIChat, streamed: false, requestedModel: "gpt-4o")
        feed(
            &e,
            #"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#)
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

    /// A hostile or broken upstream sends one enormous SSE line: the capture holds at most `lineLimit` of it (the
    /// old capture kept the whole line), drops it, and still reads the usage that follows.
    @Test func aHugeLineIsDroppedAsItPassesAndTheUsageAfterItIsRead() {
        var c = UsageCapture(kind: .openAIChat, streamed: true, requestedModel: "gpt-4o-mini")
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 10)
        c.consume(Array("data: {\"choices\":[{\"delta\":{\"content\":\"".utf8))
        for _ in 0..<48 {  // 3 MiB in one line
            c.consume(piece)
            #expect(c.line.count <= UsageCapture.lineLimit)
        }
        #expect(c.lineOverflow && c.line.isEmpty)
        feed(
            &c,
            "\"}}]}\n\ndata: {\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n"
        )
        let r = c.finish(status: 200)
        #expect(r.usage?.inputTokens == 7 && r.usage?.outputTokens == 2 && r.model == "gpt-4o-mini-2024-07-18")
    }

    @Test func aLineJustUnderTheLimitIsStillRead() {
        var c = UsageCapture(kind: .openAIChat, streamed: true, requestedModel: nil)
        let head = #"data: {"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1},"pad":""#
        let tail = "\"}\n\n"
        let pad = String(repeating: "p", count: UsageCapture.lineLimit - head.utf8.count - 2)
        feed(&c, head + pad + tail, chunk: 60_000)
        #expect(c.finish(status: 200).usage?.inputTokens == 5)
    }

    @Test func aJSONAnswerCanBeAbandonedForLackOfMemory() {
        var c = UsageCapture(kind: .openAIEmbeddings, streamed: false, requestedModel: "text-embedding-3-small")
        #expect(c.buffersBody)
        feed(&c, #"{"model":"text-embedding-3-small","data":[],"#)
        c.abandonBody()
        #expect(!c.buffersBody && c.json.isEmpty)
        feed(&c, #""usage":{"prompt_tokens":3,"total_tokens":3}}"#)
        let r = c.finish(status: 200)
        #expect(r.usage == nil && r.model == "text-embedding-3-small")
        #expect(!UsageCapture(kind: .openAIChat, streamed: true, requestedModel: nil).buffersBody)
        #expect(!UsageCapture(kind: .other, streamed: false, requestedModel: nil).buffersBody)
    }

    /// One event of 4 MiB arriving in 4 KiB pieces: the filter holds at most `eventLimit` (the old filter kept the
    /// whole event and searched it from its first byte on every piece: quadratic), passes it on unchanged, and
    /// still removes the usage chunk after it.
    @Test func aHugeEventPassesThroughTheFilterInBoundedMemory() {
        var f = StreamFilter()
        var big = Array("data: {\"choices\":[{\"delta\":{\"content\":\"".utf8)
        big += [UInt8](repeating: UInt8(ascii: "y"), count: 4 << 20)
        big += Array("\"}}]}\n\n".utf8)
        let usage = Array(
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n".utf8)
        let all = big + usage
        var out: [UInt8] = []
        var i = 0
        while i < all.count {
            out += f.pass(all[i..<min(i + 4096, all.count)])
            #expect(f.event.count <= StreamFilter.eventLimit)
            i += 4096
        }
        out += f.flush()
        #expect(out == big + Array("data: [DONE]\n\n".utf8))
    }

    @Test func crlfEventsAreSplitLikeLFEvents() {
        var f = StreamFilter()
        let text =
            "data: {\"choices\":[{}]}\r\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\r\n\r\ndata: [DONE]\r\n\r\n"
        var out = f.pass(Array(text.utf8))
        out += f.flush()
        #expect(String(decoding: out, as: UTF8.self) == "data: {\"choices\":[{}]}\r\n\r\ndata: [DONE]\r\n\r\n")
    }
}
