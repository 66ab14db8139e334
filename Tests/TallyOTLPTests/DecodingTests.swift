import Foundation
import SwiftProtobuf
import TallyCore
import TallyOTLP
import Testing

@Suite struct ProtobufDecodingTests {
    @Test func aRealisticRequestRoundTrips() throws {
        let request = Fixture.request([Fixture.httpSpan(), Fixture.chatSpan()])
        let bytes: [UInt8] = try request.serializedBytes()
        let decoded = try OTLPTraces.decode(bytes, encoding: .protobuf)
        #expect(decoded.message == request)
        #expect(decoded.spanCount == 2)
    }

    @Test func aRealisticRequestBecomesOneEvent() throws {
        let result = try Fixture.result([Fixture.httpSpan(), Fixture.chatSpan()])
        #expect(result.ignoredSpans == 1)
        #expect(result.rejectedSpans == 0)
        #expect(result.rejectionMessage == "")
        var expected = UsageEvent(
            id: Fixture.eventID, timestamp: Instant(microseconds: 1_764_999_400_123_456), provider: "openai",
            model: "gpt-4o-2024-08-06", operation: .chat, source: .otlp)
        expected.usage.inputTokens = 1200
        expected.usage.outputTokens = 300
        expected.usage.cachedInputTokens = 1000
        expected.attribution = Attribution(
            project: "support", tags: ["service": "support-bot", "provider_request_id": "chatcmpl-AbC123"])
        expected.serviceTier = "default"
        expected.outcome.latencyMs = 1234
        expected.outcome.finishReason = "stop"
        #expect(result.events == [expected])
    }

    @Test func unknownFieldsAreIgnored() throws {
        var bytes: [UInt8] = try Fixture.request([Fixture.chatSpan()]).serializedBytes()
        // Field 99 (varint 7) and field 100 (length-delimited "hi") at the top level: a newer OTLP's fields.
        bytes += [0x98, 0x06, 0x07, 0xA2, 0x06, 0x02, 0x68, 0x69]
        let decoded = try OTLPTraces.decode(bytes, encoding: .protobuf)
        #expect(decoded.message == Fixture.request([Fixture.chatSpan()]))
    }

    @Test func anEmptyBodyIsAnEmptyRequest() throws {
        let decoded = try OTLPTraces.decode([], encoding: .protobuf)
        #expect(decoded.spanCount == 0)
        #expect(
            OTLPTraces.events(from: decoded, now: Fixture.now)
                == OTLPExportResult(
                    events: [], rejectedSpans: 0, rejectionMessage: "", ignoredSpans: 0))
    }

    @Test func contentTypesNameTheEncoding() {
        #expect(OTLPEncoding(contentType: "application/x-protobuf") == .protobuf)
        #expect(OTLPEncoding(contentType: "application/json; charset=utf-8") == .json)
        #expect(OTLPEncoding(contentType: "Application/JSON") == .json)
        #expect(OTLPEncoding(contentType: "text/plain") == nil)
    }
}

@Suite struct JSONDecodingTests {
    /// What the OTLP/JSON exporters write (OpenTelemetry JS's, the spec's example): hex ids, int64 as strings, enums
    /// as integers, lowerCamelCase keys, empty fields written out.
    static let exporterJSON = """
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"support-bot"}},\
        {"key":"tally.project","value":{"stringValue":"support"}}],"droppedAttributesCount":0},\
        "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai_v2","version":"2.4b0"},"spans":[\
        {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"0909090909090909","parentSpanId":"",\
        "name":"POST /answer","kind":2,"startTimeUnixNano":"1764999400118456789","endTimeUnixNano":"1764999402123456789",\
        "attributes":[{"key":"http.request.method","value":{"stringValue":"POST"}},\
        {"key":"http.response.status_code","value":{"intValue":"200"}}],"droppedAttributesCount":0,"events":[],\
        "droppedEventsCount":0,"status":{"code":1},"links":[],"droppedLinksCount":0},\
        {"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"00f067aa0ba902b7","parentSpanId":"0102030405060708",\
        "flags":257,"name":"chat gpt-4o","kind":3,"startTimeUnixNano":1764999400123456789,\
        "endTimeUnixNano":"1764999401358024679","attributes":[\
        {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},\
        {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},\
        {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},\
        {"key":"gen_ai.request.temperature","value":{"doubleValue":0.2}},\
        {"key":"gen_ai.response.model","value":{"stringValue":"gpt-4o-2024-08-06"}},\
        {"key":"gen_ai.response.id","value":{"stringValue":"chatcmpl-AbC123"}},\
        {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},\
        {"key":"gen_ai.usage.input_tokens","value":{"intValue":1200}},\
        {"key":"gen_ai.usage.output_tokens","value":{"intValue":"300"}},\
        {"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":1000}},\
        {"key":"openai.response.service_tier","value":{"stringValue":"default"}},\
        {"key":"server.address","value":{"stringValue":"api.openai.com"}}],\
        "droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":{},"links":[],"droppedLinksCount":0}\
        ]}]}]}
        """

