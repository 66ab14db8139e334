import Foundation
import TallyCore
import TallyOTLP
import Testing

typealias F = Fixture

@Suite struct ProviderAndModelTests {
    @Test(arguments: [
        ("openai", "openai"), ("azure.ai.openai", "openai"), ("anthropic", "anthropic"), ("gcp.gemini", "google"),
        ("gcp.vertex_ai", "google"), ("gcp.gen_ai", "google"), ("gemini", "google"), ("vertex_ai", "google"),
        ("google", "google"), ("mistral_ai", "mistral_ai"), ("aws.bedrock", "aws.bedrock"), ("vLLM", "vllm"),
    ])
    func providersMapOntoTallys(semconv: String, tally: String) throws {
        #expect(try F.event([F.kv("gen_ai.provider.name", semconv)])?.provider == tally)
    }

    @Test func theOlderSystemAttributeNamesTheProvider() throws {
        let event = try F.event([F.kv("gen_ai.system", "anthropic")], removing: ["gen_ai.provider.name"])
        #expect(event?.provider == "anthropic")
    }

    @Test func aProviderTheRulesRefuseRejectsTheSpan() throws {
        #expect(
            try F.rejection([F.kv("gen_ai.provider.name", "open ai!")])
                == "1 span rejected: span 'chat gpt-4o' (trace 4bf92f3577b34da6a3ce929d0e0e4736/span 00f067aa0ba902b7): "
                + "provider must match [a-z0-9_.-]{1,64}, such as openai, anthropic or google")
    }

    @Test func theResponseModelComesFirstThenTheRequestModel() throws {
        #expect(try F.event()?.model == "gpt-4o-2024-08-06")
        #expect(try F.event(removing: ["gen_ai.response.model"])?.model == "gpt-4o")
        #expect(try F.event([F.kv("gen_ai.response.model", "")])?.model == "gpt-4o")
    }

    @Test func aSpanWithoutAModelIsRejected() throws {
        #expect(
            try F.rejection(removing: ["gen_ai.response.model", "gen_ai.request.model"])
                == "1 span rejected: span 'chat gpt-4o' (trace 4bf92f3577b34da6a3ce929d0e0e4736/span 00f067aa0ba902b7): "
                + "gen_ai.request.model is missing")
    }
}

@Suite struct OperationTests {
    @Test(arguments: [
        ("chat", TallyCore.Operation.chat), ("generate_content", .chat), ("create_response", .chat),
        ("text_completion", .completion), ("embeddings", .embedding), ("image", .image),
        ("text_to_speech", .audioSpeech), ("speech_to_text", .audioTranscription), ("moderation", .moderation),
        ("audio", .other), ("translate", .other), ("something_new", .other),
    ])
    func operationsMapOntoTallys(name: String, operation: TallyCore.Operation) throws {
        #expect(try F.event([F.kv("gen_ai.operation.name", name)])?.operation == operation)
    }

    @Test func noOperationIsAChat() throws {
        #expect(try F.event(removing: ["gen_ai.operation.name"])?.operation == .chat)
    }

    @Test(arguments: ["invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "retrieval"])
    func agentToolAndWorkflowSpansAreIgnored(name: String) throws {
        var span = F.chatSpan()
        span.attributes.removeAll { $0.key == "gen_ai.operation.name" }
        span.attributes.append(F.kv("gen_ai.operation.name", name))
        let result = try F.result([span])
        #expect(result.events.isEmpty)
        #expect(result.ignoredSpans == 1)
        #expect(result.rejectedSpans == 0)
    }

    @Test func spansWithoutAProviderAreIgnored() throws {
        var span = F.chatSpan()
        span.attributes.removeAll { $0.key == "gen_ai.provider.name" }
        let result = try F.result([span, F.httpSpan()])
        #expect(result == OTLPExportResult(events: [], rejectedSpans: 0, rejectionMessage: "", ignoredSpans: 2))
    }
}

@Suite struct TokenTests {
    @Test func theCurrentNamesAreRead() throws {
        let usage = try #require(
            try F.event([
                F.kv("gen_ai.usage.input_tokens", Int64(5000)), F.kv("gen_ai.usage.output_tokens", Int64(700)),
                F.kv("gen_ai.usage.cache_read.input_tokens", Int64(3000)),
                F.kv("gen_ai.usage.cache_creation.input_tokens", Int64(1000)),
                F.kv("gen_ai.usage.reasoning.output_tokens", Int64(200)),
            ])?.usage)
        #expect(usage.inputTokens == 5000)
        #expect(usage.outputTokens == 700)
        #expect(usage.cachedInputTokens == 3000)
        #expect(usage.cacheWriteInputTokens == 1000)
        #expect(usage.reasoningTokens == 200)
    }

    @Test func theOlderAndVendorNamesAreRead() throws {
        let usage = try #require(
            try F.event(
                [
                    F.kv("gen_ai.usage.prompt_tokens", Int64(900)), F.kv("gen_ai.usage.completion_tokens", Int64(80)),
                    F.kv("gen_ai.usage.cache_read_input_tokens", Int64(100)),
                    F.kv("gen_ai.usage.cache_creation_input_tokens", Int64(50)),
                    F.kv("gen_ai.usage.reasoning_tokens", Int64(30)),
                ],
                removing: [
                    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                ])?.usage)
        #expect(usage.inputTokens == 900)
        #expect(usage.outputTokens == 80)
        #expect(usage.cachedInputTokens == 100)
        #expect(usage.cacheWriteInputTokens == 50)
        #expect(usage.reasoningTokens == 30)
    }

