import Foundation
import TallyCore
import TallyIngest

/// One span → one usage event, by the OpenTelemetry GenAI semantic conventions and what the common instrumentations
/// really send (opentelemetry-instrumentation-openai-v2 2.4b0 with opentelemetry-util-genai, openlit 1.45.0).
enum SpanMapping {
    enum Mapped: Equatable {
        /// Not a GenAI model call: no `gen_ai.provider.name`/`gen_ai.system`, or an agent, tool or workflow span.
        case ignored
        case event(UsageEvent)
        case rejected(String)
    }

    static func event(from span: Span, resource: SpanAttributes, now: Instant) -> Mapped {
        let attributes = SpanAttributes(span.attributes)
        guard attributes.has(Key.providerName) || attributes.has(Key.system) else { return .ignored }
        do {
            let operationName = try attributes.text(Key.operationName)
            guard let operation = operation(operationName) else { return .ignored }
            let event = try makeEvent(span, attributes, resource, operation: operation)
            if let problem = EventRules.problems(in: event, now: now).first {
                return .rejected("\(problem.field) \(problem.reason)")
            }
            return .event(event)
        } catch {
            return .rejected(error.reason)
        }
    }

    /// The attribute names read, current first, then the older or vendor spellings still sent.
    enum Key {
        static let providerName = "gen_ai.provider.name"
        /// Deprecated for `gen_ai.provider.name` (openai-v2 2.4b0 with util-genai 1.1b0 sends the new name; older
        /// instrumentations still send this one).
        static let system = "gen_ai.system"
        static let operationName = "gen_ai.operation.name"
        static let requestModel = "gen_ai.request.model"
        static let responseModel = "gen_ai.response.model"
        static let responseID = "gen_ai.response.id"
        static let finishReasons = "gen_ai.response.finish_reasons"
        static let inputTokens = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"]
        static let outputTokens = ["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"]
        static let cacheReadTokens = [
            "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
            "gen_ai.usage.prompt_tokens_details.cached_tokens",
        ]
        static let cacheWriteTokens = [
            "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.prompt_tokens_details.cache_creation_tokens",
        ]
        static let reasoningTokens = [
            "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
            "gen_ai.usage.completion_tokens_details.reasoning_tokens",
        ]
        static let inputAudioTokens = ["gen_ai.usage.audio.input_tokens"]
        static let outputAudioTokens = ["gen_ai.usage.audio.output_tokens"]
        static let cachedInputAudioTokens = ["gen_ai.usage.audio.cache_read.input_tokens"]
        static let serviceTier = ["openai.response.service_tier", "gen_ai.openai.response.service_tier"]
        static let errorType = "error.type"
        static let httpStatus = ["http.response.status_code", "http.status_code"]
        /// openlit: whether the call streamed, and its time to first token in seconds.
        /// openlit 1.45.0 sends `gen_ai.request.stream` (its Python constant is named `GEN_AI_REQUEST_IS_STREAM`).
        static let isStream = ["gen_ai.request.stream", "gen_ai.request.is_stream"]
        static let timeToFirstToken = "gen_ai.server.time_to_first_token"
        static let sdkName = "telemetry.sdk.name"
        static let serviceName = "service.name"
        static let environments = ["deployment.environment.name", "deployment.environment"]
    }

    /// `gen_ai.provider.name` (or `gen_ai.system`) → Tally's provider. The three Tally prices map onto `openai`,
    /// `anthropic` and `google`; any other value is kept, lowercased, and `EventRules` judges it (`[a-z0-9_.-]`), so
    /// `mistral_ai`, `aws.bedrock` or `azure.ai.inference` stay what they are.
    static let providers: [String: String] = [
        "openai": "openai", "azure.ai.openai": "openai",
        "anthropic": "anthropic",
        "gcp.gemini": "google", "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "gemini": "google",
        "vertex_ai": "google", "google": "google",
    ]

