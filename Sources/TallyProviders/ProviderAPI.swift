import TallyCore

/// Everything Tally knows about one provider's API, in one place: one conformance per provider, in its own folder
/// (`OpenAI/`, `Anthropic/`, `Google/`), reached from the provider's `ProviderKind` with `.api`. The gateway, the key
/// validator and the sync ask it; none of them switches on the provider. Adding a provider is a case in
/// `ProviderKind`, a folder here and a line in `ProviderKind.api`.
package protocol ProviderAPI: Sendable {
    var kind: ProviderKind { get }
    /// The provider's name as messages write it ("OpenAI").
    var displayName: String { get }
    /// Where its API lives when a connection names no base URL.
    var defaultBaseURL: String { get }

    // MARK: The gateway: what a call is

    /// What the gateway reads from the answer to a call on `path`: what follows `/gateway/{provider}/`, canonical,
    /// without the query.
    func captureKind(path: String) -> UsageCapture.Kind
    /// Whether `segments` (the path under `/gateway/{provider}/`, decoded) with `method` is one of the provider's
    /// inference endpoints (calls that use a model, and listing models). Everything else (files, batches,
    /// fine-tuning, assistants, admin) needs a connection with `gateway_endpoints: all`.
    func isInference(segments: [String], method: String) -> Bool
    /// Whether the path alone says the answer streams (Gemini's `:streamGenerateContent`); a JSON body's
    /// `"stream": true` says so for every provider.
    func streamsByPath(_ path: String) -> Bool
    /// The model the path names (Gemini's `models/{model}:action`), for a call whose body names none.
    func model(inPath path: String) -> String?
    /// The JSON body to send upstream instead of `json` for a call of `kind`, or nil to send it as it came: OpenAI's
    /// streamed chat asks for the usage chunk the client did not (`StreamFilter` takes it out of the answer again).
    func requestAskingForUsage(_ json: JSONValue, kind: UsageCapture.Kind) -> JSONValue?
    /// The most output tokens a request's JSON body allows the answer (the guardrails price a call's worst case from
    /// it), nil when it sets none. Only a non-negative integer that fits counts (`tokenCount`): anything else the
    /// provider would refuse, so Tally falls back to its own bound rather than trust it.
    func requestedMaxOutputTokens(_ json: JSONValue) -> Int?
    /// How many answers the request asks for (OpenAI's `n`/`best_of`, Gemini's `candidateCount`), at least 1: each
    /// may be as long as the output limit, so the worst case multiplies.
    func requestedAnswers(_ json: JSONValue) -> Int

    // MARK: The gateway: keys and headers

    /// Request headers (lowercased) where the SDK sends its key when it is not `Authorization: Bearer`.
    var keyHeaders: [String] { get }
    /// The query parameter an SDK may send its key in (Gemini's `key`), if any; the gateway drops it when it carried
    /// the Tally token.
    var keyQueryParameter: String? { get }
    /// Whether the provider's own request header `name` (lowercased) is forwarded upstream. The headers every
    /// provider shares are the gateway's (`GatewayHeaders.common`). The SDK's key header carries the Tally token
    /// unless the call is in pass-through mode (the app's own provider key, where the provider reads it).
    func forwardsHeader(_ name: String, passThrough: Bool) -> Bool
    /// How the connection's key goes upstream.
    func upstreamAuth(key: String) -> UpstreamAuth

    // MARK: The gateway: Tally's own answers, in the provider's error format

    /// The JSON body of Tally's own refusal with `status`, so the SDK raises its usual exception with a clear message.
    func errorBody(status: Int, message: String, code: String?) -> String
    /// The last event of a server-sent-events stream that Tally has to end (the upstream fell silent), in the
    /// provider's own mid-stream error shape so the SDK raises while iterating. nil where the provider has none.
    func streamErrorEvent(message: String, code: String) -> String?

    // MARK: Keys

    /// The one cheap call that proves a key works (list models, or for an admin key one admin read): path and
    /// headers per the provider's documentation.
    func validationRequest(key: String, admin: Bool) -> (path: String, headers: [(String, String)])

    // MARK: Usage

    /// Reads one JSON object of an answer of `kind` (a whole response, or one event of a stream) into `result`.
    /// `carried` is what the provider keeps from one event of a stream to the next (Anthropic: the usage so far).
    func readUsage(
        _ value: JSONValue, kind: UsageCapture.Kind, into result: inout UsageCapture.Result, carried: inout JSONValue)
    /// The service tier a request's JSON body asks for, lowercased (`ServiceTier.name`), in Tally's terms; nil when it
    /// names none. The gateway records it when the answer names no tier (the answer's wins: it says what served).
    func requestedServiceTier(_ json: JSONValue) -> String?
    /// The service tier an answer's headers say served the call (`header` reads one by its lowercased name), for a
    /// provider that says so in a header; the answer's body, when it names one, wins.
    func servedServiceTier(header: (String) -> String?) -> String?

    // MARK: Content: what a call says, for the safety filters

    /// The texts of a request's messages that a safety filter reads and may redact, in order: OpenAI chat
    /// `messages[].content` (a string, or the `text` of `{"type":"text"}` parts) incl. system/developer messages;
    /// Responses `instructions` and `input` (a string, or items whose `content` is a string or parts with
    /// `input_text`/`output_text` `text`); legacy completions `prompt` (string or array of strings); embeddings
    /// `input` (string or array of strings). Anthropic `system` (string or text blocks) and `messages[].content`
    /// (string or `{"type":"text"}` blocks; `tool_result` blocks' text content too). Gemini
    /// `systemInstruction.parts[].text`, `contents[].parts[].text`, embedContent `content.parts[].text`. Nothing for
    /// `.other`. Non-string values are skipped, never crash.
    func requestTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText]
    /// The texts of a whole (non-streamed) answer that a filter reads and may redact: OpenAI chat
    /// `choices[].message.content` (and `.refusal`), Responses `output[].content[].text` (type output_text),
    /// completions `choices[].text`; Anthropic `content[]` text blocks; Gemini `candidates[].content.parts[].text`.
    /// Embeddings: none.
    func answerTexts(_ json: JSONValue, kind: UsageCapture.Kind) -> [ContentText]
    /// Whether the request asks for a JSON answer (a structured-output mode), so a check can hold the answer to it.
    func expectsJSON(_ json: JSONValue, kind: UsageCapture.Kind) -> Bool
    /// Reads the answer's content from one JSON object of an answer of `kind` (a whole response, or one event of a
    /// stream) into `answer`: its visible text, refusal and tool-call arguments. Only the first choice or candidate
    /// counts. `carried` is what the provider keeps from one event of a stream to the next (which call a stream's
    /// argument fragments belong to), separate from `readUsage`'s.
    func readAnswer(
        _ value: JSONValue, kind: UsageCapture.Kind, into answer: inout AnswerText, carried: inout JSONValue)

    // MARK: Organization reports

    /// The provider's organization usage and cost reports, nil where it has none to sync.
    var organizationReports: (any OrganizationReportsAPI)? { get }
}

