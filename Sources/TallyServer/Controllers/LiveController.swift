import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket
import ServiceLifecycle
import Synchronization
import TallyCore
import TallyHTTP
import TallyServices
import TallyWeb

/// `GET /api/v1/live`, a WebSocket (issue 22): `usage_update` for each event stored after the socket opened (the
/// caller's projects only), `metrics_update` with today's and the billing cycle's totals every few seconds.
///
/// Like the events page's stream it polls the store (so events from every replica arrive), re-reading a window of
/// sequences to catch commits that land out of order. A token or a signed-in member with `read` may open one; a
/// session's socket must come from Tally's own pages (its `Origin`), since browsers send cookies on a cross-site
/// WebSocket handshake. At most `sockets.perSession` sockets per session or token, `sockets.total` in all, on a
/// replica; handshakes count against the API rate limit like any request. Every metrics tick authenticates the
/// handshake's credentials again and checks they still stand for the same organization and projects, so a revoked
/// token, a signed-out session, a removed member or a session switched to another organization loses the socket
/// within seconds (closed with 4401 or 4403). The totals are computed once per organization and scope per tick,
/// whatever the number of sockets sharing them (`LiveTotals`).
struct LiveController<Store: TallyStore> {
    let store: Store
    let auth: Authenticator<Store>
    let sockets: LiveStreams
    /// The public base URL (TALLY_PUBLIC_URL): its origin is accepted besides the request's own host.
    let publicURL: String?
    /// The API's rate limit (TALLY_API_RATE_LIMIT), the same limiter as the `/api/v1` group's.
    let rateLimit: APIRateLimitMiddleware?
    let totals: LiveTotals
    var pollInterval: Duration = .seconds(1)
    var metricsInterval: Duration = .seconds(5)

    /// Without an upgrade (or when the upgrade was refused) the plain HTTP route answers why: 401, 403, 429 or 426.
    func addRoutes(to group: RouterGroup<TallyRequestContext>) {
        group.get("live") { request, _ -> Response in
            let principal = try await admit(request)
            guard sockets.hasRoom(session: Self.key(principal)) else { throw Self.tooMany(sockets) }
            throw APIError(
                .upgradeRequired, "websocket_required",
                "this is a WebSocket: connect with Upgrade: websocket (ws:// or wss://)")
        }
    }

    /// A refused handshake cannot be told apart from a malformed one over HTTP (the WebSocket upgrade answers an
    /// empty 400 whatever the reason), so every handshake is accepted and a refused one closed at once, before any
    /// data, with a code that says why: 4401 (no or bad credentials), 4403 (no `read`, or a session from another
    /// origin), 4429 (too many sockets). Browsers show the code and reason in the `close` event.
    func addWebSocketRoutes(to router: Router<LiveSocketContext>) {
        router.ws("/api/v1/live") { _, _ in
            .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            if let rateLimit {
                let keys = APIRateLimitMiddleware.keys(
                    context.request, peer: context.requestContext.remoteAddress,
                    trustedProxies: rateLimit.trustedProxies)
                let decision = rateLimit.limiter.admit(keys, at: rateLimit.clock())
                guard decision.allowed else {
                    try await outbound.close(
                        .unknown(4429), reason: "too many API requests; try again in \(decision.resetSeconds) seconds")
                    return
                }
            }
            let principal: Principal
            do {
                principal = try await admit(context.request)
            } catch {
                let (code, reason) = Self.refusal(error)
                try await outbound.close(.unknown(code), reason: reason)
                return
            }
            guard let slot = sockets.claim(session: Self.key(principal)) else {
                try await outbound.close(
                    .unknown(4429),
                    reason:
                        "at most \(sockets.perSession) live connections per session or token, \(sockets.total) in all")
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The client says nothing Tally needs; reading keeps pings answered and notices a close.
                group.addTask { for try await _ in inbound.messages(maxSize: 4096) {} }
                group.addTask {
                    try await push(to: outbound, principal: principal, request: context.request)
                    try await outbound.close(.normalClosure, reason: nil)
                }
                try await group.next()
                group.cancelAll()
            }
            withExtendedLifetime(slot) {}
        }
    }

    /// The close code and reason of a refused handshake.
    static func refusal(_ error: any Error) -> (UInt16, String) {
        switch error {
        case TallyError.unauthenticated:
            (4401, "unauthenticated: send Authorization: Bearer <token> or sign in")
        case TallyError.forbidden(let message): (4403, String(message.prefix(120)))
        default: (4500, "the credentials could not be checked; try again")
        }
    }

    /// Who may open the socket: `read` by token or session; a session only from Tally's own origin.
    func admit(_ request: Request) async throws -> Principal {
        let principal = try await auth.require(.read, request)
        if case .user = principal.kind, let origin = request.headers[.origin],
            !Self.sameOrigin(origin, request: request, publicURL: publicURL)
        {
            throw TallyError.forbidden("a signed-in live connection must come from Tally's own pages")
        }
        return principal
    }

    static func key(_ principal: Principal) -> String {
        switch principal.kind {
        case .token(let token): "token:" + token.id
        case .user(_, _, let session): "session:" + session.id
        }
    }

