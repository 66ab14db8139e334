import Foundation
import SwiftProtobuf
import TallyCore

// The generated OTLP messages, by their short names. They are `package` (scripts/generate-otlp: Visibility=Package):
// the package's targets and tests build and read them, TallyOTLP's public API does not expose them.
package typealias ExportTraceServiceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
package typealias ExportTraceServiceResponse = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse
package typealias ExportTracePartialSuccess = Opentelemetry_Proto_Collector_Trace_V1_ExportTracePartialSuccess
package typealias ResourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans
package typealias ScopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans
package typealias Span = Opentelemetry_Proto_Trace_V1_Span
package typealias SpanStatus = Opentelemetry_Proto_Trace_V1_Status
package typealias Resource = Opentelemetry_Proto_Resource_V1_Resource
package typealias InstrumentationScope = Opentelemetry_Proto_Common_V1_InstrumentationScope
package typealias KeyValue = Opentelemetry_Proto_Common_V1_KeyValue
package typealias KeyValueList = Opentelemetry_Proto_Common_V1_KeyValueList
package typealias AnyValue = Opentelemetry_Proto_Common_V1_AnyValue
package typealias ArrayValue = Opentelemetry_Proto_Common_V1_ArrayValue

/// How an OTLP/HTTP body is encoded: `application/x-protobuf` or `application/json` (OTLP/JSON).
public enum OTLPEncoding: Sendable, Equatable {
    case protobuf, json

