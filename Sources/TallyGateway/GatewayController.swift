import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TallyCore
import TallyHTTP
import TallyIngest
import TallyProviders
import TallyServices

/// `/gateway/openai/v1/…`, `/gateway/anthropic/…`, `/gateway/google/…`: the providers' own APIs, reached with a Tally
/// token in the header each SDK already sends. Requests are forwarded with the connection's real key, responses
/// stream back unchanged, and each call becomes a `source: gateway` event recorded off the request path.
package struct GatewayController<Store: GatewayCredentialStore & ProjectStore & EventStore & SchemaStore> {
    package let credentials: GatewayCredentials<Store>
    package let recorder: GatewayRecorder<Store>
    package let http: GatewayHTTP
    /// Asked before a call is forwarded (policies, enforced budgets, rate limits), told when it ends.
    package let gatewayGuard: any GatewayGuard
    /// The budget for JSON bodies held whole, shared by every call in flight.
    package let buffers: GatewayBuffers
    /// Each call's capture settings and safety filters, and the sealing of captured bodies (issue 21).
    package let content: any GatewayContentSource
    package let logger: Logger

    package init(
        credentials: GatewayCredentials<Store>, recorder: GatewayRecorder<Store>, http: GatewayHTTP,
        gatewayGuard: any GatewayGuard, buffers: GatewayBuffers, content: any GatewayContentSource = NoGatewayContent(),
        logger: Logger
    ) {
        self.credentials = credentials
        self.recorder = recorder
        self.http = http
        self.gatewayGuard = gatewayGuard
        self.buffers = buffers
        self.content = content
        self.logger = logger
    }

    package func addRoutes(to router: Router<TallyRequestContext>) {
        for (provider, prefix) in GatewayPaths.prefixes {
            for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
                router.on(RouterPath(stringLiteral: prefix + "/**"), method: method) { request, _ in
                    try await forward(provider, request)
                }
            }
        }
    }

    // MARK: Forwarding

    /// One call, step by step: authenticate → choose upstream → prepare → guard → send → relay and capture → record +
    /// settle. Each step hands the next a small value, or ends the call with Tally's own answer (`GatewayRefusal`, in
    /// the provider's error format). Any other error (the store, the client's body) goes to the server's error
    /// mapping as before. Once the guard has admitted a call, its ticket is settled exactly once whatever happens.
    package func forward(_ provider: ProviderKind, _ request: Request) async throws -> Response {
        let call: GatewayCall
        do {
            call = try await authenticate(provider, request)
        } catch let refusal as GatewayRefusal {
            return GatewayErrors.response(
                provider, status: refusal.status, message: refusal.message, code: refusal.code,
                retryAfter: refusal.retryAfter)
        }
        return try await proceed(call, request)
    }

    /// The call after authentication: the playground starts here with a session's call (`GatewayCall` built for the
    /// signed-in member and the project they chose), every other call after `authenticate`.
    package func proceed(_ call: GatewayCall, _ request: Request) async throws -> Response {
        let provider = call.provider
        do {
            let upstream = try await chooseUpstream(call, request)
            // What is held whole counts against the gateway's shared budget until the call is over.
            let lease = BufferLease(buffers)
            defer { lease.releaseAll() }
            let prepared = try await prepare(call, upstream, request, lease: lease)
            let ticket = try await admit(call, prepared, request)
            var response = try await send(call, upstream, prepared, request, ticket: ticket)
            // The request body has gone upstream: its share of the budget is free again; the answer's reserves its own.
            lease.releaseAll()
            var m = prepared.metering
            if Self.holdsAnswer(m, status: Int(response.status.code)) {
                switch try await holdAnswer(call, &m, response, lease: lease) {
                case .relay(let held): response = held
                case .blocked(let filter, let body):
                    return try await answerBlocked(call, m, request, response, body, filter: filter, ticket: ticket)
                }
            }
            return relay(call, m, upload: prepared.upload, request, response, ticket: ticket)
        } catch let blocked as ContentBlocked {
            return GatewayErrors.response(
                provider, status: 400, message: Self.blockedMessage(blocked.filter, answer: false),
                code: "content_blocked", retryAfter: nil)
        } catch let refusal as GatewayRefusal {
            return GatewayErrors.response(
                provider, status: refusal.status, message: refusal.message, code: refusal.code,
                retryAfter: refusal.retryAfter)
        }
    }

    /// Authenticate: the path is checked before anything else (no `.`/`..` or empty segments, encoded or not, reach the
    /// upstream), then who is calling: a Tally token where the SDK puts its key, or in X-Tally-Token (pass-through mode).
    package func authenticate(_ provider: ProviderKind, _ request: Request) async throws -> GatewayCall {
        let started = ContinuousClock.now
        let startedAt = Instant.now
        let route: GatewayRoute
        do {
            route = try GatewayRoute(GatewayPaths.rest(request.uri.path, provider: provider))
        } catch {  // typed: a GatewayRoute.Problem
            throw GatewayRefusal(400, error.message, code: "invalid_path")
        }
        let passThrough = request.headers[.init("X-Tally-Token")!]
        guard let secret = passThrough ?? Self.presentedKey(provider, request) else {
            throw GatewayRefusal(401, "Tally gateway: no Tally token; send it where the SDK sends its API key")
        }
        let token: APIToken
        do {
            token = try await credentials.token(secret: secret)
        } catch {
            throw GatewayRefusal(401, "Tally gateway: the Tally token is not valid (revoked, expired or mistyped)")
        }
        guard token.allows(.gateway) else {
            throw GatewayRefusal(403, "Tally gateway: this Tally token lacks the 'gateway' scope")
        }
        guard !token.projectArchived else {
            throw GatewayRefusal(
                403, "Tally gateway: project '\(token.projectName)' is archived: it takes no new calls")
        }
        return GatewayCall(
            provider: provider, route: route, token: token, passThrough: passThrough != nil,
            started: started, startedAt: startedAt)
    }

    /// Choose upstream: the connection asked for in X-Tally-Connection (by name or id), else the organization's oldest;
    /// then whether it lets this endpoint through.
    package func chooseUpstream(_ call: GatewayCall, _ request: Request) async throws -> ChosenUpstream {
        let all = try await credentials.upstreams(organizationID: call.token.organizationID, provider: call.provider)
        let chosen = try Self.choose(request.headers[.init("X-Tally-Connection")!], among: all, call)
        // The organization's key reaches only the provider's inference endpoints unless an admin opened them all.
        let method = request.method.rawValue
        if (chosen.connection?.gatewayEndpoints ?? .inference) == .inference,
            !call.route.isInference(call.provider, method: method)
        {
            throw GatewayRefusal(
                403,
                "Tally gateway: \(method) /\(call.rest) is not one of "
                    + "\(call.provider.rawValue)'s inference endpoints; an admin can let this connection forward every endpoint with "
                    + "\"gateway_endpoints\": \"all\"", code: "endpoint_not_allowed")
        }
        return chosen
    }

    /// Which of the organization's connections a call goes to, and with which key (pure: the seam for tests).
    package static func choose(
        _ named: String?, among all: [GatewayCredentials<Store>.Upstream],
        _ call: GatewayCall
    ) throws(GatewayRefusal) -> ChosenUpstream {
        let provider = call.provider
        let upstream =
            named.flatMap { c in all.first { $0.connection.id == c || $0.connection.name == c } }
            ?? (named == nil ? all.first : nil)
        // A connection asked for by name or id that this organization does not have (another organization's, say) is
        // refused in both modes: in pass-through mode, falling back to the provider's public host would send the call
        // elsewhere than the caller chose, and record it.
        if let named, upstream == nil {
            throw GatewayRefusal(401, "Tally gateway: no \(provider.rawValue) connection named '\(named)'")
        }
        var key: String?
        if !call.passThrough {
            guard let upstream else {
                throw GatewayRefusal(
                    401,
                    "Tally gateway: no \(provider.rawValue) connection in this organization; add one in Settings → Providers"
                )
            }
            guard let apiKey = upstream.apiKey else {
                throw GatewayRefusal(
                    401, "Tally gateway: the connection '\(upstream.connection.name)' has no usable API key")
            }
            key = apiKey
        }
        let connection = upstream?.connection
        return ChosenUpstream(
            connection: connection, key: key, base: connection?.baseURL ?? provider.api.defaultBaseURL)
    }

    /// Prepare: JSON bodies of the calls Tally reads are small, so they are read whole (model, stream, user), within the
    /// shared budget; any other body streams. Then the request as it goes upstream.
    package func prepare(_ call: GatewayCall, _ upstream: ChosenUpstream, _ request: Request, lease: BufferLease)
        async throws -> PreparedRequest
    {
        let kind = Self.kind(call.provider, call.rest)
        var requestJSON: JSONValue?
        var body: UpstreamBody?
        var upload: UploadPump?
        var filterUsageChunk = false
        var bodyBytes = 0
        var policy = CallContentPolicy.none
        var safetyFlags: [String] = []
        var sentBody: [UInt8]?
        if kind != .other, request.method == .post {
            var collected = try await readWhole(request.body, call.provider, lease: lease)
            bodyBytes = collected.readableBytes
            requestJSON = try? JSONParser.parse(collected.readableBytesView)
            if let repeated = requestJSON?.firstRepeatedKey {
                throw GatewayRefusal(
                    400, "Tally gateway: the request body repeats the key '\(repeated.prefix(64))'; send each key once",
                    code: "invalid_request")
            }
            policy = try await contentPolicy(call)
            var screened = Metering(
                kind: kind, requestJSON: requestJSON, requestedModel: nil, streamed: false, filterUsageChunk: false,
                content: policy)
            var sent = requestJSON
            if let json = requestJSON {
                do {
                    if let redacted = try Self.screenRequest(call.provider, json, &screened) {
                        sent = redacted
                        collected = ByteBuffer(string: JSONWriter.encode(redacted))
                    }
                } catch {
                    recordBlocked(call, request, kind: kind, requestJSON: json, flags: error.flags)
                    throw error
                }
            }
            safetyFlags = screened.safetyFlags
            if let patched = Self.askingForUsage(call.provider, kind, sent) {
                collected = ByteBuffer(string: JSONWriter.encode(patched))
                filterUsageChunk = true
            }
            if policy.settings.capture != .off { sentBody = Array(collected.readableBytesView) }
            body = .bytes(collected)
        } else if request.method == .post || request.method == .put || request.method == .patch {
            let pump = UploadPump(request.body)
            upload = pump
            body = .stream(pump, length: request.headers[.contentLength].flatMap(Int.init))
        }
        let metering = Metering(
            kind: kind, requestJSON: requestJSON,
            requestedModel: Self.requestedModel(call.provider, requestJSON, rest: call.rest), bodyBytes: bodyBytes,
            streamed: Self.isStreamed(call.provider, requestJSON, rest: call.rest), filterUsageChunk: filterUsageChunk,
            content: policy, safetyFlags: safetyFlags,
            expectsJSON: requestJSON.map { call.provider.api.expectsJSON($0, kind: kind) } ?? false, sentBody: sentBody)
        return PreparedRequest(
            head: Self.upstreamHead(call, upstream, request), body: body, upload: upload, metering: metering)
    }

    /// A JSON body read whole, or the refusal when it is too large alone or the gateway holds too much already.
    package func readWhole(_ body: RequestBody, _ provider: ProviderKind, lease: BufferLease) async throws -> ByteBuffer
    {
        switch try await Self.collect(body, lease: lease, limit: Self.jsonBodyLimit) {
        case .bytes(let whole): return whole
        case .tooLarge:
            throw GatewayRefusal(
                413, "Tally gateway: the request body exceeds \(Self.jsonBodyLimit >> 20) MiB",
                code: "payload_too_large")
        case .overBudget:
            throw GatewayRefusal(
                503,
                "Tally gateway: too many large requests in flight (\(buffers.limit >> 20) MiB held); retry shortly",
                code: "gateway_busy")
        }
    }

    /// The upstream request less its body: the connection's base URL, the checked path, the query (less a key that
    /// carried the Tally token), the headers allowed upstream, and the connection's key where the provider reads it.
    package static func upstreamHead(_ call: GatewayCall, _ upstream: ChosenUpstream, _ request: Request)
        -> HTTPClientRequest
    {
        let dropped = keyParameterDropped(call.provider, passThrough: call.passThrough)
        var head = HTTPClientRequest(
            url: upstream.base + upstreamPath(call.provider, call.rest) + query(request, dropping: dropped))
        head.method = .init(rawValue: request.method.rawValue)
        for field in request.headers
        where GatewayHeaders.forwards(field.name.canonicalName, provider: call.provider, passThrough: call.passThrough)
        {
            head.headers.add(name: field.name.rawName, value: field.value)
        }
        if let key = upstream.key { authorize(&head.headers, call.provider, key: key) }
        return head
    }

    /// Send: the request goes upstream and the answer's head comes back. A call that gets no head is recorded here,
    /// its ticket settled (nothing used), and answered by Tally (timeouts, unreachable, an address the policy refuses).
    package func send(
        _ call: GatewayCall, _ upstream: ChosenUpstream, _ prepared: PreparedRequest, _ request: Request,
        ticket: TicketSettler
    ) async throws -> HTTPClientResponse {
        do {
            return try await http.send(prepared.head, body: prepared.body)
        } catch {
            let failure = UpstreamFailure(error), m = prepared.metering
            let used = record(
                eventID: call.eventID, provider: call.provider, token: call.token, kind: m.kind, request: request,
                requestJSON: m.requestJSON,
                started: call.startedAt,
                elapsed: ContinuousClock.now - call.started, ttft: nil, status: failure.status,
                capture: UsageCapture.Result(
                    model: m.requestedModel, usage: nil, finishReason: nil, errorType: failure.errorType,
                    streamed: m.streamed), requestID: nil)
            await prepared.upload?.stop()
            await ticket.settle(used)
            throw GatewayRefusal(
                failure.status, failure.message(call.provider.rawValue, base: upstream.base, timeouts: http.timeouts))
        }
    }

    /// Relay: the answer goes back with the upstream's status and the headers that may pass; its body streams through
    /// `relayAndCapture` and the call is recorded once the body has ended, then its ticket settled with the priced
    /// cost, before the client sees the end: a client that calls again at once finds its slot free.
    package func relay(
        _ call: GatewayCall, _ m: Metering, upload: UploadPump?, _ request: Request, _ response: HTTPClientResponse,
        ticket: TicketSettler
    ) -> Response {
        let status = Int(response.status.code)
        let requestID = response.headers.first(name: "x-request-id") ?? response.headers.first(name: "request-id")
        let eventStream =
            response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true
        let answerLease = BufferLease(buffers)
        let responseBody = ResponseBody { writer in
            defer { answerLease.releaseAll() }
            var relayed = await relayAndCapture(response.body, to: &writer, call, m, status: status, lease: answerLease)
            if relayed.result.serviceTier == nil {
                relayed.result.serviceTier = call.provider.api.servedServiceTier { response.headers.first(name: $0) }
            }
            let flags = Self.answerFlags(m, relayed.result, status: status)
            let answerBody =
                m.content.settings.capture == .off
                ? nil : (m.streamed ? Self.reassembled(relayed.result) : relayed.answerBytes)
            let used = record(
                eventID: call.eventID, provider: call.provider, token: call.token, kind: m.kind, request: request,
                requestJSON: m.requestJSON,
                started: call.startedAt,
                elapsed: ContinuousClock.now - call.started, ttft: m.streamed && status < 400 ? relayed.firstByte : nil,
                status: status,
                capture: relayed.result, requestID: requestID, safetyFlags: flags.safety, qualityFlags: flags.quality,
                captured: CapturedBodies(policy: m.content, request: m.sentBody, response: answerBody))
            await upload?.stop()
            await ticket.settle(used)
            try await end(&writer, &relayed, call.provider, eventStream: eventStream)
        }
        return Response(status: .init(code: status), headers: Self.answerHeaders(response.headers), body: responseBody)
    }

    /// The upstream's answer headers that may reach the client, and the gateway's guards.
    package static func answerHeaders(_ upstream: HTTPHeaders) -> HTTPFields {
        var headers = HTTPFields()
        for h in upstream where GatewayHeaders.passesBack(h.name) {
            if let name = HTTPField.Name(h.name) { headers.append(HTTPField(name: name, value: h.value)) }
        }
        for (name, value) in GatewayHeaders.guards {
            headers.append(HTTPField(name: HTTPField.Name(name)!, value: value))
        }
        return headers
    }

    /// Relay and capture: each piece is written to the client as it arrives while `UsageCapture` reads the usage from it
    /// (an OpenAI usage chunk the client did not ask for is filtered out). Ends when the body does, the upstream falls
    /// silent past the idle timeout, or the client goes away.
    package func relayAndCapture(
        _ body: HTTPClientResponse.Body, to writer: inout any ResponseBodyWriter, _ call: GatewayCall,
        _ m: Metering, status: Int, lease: BufferLease
    ) async -> Relayed {
        var capture = UsageCapture(kind: m.kind, streamed: m.streamed && status < 400, requestedModel: m.requestedModel)
        var filter = StreamFilter()
        var sent = SentTail()
        var firstByte: Duration?
        // A non-streamed answer's bytes, kept for capture up to one byte past the limit (so a cut is known).
        let keepsAnswer = m.content.settings.capture != .off && !m.streamed
        var answerBytes: [UInt8] = []
        var disconnected = false
        var idleTimedOut = false
        let filtering = m.filterUsageChunk, started = call.started
        do {
            try await UpstreamRelay.relay(body, idle: http.timeouts.idle) { chunk in
                if firstByte == nil { firstByte = ContinuousClock.now - started }
                let bytes = chunk.readableBytesView
                // A JSON answer is kept to read its usage at the end; past the shared budget it is relayed unread.
                if capture.buffersBody, !lease.reserve(bytes.count) { capture.abandonBody() }
                capture.consume(bytes)
                if keepsAnswer, answerBytes.count <= m.content.captureLimit {
                    answerBytes += bytes.prefix(m.content.captureLimit + 1 - answerBytes.count)
                }
                if filtering {
                    let pass = filter.pass(bytes)
                    if !pass.isEmpty {
                        await write(&writer, ByteBuffer(bytes: pass), sent: &sent, disconnected: &disconnected)
                    }
                } else {
                    await write(&writer, chunk, sent: &sent, disconnected: &disconnected)
                }
                return !disconnected
            }
            if filtering && !disconnected {
                let rest = filter.flush()
                if !rest.isEmpty {
                    await write(&writer, ByteBuffer(bytes: rest), sent: &sent, disconnected: &disconnected)
                }
            }
        } catch is UpstreamRelay.IdleTimeout {
            idleTimedOut = true
            capture.markError("upstream_idle_timeout")
        } catch {
            capture.markError(disconnected ? "client_disconnected" : "upstream_stream_error")
        }
        var result = capture.finish(status: status)
        if disconnected { result.errorType = "client_disconnected" }
        if idleTimedOut { result.errorType = "upstream_idle_timeout" }
        return Relayed(
            result: result, firstByte: firstByte, sent: sent, disconnected: disconnected, idleTimedOut: idleTimedOut,
            answerBytes: keepsAnswer ? answerBytes : nil)
    }

    /// The end of the answer. The head has gone out: after an idle timeout an SSE stream at an event boundary gets the
    /// provider's error event, any other body is cut off so the client sees an incomplete response rather than a short one.
    package func end(
        _ writer: inout any ResponseBodyWriter, _ relayed: inout Relayed, _ provider: ProviderKind, eventStream: Bool
    ) async throws {
        if relayed.disconnected { return }
        if relayed.idleTimedOut {
            let idle = http.timeouts.idle
            let message =
                "Tally gateway: \(provider.rawValue) sent nothing for \(idle.shortText) (TALLY_GATEWAY_IDLE_TIMEOUT); the stream was ended"
            guard eventStream, relayed.sent.atEventBoundary,
                let event = GatewayErrors.streamEvent(provider, message: message, code: "upstream_idle_timeout")
            else { throw UpstreamRelay.IdleTimeout() }
            await write(&writer, ByteBuffer(string: event), sent: &relayed.sent, disconnected: &relayed.disconnected)
        }
        try await writer.finish(nil)
    }

    /// Writes to the client; a failed write means the client went away.
    package func write(
        _ writer: inout any ResponseBodyWriter, _ buffer: ByteBuffer, sent: inout SentTail, disconnected: inout Bool
    ) async {
        do {
            try await writer.write(buffer)
            sent.note(buffer)
        } catch {
            disconnected = true
        }
    }

    // MARK: Recording

    /// Queues the call's event (priced on the way, never waiting for the store) and answers what it used, to settle
    /// the call's ticket with. `blocked`: Tally answered in the guard's name, nothing went upstream, it cost nothing.
    @discardableResult
    package func record(
        eventID: String? = nil, provider: ProviderKind, token: APIToken, kind: UsageCapture.Kind, request: Request,
        requestJSON: JSONValue?,
        started: Instant, elapsed: Duration, ttft: Duration?, status: Int, capture: UsageCapture.Result,
        requestID: String?, blocked: Bool = false, safetyFlags: [String] = [], qualityFlags: [String] = [],
        captured: CapturedBodies? = nil
    ) -> GuardOutcome {
        // The call as captured; the ingest pipeline holds it to the API's rules (`EventRules.admit`: a value the API
        // would refuse is left out, never truncated, and the event says which), prices it and queues it.
        func valid(_ value: String?, _ field: String) -> String? {
            value.flatMap { EventRules.textProblem($0, field: field) == nil ? $0 : nil }
        }
        let header = { Self.header($0, request) }
        let answered = capture.model.map { $0.hasPrefix("models/") ? String($0.dropFirst(7)) : $0 }
        let model = valid(answered, "model") ?? "unknown"
        // A preset id (the playground's, so its page can find the event) wins over the provider's request id.
        let id = eventID ?? valid(requestID.map { "gw_" + $0 }, "id") ?? Identifier.make("gw")
        var event = UsageEvent(id: id, timestamp: started, provider: provider.rawValue, model: model)
        event.operation =
            switch kind {
            case .openAIEmbeddings, .geminiEmbed: .embedding
            case .openAICompletions: .completion
            case .other: .other
            default: .chat
            }
        event.source = .gateway
        event.attribution.feature = header("X-Tally-Feature")
        event.attribution.environment = header("X-Tally-Environment")
        event.attribution.apiKey = EventRules.apiKeyLabel(token)
        event.attribution.user = Self.attributedUser(request, requestJSON)
        if let tags = header("X-Tally-Tags") {
            // 29, so that the gateway's own three tags keep the event within the API's 32.
            for pair in tags.split(separator: ";").prefix(29) {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces() }
                if kv.count == 2, !kv[0].isEmpty { event.attribution.tags[kv[0]] = kv[1] }
            }
        }
        var ownTags: [String: String] = [:]
        if let requestID, EventRules.textProblem(requestID, max: 256) == nil {
            ownTags["provider_request_id"] = requestID
        }
        var usage = capture.usage ?? TokenUsage()
        usage.requests = 1
        event.usage = usage
        event.outcome.status = status >= 400 || capture.errorType != nil ? .error : .success
        event.outcome.errorType = capture.errorType
        event.outcome.httpStatus = status
        event.outcome.latencyMs = elapsed.wholeMilliseconds
        event.outcome.timeToFirstTokenMs = ttft?.wholeMilliseconds
        event.outcome.streamed = capture.streamed
        event.outcome.finishReason = capture.finishReason
        // The official SDKs number their attempts: 0 on the first, n on the n-th retry (OpenAI's and Anthropic's
        // `x-stainless-retry-count`); a value that is not a small count is ignored.
        if let n = header("X-Stainless-Retry-Count").flatMap({ Int64($0) }), (0...1000).contains(n) {
            event.outcome.retries = n
        }
        event.outcome.safetyFlags = safetyFlags
        event.outcome.qualityFlags = qualityFlags
        event.serviceTier = Self.serviceTier(provider, answered: capture.serviceTier, requestJSON: requestJSON)
        // Anthropic names batch traffic by its tier, as its usage report does (the sync reads it the same way).
        if event.serviceTier == "batch" { event.batch = true }
        let content = self.content
        var seal: ((StoredEvent) -> SealedEventContent?)?
        if let bodies = captured, bodies.policy.settings.capture != .off {
            seal = { stored in
                content.seal(
                    request: bodies.request, response: bodies.response, policy: bodies.policy,
                    organizationID: stored.organizationID, projectID: stored.projectID, eventID: stored.event.id)
            }
        }
        let stored = recorder.record(
            event, token: token, usageKnown: capture.usage != nil, ownTags: ownTags, free: blocked, seal: seal)
        // The usage as stored (the rules may have refused an out-of-bounds count), else as captured.
        let counted = stored?.event.usage ?? usage
        // Each count is capped near `UsageLimits.maxCount` (ProviderUsage): the sum cannot overflow.
        return GuardOutcome(cost: stored?.cost, tokens: Int(clamping: counted.inputTokens + counted.outputTokens))
    }

    /// The service tier an event records: the one the answer says served (OpenAI answers `priority` to a request for
    /// `fast`, or the tier `auto` resolved to), else the one the request asked for. Each is held to the ingest API's
    /// rules for `service_tier` (`EventRules`): a value they refuse is dropped, never stored, and the next one used.
    package static func serviceTier(_ provider: ProviderKind, answered: String?, requestJSON: JSONValue?) -> String? {
        func valid(_ tier: String?) -> String? {
            tier.flatMap { EventRules.textProblem($0, field: "service_tier") == nil ? $0 : nil }
        }
        return valid(answered) ?? valid(requestJSON.flatMap(provider.api.requestedServiceTier))
    }

    // MARK: Requests

    // Each provider's part is asked of its `ProviderAPI` (TallyProviders), one small function per concern.

    /// The secret the SDK sent in its usual place.
    package static func presentedKey(_ provider: ProviderKind, _ request: Request) -> String? {
        provider.api.presentedKey(
            header: { HTTPField.Name($0).flatMap { request.headers[$0] } },
            query: { request.uri.queryParameters[Substring($0)].map(String.init) })
    }

    package static func kind(_ provider: ProviderKind, _ rest: String) -> UsageCapture.Kind {
        provider.api.captureKind(path: rest.split(separator: "?").first.map(String.init) ?? rest)
    }

    /// The SDKs' paths under the base URL map one to one onto the provider's (OpenAI's base URL ends in `/v1`).
    package static func upstreamPath(_ provider: ProviderKind, _ rest: String) -> String { "/" + rest }

    /// The query parameter dropped from what goes upstream: the provider's key parameter (Gemini's `key`), which
    /// carried the Tally token unless the call is in pass-through mode.
    package static func keyParameterDropped(_ provider: ProviderKind, passThrough: Bool) -> String? {
        passThrough ? nil : provider.api.keyQueryParameter
    }

    /// The connection's key, where the provider reads it, in place of the Tally token.
    package static func authorize(_ headers: inout HTTPHeaders, _ provider: ProviderKind, key: String) {
        let auth = provider.api.upstreamAuth(key: key)
        for name in auth.removed { headers.remove(name: name) }
        for (name, value) in auth.headers { headers.replaceOrAdd(name: name, value: value) }
    }

    /// The model a call asks for: the body's `model`, or the one the path names (Gemini's `models/{model}:method`).
    package static func requestedModel(_ provider: ProviderKind, _ json: JSONValue?, rest: String) -> String? {
        // Gemini runs the model its path names, whatever the body says: judge and price that one.
        if let inPath = provider.api.model(inPath: rest) { return inPath }
        if case .string(let m)? = json?["model"] { return m.hasPrefix("models/") ? String(m.dropFirst(7)) : m }
        return provider.api.model(inPath: rest)
    }

    /// Whether the answer will be a stream: `"stream": true` in the body, or the path says so (Gemini's streaming method).
    package static func isStreamed(_ provider: ProviderKind, _ json: JSONValue?, rest: String) -> Bool {
        json?["stream"] == .bool(true) || provider.api.streamsByPath(rest)
    }

    /// The body to send instead of the client's (OpenAI's chat stream asking for the usage chunk the client did not ask
    /// for; it is filtered out of the answer again), or nil to send it as it came.
    package static func askingForUsage(_ provider: ProviderKind, _ kind: UsageCapture.Kind, _ json: JSONValue?)
        -> JSONValue?
    {
        json.flatMap { provider.api.requestAskingForUsage($0, kind: kind) }
    }

    /// The query as sent, less `parameter` (the provider's key parameter, when it carried the Tally token).
    package static func query(_ request: Request, dropping parameter: String?) -> String {
        guard let query = request.uri.query, !query.isEmpty else { return "" }
        guard let parameter else { return "?" + query }
        let kept = query.split(separator: "&").filter { !$0.hasPrefix(parameter + "=") }
        return kept.isEmpty ? "" : "?" + kept.joined(separator: "&")
    }

    /// One JSON request body at most (the providers' own limits are about this size).
    package static var jsonBodyLimit: Int { 32 << 20 }

    package enum Collected { case bytes(ByteBuffer), tooLarge, overBudget }

    /// Reads a body whole, each piece first reserved from the shared budget.
    package static func collect(_ body: RequestBody, lease: BufferLease, limit: Int) async throws -> Collected {
        var whole = ByteBuffer()
        for try await piece in body {
            guard whole.readableBytes + piece.readableBytes <= limit else { return .tooLarge }
            guard lease.reserve(piece.readableBytes) else { return .overBudget }
            var piece = piece
            whole.writeBuffer(&piece)
        }
        return .bytes(whole)
    }
}

package enum GatewayPaths {
    package static let prefixes: [(ProviderKind, String)] = [
        (.openai, "gateway/openai"), (.anthropic, "gateway/anthropic"), (.google, "gateway/google"),
    ]

    /// What follows `/gateway/{provider}/` in the path as sent; a path not starting exactly so (`//`) fails the check.
    package static func rest(_ path: String, provider: ProviderKind) -> Substring {
        let prefix = "/" + (prefixes.first { $0.0 == provider }?.1 ?? "") + "/"
        return path.hasPrefix(prefix) ? path.dropFirst(prefix.count) : "/"
    }
}

/// The last bytes written to the client: whether a server-sent-events stream is between two events.
package struct SentTail {
    /// The last four bytes, the newest lowest; it starts as if an event had just ended.
    private var last: UInt32 = 0x0D0A_0D0A

    package mutating func note(_ buffer: ByteBuffer) {
        for byte in buffer.readableBytesView.suffix(4) { last = last << 8 | UInt32(byte) }
    }

    package var atEventBoundary: Bool { last & 0xFFFF == 0x0A0A || last == 0x0D0A_0D0A }
}
