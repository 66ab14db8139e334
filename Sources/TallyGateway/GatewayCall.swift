import AsyncHTTPClient
import TallyCore
import TallyIngest
import TallyProviders
import TallyServices

// The values one gateway call hands from step to step (GatewayController.forward): authenticate → choose upstream →
// prepare → guard → send → relay and capture → record + settle.

/// Tally's own answer ending a call: a refusal before anything is forwarded, or an upstream that gave no answer. The
/// controller writes it in the provider's error format (`GatewayErrors.response`).
package struct GatewayRefusal: Error, Equatable {
    package let status: Int
    package let message: String
    package let code: String?
    /// Seconds until a guardrail's window frees (`Retry-After`), for a rate-limit block.
    package let retryAfter: Int?

    package init(_ status: Int, _ message: String, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.code = code
        self.retryAfter = retryAfter
    }
}

/// A call whose path has been checked and whose Tally token is valid and allowed on the gateway.
package struct GatewayCall: Sendable {
    package let provider: ProviderKind
    /// The path under `/gateway/{provider}/`, checked.
    package let route: GatewayRoute
    /// The canonical path: what is checked, read and forwarded alike (never the raw, maybe encoded, one).
    package let rest: String
    package let token: APIToken
    /// The Tally token came in X-Tally-Token: the app's own provider key, if any, goes upstream as sent.
    package let passThrough: Bool
    /// When the call came in: the clock for latency and time to first token, the wall clock for the event.
    package let started: ContinuousClock.Instant
    package let startedAt: Instant
    /// The event's id when the caller chose it (the playground's); nil: the provider's request id, or a new one.
    package var eventID: String?

    package init(
        provider: ProviderKind, route: GatewayRoute, token: APIToken, passThrough: Bool,
        started: ContinuousClock.Instant = .now, startedAt: Instant = .now
    ) {
        self.provider = provider
        self.route = route
        self.rest = route.canonical
        self.token = token
        self.passThrough = passThrough
        self.started = started
        self.startedAt = startedAt
    }
}

/// Where a call goes: the connection chosen (none in pass-through mode when the organization has none), the key that
/// replaces the Tally token (nil in pass-through mode) and the base URL.
package struct ChosenUpstream: Sendable {
    package let connection: ProviderConnection?
    package let key: String?
    package let base: String
}

/// What the gateway read from a request, for reading the answer's usage and recording the call.
package struct Metering: Sendable {
    package let kind: UsageCapture.Kind
    /// The JSON body as the client sent it (before `stream_options` was added), when Tally read it.
    package let requestJSON: JSONValue?
    package let requestedModel: String?
    /// The JSON body's size in bytes as the client sent it (0 when it streams or is not read): the guard's bound
    /// on the call's input tokens.
    package var bodyBytes: Int = 0
    package let streamed: Bool
    /// `stream_options.include_usage` was added for the client: the usage chunk it did not ask for is filtered out.
    package let filterUsageChunk: Bool
    /// The project's capture settings and the safety filters that apply to the call (issue 21).
    package var content: CallContentPolicy = .none
    /// What the filters found so far (the request's, then the answer's); recorded on the event.
    package var safetyFlags: [String] = []
    /// The request asked for a JSON answer: one that does not parse is flagged `invalid_json`.
    package var expectsJSON = false
    /// The request body as it went upstream, kept only when the project captures content.
    package var sentBody: [UInt8]?
    /// The answer was held whole and judged by the response filters before the client saw it.
    package var answerJudged = false
}

/// The request as it goes upstream: head (URL, method, headers) and body, and what the call read from it.
package struct PreparedRequest: Sendable {
    package let head: HTTPClientRequest
    package let body: UpstreamBody?
    /// The client's upload, when the body streams: stopped once the call is over.
    package let upload: UploadPump?
    package let metering: Metering
}

/// How relaying an answer went: what the capture read, and what the client got.
package struct Relayed {
    package var result: UsageCapture.Result
    package let firstByte: Duration?
    /// The last bytes the client got, and whether it went away; the ending may write one more event.
    package var sent: SentTail
    package var disconnected: Bool
    package let idleTimedOut: Bool
    /// The answer's bytes as the client got them, when the project captures content (non-streamed answers).
    package var answerBytes: [UInt8]? = nil
}

/// What capture keeps of a call, before sealing: the request as sent upstream and the answer (a streamed one
/// reassembled), under the policy that says how.
package struct CapturedBodies: Sendable {
    package var policy: CallContentPolicy
    package var request: [UInt8]?
    package var response: [UInt8]?
}