    @Test func theExportersJSONDecodesToTheSameRequest() throws {
        let decoded = try OTLPTraces.decode(Array(Self.exporterJSON.utf8), encoding: .json)
        #expect(decoded.message == Fixture.request([Fixture.httpSpan(), Fixture.chatSpan()]))
    }

    @Test func anOddLengthHexIDIsAMalformedBody() {
        #expect(
            throws: TallyError.invalid([
                FieldProblem(
                    field: "body",
                    reason: "resourceSpans[0].scopeSpans[0].spans[0].spanId must be a hex string")
            ])
        ) {
            let text = Self.exporterJSON.replacingOccurrences(of: "0909090909090909", with: "09090909090909090")
            return try OTLPTraces.decode(Array(text.utf8), encoding: .json)
        }
    }

    @Test func protoNamesAndEnumNamesAreAccepted() throws {
        let text = """
            {"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",\
            "span_id":"00f067aa0ba902b7","name":"x","kind":"SPAN_KIND_CLIENT","start_time_unix_nano":"5",\
            "status":{"code":"STATUS_CODE_ERROR","message":"boom"},\
            "attributes":[{"key":"k","value":{"int_value":7}},{"key":"d","value":{"double_value":"NaN"}},\
            {"key":"b","value":{"bytes_value":"AQI="}},{"key":"m","value":{"kvlist_value":{"values":[\
            {"key":"inner","value":{"bool_value":true}}]}}}]}]}]}]}
            """
        let span = try #require(
            try OTLPTraces.decode(Array(text.utf8), encoding: .json).message.resourceSpans.first?.scopeSpans.first?
                .spans.first)
        #expect(span.traceID == Fixture.traceID)
        #expect(span.kind == .client)
        #expect(span.startTimeUnixNano == 5)
        #expect(span.status.code == .error)
        #expect(span.status.message == "boom")
        #expect(span.attributes[0].value.intValue == 7)
        #expect(span.attributes[1].value.doubleValue.isNaN)
        #expect(span.attributes[2].value.bytesValue == Data([1, 2]))
        #expect(span.attributes[3].value.kvlistValue.values.first?.value.boolValue == true)
    }

    @Test func unknownKeysAndNullsAreIgnored() throws {
        let text = """
            {"resourceSpans":[{"futureField":{"a":[1,2]},"resource":null,"scopeSpans":[{"spans":[{\
            "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":null,"newThing":3,\
            "attributes":[{"key":"a","value":{"stringValue":"b","extra":1}}]}]}]}],"extra":true}
            """
        let decoded = try OTLPTraces.decode(Array(text.utf8), encoding: .json)
        let span = try #require(decoded.message.resourceSpans.first?.scopeSpans.first?.spans.first)
        #expect(span.name == "")
        #expect(span.attributes.first?.value.stringValue == "b")
    }

    @Test func theJSONRequestBecomesTheSameEventAsTheProtobufOne() throws {
        let fromJSON = OTLPTraces.events(
            from: try OTLPTraces.decode(Array(Self.exporterJSON.utf8), encoding: .json), now: Fixture.now)
        #expect(fromJSON == (try Fixture.result([Fixture.httpSpan(), Fixture.chatSpan()])))
        #expect(fromJSON.events.count == 1)
    }

    @Test(arguments: [
        (#"{"resourceSpans":{}}"#, "resourceSpans must be an array"),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":12}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex string"
        ),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex string"
        ),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"-1"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano must be an unsigned 64-bit integer"
        ),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"CLIENT"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].kind is not a known value"
        ),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"intValue":1.5}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue must be a 64-bit integer"
        ),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"intValue":"9223372036854775808"}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue must be a 64-bit integer"
        ),
        (#"[1]"#, "the request must be an object"),
        (
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"bytesValue":"!!"}}]}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue must be base64"
        ),
    ])
    func wrongTypesNameTheirPath(json: String, reason: String) {
        #expect(throws: TallyError.invalid([FieldProblem(field: "body", reason: reason)])) {
            try OTLPTraces.decode(Array(json.utf8), encoding: .json)
        }
    }

    @Test func integralNumbersInOtherFormsAreAccepted() throws {
        let text = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":1e3,"flags":"2.0"}]}]}]}"#
        let span = try #require(
            try OTLPTraces.decode(Array(text.utf8), encoding: .json).message.resourceSpans.first?.scopeSpans.first?
                .spans.first)
        #expect(span.startTimeUnixNano == 1000)
        #expect(span.flags == 2)
    }
}
