import Foundation
import SwiftProtobuf
import TallyCore
import TallyOTLP
import Testing

@Suite struct ResponseTests {
    @Test func aFullSuccessHasNoPartialSuccess() throws {
        let bytes = OTLPTraces.response(rejectedSpans: 0, message: "", encoding: .protobuf)
        #expect(bytes.isEmpty)
        #expect(try !ExportTraceServiceResponse(serializedBytes: bytes).hasPartialSuccess)
        #expect(
            String(decoding: OTLPTraces.response(rejectedSpans: 0, message: "", encoding: .json), as: UTF8.self) == "{}"
        )
    }

    @Test func rejectedSpansAreAPartialSuccess() throws {
        let message = "2 spans rejected: span 'chat' (trace …/span …): gen_ai.request.model is missing"
        let bytes = OTLPTraces.response(rejectedSpans: 2, message: message, encoding: .protobuf)
        let response = try ExportTraceServiceResponse(serializedBytes: bytes)
        #expect(response.hasPartialSuccess)
        #expect(response.partialSuccess.rejectedSpans == 2)
        #expect(response.partialSuccess.errorMessage == message)
    }

    @Test func theJSONResponseFollowsTheProtobufJSONMapping() throws {
        let text = String(
            decoding: OTLPTraces.response(rejectedSpans: 2, message: "a \"quoted\"\nreason", encoding: .json),
            as: UTF8.self)
        #expect(text == #"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"a \"quoted\"\nreason"}}"#)
        // SwiftProtobuf reads it back as the same message.
        let response = try ExportTraceServiceResponse(jsonString: text)
        #expect(response.partialSuccess.rejectedSpans == 2)
        #expect(response.partialSuccess.errorMessage == "a \"quoted\"\nreason")
    }

    @Test func anExportsResultMakesItsResponse() throws {
        var span = F.chatSpan()
        span.attributes.removeAll { $0.key.hasSuffix(".model") }
        let result = try F.result([span, F.chatSpan(id: [1, 1, 1, 1, 1, 1, 1, 1].data)])
        let bytes = OTLPTraces.response(
            rejectedSpans: result.rejectedSpans, message: result.rejectionMessage, encoding: .protobuf)
        let response = try ExportTraceServiceResponse(serializedBytes: bytes)
        #expect(response.partialSuccess.rejectedSpans == 1)
        #expect(response.partialSuccess.errorMessage.hasSuffix("gen_ai.request.model is missing"))
        #expect(result.events.count == 1)
    }
}

extension Array where Element == UInt8 {
    var data: Data { Data(self) }
}
