import AsyncAlgorithms
import AsyncHTTPClient
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TallyCore
import TallyProviders
import TallySafety
import TallyServices

/// The content steps of a gateway call (issue 21): the request's texts screened by the safety filters before the
/// call goes upstream (block, redact, flag), a non-streamed answer held and screened before the client sees it when a
/// filter could block or redact it, the answer's flags (safety and quality) and the bodies kept for capture.
/// Nothing here writes a body or a matched text anywhere: flags name detectors and filters only.
extension GatewayController {
    /// A call the request filters refused: the filter's name (never the matched text) and the flags found.
    package struct ContentBlocked: Error {
        package let filter: String
        package let flags: [String]
    }

    /// The request's texts through the filters that apply to requests. Answers the JSON to send (redacted, or as it
    /// came) and records the flags on `m`; throws `ContentBlocked` for a `block` filter's match.
    package static func screenRequest(
        _ provider: ProviderKind, _ json: JSONValue, _ m: inout Metering
    ) throws(ContentBlocked) -> JSONValue? {
        guard m.content.rules.contains(where: { $0.applies(to: .request) }) else { return nil }
        let texts = provider.api.requestTexts(json, kind: m.kind)
        guard !texts.isEmpty else { return nil }
        var budget = ScanBudget()
        let verdict = SafetyScan.judge(texts.map(\.text), side: .request, rules: m.content.rules, budget: &budget)
        m.safetyFlags = merged(m.safetyFlags, verdict.flags + (verdict.incomplete ? ["safety.incomplete"] : []))
        if let name = verdict.blockedBy {
            throw ContentBlocked(filter: name, flags: merged(m.safetyFlags, ["blocked:\(name)"]))
        }
        guard !verdict.rewritten.isEmpty else { return nil }
        let replaced = texts.enumerated().compactMap { i, t in
            verdict.rewritten[i].map { ContentText(path: t.path, text: $0) }
        }
        return json.replacingTexts(replaced)
    }

    /// What a held answer became.
    package enum HeldAnswer {
        /// Relay this body (the answer as it came, or redacted).
        case relay(HTTPClientResponse)
        /// A `block` filter matched the answer: the client gets Tally's refusal, the call is recorded with its usage.
        case blocked(filter: String, body: ByteBuffer)
    }

    /// Whether the answer must be held whole before the client sees it: a non-streamed JSON answer to a call Tally
    /// reads, succeeded, with a response filter that blocks or redacts. A streamed answer is only flagged (its bytes
    /// are with the client as they come).
    package static func holdsAnswer(_ m: Metering, status: Int) -> Bool {
        m.kind != .other && !m.streamed && status < 400
            && m.content.rules.contains { $0.applies(to: .response) && $0.action != .flag }
    }

    /// Reads the answer whole (within the shared budget and `UsageCapture`'s JSON limit), screens its texts, and
    /// answers what to relay. An answer too large to hold is relayed as it comes, flagged `safety.incomplete`.
    package func holdAnswer(
        _ call: GatewayCall, _ m: inout Metering, _ response: HTTPClientResponse, lease: BufferLease
    ) async throws -> HeldAnswer {
        var iterator = response.body.makeAsyncIterator()
        var held = ByteBuffer()
        while let piece = try await iterator.next() {
            guard held.readableBytes + piece.readableBytes <= Self.heldAnswerLimit, lease.reserve(piece.readableBytes)
            else {
                m.safetyFlags = Self.merged(m.safetyFlags, ["safety.incomplete"])
                var first = held
                var piece = piece
                first.writeBuffer(&piece)
                let rest = RemainingBody(iterator: iterator)
                return .relay(
                    HTTPClientResponse(
                        status: response.status, headers: response.headers,
                        body: .stream(chain([first].async, rest))))
            }
            var piece = piece
            held.writeBuffer(&piece)
        }
        m.answerJudged = true
        guard let json = try? JSONParser.parse(held.readableBytesView) else {
            return .relay(HTTPClientResponse(status: response.status, headers: response.headers, body: .bytes(held)))
        }
        let texts = call.provider.api.answerTexts(json, kind: m.kind)
        var budget = ScanBudget()
        let verdict = SafetyScan.judge(texts.map(\.text), side: .response, rules: m.content.rules, budget: &budget)
        m.safetyFlags = Self.merged(m.safetyFlags, verdict.flags + (verdict.incomplete ? ["safety.incomplete"] : []))
        if let name = verdict.blockedBy {
            m.safetyFlags = Self.merged(m.safetyFlags, ["blocked:\(name)"])
            return .blocked(filter: name, body: held)
        }
        if !verdict.rewritten.isEmpty {
            let replaced = texts.enumerated().compactMap { i, t in
                verdict.rewritten[i].map { ContentText(path: t.path, text: $0) }
            }
            held = ByteBuffer(string: JSONWriter.encode(json.replacingTexts(replaced)))
        }
        return .relay(HTTPClientResponse(status: response.status, headers: response.headers, body: .bytes(held)))
    }

    /// 8 MiB: the JSON answers whose usage the capture reads whole.
    package static var heldAnswerLimit: Int { 8 << 20 }

