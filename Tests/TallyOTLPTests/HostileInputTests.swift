import Foundation
import SwiftProtobuf
import TallyCore
import TallyOTLP
import Testing

/// Bodies built to break a receiver: each must end in a clear refusal (or a rejected span), never a crash.
@Suite struct HostileInputTests {
    static func bodyProblem(_ reason: String) -> TallyError {
        .invalid([FieldProblem(field: "body", reason: reason)])
    }

    @Test func everyTruncationOfARealBodyIsRefusedOrReadWithoutCrashing() throws {
        let bytes: [UInt8] = try F.request([F.chatSpan(), F.httpSpan()]).serializedBytes()
        var refused = 0
        for length in 1..<bytes.count {
            do {
                _ = OTLPTraces.events(
                    from: try OTLPTraces.decode(Array(bytes[..<length]), encoding: .protobuf), now: F.now)
            } catch {
                #expect(
                    error
                        == Self.bodyProblem(
                            "not an OTLP ExportTraceServiceRequest in protobuf: the message is truncated")
                        || error
                            == Self.bodyProblem(
                                "not an OTLP ExportTraceServiceRequest in protobuf: the message is malformed")
                )
                refused += 1
            }
        }
        #expect(refused > bytes.count / 2)
    }

    @Test func aTruncatedBodyIsInvalid() throws {
        let bytes: [UInt8] = try F.request([F.chatSpan()]).serializedBytes()
        #expect(throws: Self.bodyProblem("not an OTLP ExportTraceServiceRequest in protobuf: the message is truncated"))
        {
            try OTLPTraces.decode(Array(bytes.dropLast(3)), encoding: .protobuf)
        }
    }

    @Test func deeplyNestedAttributeValuesAreRefused() throws {
        var value = AnyValue()
        value.stringValue = "leaf"
        for _ in 0..<200 {
            var array = ArrayValue()
            array.values = [value]
            value = AnyValue()
            value.arrayValue = array
        }
        let bytes: [UInt8] = try F.request([F.chatSpan([F.kv("deep", value.value!)])]).serializedBytes()
        #expect(
            throws: Self.bodyProblem(
                "not an OTLP ExportTraceServiceRequest in protobuf: the message nests messages more than 64 deep")
        ) {
            try OTLPTraces.decode(bytes, encoding: .protobuf)
        }
    }

    @Test func deeplyNestedJSONIsRefused() {
        let json =
            #"{"resourceSpans":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        #expect(throws: Self.bodyProblem("not valid JSON: nesting too deep at byte 80")) {
            try OTLPTraces.decode(Array(json.utf8), encoding: .json)
        }
    }

    @Test func randomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255) }
            for encoding in [OTLPEncoding.protobuf, .json] {
                if let request = try? OTLPTraces.decode(bytes, encoding: encoding) {
                    _ = OTLPTraces.events(from: request, now: F.now)
                }
            }
        }
    }

    @Test func invalidUTF8IsRefused() throws {
        // A span name (field 5) of the bytes FF FE inside an otherwise valid request.
        var span = F.chatSpan()
        span.name = "XX"
        var bytes: [UInt8] = try F.request([span]).serializedBytes()
        let at = try #require(bytes.firstRange(of: Array("XX".utf8))).lowerBound
        bytes[at] = 0xFF
        bytes[at + 1] = 0xFE
        #expect(
            throws: Self.bodyProblem(
                "not an OTLP ExportTraceServiceRequest in protobuf: the message holds a string that is not valid UTF-8")
        ) {
            try OTLPTraces.decode(bytes, encoding: .protobuf)
        }
        let json: [UInt8] = Array(#"{"resourceSpans":[{"schemaUrl":""#.utf8) + [0xFF, 0xFE] + Array(#""}]}"#.utf8)
        #expect(throws: TallyError.self) { try OTLPTraces.decode(json, encoding: .json) }
    }

    @Test func aNULInTheModelNameRejectsTheSpan() throws {
        let message = try F.rejection([F.kv("gen_ai.response.model", "gpt-4o\u{0}evil")])
        #expect(message.hasSuffix(": model must not contain control characters"))
        let json = JSONDecodingTests.exporterJSON
            .replacingOccurrences(of: "gpt-4o-2024-08-06", with: #"gpt-4o\u0000"#)
        let result = OTLPTraces.events(from: try OTLPTraces.decode(Array(json.utf8), encoding: .json), now: F.now)
        #expect(result.rejectedSpans == 1)
        #expect(result.rejectionMessage.hasSuffix(": model must not contain control characters"))
    }

    @Test func twoToTheSixtyThreeTokensAreRejected() throws {
        let json = JSONDecodingTests.exporterJSON
            .replacingOccurrences(of: #"{"intValue":"300"}"#, with: #"{"doubleValue":9223372036854775808}"#)
        let result = OTLPTraces.events(from: try OTLPTraces.decode(Array(json.utf8), encoding: .json), now: F.now)
        #expect(result.events.isEmpty)
        #expect(
            result.rejectionMessage.hasSuffix(
                "gen_ai.usage.output_tokens must be a whole number from 0 to 1000000000000 (got 9.223372036854776e+18)")
        )
    }

    @Test func tooManySpansAreTooLarge() throws {
        var span = Span()
        span.name = "s"
        let bytes: [UInt8] = try F.request(Array(repeating: span, count: OTLPTraces.maxSpans + 1)).serializedBytes()
        #expect(throws: TallyError.tooLarge("an OTLP request holds at most 10000 spans (got 10001)")) {
            try OTLPTraces.decode(bytes, encoding: .protobuf)
        }
        let exactly: [UInt8] = try F.request(Array(repeating: span, count: OTLPTraces.maxSpans)).serializedBytes()
        let result = OTLPTraces.events(from: try OTLPTraces.decode(exactly, encoding: .protobuf), now: F.now)
        #expect(result.ignoredSpans == OTLPTraces.maxSpans)
    }

    @Test func aBodyOverTheLimitIsTooLarge() {
        #expect(throws: TallyError.tooLarge("an OTLP request body is at most 4194304 bytes (got 4194305)")) {
            try OTLPTraces.decode([UInt8](repeating: 0x20, count: OTLPTraces.maxBodyBytes + 1), encoding: .json)
        }
    }

    @Test func notJSONIsInvalid() {
        #expect(throws: Self.bodyProblem("not valid JSON: expected a string key at byte 1")) {
            try OTLPTraces.decode(Array("{".utf8), encoding: .json)
        }
    }
}
