import HTTPTypes
import Hummingbird
import NIOCore
import TallyCore
import TallyHTTP
import TallyServices

/// Tally's own answers in each provider's error format, so the SDK raises its usual exception with a clear message.
package enum GatewayErrors {
    package static func response(_ provider: ProviderKind, status: Int, message: String, code: String? = nil) -> Response {
        var w = JSONWriter()
        w.beginObject()
        switch provider {
        case .openai:
            w.key("error")
            w.beginObject()
            w.field("message", message)
            w.field("type", status == 401 || status == 400 || status == 413 ? "invalid_request_error" : status == 403 ? "permission_error"
                    : status == 504 ? "timeout" : "tally_gateway_error")
            w.field("param", nil as String?)
            // 422 is only ever the upstream address policy's refusal.
            w.field("code", code ?? (status == 401 ? "invalid_api_key" : status == 422 ? "upstream_not_allowed" : nil))
            w.endObject()
        case .anthropic:
            w.field("type", "error")
            w.key("error")
            w.beginObject()
            w.field("type", status == 401 ? "authentication_error" : status == 403 ? "permission_error" : status == 504 ? "timeout_error"
                    : status == 400 || status == 422 ? "invalid_request_error" : status == 413 ? "request_too_large"
                    : status == 503 ? "overloaded_error" : "api_error")
            w.field("message", message)
            w.endObject()
        case .google:
            w.key("error")
            w.beginObject()
            w.field("code", status)
            w.field("message", message)
            w.field("status", status == 401 ? "UNAUTHENTICATED" : status == 403 ? "PERMISSION_DENIED" : status == 504 ? "DEADLINE_EXCEEDED"
                    : status == 502 || status == 503 ? "UNAVAILABLE" : status == 400 || status == 413 ? "INVALID_ARGUMENT"
                    : status == 422 ? "FAILED_PRECONDITION" : "INTERNAL")
            w.endObject()
        }
        w.endObject()
        // The SDKs retry a provider they could not reach or that timed out; Tally's own refusals are final.
        // Busy (503) is worth retrying too.
        let retry = status == 502 || status == 503 || status == 504 ? "true" : "false"
        var headers: HTTPFields = [.contentType: "application/json", .init("x-should-retry")!: retry]
        if status == 503 { headers[.retryAfter] = "1" }
        for (name, value) in GatewayHeaders.guards { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: w.text)))
    }

    /// The last event of a server-sent-events stream that Tally has to end (the upstream fell silent), in the
    /// provider's own mid-stream error shape so the SDK raises while iterating. nil where the provider has none.
    package static func streamEvent(_ provider: ProviderKind, message: String, code: String) -> String? {
        var w = JSONWriter()
        w.beginObject()
        switch provider {
        case .openai:
            w.key("error")
            w.beginObject()
            w.field("message", message)
            w.field("type", "timeout")
            w.field("param", nil as String?)
            w.field("code", code)
            w.endObject()
            w.endObject()
            return "data: \(w.text)\n\n"
        case .anthropic:
            w.field("type", "error")
            w.key("error")
            w.beginObject()
            w.field("type", "timeout_error")
            w.field("message", message)
            w.endObject()
            w.endObject()
            return "event: error\ndata: \(w.text)\n\n"
        case .google:
            return nil
        }
    }
}
