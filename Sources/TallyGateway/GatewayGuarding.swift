import Hummingbird
import Logging
import Synchronization
import TallyCore
import TallyHTTP
import TallyIngest
import TallyProviders
import TallyServices

// The guard step of a gateway call (GatewayController.forward): the call as the guard sees it, its decision, and the
// ticket an admitted call settles when it ends.

extension GatewayController {
    /// Guard: the guard admits the call (its ticket, to settle when the call ends) or blocks it. A block is answered
    /// in the provider's error format with the block's status and `Retry-After`, recorded as a `blocked:<rule>` event
    /// that cost nothing, and nothing goes upstream. A guard that cannot decide (its store is down) gets a 503 the
    /// SDKs retry, and nothing goes upstream either.
    package func admit(_ call: GatewayCall, _ prepared: PreparedRequest, _ request: Request) async throws
        -> TicketSettler
    {
        let m = prepared.metering
        let decision: GuardDecision
        do {
            decision = try await gatewayGuard.admit(Self.guardedCall(call, m, request))
        } catch {
            await prepared.upload?.stop()
            logger.error(
                "gateway guard could not decide; call refused",
                metadata: ["organization": "\(call.token.organizationID)", "error": "\(error)"])
            throw GatewayRefusal(
                503, "Tally gateway: the guardrails cannot be checked right now; retry shortly",
                code: "guard_unavailable")
        }
        switch decision {
        case .proceed(let ticket):
            return TicketSettler(gatewayGuard, ticket)
        case .block(let block):
            await prepared.upload?.stop()
            record(
                eventID: call.eventID, provider: call.provider, token: call.token, kind: m.kind, request: request,
                requestJSON: m.requestJSON,
                started: call.startedAt, elapsed: ContinuousClock.now - call.started, ttft: nil, status: block.status,
                capture: UsageCapture.Result(
                    model: m.requestedModel, usage: nil, finishReason: nil,
                    errorType: "blocked:\(block.rule.rawValue)", streamed: m.streamed),
                requestID: nil, blocked: true)
            throw GatewayRefusal(block.status, block.message, code: block.code, retryAfter: block.retryAfterSeconds)
        }
    }

    /// What the guard is asked about a call: who (the token's organization, project and id; the user, feature and
    /// environment the event will be attributed to), what (provider, model, the output the request allows) and a
    /// bound on its input (the JSON body's bytes, 0 when the body streams unread).
    package static func guardedCall(_ call: GatewayCall, _ m: Metering, _ request: Request) -> GuardedCall {
        // A model name the events would not store (too long, control characters) is no name: rules that need one
        // then refuse the call, and no hostile text reaches a policy hit or a message.
        let model = m.requestedModel.flatMap { EventRules.textProblem($0, field: "model") == nil ? $0 : nil }
        var guarded = GuardedCall(
            organizationID: call.token.organizationID, projectID: call.token.projectID, tokenID: call.token.id,
            user: attributedUser(request, m.requestJSON), feature: header("X-Tally-Feature", request),
            environment: header("X-Tally-Environment", request), provider: call.provider.rawValue,
            model: model,
            requestedMaxOutputTokens: m.requestJSON.flatMap(call.provider.api.requestedMaxOutputTokens),
            inputTokensBound: m.bodyBytes, at: call.startedAt, apiKey: EventRules.apiKeyLabel(call.token))
        guarded.answers = m.requestJSON.map(call.provider.api.requestedAnswers) ?? 1
        return guarded
    }

    /// A request header, nil when absent or empty.
    package static func header(_ name: String, _ request: Request) -> String? {
        request.headers[.init(name)!].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The user a call is attributed to: X-Tally-User, else the body's `user` (OpenAI), else `metadata.user_id`
    /// (Anthropic). The event and the guard read it here alike, so a per-user policy limits what the explorer shows.
    package static func attributedUser(_ request: Request, _ json: JSONValue?) -> String? {
        if let user = header("X-Tally-User", request) { return user }
        if case .string(let u)? = json?["user"] { return u }
        if case .string(let u)? = json?["metadata"]?["user_id"] { return u }
        return nil
    }
}

/// An admitted call's ticket, settled exactly once: by the step that ends the call (an upstream that never answered,
/// or the answer's end, relayed or cut off by the client), else when the call is dropped without either (the server
/// never got to write the answer): then as having used nothing, so its holds (calls in flight) free at once rather
/// than when the reservation expires.
package final class TicketSettler: Sendable {
    package let gatewayGuard: any GatewayGuard
    package let ticket: GuardTicket
    private let settled = Atomic<Bool>(false)

    package init(_ gatewayGuard: any GatewayGuard, _ ticket: GuardTicket) {
        self.gatewayGuard = gatewayGuard
        self.ticket = ticket
    }

    /// The first call settles; any later one does nothing.
    package func settle(_ outcome: GuardOutcome) async {
        guard !settled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await gatewayGuard.settle(ticket, outcome)
    }

    deinit {
        guard !settled.load(ordering: .acquiring) else { return }
        let gatewayGuard = gatewayGuard, ticket = ticket
        Task { await gatewayGuard.settle(ticket, GuardOutcome(cost: nil, tokens: 0)) }
    }
}