    @Test func utilGenAIsCacheWriteAndAudioNamesAreRead() throws {
        let usage = try #require(
            try F.event([
                F.kv("gen_ai.usage.cache_write.input_tokens", Int64(100)),
                F.kv("gen_ai.usage.audio.input_tokens", Int64(40)), F.kv("gen_ai.usage.audio.output_tokens", Int64(20)),
                F.kv("gen_ai.usage.audio.cache_read.input_tokens", Int64(10)),
            ])?.usage)
        #expect(usage.cacheWriteInputTokens == 100)
        #expect(usage.inputAudioTokens == 40)
        #expect(usage.outputAudioTokens == 20)
        #expect(usage.cachedInputAudioTokens == 10)
        #expect(usage.inputTokens == 1200)
    }

    @Test func inputBelowTheCacheCountsHasTheCacheAdded() throws {
        // Anthropic's raw counts: 20 uncached, 1000 read, 500 written.
        let usage = try #require(
            try F.event([
                F.kv("gen_ai.usage.input_tokens", Int64(20)), F.kv("gen_ai.usage.cache_read.input_tokens", Int64(1000)),
                F.kv("gen_ai.usage.cache_creation.input_tokens", Int64(500)),
            ])?.usage)
        #expect(usage.inputTokens == 1520)
        #expect(usage.cachedInputTokens == 1000)
        #expect(usage.cacheWriteInputTokens == 500)
    }

    @Test func openlitsAnthropicInputHasTheCacheAddedEvenWhenLarger() throws {
        let anthropic: [KeyValue] = [
            F.kv("gen_ai.provider.name", "anthropic"), F.kv("gen_ai.usage.input_tokens", Int64(3000)),
            F.kv("gen_ai.usage.cache_read.input_tokens", Int64(1000)),
            F.kv("gen_ai.usage.cache_creation.input_tokens", Int64(0)),
        ]
        #expect(try F.event(anthropic + [F.kv("telemetry.sdk.name", "openlit")])?.usage.inputTokens == 4000)
        #expect(try F.event(anthropic)?.usage.inputTokens == 3000)
        // openlit's OpenAI counts follow OpenAI's, cache included.
        #expect(try F.event([F.kv("telemetry.sdk.name", "openlit")])?.usage.inputTokens == 1200)
    }

    @Test func countsMayArriveAsIntegralDoublesOrDecimalStrings() throws {
        let usage = try #require(
            try F.event([F.kv("gen_ai.usage.input_tokens", 1500.0), F.kv("gen_ai.usage.output_tokens", "250")])?
                .usage)
        #expect(usage.inputTokens == 1500)
        #expect(usage.outputTokens == 250)
    }

    @Test(arguments: [
        (AnyValue.OneOf_Value.intValue(-1), "-1"), (.doubleValue(12.5), "12.5"), (.doubleValue(.nan), "NaN"),
        (.doubleValue(.infinity), "inf"), (.doubleValue(9_223_372_036_854_775_808), "9.223372036854776e+18"),
        (.intValue(Int64.max), "9223372036854775807"), (.intValue(1_000_000_000_001), "1000000000001"),
        (.stringValue("9223372036854775808"), "\"9223372036854775808\""), (.stringValue("1e3"), "\"1e3\""),
        (.stringValue("-5"), "\"-5\""), (.boolValue(true), "true"),
    ])
    func badCountsRejectTheSpanNamingTheAttribute(value: AnyValue.OneOf_Value, shown: String) throws {
        let message = try F.rejection([F.kv("gen_ai.usage.output_tokens", value)])
        #expect(
            message.hasSuffix(
                "gen_ai.usage.output_tokens must be a whole number from 0 to 1000000000000 (got \(shown))"))
    }

    @Test func countsThatContradictEachOtherAreRejectedByTheRules() throws {
        let message = try F.rejection([F.kv("gen_ai.usage.reasoning_tokens", Int64(301))])
        #expect(message.hasSuffix("reasoning_tokens must not exceed output_tokens (output_tokens includes reasoning)"))
    }

    @Test func aSpanWithoutUsageCountsOneRequestWithNoTokens() throws {
        let event = try F.event(removing: [
            "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
        ])
        #expect(event?.usage == TokenUsage())
    }
}

