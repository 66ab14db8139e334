import TallyCore
import Testing

@testable import TallyProviders

/// Feeds `text` in pieces of `chunk` bytes, as the network cuts them (mid-line, mid-character), and finishes.
func capture(
    _ kind: UsageCapture.Kind, streamed: Bool, _ text: String, chunk: Int = 7, status: Int = 200
) -> UsageCapture.Result {
    var c = UsageCapture(kind: kind, streamed: streamed, requestedModel: nil)
    let bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        c.consume(bytes[i..<min(i + chunk, bytes.count)])
        i += chunk
    }
    return c.finish(status: status)
}

/// An OpenAI chat chunk's `data:` event with `delta` (JSON text) for choice `index`.
func chatChunk(_ delta: String, index: Int = 0, finish: String? = nil) -> String {
    let reason = finish.map { "\"\($0)\"" } ?? "null"
    return
        #"data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":\#(index),"delta":\#(delta),"finish_reason":\#(reason)}]}"#
        + "\n\n"
}

/// An Anthropic event: its `event:` line and its `data:` line.
func anthropicEvent(_ data: String) -> String {
    let type = parse(data)["type"].textOrEmpty
    return "event: \(type)\ndata: \(data)\n\n"
}

/// What the answer said, gathered with the usage, whole and streamed, in each provider's documented shapes.
@Suite struct AnswerCaptureTests {
    // MARK: OpenAI chat and completions

    @Test func openAIChatWholeAnswerWithToolCalls() {
        let r = capture(
            .openAIChat, streamed: false,
            #"{"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","refusal":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"w","arguments":"{\"city\":\"Oslo\"}"}},{"id":"b","type":"function","function":{"name":"t","arguments":"{}"}}]},"finish_reason":"tool_calls"},{"index":1,"message":{"content":"second choice"}}],"usage":{"prompt_tokens":5,"completion_tokens":9}}"#
        )
        #expect(r.answer == AnswerText(text: "Let me check.", toolArguments: [#"{"city":"Oslo"}"#, "{}"]))
        #expect(r.finishReason == "tool_calls" && r.usage?.outputTokens == 9)
    }

    @Test func openAIChatRefusal() {
        let r = capture(
            .openAIChat, streamed: false,
            #"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#
        )
        #expect(r.answer.refusal == "I can't help with that." && r.answer.text.isEmpty && r.answer.toolCalls == 0)
        let streamed = capture(
            .openAIChat, streamed: true,
            chatChunk(#"{"role":"assistant","content":null,"refusal":""}"#) + chatChunk(#"{"refusal":"I can't "}"#)
                + chatChunk(#"{"refusal":"help."}"#) + chatChunk("{}", finish: "stop") + "data: [DONE]\n\n")
        #expect(streamed.answer == AnswerText(refusal: "I can't help."))
    }

    /// The text in many chunks, cut mid-line and mid-character; a second choice (`n` = 2) is not the answer.
    @Test(arguments: [1, 5, 64, 4096])
    func openAIChatStreamTextAcrossChunks(chunk: Int) {
        let words = ["Hél", "lo", ", wör", "ld", " — ", "🙂", "!"]
        var stream = chatChunk(#"{"role":"assistant","content":""}"#)
        for w in words {
            stream += chatChunk("{\"content\":\(JSONWriter.quoted(w))}")
            stream += chatChunk(#"{"content":"other"}"#, index: 1)
        }
        stream += chatChunk("{}", finish: "stop")
        stream += #"data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7}}"# + "\n\n"
        stream += "data: [DONE]\n\n"
        let r = capture(.openAIChat, streamed: true, stream, chunk: chunk)
        #expect(r.answer.text == "Héllo, wörld — 🙂!" && !r.answer.textCut)
        #expect(r.finishReason == "stop" && r.usage?.outputTokens == 7)
    }

    /// Two calls' arguments in fragments, interleaved, each named by its index.
    @Test func openAIChatStreamToolCallsSplitAcrossChunks() {
        let stream =
            chatChunk(
                #"{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"w","arguments":""}}]}"#
            )
            + chatChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]}"#)
            + chatChunk(
                #"{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"t","arguments":"{\"tz\":"}}]}"#
            )
            + chatChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Oslo\"}"}}]}"#)
            + chatChunk(#"{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]}"#)
            + chatChunk("{}", finish: "tool_calls") + "data: [DONE]\n\n"
        let r = capture(.openAIChat, streamed: true, stream, chunk: 11)
        #expect(r.answer.toolArguments == [#"{"city":"Oslo"}"#, #"{"tz":"CET"}"#])
        #expect(r.answer.text.isEmpty && r.finishReason == "tool_calls")
    }