    static func tooMany(_ sockets: LiveStreams) -> APIError {
        APIError(
            .tooManyRequests, "too_many_streams",
            "at most \(sockets.perSession) live connections per session or token; close one first")
    }

    /// `Origin` (scheme://host[:port]) names the host the request was sent to, or is TALLY_PUBLIC_URL's origin.
    static func sameOrigin(_ origin: String, request: Request, publicURL: String?) -> Bool {
        guard let sent = originParts(origin), sent.path.isEmpty else { return false }
        if let requested = request.head.authority, sent.authority == requested {
            return true
        }
        guard let configured = publicURL.flatMap(originParts) else { return false }
        return configured.scheme == sent.scheme && configured.authority == sent.authority
    }

    /// `scheme://authority/path` in parts (http and https only).
    static func originParts(_ url: String) -> (scheme: String, authority: String, path: Substring)? {
        guard let separator = url.firstRange(of: "://") else { return nil }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = url[separator.upperBound...]
        let authority = rest.prefix { $0 != "/" }
        guard !authority.isEmpty else { return nil }
        return (scheme, authority.lowercased(), rest.dropFirst(authority.count))
    }

    /// Sends new events as they are stored and the totals every `metricsInterval`, until the client leaves, the
    /// server shuts down or the credentials stop working.
    func push(to outbound: WebSocketOutboundWriter, principal: Principal, request: Request) async throws {
        let organizationID = principal.organizationID
        var filters: DimensionFilters = [:]
        if let scope = principal.projectScope { filters[.project] = scope }
        let start = try await store.latestSequence()
        let connected = ContinuousClock.now
        var high = start
        var seen = Set<Int64>()
        var nextMetrics = ContinuousClock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let low = max(start, high - 256)
            let rows = try await store.eventsStored(
                after: low, organizationID: organizationID, filters: filters, limit: 500)
            for row in rows where !seen.contains(row.sequence) {
                seen.insert(row.sequence)
                high = max(high, row.sequence)
                try await outbound.write(.text(LiveJSON.usageUpdate(row.stored)))
            }
            seen = seen.filter { $0 > low }
            if ContinuousClock.now >= nextMetrics {
                // The same credentials must still stand for the same organization and projects: a session switched
                // to another organization (then removed from this one) must not keep this one's stream.
                do {
                    let now = try await admit(request)
                    guard now.organizationID == organizationID, now.projectScope == principal.projectScope else {
                        throw TallyError.forbidden("the session's organization or access changed; reconnect")
                    }
                } catch {
                    let (code, reason) = Self.refusal(error)
                    try await outbound.close(.unknown(code), reason: reason)
                    return
                }
                let key = organizationID + "|" + (principal.projectScope?.sorted().joined(separator: ",") ?? "*")
                let message = try await totals.shared(
                    key: key, since: connected, maxAge: metricsInterval - .milliseconds(500)
                ) {
                    try await metrics(organizationID: organizationID, filters: filters)
                }
                try await outbound.write(.text(message))
                nextMetrics = .now + metricsInterval
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
        }
    }

    /// Today's totals (the organization's local day so far) and the billing cycle's, as `metrics_update`.
    func metrics(organizationID: String, filters: DimensionFilters) async throws -> String {
        let now = Instant.now
        let org = try await store.organization(id: organizationID)
        let zone = org.flatMap { TimeZoneRules(identifier: $0.timeZone) } ?? .utc
        let today = zone.localDate(of: now)
        let dayStart = zone.startOfDay(today)
        let cycle = BillingCycle.containing(now, startDay: org?.billingCycleDay ?? 1, zone: zone)
        func totals(from: Instant) async throws -> UsageMetrics {
            guard from < now else { return UsageMetrics() }
            return try await store.summary(
                SummaryQuery(
                    organizationID: organizationID, from: from, to: now, timeZone: zone, grain: nil, dimensions: [],
                    filters: filters)
            ).totals
        }
        return LiveJSON.metricsUpdate(
            day: today.description, zone: zone.identifier, now: now, today: try await totals(from: dayStart),
            cycleStart: cycle.range.from, cycle: try await totals(from: cycle.range.from))
    }
}

/// The context of the live API's WebSocket router: the peer's address, for the rate limit.
struct LiveSocketContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let remoteAddress: String

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}

/// The live API's `metrics_update` per organization and project scope, computed once per tick and shared by every
/// socket of that scope (a hundred sockets of one organization cost two summary queries every few seconds, not two
/// hundred). A socket never gets totals computed before it connected (`since`): its page may have been rendered from
/// newer ones, and the cards must not step back (found by the overview's browser test).
final class LiveTotals: Sendable {
    private let cache = Mutex<[String: (at: ContinuousClock.Instant, message: String)]>([:])

    func shared(
        key: String, since: ContinuousClock.Instant, maxAge: Duration, compute: () async throws -> String
    ) async throws -> String {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[key] }), hit.at >= since, now - hit.at < maxAge { return hit.message }
        let message = try await compute()
        cache.withLock { cache in
            cache[key] = (now, message)
            // Entries of scopes no socket asks for any more go at the next write after they age.
            cache = cache.filter { now - $0.value.at < maxAge * 4 }
        }
        return message
    }
}
