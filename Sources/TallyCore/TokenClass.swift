/// The classes of tokens a provider counts and bills at different rates: the one table behind the token counts of
/// `TokenUsage` and `UsageMetrics`, their names in the API, CSV and the stores, and the prices' keys.
///
/// The raw value is the class's name in price sets and cost lines (`prices.cached_input`, `"token_class"`). The
/// cases are in the catalog's order; `counts` is the order the API, CSV and stores list the counts in.
///
/// A count is what a client reports: `input_tokens` counts every input token (cache reads, cache writes and audio
/// included), `cache_write_input_tokens` every cache write (the one-hour ones included) and `output_tokens` every
/// output token (reasoning and audio included). `cached_input_audio_tokens` is the audio part of the cache reads, so
/// it is inside three counts at once: `cached_input_tokens`, `input_audio_tokens` and `input_tokens` (providers count
/// it in both their cached and their audio figures, and price it at a rate of its own). `CostEngine` splits them into
/// the billed classes, each token in exactly one.
public enum TokenClass: String, CaseIterable, Sendable {
    case input
    case cachedInput = "cached_input"
    case cacheWrite5m = "cache_write_5m"
    case cacheWrite1h = "cache_write_1h"
    case output
    case reasoning
    case inputAudio = "input_audio"
    case cachedInputAudio = "cached_input_audio"
    case outputAudio = "output_audio"

    /// The counts in the order of the API's fields, the CSV's columns and the stores' columns. A count added later
    /// comes last, so the columns a CSV reader knows keep their positions.
    public static let counts: [TokenClass] = [
        .input, .output, .cachedInput, .cacheWrite5m, .cacheWrite1h, .reasoning, .inputAudio, .outputAudio,
        .cachedInputAudio,
    ]

    /// The count's name in the API (events, summaries, quotes) and the CSV export.
    public var field: String {
        switch self {
        case .input: "input_tokens"
        case .cachedInput: "cached_input_tokens"
        case .cacheWrite5m: "cache_write_input_tokens"
        case .cacheWrite1h: "cache_write_1h_input_tokens"
        case .output: "output_tokens"
        case .reasoning: "reasoning_tokens"
        case .inputAudio: "input_audio_tokens"
        case .cachedInputAudio: "cached_input_audio_tokens"
        case .outputAudio: "output_audio_tokens"
        }
    }

    /// The column holding the count in `usage_events` and the rollup tables (the API's name).
    public var column: String { field }
}

/// What holds one count per token class: an event's usage and summed metrics.
public protocol TokenCounts {
    var inputTokens: Int64 { get set }
    var cachedInputTokens: Int64 { get set }
    var cacheWriteInputTokens: Int64 { get set }
    var cacheWrite1hInputTokens: Int64 { get set }
    var outputTokens: Int64 { get set }
    var reasoningTokens: Int64 { get set }
    var inputAudioTokens: Int64 { get set }
    var cachedInputAudioTokens: Int64 { get set }
    var outputAudioTokens: Int64 { get set }
}

extension TokenCounts {
    /// One class's count. A switch, not a key path: it runs for every event and rollup row on the ingest path, where
    /// a key path's dynamic access costs several times the addition it serves.
    @inlinable
    public subscript(_ tokenClass: TokenClass) -> Int64 {
        get {
            switch tokenClass {
            case .input: inputTokens
            case .cachedInput: cachedInputTokens
            case .cacheWrite5m: cacheWriteInputTokens
            case .cacheWrite1h: cacheWrite1hInputTokens
            case .output: outputTokens
            case .reasoning: reasoningTokens
            case .inputAudio: inputAudioTokens
            case .cachedInputAudio: cachedInputAudioTokens
            case .outputAudio: outputAudioTokens
            }
        }
        set {
            switch tokenClass {
            case .input: inputTokens = newValue
            case .cachedInput: cachedInputTokens = newValue
            case .cacheWrite5m: cacheWriteInputTokens = newValue
            case .cacheWrite1h: cacheWrite1hInputTokens = newValue
            case .output: outputTokens = newValue
            case .reasoning: reasoningTokens = newValue
            case .inputAudio: inputAudioTokens = newValue
            case .cachedInputAudio: cachedInputAudioTokens = newValue
            case .outputAudio: outputAudioTokens = newValue
            }
        }
    }
}

extension TokenUsage: TokenCounts {}
extension UsageMetrics: TokenCounts {}
