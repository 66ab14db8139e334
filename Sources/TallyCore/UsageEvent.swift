/// One priced call (or a group of identical calls, `requests > 1`) to an LLM provider, from any source.
///
/// Every source (the ingestion API, the gateway, provider sync, OTLP) produces this one model.
/// `inputTokens` counts ALL input tokens, cached reads and cache writes included (OpenAI/OpenTelemetry
/// convention), so `cachedInputTokens + cacheWriteInputTokens <= inputTokens` always holds.
public struct UsageEvent: Sendable, Equatable {
    public var id: String
    public var timestamp: Instant
    public var provider: String
    public var model: String
    public var operation: Operation
    public var usage: TokenUsage
    public var attribution: Attribution
    public var outcome: Outcome
    public var batch: Bool
    public var serviceTier: String?
    public var providerCost: USD?
    public var source: EventSource

    public init(
        id: String, timestamp: Instant, provider: String, model: String, operation: Operation = .chat,
        usage: TokenUsage = TokenUsage(), attribution: Attribution = Attribution(), outcome: Outcome = Outcome(),
        batch: Bool = false, serviceTier: String? = nil, providerCost: USD? = nil, source: EventSource = .api
    ) {
        self.id = id
        self.timestamp = timestamp
        self.provider = provider
        self.model = model
        self.operation = operation
        self.usage = usage
        self.attribution = attribution
        self.outcome = outcome
        self.batch = batch
        self.serviceTier = serviceTier
        self.providerCost = providerCost
        self.source = source
    }
}

/// One event's counts: a field per `TokenClass` and `requests`.
public struct TokenUsage: Sendable, Equatable {
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cachedInputTokens: Int64 = 0
    public var cacheWriteInputTokens: Int64 = 0
    public var cacheWrite1hInputTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var inputAudioTokens: Int64 = 0
    public var outputAudioTokens: Int64 = 0
    /// The audio part of `cachedInputTokens` (also inside `inputAudioTokens`).
    public var cachedInputAudioTokens: Int64 = 0
    public var requests: Int64 = 1
    public init() {}

    /// The counts by their API field names, in the API's order.
    public var fields: [(name: String, value: Int64)] {
        TokenClass.counts.map { ($0.field, self[$0]) } + [("requests", requests)]
    }

    /// The first count outside 0…`UsageLimits.maxCount`, as a problem naming its field; nil when every count fits.
    public var boundsProblem: FieldProblem? {
        fields.first { !(0...UsageLimits.maxCount).contains($0.value) }.map {
            FieldProblem(
                field: $0.name, reason: "must be an integer from 0 to \(UsageLimits.maxCount) (got \($0.value))")
        }
    }
}

/// The largest numbers one event may carry. Far above any real call, and small enough that sums of many events
/// stay exact in Int64 (10^12 tokens: 9 million such events fit in one total; 10^9 USD: 9 of them do, so totals are
/// checked as well: see `UsageMetrics.add`).
public enum UsageLimits {
    /// Each token count and `requests`, per event.
    public static let maxCount: Int64 = 1_000_000_000_000
    /// `provider_cost_usd`, and the cost Tally computes for one event.
    public static let maxAmount = USD(nanos: 1_000_000_000 * 1_000_000_000)
}

/// Who and what an event is charged to. `project` is the project's name; stores keep its id.
public struct Attribution: Sendable, Equatable {
    public var project: String?
    public var feature: String?
    public var user: String?
    public var apiKey: String?
    public var environment: String?
    public var tags: [String: String] = [:]
    public init(
        project: String? = nil, feature: String? = nil, user: String? = nil, apiKey: String? = nil,
        environment: String? = nil, tags: [String: String] = [:]
    ) {
        self.project = project
        self.feature = feature
        self.user = user
        self.apiKey = apiKey
        self.environment = environment
        self.tags = tags
    }
}

public struct Outcome: Sendable, Equatable {
    public var status: EventStatus = .success
    public var httpStatus: Int?
    public var errorType: String?
    public var latencyMs: Int64?
    public var timeToFirstTokenMs: Int64?
    public var streamed: Bool?
    public var retries: Int64?
    public var finishReason: String?
    /// What the organization's safety filters found in the call (issue 21): `pii.email`, `secret`,
    /// `keyword:<filter name>`, `regex:<filter name>`, `blocked:<filter name>`, `safety.incomplete`; never the text.
    public var safetyFlags: [String] = []
    /// What the gateway noticed about the answer: `empty`, `truncated`, `refusal`, `invalid_json`, `repetition`.
    public var qualityFlags: [String] = []
    public init() {}
}

public enum Operation: String, Sendable, CaseIterable {
    case chat, completion, embedding, image, moderation, other
    case audioSpeech = "audio_speech"
    case audioTranscription = "audio_transcription"
}

public enum EventStatus: String, Sendable, CaseIterable {
    case success, error
}

public enum EventSource: String, Sendable, CaseIterable {
    case api, gateway, otlp, `import`
    case providerSync = "provider_sync"
}

/// An event as stored: the event, where it belongs, and what it cost.
public struct StoredEvent: Sendable, Equatable {
    public var event: UsageEvent
    public var organizationID: String
    public var projectID: String
    public var projectName: String
    public var receivedAt: Instant
    public var cost: USD?
    public var priceID: String?
    /// The call's captured bodies, sealed, when its project captures content: stored with the event, in its
    /// transaction (`EventContentStore`), never read back with it.
    public var content: SealedEventContent?

    public init(
        event: UsageEvent, organizationID: String, projectID: String, projectName: String,
        receivedAt: Instant, cost: USD?, priceID: String?
    ) {
        self.event = event
        self.organizationID = organizationID
        self.projectID = projectID
        self.projectName = projectName
        self.receivedAt = receivedAt
        self.cost = cost
        self.priceID = priceID
    }
}