@Suite struct IdentityAndTimeTests {
    @Test func theIDIsTheTraceAndSpanIDsInLowercaseHex() throws {
        #expect(try F.event()?.id == F.eventID)
    }

    @Test(arguments: [
        (Data(count: 16), F.spanID, "trace_id must be 16 bytes, not all zero"),
        (Data([1, 2, 3]), F.spanID, "trace_id must be 16 bytes, not all zero"),
        (Data(), F.spanID, "trace_id must be 16 bytes, not all zero"),
        (F.traceID, Data(count: 8), "span_id must be 8 bytes, not all zero"),
        (F.traceID, Data(repeating: 1, count: 9), "span_id must be 8 bytes, not all zero"),
    ])
    func wrongIDsRejectTheSpan(traceID: Data, spanID: Data, reason: String) throws {
        var span = F.chatSpan()
        span.traceID = traceID
        span.spanID = spanID
        let result = try F.result([span])
        #expect(result.events.isEmpty)
        #expect(result.rejectedSpans == 1)
        #expect(result.rejectionMessage.hasSuffix(": \(reason)"))
    }

    @Test func theTimestampIsTheStartAndTheLatencyTheDuration() throws {
        let event = try #require(try F.event())
        #expect(event.timestamp == Instant(microseconds: 1_764_999_400_123_456))
        #expect(event.outcome.latencyMs == 1234)
    }

    @Test func anEndBeforeTheStartHasNoLatency() throws {
        var span = F.chatSpan()
        span.endTimeUnixNano = span.startTimeUnixNano - 1
        #expect(try F.result([span]).events.first?.outcome.latencyMs == nil)
    }

    @Test func aMissingStartOrOneTooFarAheadIsRejected() throws {
        var span = F.chatSpan()
        span.startTimeUnixNano = 0
        #expect(try F.result([span]).rejectionMessage.hasSuffix(": start_time_unix_nano is missing"))
        span.startTimeUnixNano = UInt64(F.now.adding(seconds: 86_400 + 1).microseconds) * 1000
        span.endTimeUnixNano = span.startTimeUnixNano
        #expect(try F.result([span]).rejectionMessage.hasSuffix(": timestamp is more than 24 hours in the future"))
    }
}

@Suite struct OutcomeTests {
    @Test func anErrorStatusIsAnError() throws {
        var span = F.chatSpan()
        span.status.code = .error
        let outcome = try #require(try F.result([span]).events.first?.outcome)
        #expect(outcome.status == .error)
        #expect(outcome.errorType == "span_error")
    }