    /// `gen_ai.operation.name` → Tally's `Operation`; nil for spans that are not one model call and are ignored.
    ///
    /// | `gen_ai.operation.name` | operation |
    /// |---|---|
    /// | absent | `chat` (the API's default) |
    /// | `chat`, `generate_content`, `create_response`, `responses` | `chat` |
    /// | `text_completion`, `completion`, `completions` | `completion` |
    /// | `embeddings`, `embedding` | `embedding` |
    /// | `image`, `image_generation`, `generate_image`, `create_image` (openlit: `image`) | `image` |
    /// | `text_to_speech`, `speech`, `audio_speech` | `audio_speech` |
    /// | `speech_to_text`, `transcription`, `transcribe`, `audio_transcription` | `audio_transcription` |
    /// | `moderation`, `moderations` | `moderation` |
    /// | `invoke_agent`, `create_agent`, `execute_tool`, `invoke_workflow`, `execute_task`, `retrieval`, `vectordb`, openlit's `agent`, `task`, `execution`, `framework` | ignored: an agent's or workflow's span sums the calls beneath it, which are spans of their own, and a tool or a vector store is no model call |
    /// | anything else (openlit's `audio`, `translate`…) | `other` |
    static func operation(_ name: String?) -> TallyCore.Operation? {
        guard let name else { return .chat }
        switch name.lowercased() {
        case "chat", "generate_content", "create_response", "responses": return .chat
        case "text_completion", "completion", "completions": return .completion
        case "embeddings", "embedding": return .embedding
        case "image", "image_generation", "generate_image", "create_image": return .image
        case "text_to_speech", "speech", "audio_speech": return .audioSpeech
        case "speech_to_text", "transcription", "transcribe", "audio_transcription": return .audioTranscription
        case "moderation", "moderations": return .moderation
        case "invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "execute_task", "retrieval", "vectordb",
            "agent", "task", "execution", "framework":
            return nil
        default: return .other
        }
    }

    private static func makeEvent(
        _ span: Span, _ attributes: SpanAttributes, _ resource: SpanAttributes, operation: TallyCore.Operation
    ) throws(SpanRejection) -> UsageEvent {
        let id = try eventID(span)
        guard span.startTimeUnixNano > 0 else { throw SpanRejection("start_time_unix_nano is missing") }
        // Nanoseconds → microseconds: at most 1.8e16, well inside Int64.
        let timestamp = Instant(microseconds: Int64(span.startTimeUnixNano / 1000))

        var system = try attributes.text(Key.providerName)
        if system == nil { system = try attributes.text(Key.system) }
        guard let system else { throw SpanRejection("\(Key.providerName) is missing") }
        let provider = providers[system] ?? system.lowercased()
        var model = try attributes.text(Key.responseModel)
        if model == nil { model = try attributes.text(Key.requestModel) }
        guard let model else {
            throw SpanRejection("\(Key.requestModel) is missing")
        }

        var event = UsageEvent(
            id: id, timestamp: timestamp, provider: provider, model: model, operation: operation, source: .otlp)
        event.usage = try usage(attributes, provider: provider)
        event.attribution = try attribution(attributes, resource)
        event.serviceTier = try attributes.text(Key.serviceTier[0], Key.serviceTier[1])

        var outcome = TallyCore.Outcome()
        let errorType = try attributes.text(Key.errorType)
        if span.status.code == .error || errorType != nil {
            outcome.status = .error
            outcome.errorType = errorType ?? "span_error"
        }
        if let status = attributes.integer(Key.httpStatus[0], Key.httpStatus[1]), (100...599).contains(status) {
            outcome.httpStatus = Int(status)
        }
        if span.endTimeUnixNano >= span.startTimeUnixNano {
            outcome.latencyMs = Int64((span.endTimeUnixNano - span.startTimeUnixNano) / 1_000_000)
        }
        outcome.finishReason = try attributes.firstText(Key.finishReasons)
        outcome.streamed = attributes.bool(Key.isStream[0]) ?? attributes.bool(Key.isStream[1])
        if outcome.streamed == true, let seconds = attributes.number(Key.timeToFirstToken), seconds > 0,
            seconds < 1e9
        {
            outcome.timeToFirstTokenMs = Int64((seconds * 1000).rounded())
        }
        event.outcome = outcome
        return event
    }

