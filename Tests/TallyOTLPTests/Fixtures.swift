import Foundation
import SwiftProtobuf
import TallyCore
import TallyOTLP

/// Spans and requests built with the generated messages, as an SDK would send them.
enum Fixture {
    /// The receiving clock: 2025-12-06T05:46:40Z.
    static let now = Instant(seconds: 1_765_000_000)
    /// Ten minutes earlier, in nanoseconds.
    static let startNanos: UInt64 = 1_764_999_400_123_456_789
    static let traceID = Data([
        0x4B, 0xF9, 0x2F, 0x35, 0x77, 0xB3, 0x4D, 0xA6, 0xA3, 0xCE, 0x92, 0x9D, 0x0E, 0x0E, 0x47, 0x36,
    ])
    static let spanID = Data([0x00, 0xF0, 0x67, 0xAA, 0x0B, 0xA9, 0x02, 0xB7])
    static let eventID = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"

    static func kv(_ key: String, _ value: String) -> KeyValue { kv(key, .stringValue(value)) }
    static func kv(_ key: String, _ value: Int64) -> KeyValue { kv(key, .intValue(value)) }
    static func kv(_ key: String, _ value: Double) -> KeyValue { kv(key, .doubleValue(value)) }
    static func kv(_ key: String, _ value: Bool) -> KeyValue { kv(key, .boolValue(value)) }
    static func kv(_ key: String, strings: [String]) -> KeyValue {
        var array = ArrayValue()
        array.values = strings.map { s in
            var v = AnyValue()
            v.stringValue = s
            return v
        }
        return kv(key, .arrayValue(array))
    }
    static func kv(_ key: String, _ value: AnyValue.OneOf_Value) -> KeyValue {
        var kv = KeyValue()
        kv.key = key
        kv.value.value = value
        return kv
    }

    /// A chat span as opentelemetry-instrumentation-openai-v2 records one (with the latest conventions opted in).
    static func chatSpan(_ extra: [KeyValue] = [], id spanID: Data = spanID) -> Span {
        var span = Span()
        span.traceID = traceID
        span.spanID = spanID
        span.parentSpanID = Data([1, 2, 3, 4, 5, 6, 7, 8])
        span.name = "chat gpt-4o"
        span.kind = .client
        span.startTimeUnixNano = startNanos
        span.endTimeUnixNano = startNanos + 1_234_567_890
        span.flags = 0x101
        span.status = SpanStatus()  // present and unset, as the exporters write it (`"status":{}`)
        span.attributes =
            [
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o"),
                kv("gen_ai.request.temperature", 0.2),
                kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                kv("gen_ai.response.id", "chatcmpl-AbC123"),
                kv("gen_ai.response.finish_reasons", strings: ["stop"]),
                kv("gen_ai.usage.input_tokens", Int64(1200)),
                kv("gen_ai.usage.output_tokens", Int64(300)),
                kv("gen_ai.usage.cache_read.input_tokens", Int64(1000)),
                kv("openai.response.service_tier", "default"),
                kv("server.address", "api.openai.com"),
            ] + extra
        return span
    }

    /// A span that is no GenAI call: an HTTP server span.
    static func httpSpan() -> Span {
        var span = Span()
        span.traceID = traceID
        span.spanID = Data([9, 9, 9, 9, 9, 9, 9, 9])
        span.name = "POST /answer"
        span.kind = .server
        span.startTimeUnixNano = startNanos - 5_000_000
        span.endTimeUnixNano = startNanos + 2_000_000_000
        span.attributes = [kv("http.request.method", "POST"), kv("http.response.status_code", Int64(200))]
        span.status.code = .ok
        return span
    }

    static func request(
        _ spans: [Span], resource: [KeyValue] = [kv("service.name", "support-bot"), kv("tally.project", "support")]
    ) -> ExportTraceServiceRequest {
        var scope = ScopeSpans()
        scope.scope.name = "opentelemetry.instrumentation.openai_v2"
        scope.scope.version = "2.4b0"
        scope.spans = spans
        var resourceSpans = ResourceSpans()
        resourceSpans.resource.attributes = resource
        resourceSpans.scopeSpans = [scope]
        var request = ExportTraceServiceRequest()
        request.resourceSpans = [resourceSpans]
        return request
    }

    /// The request's events, decoded from protobuf as a server would.
    static func result(_ spans: [Span], resource: [KeyValue]? = nil) throws -> OTLPExportResult {
        let message = resource.map { request(spans, resource: $0) } ?? request(spans)
        let bytes: [UInt8] = try message.serializedBytes()
        return OTLPTraces.events(from: try OTLPTraces.decode(bytes, encoding: .protobuf), now: now)
    }

    /// The one event of a chat span with `extra` attributes (or attributes replaced: later keys do not override,
    /// so `replacing` removes the keys first).
    static func event(_ extra: [KeyValue] = [], removing: Set<String> = []) throws -> UsageEvent? {
        var span = chatSpan()
        span.attributes.removeAll { removing.contains($0.key) || extra.map(\.key).contains($0.key) }
        span.attributes += extra
        return try result([span]).events.first
    }

    /// The rejection message of a chat span with `extra` attributes (replacing the same keys).
    static func rejection(_ extra: [KeyValue] = [], removing: Set<String> = []) throws -> String {
        var span = chatSpan()
        span.attributes.removeAll { removing.contains($0.key) || extra.map(\.key).contains($0.key) }
        span.attributes += extra
        return try result([span]).rejectionMessage
    }
}