    @Test func errorTypeIsAnErrorAndItsType() throws {
        let outcome = try #require(
            try F.event([F.kv("error.type", "RateLimitError"), F.kv("http.response.status_code", Int64(429))])?
                .outcome)
        #expect(outcome.status == .error)
        #expect(outcome.errorType == "RateLimitError")
        #expect(outcome.httpStatus == 429)
    }

    @Test func anHTTPStatusOutOfRangeIsLeftOut() throws {
        #expect(try F.event([F.kv("http.response.status_code", Int64(42))])?.outcome.httpStatus == nil)
        #expect(try F.event([F.kv("http.response.status_code", "503")])?.outcome.httpStatus == 503)
    }

    @Test func theFinishReasonIsTheFirstOfTheArrayOrASingleString() throws {
        #expect(
            try F.event([F.kv("gen_ai.response.finish_reasons", strings: ["length", "stop"])])?.outcome.finishReason
                == "length")
        #expect(
            try F.event([F.kv("gen_ai.response.finish_reasons", "tool_calls")])?.outcome.finishReason == "tool_calls")
        #expect(try F.event([F.kv("gen_ai.response.finish_reasons", strings: [])])?.outcome.finishReason == nil)
    }

    @Test func openlitsStreamingHintsAreRead() throws {
        // What openlit 1.45.0 sends (`gen_ai.request.stream`), and the spelling of its constant's name.
        for key in ["gen_ai.request.stream", "gen_ai.request.is_stream"] {
            let outcome = try #require(
                try F.event([F.kv(key, true), F.kv("gen_ai.server.time_to_first_token", 0.4321)])?.outcome)
            #expect(outcome.streamed == true, "\(key)")
            #expect(outcome.timeToFirstTokenMs == 432, "\(key)")
        }
        let unstreamed = try #require(
            try F.event([F.kv("gen_ai.request.stream", false), F.kv("gen_ai.server.time_to_first_token", 2.0)])?
                .outcome)
        #expect(unstreamed.streamed == false && unstreamed.timeToFirstTokenMs == nil)
    }

    @Test func theServiceTierComesFromEitherName() throws {
        #expect(
            try F.event(
                [F.kv("gen_ai.openai.response.service_tier", "flex")], removing: ["openai.response.service_tier"])?
                .serviceTier == "flex")
    }
}

@Suite struct AttributionTests {
    @Test func spanAttributesComeBeforeTheResources() throws {
        let event = try #require(
            try F.result(
                [F.chatSpan([F.kv("tally.project", "checkout"), F.kv("tally.user", "u-42")])],
                resource: [
                    F.kv("tally.project", "support"), F.kv("tally.feature", "answers"),
                    F.kv("tally.environment", "staging"), F.kv("service.name", "bot"),
                ]
            ).events.first)
        #expect(
            event.attribution
                == Attribution(
                    project: "checkout", feature: "answers", user: "u-42", environment: "staging",
                    tags: ["service": "bot", "provider_request_id": "chatcmpl-AbC123"]))
    }

    @Test func theEnvironmentFallsBackToTheDeploymentEnvironment() throws {
        let named = try F.result([F.chatSpan()], resource: [F.kv("deployment.environment.name", "production")])
        #expect(named.events.first?.attribution.environment == "production")
        let older = try F.result([F.chatSpan()], resource: [F.kv("deployment.environment", "dev")])
        #expect(older.events.first?.attribution.environment == "dev")
    }

    @Test func anIntegerUserIsItsDecimalText() throws {
        #expect(try F.event([F.kv("tally.user", Int64(42))])?.attribution.user == "42")
    }

    @Test func attributionTheRulesRefuseRejectsTheSpan() throws {
        let message = try F.rejection([F.kv("tally.project", String(repeating: "p", count: 65))])
        #expect(message.hasSuffix(": project must be 1 to 64 characters"))
        #expect(try F.rejection([F.kv("tally.feature", 3.5)]).hasSuffix(": tally.feature must be a string (got 3.5)"))
    }
}

@Suite struct RejectionMessageTests {
    @Test func atMostThreeReasonsAreListed() throws {
        let spans = (1...5).map { i -> Span in
            var span = F.chatSpan(id: Data([0, 0, 0, 0, 0, 0, 0, UInt8(i)]))
            span.name = "call \(i)"
            span.attributes.removeAll { $0.key.hasSuffix(".model") }
            return span
        }
        let result = try F.result(spans + [F.chatSpan()])
        #expect(result.events.count == 1)
        #expect(result.rejectedSpans == 5)
        #expect(
            result.rejectionMessage
                == "5 spans rejected: "
                + "span 'call 1' (trace 4bf92f3577b34da6a3ce929d0e0e4736/span 0000000000000001): gen_ai.request.model is missing; "
                + "span 'call 2' (trace 4bf92f3577b34da6a3ce929d0e0e4736/span 0000000000000002): gen_ai.request.model is missing; "
                + "span 'call 3' (trace 4bf92f3577b34da6a3ce929d0e0e4736/span 0000000000000003): gen_ai.request.model is missing; …"
        )
    }

    @Test func spanNamesAreShortenedAndCleaned() throws {
        var span = F.chatSpan()
        span.name = "bad\u{0}name\n" + String(repeating: "x", count: 100)
        span.attributes.removeAll { $0.key.hasSuffix(".model") }
        let message = try F.result([span]).rejectionMessage
        #expect(message.hasPrefix("1 span rejected: span 'bad?name?" + String(repeating: "x", count: 55) + "…' (trace"))
    }
}
