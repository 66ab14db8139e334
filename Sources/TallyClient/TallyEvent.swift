import Foundation

/// One LLM call, as `POST /api/v1/events` takes it (docs/api.md). The keys are the API's (snake_case); only token
/// counts and labels are sent, never prompts or answers, and never money computed here.
///
/// `id` is the idempotency key: it is generated once, when the event is made, so a batch sent again after a timeout
/// is counted as duplicates by the server instead of being stored twice.
public struct TallyEvent: Sendable, Hashable, Codable {
    /// What kind of call it was (`operation`).
    public enum Operation: String, Sendable, Hashable, Codable, CaseIterable {
        case chat
        case completion
        case embedding
        case image
        case audioSpeech = "audio_speech"
        case audioTranscription = "audio_transcription"
        case moderation
        case other
    }

    /// Whether the call succeeded (`status`).
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        case success
        case error
    }

    /// Idempotency key per project, 1–128 characters. Generated (a UUID) when not given.
    public var id: String
    /// When the call happened; sent as RFC 3339 in UTC with milliseconds.
    public var timestamp: Date
    /// `[a-z0-9_.-]{1,64}`: `openai`, `anthropic`, `google`, `azure_openai`, `bedrock`, …
    public var provider: String
    public var model: String
    /// Absent: the server takes `chat`.
    public var operation: Operation?
    /// All input, cached reads and cache writes included.
    public var inputTokens: Int
    /// Reasoning included.
    public var outputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteInputTokens: Int
    public var cacheWrite1hInputTokens: Int
    public var reasoningTokens: Int
    public var inputAudioTokens: Int
    public var outputAudioTokens: Int
    public var cachedInputAudioTokens: Int
    /// How many calls this event stands for (1 unless aggregated).
    public var requests: Int
    /// Absent: the token's project.
    public var project: String?
    public var feature: String?
    public var user: String?
    /// A label or the last 4 characters of the key, never the key itself (the server refuses what looks like one).
    public var apiKey: String?
    public var environment: String?
    /// At most 32 entries.
    public var tags: [String: String]?
    /// Absent: the server takes `success`.
    public var status: Status?
    public var httpStatus: Int?
    public var errorType: String?
    public var latencyMs: Int?
    public var timeToFirstTokenMs: Int?
    public var streamed: Bool?
    public var batch: Bool?
    public var retries: Int?
    public var finishReason: String?
    public var serviceTier: String?
    /// The cost the provider itself reported, as an exact decimal string of US dollars (`"0.0125"`, ≤ 9 decimals).
    /// Never a float: it is sent as written.
    public var providerCostUSD: String?

    public init(
        id: String = TallyEvent.newID(),
        timestamp: Date = Date(),
        provider: String,
        model: String,
        operation: Operation? = nil,
        inputTokens: Int = 0,
        outputTokens: Int = 0,
        cachedInputTokens: Int = 0,
        cacheWriteInputTokens: Int = 0,
        cacheWrite1hInputTokens: Int = 0,
        reasoningTokens: Int = 0,
        inputAudioTokens: Int = 0,
        outputAudioTokens: Int = 0,
        cachedInputAudioTokens: Int = 0,
        requests: Int = 1,
        project: String? = nil,
        feature: String? = nil,
        user: String? = nil,
        apiKey: String? = nil,
        environment: String? = nil,
        tags: [String: String]? = nil,
        status: Status? = nil,
        httpStatus: Int? = nil,
        errorType: String? = nil,
        latencyMs: Int? = nil,
        timeToFirstTokenMs: Int? = nil,
        streamed: Bool? = nil,
        batch: Bool? = nil,
        retries: Int? = nil,
        finishReason: String? = nil,
        serviceTier: String? = nil,
        providerCostUSD: String? = nil
    ) {
        self.id = id
        self.timestamp = timestamp
        self.provider = provider
        self.model = model
        self.operation = operation
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
        self.cacheWriteInputTokens = cacheWriteInputTokens
        self.cacheWrite1hInputTokens = cacheWrite1hInputTokens
        self.reasoningTokens = reasoningTokens
        self.inputAudioTokens = inputAudioTokens
        self.outputAudioTokens = outputAudioTokens
        self.cachedInputAudioTokens = cachedInputAudioTokens
        self.requests = requests
        self.project = project
        self.feature = feature
        self.user = user
        self.apiKey = apiKey
        self.environment = environment
        self.tags = tags
        self.status = status
        self.httpStatus = httpStatus
        self.errorType = errorType
        self.latencyMs = latencyMs
        self.timeToFirstTokenMs = timeToFirstTokenMs
        self.streamed = streamed
        self.batch = batch
        self.retries = retries
        self.finishReason = finishReason
        self.serviceTier = serviceTier
        self.providerCostUSD = providerCostUSD
    }

    /// A fresh idempotency key: a lowercase UUID.
    public static func newID() -> String {
        UUID().uuidString.lowercased()
    }

    enum CodingKeys: String, CodingKey {
        case id
        case timestamp
        case provider
        case model
        case operation
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cachedInputTokens = "cached_input_tokens"
        case cacheWriteInputTokens = "cache_write_input_tokens"
        case cacheWrite1hInputTokens = "cache_write_1h_input_tokens"
        case reasoningTokens = "reasoning_tokens"
        case inputAudioTokens = "input_audio_tokens"
        case outputAudioTokens = "output_audio_tokens"
        case cachedInputAudioTokens = "cached_input_audio_tokens"
        case requests
        case project
        case feature
        case user
        case apiKey = "api_key"
        case environment
        case tags
        case status
        case httpStatus = "http_status"
        case errorType = "error_type"
        case latencyMs = "latency_ms"
        case timeToFirstTokenMs = "time_to_first_token_ms"
        case streamed
        case batch
        case retries
        case finishReason = "finish_reason"
        case serviceTier = "service_tier"
        case providerCostUSD = "provider_cost_usd"
    }

    /// Decodes the API's shape, the events the server lists included (their other fields are ignored). Absent
    /// counts are 0 and absent `requests` 1, as the server reads them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        let stamp = try c.decode(String.self, forKey: .timestamp)
        guard let date = RFC3339.parse(stamp) else {
            throw DecodingError.dataCorruptedError(
                forKey: .timestamp, in: c, debugDescription: "'\(stamp)' is not an RFC 3339 date-time")
        }
        timestamp = date
        provider = try c.decode(String.self, forKey: .provider)
        model = try c.decode(String.self, forKey: .model)
        operation = try c.decodeIfPresent(Operation.self, forKey: .operation)
        inputTokens = try c.decodeIfPresent(Int.self, forKey: .inputTokens) ?? 0
        outputTokens = try c.decodeIfPresent(Int.self, forKey: .outputTokens) ?? 0
        cachedInputTokens = try c.decodeIfPresent(Int.self, forKey: .cachedInputTokens) ?? 0
        cacheWriteInputTokens = try c.decodeIfPresent(Int.self, forKey: .cacheWriteInputTokens) ?? 0
        cacheWrite1hInputTokens = try c.decodeIfPresent(Int.self, forKey: .cacheWrite1hInputTokens) ?? 0
        reasoningTokens = try c.decodeIfPresent(Int.self, forKey: .reasoningTokens) ?? 0
        inputAudioTokens = try c.decodeIfPresent(Int.self, forKey: .inputAudioTokens) ?? 0
        outputAudioTokens = try c.decodeIfPresent(Int.self, forKey: .outputAudioTokens) ?? 0
        cachedInputAudioTokens = try c.decodeIfPresent(Int.self, forKey: .cachedInputAudioTokens) ?? 0
        requests = try c.decodeIfPresent(Int.self, forKey: .requests) ?? 1
        project = try c.decodeIfPresent(String.self, forKey: .project)
        feature = try c.decodeIfPresent(String.self, forKey: .feature)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        apiKey = try c.decodeIfPresent(String.self, forKey: .apiKey)
        environment = try c.decodeIfPresent(String.self, forKey: .environment)
        tags = try c.decodeIfPresent([String: String].self, forKey: .tags)
        status = try c.decodeIfPresent(Status.self, forKey: .status)
        httpStatus = try c.decodeIfPresent(Int.self, forKey: .httpStatus)
        errorType = try c.decodeIfPresent(String.self, forKey: .errorType)
        latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs)
        timeToFirstTokenMs = try c.decodeIfPresent(Int.self, forKey: .timeToFirstTokenMs)
        streamed = try c.decodeIfPresent(Bool.self, forKey: .streamed)
        batch = try c.decodeIfPresent(Bool.self, forKey: .batch)
        retries = try c.decodeIfPresent(Int.self, forKey: .retries)
        finishReason = try c.decodeIfPresent(String.self, forKey: .finishReason)
        serviceTier = try c.decodeIfPresent(String.self, forKey: .serviceTier)
        providerCostUSD = try c.decodeIfPresent(String.self, forKey: .providerCostUSD)
    }

    /// Encodes the API's shape whatever the encoder's strategies: the timestamp as an RFC 3339 string, counts that
    /// are 0 (and `requests` of 1) and absent optionals left out, as the server defaults them.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(RFC3339.format(timestamp), forKey: .timestamp)
        try c.encode(provider, forKey: .provider)
        try c.encode(model, forKey: .model)
        try c.encodeIfPresent(operation, forKey: .operation)
        let counts: [(Int, CodingKeys)] = [
            (inputTokens, .inputTokens), (outputTokens, .outputTokens), (cachedInputTokens, .cachedInputTokens),
            (cacheWriteInputTokens, .cacheWriteInputTokens), (cacheWrite1hInputTokens, .cacheWrite1hInputTokens),
            (reasoningTokens, .reasoningTokens), (inputAudioTokens, .inputAudioTokens),
            (outputAudioTokens, .outputAudioTokens), (cachedInputAudioTokens, .cachedInputAudioTokens),
        ]
        for (value, key) in counts where value != 0 {
            try c.encode(value, forKey: key)
        }
        if requests != 1 {
            try c.encode(requests, forKey: .requests)
        }
        try c.encodeIfPresent(project, forKey: .project)
        try c.encodeIfPresent(feature, forKey: .feature)
        try c.encodeIfPresent(user, forKey: .user)
        try c.encodeIfPresent(apiKey, forKey: .apiKey)
        try c.encodeIfPresent(environment, forKey: .environment)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(status, forKey: .status)
        try c.encodeIfPresent(httpStatus, forKey: .httpStatus)
        try c.encodeIfPresent(errorType, forKey: .errorType)
        try c.encodeIfPresent(latencyMs, forKey: .latencyMs)
        try c.encodeIfPresent(timeToFirstTokenMs, forKey: .timeToFirstTokenMs)
        try c.encodeIfPresent(streamed, forKey: .streamed)
        try c.encodeIfPresent(batch, forKey: .batch)
        try c.encodeIfPresent(retries, forKey: .retries)
        try c.encodeIfPresent(finishReason, forKey: .finishReason)
        try c.encodeIfPresent(serviceTier, forKey: .serviceTier)
        try c.encodeIfPresent(providerCostUSD, forKey: .providerCostUSD)
    }
}

/// RFC 3339 date-times: written in UTC with milliseconds (`2026-11-20T10:15:00.123Z`); read with or without
/// fractional seconds, with any offset.
enum RFC3339 {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let withoutFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: false, timeZone: .gmt)

    /// Rounded to the nearest millisecond (a formatter would truncate: `.123` held as `.12299…` would read `.122`).
    static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1_000).rounded())
        var seconds = milliseconds / 1_000
        var fraction = milliseconds % 1_000
        if fraction < 0 {
            fraction += 1_000
            seconds -= 1
        }
        let whole = withoutFraction.format(Date(timeIntervalSince1970: Double(seconds)))  // …T11:06:40Z
        let digits = String(fraction)
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    static func parse(_ text: String) -> Date? {
        if let date = try? withFraction.parse(text) {
            return date
        }
        return try? withoutFraction.parse(text)
    }
}