    /// The answer's flags once it has ended: response filters over what was said (streamed answers, and filters that
    /// only flag), then the quality checks. Quality is judged on answers of calls that produce text (chat,
    /// completions), never on errors.
    package static func answerFlags(_ m: Metering, _ result: UsageCapture.Result, status: Int) -> (
        safety: [String], quality: [String]
    ) {
        var safety = m.safetyFlags
        if !m.answerJudged, status < 400, m.content.rules.contains(where: { $0.applies(to: .response) }) {
            let answer = result.answer
            let texts = [answer.text, answer.refusal] + answer.toolArguments
            var budget = ScanBudget()
            // Every action flags here: the answer has reached the client already.
            let flagging = m.content.rules.map { rule in
                SafetyRule(
                    name: rule.name, detectors: rule.detectors, keywords: rule.keywords, patterns: rule.patterns,
                    side: rule.side, action: .flag)
            }
            let verdict = SafetyScan.judge(texts, side: .response, rules: flagging, budget: &budget)
            safety = merged(safety, verdict.flags + (verdict.incomplete ? ["safety.incomplete"] : []))
        }
        var quality: [String] = []
        let producesText = m.kind.operation == .chat || m.kind.operation == .completion
        if status < 400, result.errorType == nil, producesText {
            quality = QualityCheck.flags(result.answer, finishReason: result.finishReason, expectsJSON: m.expectsJSON)
                .map(\.rawValue)
        }
        return (safety, quality)
    }

    /// The streamed answer as capture keeps it: the text, refusal and tool calls the stream carried, as one JSON
    /// document (`"reassembled": true`), since the stream's own events are many and mostly framing.
    package static func reassembled(_ result: UsageCapture.Result) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("reassembled", true)
        w.field("text", result.answer.text)
        if !result.answer.refusal.isEmpty { w.field("refusal", result.answer.refusal) }
        if !result.answer.toolArguments.isEmpty {
            w.key("tool_arguments")
            w.beginArray()
            for a in result.answer.toolArguments { w.string(a) }
            w.endArray()
        }
        w.field("finish_reason", result.finishReason)
        w.endObject()
        return Array(w.text.utf8)
    }

    static func merged(_ a: [String], _ b: [String]) -> [String] {
        var out = a
        for flag in b where !out.contains(flag) { out.append(flag) }
        return out
    }
}

/// The rest of an upstream body after the pieces already read: hands on the same iterator. Unchecked: the iterator
/// is moved here once and iterated by the one relay that reads the answer, never shared between tasks.
package struct RemainingBody: AsyncSequence, @unchecked Sendable {
    package typealias Element = ByteBuffer
    let iterator: HTTPClientResponse.Body.AsyncIterator

    package struct AsyncIterator: AsyncIteratorProtocol {
        var base: HTTPClientResponse.Body.AsyncIterator
        package mutating func next() async throws -> ByteBuffer? { try await base.next() }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: iterator) }
}

extension GatewayController {
    /// The call's content policy; a store that cannot answer refuses the call (503) rather than skip its filters.
    package func contentPolicy(_ call: GatewayCall) async throws(GatewayRefusal) -> CallContentPolicy {
        do {
            return try await content.policy(organizationID: call.token.organizationID, projectID: call.token.projectID)
        } catch {
            logger.error(
                "gateway content rules could not be read; call refused",
                metadata: ["organization": "\(call.token.organizationID)", "error": "\(error)"])
            throw GatewayRefusal(
                503, "Tally gateway: the safety filters cannot be read right now; retry shortly",
                code: "content_rules_unavailable")
        }
    }

    /// "content_blocked" messages name the filter, never what it matched.
    package static func blockedMessage(_ filter: String, answer: Bool) -> String {
        "Tally gateway: content_blocked: the \(answer ? "answer" : "request") was blocked by the safety filter '\(filter)'"
    }

    /// Records a request the filters blocked: nothing went upstream, it cost nothing.
    package func recordBlocked(
        _ call: GatewayCall, _ request: Request, kind: UsageCapture.Kind, requestJSON: JSONValue, flags: [String]
    ) {
        record(
            eventID: call.eventID, provider: call.provider, token: call.token, kind: kind, request: request,
            requestJSON: requestJSON,
            started: call.startedAt, elapsed: ContinuousClock.now - call.started, ttft: nil, status: 400,
            capture: UsageCapture.Result(
                model: Self.requestedModel(call.provider, requestJSON, rest: call.rest), usage: nil, finishReason: nil,
                errorType: "content_blocked", streamed: Self.isStreamed(call.provider, requestJSON, rest: call.rest)),
            requestID: nil, blocked: true, safetyFlags: flags)
    }

    /// An answer a response filter blocked: the upstream did the work (its usage is read from the held body and
    /// priced), the client gets Tally's 400 instead of the answer.
    package func answerBlocked(
        _ call: GatewayCall, _ m: Metering, _ request: Request, _ response: HTTPClientResponse, _ body: ByteBuffer,
        filter: String, ticket: TicketSettler
    ) async throws -> Response {
        var capture = UsageCapture(kind: m.kind, streamed: false, requestedModel: m.requestedModel)
        capture.consume(body.readableBytesView)
        var result = capture.finish(status: Int(response.status.code))
        result.errorType = "content_blocked"
        let used = record(
            eventID: call.eventID, provider: call.provider, token: call.token, kind: m.kind, request: request,
            requestJSON: m.requestJSON,
            started: call.startedAt, elapsed: ContinuousClock.now - call.started, ttft: nil, status: 400,
            capture: result, requestID: response.headers.first(name: "x-request-id"), safetyFlags: m.safetyFlags,
            captured: CapturedBodies(
                policy: m.content, request: m.sentBody,
                response: m.content.settings.capture == .off ? nil : Array(body.readableBytesView)))
        await ticket.settle(used)
        return GatewayErrors.response(
            call.provider, status: 400, message: Self.blockedMessage(filter, answer: true), code: "content_blocked",
            retryAfter: nil)
    }
}
