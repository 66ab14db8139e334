import TallyCore
import Testing

@testable import TallyProviders

/// The service tier the gateway records: read from each provider's answer (whole, or from any event of a stream) and
/// from the request, lowercased, anything but a short string ignored.
@Suite struct ServiceTierCaptureTests {
    func captured(_ kind: UsageCapture.Kind, streamed: Bool, _ text: String) -> UsageCapture.Result {
        var c = UsageCapture(kind: kind, streamed: streamed, requestedModel: nil)
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {  // cut at arbitrary places, as the network does
            c.consume(bytes[i..<min(i + 11, bytes.count)])
            i += 11
        }
        return c.finish(status: 200)
    }

    func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test func openAIChatAndResponsesAnswersNameTheirTier() {
        let chat = captured(
            .openAIChat, streamed: false,
            #"{"id":"c1","object":"chat.completion","model":"gpt-5-2025-08-07","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"service_tier":"flex"}"#
        )
        #expect(chat.serviceTier == "flex")
        let responses = captured(
            .openAIResponses, streamed: false,
            #"{"id":"r1","object":"response","status":"completed","model":"gpt-5","service_tier":"Priority","usage":null}"#
        )
        #expect(responses.serviceTier == "priority", "lowercased")
        let none = captured(
            .openAIChat, streamed: false, #"{"id":"c1","object":"chat.completion","model":"gpt-5","choices":[]}"#)
        #expect(none.serviceTier == nil)
    }

    /// The tier arrives on a later chunk than the first (the first chunks without it, or null): the latest named wins.
    @Test func openAIChatStreamTakesTheTierFromALaterChunk() {
        let r = captured(
            .openAIChat, streamed: true,
            """
            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-2025-08-07","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}

            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-2025-08-07","service_tier":null,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

            data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5-2025-08-07","service_tier":"priority","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

            data: [DONE]


            """)
        #expect(r.serviceTier == "priority" && r.usage?.inputTokens == 9)
    }

    /// `response.created` echoes what was asked (`auto`); `response.completed` says what served.
    @Test func openAIResponsesStreamTakesTheCompletedResponsesTier() {
        let r = captured(
            .openAIResponses, streamed: true,
            """
            event: response.created
            data: {"type":"response.created","sequence_number":0,"response":{"id":"r1","object":"response","status":"in_progress","model":"gpt-5","service_tier":"auto","usage":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","sequence_number":1,"delta":"Hi"}

            event: response.completed
            data: {"type":"response.completed","sequence_number":2,"response":{"id":"r1","object":"response","status":"completed","model":"gpt-5","service_tier":"flex","usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":11}}}


            """)
        #expect(r.serviceTier == "flex" && r.finishReason == "completed")
    }

    @Test func anthropicUsageNamesTheTierWholeAndStreamed() {
        let whole = captured(
            .anthropicMessages, streamed: false,
            #"{"id":"m1","type":"message","model":"claude-sonnet-4-5-20250929","stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":5,"service_tier":"priority"}}"#
        )
        #expect(whole.serviceTier == "priority")
        // message_start names it; a message_delta without it (MessageDeltaUsage has none) keeps it.
        let streamed = captured(
            .anthropicMessages, streamed: true,
            """
            event: message_start
            data: {"type":"message_start","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":12,"output_tokens":1,"service_tier":"priority"}}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}


            """)
        #expect(streamed.serviceTier == "priority" && streamed.usage?.outputTokens == 5)
        // A later event that does name one (a message_delta repeating the usage) is the latest word.
        let later = captured(
            .anthropicMessages, streamed: true,
            """
            event: message_start
            data: {"type":"message_start","message":{"id":"m1","model":"claude-haiku-4-5","usage":{"input_tokens":12,"output_tokens":1,"service_tier":null}}}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5,"service_tier":"standard"}}


            """)
        #expect(later.serviceTier == "standard")
    }

    /// Gemini API: `usageMetadata.serviceTier`; Vertex: `trafficType`'s pay-as-you-go kinds; streamed, the latest.
    @Test func geminiUsageMetadataNamesTheTierOrTheTrafficType() {
        let flex = captured(
            .geminiGenerate, streamed: false,
            #"{"candidates":[],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"serviceTier":"FLEX"},"modelVersion":"gemini-2.5-flash"}"#
        )
        #expect(flex.serviceTier == "flex")
        let stream = captured(
            .geminiGenerate, streamed: true,
            """
            data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":8},"modelVersion":"gemini-2.5-flash"}

            data: {"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"trafficType":"ON_DEMAND_PRIORITY"},"modelVersion":"gemini-2.5-flash"}


            """)
        #expect(stream.serviceTier == "priority")
        let traffic = [
            "ON_DEMAND_FLEX": "flex", "ON_DEMAND": "standard", "PROVISIONED_THROUGHPUT": "provisioned_throughput",
        ]
        for (type, tier) in traffic {
            let r = captured(
                .geminiGenerate, streamed: false,
                #"{"usageMetadata":{"promptTokenCount":1,"trafficType":"\#(type)"}}"#)
            #expect(r.serviceTier == tier, "\(type)")
        }
        let unspecified = captured(
            .geminiGenerate, streamed: false,
            #"{"usageMetadata":{"promptTokenCount":1,"trafficType":"TRAFFIC_TYPE_UNSPECIFIED"}}"#)
        #expect(unspecified.serviceTier == nil)
    }

    /// A number, an object, an empty or a 10 KB string is not a tier: nothing is kept (the gateway then holds what
    /// is kept to the API's text rules, which refuse control characters).
    @Test func hostileTiersAreNotRead() {
        let long = String(repeating: "x", count: 10_240)
        for value in ["3", #"{"a":1}"#, #""""#, "\"\(long)\"", "true"] {
            for (kind, text) in [
                (UsageCapture.Kind.openAIChat, #"{"model":"gpt-5","service_tier":\#(value)}"#),
                (.anthropicMessages, #"{"type":"message","usage":{"input_tokens":1,"service_tier":\#(value)}}"#),
                (.geminiGenerate, #"{"usageMetadata":{"promptTokenCount":1,"serviceTier":\#(value)}}"#),
            ] {
                #expect(captured(kind, streamed: false, text).serviceTier == nil, "\(kind.name) \(value.prefix(20))")
            }
        }
        #expect(ServiceTier.name(.string(String(repeating: "é", count: 33))) == nil, "66 bytes")
        #expect(ServiceTier.name(.string(String(repeating: "a", count: 64))) != nil)
    }

    @Test func theRequestsTierInTallysTerms() throws {
        let openai = ProviderKind.openai.api, anthropic = ProviderKind.anthropic.api, google = ProviderKind.google.api
        #expect(openai.requestedServiceTier(try json(#"{"model":"gpt-5","service_tier":"Flex"}"#)) == "flex")
        #expect(openai.requestedServiceTier(try json(#"{"model":"gpt-5","service_tier":"fast"}"#)) == "fast")
        #expect(openai.requestedServiceTier(try json(#"{"model":"gpt-5"}"#)) == nil)
        #expect(openai.requestedServiceTier(try json(#"{"model":"gpt-5","service_tier":7}"#)) == nil)
        #expect(anthropic.requestedServiceTier(try json(#"{"service_tier":"standard_only"}"#)) == "standard")
        #expect(anthropic.requestedServiceTier(try json(#"{"service_tier":"auto"}"#)) == "auto")
        // google-genai sends `serviceTier`; the REST docs write `service_tier`, or the enum's name.
        #expect(google.requestedServiceTier(try json(#"{"serviceTier":"flex"}"#)) == "flex")
        #expect(google.requestedServiceTier(try json(#"{"service_tier":"SERVICE_TIER_PRIORITY"}"#)) == "priority")
        #expect(google.requestedServiceTier(try json(#"{"serviceTier":"unspecified"}"#)) == "standard")
        #expect(google.requestedServiceTier(try json(#"{"contents":[]}"#)) == nil)
    }

    /// Gemini says in `x-gemini-service-tier` which tier served (a priority call downgraded says `standard`); the
    /// others name it in the body only.
    @Test func geminisHeaderNamesTheTierThatServed() {
        let headers = ["x-gemini-service-tier": "Standard"]
        #expect(ProviderKind.google.api.servedServiceTier { headers[$0] } == "standard")
        #expect(ProviderKind.google.api.servedServiceTier { _ in nil } == nil)
        #expect(ProviderKind.openai.api.servedServiceTier { headers[$0] } == nil)
        let long = ["x-gemini-service-tier": String(repeating: "p", count: 10_000)]
        #expect(ProviderKind.google.api.servedServiceTier { long[$0] } == nil)
    }
}
