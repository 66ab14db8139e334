import HTTPTypes
import Hummingbird
import NIOCore
import TallyCore
import TallyHTTP
import TallyProviders
import TallyServices

/// Tally's own answers in each provider's error format (the bytes are the provider's `ProviderAPI`'s), so the SDK
/// raises its usual exception with a clear message.
package enum GatewayErrors {
    /// `retryAfter`: whole seconds until a guardrail's window frees, sent as `Retry-After`.
    package static func response(
        _ provider: ProviderKind, status: Int, message: String, code: String? = nil, retryAfter: Int? = nil
    ) -> Response {
        let body = provider.api.errorBody(status: status, message: message, code: code)
        // The SDKs retry a provider they could not reach or that timed out; Tally's own refusals are final, a
        // guardrail's 429 included (the SDKs would retry a 429 at once, and each retry would be blocked again).
        // Busy (503) is worth retrying too.
        let retry = status == 502 || status == 503 || status == 504 ? "true" : "false"
        var headers: HTTPFields = [.contentType: "application/json", .init("x-should-retry")!: retry]
        if status == 503 { headers[.retryAfter] = "1" }
        if let retryAfter { headers[.retryAfter] = String(max(1, retryAfter)) }
        for (name, value) in GatewayHeaders.guards {
            headers.append(HTTPField(name: HTTPField.Name(name)!, value: value))
        }
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The last event of a server-sent-events stream that Tally has to end (the upstream fell silent), in the
    /// provider's own mid-stream error shape so the SDK raises while iterating. nil where the provider has none.
    package static func streamEvent(_ provider: ProviderKind, message: String, code: String) -> String? {
        provider.api.streamErrorEvent(message: message, code: code)
    }
}