/// How a connection's key goes upstream: the client's headers removed first (a bearer the provider would also
/// read), then these set, each replacing what the client sent.
package struct UpstreamAuth: Sendable {
    package var removed: [String]
    package var headers: [(name: String, value: String)]

    package init(removed: [String] = [], headers: [(name: String, value: String)]) {
        self.removed = removed
        self.headers = headers
    }
}

/// A provider's organization reports (`ProviderReport`): their requests and the decoding of their pages.
package protocol OrganizationReportsAPI: Sendable {
    /// Buckets per page.
    func pageSize(_ report: ProviderReport) -> Int
    /// The keys a report is grouped by: every key Tally breaks usage down by.
    func groupBy(_ report: ProviderReport) -> [String]
    func path(_ report: ProviderReport) -> String
    /// The query of a page, without the page cursor. `from`/`to` are whole UTC days.
    func query(_ report: ProviderReport, from: Instant, to: Instant) -> [(String, String)]
    /// The headers that carry the admin key.
    func headers(key: String) -> [String: String]
    func decodeUsage(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderUsageRow>
    func decodeCosts(_ json: JSONValue, report: ProviderReport) throws(MalformedReport) -> ReportPage<ProviderCostRow>
}

extension ProviderKind {
    /// The provider's API: the one place that knows its paths, headers, formats and reports.
    package var api: any ProviderAPI {
        switch self {
        case .openai: OpenAIAPI()
        case .anthropic: AnthropicAPI()
        case .google: GoogleAPI()
        }
    }
}

extension ProviderReport {
    /// The reports API of the report's provider. Every `ProviderReport` is one of a provider that has reports
    /// (a test holds every case to that).
    package var api: any OrganizationReportsAPI {
        guard let reports = provider.api.organizationReports else {
            preconditionFailure("\(rawValue): \(provider.rawValue) has no organization reports")
        }
        return reports
    }
}

extension ProviderAPI {
    /// The secret the SDK sent in its usual place: a bearer token, else the provider's key header, else its key
    /// query parameter. `header` reads a request header by its lowercased name, `query` a query parameter.
    package func presentedKey(header: (String) -> String?, query: (String) -> String?) -> String? {
        if let bearer = header("authorization"), bearer.lowercased().hasPrefix("bearer ") {
            return String(bearer.dropFirst(7))
        }
        for name in keyHeaders {
            if let value = header(name) { return value }
        }
        return keyQueryParameter.flatMap(query)
    }

    /// A token count as a request states it: a non-negative JSON integer that fits, else nil (a string, a
    /// fraction, `1e3`, a negative or an out-of-range number is not one).
    package static func tokenCount(_ value: JSONValue?) -> Int? {
        guard case .number(let literal)? = value else { return nil }
        if let n = Int(literal) { return n >= 0 ? n : nil }
        // `64000.0` or `1e5`, which a provider may accept as the integer it equals: bounded from above, never read
        // as less than it says (a bound only: no money is computed from it).
        guard let d = Double(literal), d.isFinite, d >= 0 else { return nil }
        return d >= 1e12 ? 1_000_000_000_000 : Int(d.rounded(.up))
    }

    /// An answer count between 1 and 128 (what the providers allow), from the first of `values` that is a count.
    package static func answerCount(_ values: JSONValue?...) -> Int {
        values.compactMap { tokenCount($0) }.map { min(max($0, 1), 128) }.max() ?? 1
    }

    package func streamsByPath(_ path: String) -> Bool { false }
    package func requestedAnswers(_ json: JSONValue) -> Int { 1 }
    package func model(inPath path: String) -> String? { nil }
    package func requestAskingForUsage(_ json: JSONValue, kind: UsageCapture.Kind) -> JSONValue? { nil }
    package func servedServiceTier(header: (String) -> String?) -> String? { nil }
    package var keyQueryParameter: String? { nil }
    package var organizationReports: (any OrganizationReportsAPI)? { nil }
}