    /// `<32 hex trace id>-<16 hex span id>`: an exporter's retry sends the same span, which the store then counts once.
    static func eventID(_ span: Span) throws(SpanRejection) -> String {
        guard span.traceID.count == 16, span.traceID.contains(where: { $0 != 0 }) else {
            throw SpanRejection("trace_id must be 16 bytes, not all zero")
        }
        guard span.spanID.count == 8, span.spanID.contains(where: { $0 != 0 }) else {
            throw SpanRejection("span_id must be 8 bytes, not all zero")
        }
        return hex(span.traceID) + "-" + hex(span.spanID)
    }

    /// The token counts. `gen_ai.usage.input_tokens` counts all input, cache reads and writes included (the
    /// conventions, and Tally's `input_tokens`), so it is copied. Some instrumentations pass Anthropic's raw counts
    /// instead, where `input_tokens` excludes the cache: openlit 1.45.0 does for Anthropic (its own cost code adds the
    /// cache on top), and any span whose input is smaller than its cache reads plus writes must. For those the cache
    /// counts are added to `input_tokens`.
    private static func usage(_ a: SpanAttributes, provider: String) throws(SpanRejection) -> TokenUsage {
        var usage = TokenUsage()
        let cacheRead = try a.count(Key.cacheReadTokens) ?? 0
        let cacheWrite = try a.count(Key.cacheWriteTokens) ?? 0
        usage.inputTokens = try a.count(Key.inputTokens) ?? 0
        usage.outputTokens = try a.count(Key.outputTokens) ?? 0
        usage.cachedInputTokens = cacheRead
        usage.cacheWriteInputTokens = cacheWrite
        usage.reasoningTokens = try a.count(Key.reasoningTokens) ?? 0
        usage.inputAudioTokens = try a.count(Key.inputAudioTokens) ?? 0
        usage.outputAudioTokens = try a.count(Key.outputAudioTokens) ?? 0
        usage.cachedInputAudioTokens = try a.count(Key.cachedInputAudioTokens) ?? 0
        let openlitAnthropic = (try? a.text(Key.sdkName)) == "openlit" && provider == "anthropic"
        if openlitAnthropic || usage.inputTokens < cacheRead + cacheWrite {
            // Each count is at most 10^12, so the sum cannot overflow; EventRules bounds the total.
            usage.inputTokens += cacheRead + cacheWrite
        }
        return usage
    }

    /// `tally.project`, `tally.feature`, `tally.user`, `tally.environment` from the span, else its resource; the
    /// environment falls back to `deployment.environment.name`/`deployment.environment` (span, then resource). Tags:
    /// `service` (`service.name`: the resource's, which openlit copies onto its spans) and `provider_request_id`
    /// (`gen_ai.response.id`, as the gateway names it).
    private static func attribution(_ span: SpanAttributes, _ resource: SpanAttributes) throws(SpanRejection)
        -> Attribution
    {
        func either(_ keys: String...) throws(SpanRejection) -> String? {
            for key in keys {
                if let value = try span.text(key) { return value }
                if let value = try resource.text(key) { return value }
            }
            return nil
        }
        var attribution = Attribution()
        attribution.project = try either("tally.project")
        attribution.feature = try either("tally.feature")
        attribution.user = try either("tally.user")
        attribution.environment = try either("tally.environment", Key.environments[0], Key.environments[1])
        if let service = try either(Key.serviceName) { attribution.tags["service"] = service }
        if let responseID = try span.text(Key.responseID) {
            attribution.tags["provider_request_id"] = responseID
        }
        return attribution
    }

    /// How a rejection names its span: `span 'chat gpt-4o' (trace 4bf9…/span 00f0…)`.
    static func describe(_ span: Span) -> String {
        "span '\(printable(span.name, max: 64))' (trace \(hex(span.traceID.prefix(16)))/span \(hex(span.spanID.prefix(8))))"
    }

    /// `text` without control characters and at most `max` characters, for a message.
    static func printable(_ text: String, max: Int) -> String {
        var out = ""
        for (i, c) in text.enumerated() {
            if i == max {
                out += "…"
                break
            }
            out.append(c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? "?" : c)
        }
        return out
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