    @Test func openAICompletionsWholeAndStreamed() {
        let whole = capture(
            .openAICompletions, streamed: false,
            #"{"choices":[{"text":" upon a time","index":0,"finish_reason":"length"},{"text":"x","index":1}]}"#)
        #expect(whole.answer.text == " upon a time" && whole.finishReason == "length")
        let stream =
            #"data: {"choices":[{"text":" upon","index":0,"finish_reason":null}]}"# + "\n\n"
            + #"data: {"choices":[{"text":" a time","index":0,"finish_reason":"stop"}]}"# + "\n\ndata: [DONE]\n\n"
        #expect(capture(.openAICompletions, streamed: true, stream, chunk: 3).answer.text == " upon a time")
    }

    @Test func embeddingsAndOtherCallsSayNothing() {
        let r = capture(
            .openAIEmbeddings, streamed: false,
            #"{"object":"list","model":"e","data":[{"embedding":[0.1]}],"usage":{"prompt_tokens":3,"total_tokens":3}}"#)
        #expect(r.answer == AnswerText() && r.usage?.inputTokens == 3)
        #expect(capture(.other, streamed: false, #"{"choices":[{"message":{"content":"x"}}]}"#).answer == AnswerText())
    }

    // MARK: OpenAI Responses

    @Test func responsesWholeAnswerAndIncompleteReason() {
        let r = capture(
            .openAIResponses, streamed: false,
            #"{"id":"resp_1","object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"reasoning","summary":[]},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Part one","annotations":[]},{"type":"output_text","text":", part two"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{\"a\":1}"}],"usage":{"input_tokens":4,"output_tokens":16}}"#
        )
        #expect(r.answer == AnswerText(text: "Part one, part two", toolArguments: [#"{"a":1}"#]))
        #expect(r.finishReason == "max_output_tokens")
        let filtered = capture(
            .openAIResponses, streamed: false,
            #"{"object":"response","status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}"#
        )
        #expect(filtered.finishReason == "content_filter")
        let done = capture(
            .openAIResponses, streamed: false, #"{"object":"response","status":"completed","output":[]}"#)
        #expect(done.finishReason == "completed")
    }

    /// Deltas are the answer; `response.completed` repeats it in `output` and is not counted twice.
    @Test func responsesStreamReadsDeltasOnce() {
        func event(_ data: String) -> String { "event: \(parse(data)["type"].textOrEmpty)\ndata: \(data)\n\n" }
        let stream = [
            #"{"type":"response.created","sequence_number":0,"response":{"id":"r","status":"in_progress","output":[],"usage":null}}"#,
            #"{"type":"response.output_item.added","output_index":0,"item":{"type":"message","role":"assistant","content":[]}}"#,
            #"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Calling"}"#,
            #"{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":" now."}"#,
            #"{"type":"response.output_item.added","output_index":1,"item":{"type":"function_call","call_id":"c1","name":"f","arguments":""}}"#,
            #"{"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","call_id":"c2","name":"g","arguments":""}}"#,
            #"{"type":"response.function_call_arguments.delta","output_index":1,"delta":"{\"x\":"}"#,
            #"{"type":"response.function_call_arguments.delta","output_index":2,"delta":"{}"}"#,
            #"{"type":"response.function_call_arguments.delta","output_index":1,"delta":"2}"}"#,
            #"{"type":"response.function_call_arguments.done","output_index":1,"arguments":"{\"x\":2}"}"#,
            #"{"type":"response.completed","response":{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Calling now."}]},{"type":"function_call","arguments":"{\"x\":2}"},{"type":"function_call","arguments":"{}"}],"usage":{"input_tokens":3,"output_tokens":9}}}"#,
        ].map(event).joined()
        let r = capture(.openAIResponses, streamed: true, stream, chunk: 9)
        #expect(r.answer == AnswerText(text: "Calling now.", toolArguments: [#"{"x":2}"#, "{}"]))
        #expect(r.finishReason == "completed" && r.usage?.outputTokens == 9)
    }

    /// A stream that sent no deltas (only the terminal event) still says what the answer was; an incomplete one
    /// says why.
    @Test func responsesStreamWithoutDeltasReadsTheTerminalOutput() {
        let stream =
            "event: response.incomplete\ndata: "
            + #"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[{"type":"message","content":[{"type":"output_text","text":"Partial"},{"type":"refusal","refusal":"Stopped."}]}],"usage":{"input_tokens":3,"output_tokens":2}}}"#
            + "\n\n"
        let r = capture(.openAIResponses, streamed: true, stream)
        #expect(r.answer == AnswerText(text: "Partial", refusal: "Stopped."))
        #expect(r.finishReason == "content_filter")
        // Arguments that arrive whole in `.done`, with no fragment before them.
        let whole = capture(
            .openAIResponses, streamed: true,
            "data: "
                + #"{"type":"response.output_item.added","output_index":0,"item":{"type":"function_call","arguments":""}}"#
                + "\n\ndata: "
                + #"{"type":"response.function_call_arguments.done","output_index":0,"arguments":"{\"k\":true}"}"#
                + "\n\n")
        #expect(whole.answer.toolArguments == [#"{"k":true}"#])
    }

    // MARK: Anthropic

    @Test func anthropicWholeMessageWithToolUseAndStopReasons() {
        let r = capture(
            .anthropicMessages, streamed: false,
            #"{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Checking "},{"type":"text","text":"weather."},{"type":"tool_use","id":"t","name":"w","input":{"city":"Oslo","days":[1,2]}}],"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":20}}"#
        )
        #expect(r.answer == AnswerText(text: "Checking weather.", toolArguments: [#"{"city":"Oslo","days":[1,2]}"#]))
        #expect(r.finishReason == "tool_use")
        let refused = capture(
            .anthropicMessages, streamed: false,
            #"{"type":"message","content":[{"type":"text","text":"I can't."}],"stop_reason":"refusal","usage":{"input_tokens":5,"output_tokens":3}}"#
        )
        #expect(refused.finishReason == "refusal" && refused.answer.text == "I can't.")
        let cut = capture(
            .anthropicMessages, streamed: true,
            anthropicEvent(
                #"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}"#))
        #expect(cut.finishReason == "max_tokens")
    }

    /// Block indexes map to call numbers: text at 0, thinking at 1, tools at 2 and 4 (a text block between), and a
    /// tool without arguments at 5, whose input is the empty object.
    @Test func anthropicStreamTextAndToolInputFragments() {
        let stream = [
            #"{"type":"message_start","message":{"id":"m","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Sure"}}"#,
            #"{"type":"ping"}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", here"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"thinking_delta","thinking":"not the answer"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t1","name":"w","input":{}}}"#,
            #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}"#,
            #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"lo\"}"}}"#,
            #"{"type":"content_block_stop","index":2}"#,
            #"{"type":"content_block_start","index":3,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":" and"}}"#,
            #"{"type":"content_block_stop","index":3}"#,
            #"{"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"t2","name":"x","input":{}}}"#,
            #"{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"{\"n\":"}}"#,
            #"{"type":"content_block_delta","index":4,"delta":{"type":"input_json_delta","partial_json":"3}"}}"#,
            #"{"type":"content_block_stop","index":4}"#,
            #"{"type":"content_block_start","index":5,"content_block":{"type":"tool_use","id":"t3","name":"now","input":{}}}"#,
            #"{"type":"content_block_stop","index":5}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            #"{"type":"message_stop"}"#,
        ].map(anthropicEvent).joined()
        let r = capture(.anthropicMessages, streamed: true, stream, chunk: 13)
        #expect(r.answer.text == "Sure, here and")
        #expect(r.answer.toolArguments == [#"{"city": "Oslo"}"#, #"{"n":3}"#, "{}"])
        #expect(r.finishReason == "tool_use" && r.usage?.outputTokens == 30)
    }

    // MARK: Gemini

    @Test func geminiWholeAnswerSkipsThoughtsAndWritesArgs() {
        let r = capture(
            .geminiGenerate, streamed: false,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think","thought":true},{"text":"It is "},{"text":"sunny."},{"functionCall":{"name":"log","args":{"city":"Oslo","n":2}}},{"functionCall":{"name":"now"}}]},"finishReason":"STOP","index":0},{"content":{"parts":[{"text":"second"}]},"index":1}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":5}}"#
        )
        #expect(r.answer == AnswerText(text: "It is sunny.", toolArguments: [#"{"city":"Oslo","n":2}"#, "{}"]))
        #expect(r.finishReason == "STOP")
    }

    /// `?alt=sse`: `data:` lines, no terminator.
    @Test func geminiSSEStream() {
        let stream = [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"**Plan**","thought":true}]},"index":0}],"modelVersion":"gemini-2.5-flash"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":9}}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"},{"functionCall":{"name":"f","args":{"q":"x"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2}}"#,
        ].map { "data: \($0)\r\n\r\n" }.joined()
        let r = capture(.geminiGenerate, streamed: true, stream, chunk: 5)
        #expect(r.answer == AnswerText(text: "Hello", toolArguments: [#"{"q":"x"}"#]))
        #expect(r.finishReason == "STOP" && r.usage?.outputTokens == 2)
    }

    /// Without `alt=sse`: a JSON array, one object per line.
    @Test func geminiArrayStream() {
        let stream = """
            [{"candidates":[{"content":{"parts":[{"text":"One, "}]}}]}
            ,{"candidates":[{"content":{"parts":[{"text":"two."}]},"finishReason":"MAX_TOKENS"}]}
            ]
            """
        let r = capture(.geminiGenerate, streamed: true, stream, chunk: 4)
        #expect(r.answer.text == "One, two." && r.finishReason == "MAX_TOKENS")
    }

    // MARK: Bounds and failures

    /// 1.25 MiB of text in 40 chunks of 32 KiB: the first `AnswerText.limit` bytes are kept, and the cut is said.
    @Test func anAnswerPastTheLimitIsCut() {
        let piece = String(repeating: "abcdefgh", count: 4 << 10)
        var stream = ""
        for _ in 0..<40 { stream += chatChunk("{\"content\":\"\(piece)\"}") }
        stream += "data: [DONE]\n\n"
        let r = capture(.openAIChat, streamed: true, stream, chunk: 60_000)
        #expect(r.answer.textCut && r.answer.text.utf8.count == AnswerText.limit)
        #expect(r.answer.text.hasPrefix("abcdefghabcdefgh") && r.answer.text.hasSuffix("abcdefgh"))
        let whole = capture(
            .anthropicMessages, streamed: false,
            #"{"type":"message","content":[{"type":"text","text":""#
                + String(repeating: "z", count: AnswerText.limit + 5)
                + #""}]}"#, chunk: 1 << 20)
        #expect(whole.answer.textCut && whole.answer.text.utf8.count == AnswerText.limit)
    }

    /// `AnswerText.append` cuts a character at a time, recounting after each: the readers hand it little more than
    /// fits, so a whole answer of 3 MiB, or a 900 KiB line arriving when the text is nearly full, is cut at once.
    @Test func aPieceFarPastTheLimitIsCutWithoutRecountingIt() {
        let big = String(repeating: "é", count: 3 << 19)  // 3 MiB of UTF-8
        let whole = capture(
            .geminiGenerate, streamed: false, #"{"candidates":[{"content":{"parts":[{"text":""# + big + #""}]}}]}"#,
            chunk: 1 << 20)
        #expect(whole.answer.textCut && whole.answer.text.utf8.count == AnswerText.limit)
        // Two lines (each under `UsageCapture.lineLimit`) fill all but 3 bytes, then 900 KiB of "ü" in one line.
        let half = (AnswerText.limit - 3) / 2
        let stream =
            [
                String(repeating: "x", count: half), String(repeating: "x", count: AnswerText.limit - 3 - half),
                String(repeating: "ü", count: 450 << 10), "after the cut",
            ].map { chatChunk("{\"content\":\"\($0)\"}") }.joined() + "data: [DONE]\n\n"
        let r = capture(.openAIChat, streamed: true, stream, chunk: 1 << 16)
        // 3 bytes of room: one two-byte "ü" fits, the next does not.
        #expect(r.answer.textCut && r.answer.text.utf8.count == AnswerText.limit - 1 && r.answer.text.hasSuffix("xü"))
    }

    @Test func aFailedCallHasNoAnswer() {
        let stream = chatChunk(#"{"content":"partial"}"#) + "data: [DONE]\n\n"
        #expect(capture(.openAIChat, streamed: true, stream).answer.text == "partial")
        #expect(capture(.openAIChat, streamed: true, stream, status: 500).answer == AnswerText())
        let body = #"{"choices":[{"message":{"content":"x"}}],"error":{"type":"server_error"}}"#
        let failed = capture(.openAIChat, streamed: false, body, status: 502)
        #expect(failed.answer == AnswerText() && failed.errorType == "server_error")
        // A mid-stream error event is not content.
        let broken = capture(
            .anthropicMessages, streamed: true,
            anthropicEvent(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#)
                + anthropicEvent(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        #expect(broken.answer.text == "Hi" && broken.errorType == "overloaded_error")
    }

    /// Call numbers out of range, fragments for calls never opened, non-string fragments: ignored, no crash.
    @Test func hostileStreamEventsAreIgnored() {
        let openAI =
            chatChunk(
                #"{"tool_calls":[{"index":500,"function":{"arguments":"x"}},{"index":-1,"function":{"arguments":"y"}},{"index":"0","function":{"arguments":"z"}}]}"#
            )
            + chatChunk(#"{"content":42,"refusal":["no"],"tool_calls":"none"}"#)
        #expect(capture(.openAIChat, streamed: true, openAI).answer == AnswerText())
        let anthropic =
            anthropicEvent(
                #"{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#)
            + anthropicEvent(#"{"type":"content_block_start","index":"0","content_block":"tool_use"}"#)
            + anthropicEvent(#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":5}}"#)
        #expect(capture(.anthropicMessages, streamed: true, anthropic).answer == AnswerText())
    }
}