    /// The encoding a `Content-Type` names (parameters such as `; charset=utf-8` ignored), or nil for any other type.
    public init?(contentType: String) {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        switch mediaType {
        case "application/x-protobuf", "application/protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }
}

/// A decoded OTLP trace export request (`ExportTraceServiceRequest`), ready for `OTLPTraces.events(from:now:)`.
public struct OTLPTraceRequest: Sendable, Equatable {
    package var message: ExportTraceServiceRequest
    package init(_ message: ExportTraceServiceRequest) { self.message = message }

    /// Every span in the request, GenAI or not.
    public var spanCount: Int {
        message.resourceSpans.reduce(0) { total, resource in
            resource.scopeSpans.reduce(total) { $0 + $1.spans.count }
        }
    }
}

/// What a request's spans became: the events of its GenAI spans, how many GenAI spans were rejected and why (for the
/// response's `partial_success`), and how many spans were not GenAI calls at all.
public struct OTLPExportResult: Sendable, Equatable {
    public var events: [UsageEvent]
    /// GenAI spans that could not become an event (`partial_success.rejected_spans`).
    public var rejectedSpans: Int64
    /// Empty when nothing was rejected; else e.g. `2 spans rejected: span 'chat gpt-4o' (trace …/span …):
    /// gen_ai.request.model is missing; …`, with at most `OTLPTraces.maxListedRejections` reasons.
    public var rejectionMessage: String
    /// Spans that are not GenAI model calls (no `gen_ai.provider.name` or `gen_ai.system`, or an agent, tool or
    /// workflow span): not usage, so neither recorded nor rejected.
    public var ignoredSpans: Int

    public init(events: [UsageEvent], rejectedSpans: Int64, rejectionMessage: String, ignoredSpans: Int) {
        self.events = events
        self.rejectedSpans = rejectedSpans
        self.rejectionMessage = rejectionMessage
        self.ignoredSpans = ignoredSpans
    }
}

/// OpenTelemetry traces (OTLP/HTTP, `POST /v1/traces`) → Tally usage events: decoding (protobuf or OTLP/JSON), the
/// mapping of GenAI spans (semantic conventions `gen_ai.*`) onto `UsageEvent`s held to `EventRules`, and the
/// `ExportTraceServiceResponse`.
public enum OTLPTraces {
    /// Bytes of one request body.
    public static let maxBodyBytes = 4 << 20
    /// Spans of one request, GenAI or not (an SDK's batch is 512 by default).
    public static let maxSpans = 10_000
    /// Nesting of messages in a protobuf body; OTLP needs 6 plus the nesting of attribute values. The JSON parser
    /// allows 64 levels of objects and arrays.
    public static let maxDepth = 64
    /// Rejection reasons written out in `rejectionMessage`.
    public static let maxListedRejections = 3

    /// Decodes an OTLP/HTTP trace export body. A body that is not a valid `ExportTraceServiceRequest` in `encoding`
    /// is `invalid` (field `body`), one over the limits `tooLarge`. Unknown fields are ignored.
    public static func decode(_ body: [UInt8], encoding: OTLPEncoding) throws(TallyError) -> OTLPTraceRequest {
        guard body.count <= maxBodyBytes else {
            throw .tooLarge("an OTLP request body is at most \(maxBodyBytes) bytes (got \(body.count))")
        }
        let request: OTLPTraceRequest
        switch encoding {
        case .protobuf: request = OTLPTraceRequest(try decodeProtobuf(body))
        case .json: request = OTLPTraceRequest(try OTLPJSON.decode(body))
        }
        let spans = request.spanCount
        guard spans <= maxSpans else {
            throw .tooLarge("an OTLP request holds at most \(maxSpans) spans (got \(spans))")
        }
        return request
    }

    private static func decodeProtobuf(_ body: [UInt8]) throws(TallyError) -> ExportTraceServiceRequest {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = maxDepth
        options.discardUnknownFields = true
        do {
            return try ExportTraceServiceRequest(serializedBytes: body, options: options)
        } catch let error as BinaryDecodingError {
            let reason: String =
                switch error {
                case .truncated: "is truncated"
                case .invalidUTF8: "holds a string that is not valid UTF-8"
                case .messageDepthLimit: "nests messages more than \(maxDepth) deep"
                default: "is malformed"
                }
            throw bodyProblem("not an OTLP ExportTraceServiceRequest in protobuf: the message \(reason)")
        } catch {
            throw bodyProblem("not an OTLP ExportTraceServiceRequest in protobuf: the message is malformed")
        }
    }

    static func bodyProblem(_ reason: String) -> TallyError {
        .invalid([FieldProblem(field: "body", reason: reason)])
    }

    /// The usage events of the request's GenAI spans, each held to `EventRules.problems(in:now:)`; a span that cannot
    /// become a valid event is rejected with its reason, a span that is not a GenAI model call is ignored.
    public static func events(from request: OTLPTraceRequest, now: Instant) -> OTLPExportResult {
        var events: [UsageEvent] = []
        var rejections: [String] = []
        var rejected: Int64 = 0
        var ignored = 0
        for resourceSpans in request.message.resourceSpans {
            let resource = SpanAttributes(resourceSpans.resource.attributes)
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    switch SpanMapping.event(from: span, resource: resource, now: now) {
                    case .ignored: ignored += 1
                    case .event(let event): events.append(event)
                    case .rejected(let reason):
                        rejected += 1
                        if rejections.count < maxListedRejections {
                            rejections.append("\(SpanMapping.describe(span)): \(reason)")
                        }
                    }
                }
            }
        }
        var message = ""
        if rejected > 0 {
            message = "\(rejected) span\(rejected == 1 ? "" : "s") rejected: " + rejections.joined(separator: "; ")
            if rejected > Int64(rejections.count) { message += "; …" }
        }
        return OTLPExportResult(
            events: events, rejectedSpans: rejected, rejectionMessage: message, ignoredSpans: ignored)
    }

    /// The `ExportTraceServiceResponse` body: `partial_success` only when spans were rejected (or a message is given),
    /// as OTLP asks; in JSON `{}` or `{"partialSuccess":{"rejectedSpans":"2","errorMessage":"…"}}` (the protobuf JSON
    /// mapping: int64 as a string).
    public static func response(rejectedSpans: Int64, message: String, encoding: OTLPEncoding) -> [UInt8] {
        let partial = rejectedSpans != 0 || !message.isEmpty
        switch encoding {
        case .protobuf:
            var response = ExportTraceServiceResponse()
            if partial {
                response.partialSuccess.rejectedSpans = rejectedSpans
                response.partialSuccess.errorMessage = message
            }
            // Serializing a message built in memory cannot fail (no required fields in proto3).
            return (try? response.serializedBytes()) ?? []
        case .json:
            guard partial else { return Array("{}".utf8) }
            var writer = JSONWriter()
            writer.beginObject()
            writer.key("partialSuccess")
            writer.beginObject()
            writer.field("rejectedSpans", String(rejectedSpans))
            if !message.isEmpty { writer.field("errorMessage", message) }
            writer.endObject()
            writer.endObject()
            return Array(writer.text.utf8)
        }
    }
}
