import Hummingbird
import Synchronization
import TallyCore
import TallyServices

/// Tally's own API limit (TALLY_API_RATE_LIMIT, such as `1000/15m`): at most `limit` requests per fixed window, per
/// token (or session) and per client address, on each replica, in memory. A self-hosted tracker is one process or a
/// few; a limit shared through the database would cost a write per request for little more protection.
public struct APIRateLimit: Sendable, Equatable {
    public var limit: Int
    public var windowSeconds: Int64

    public init(limit: Int, windowSeconds: Int64) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }

    /// `N/<duration>`: `1000/15m`, `20/30s`, `5000/1h` (a bare `m`/`s`/`h` is one of them); nil when it is not that
    /// form, or N is not 1...1,000,000,000, or the window is not 1 s...1 day.
    public static func parse(_ text: String) -> APIRateLimit? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let limit = Int(parts[0]), (1...1_000_000_000).contains(limit), let unit = parts[1].last
        else { return nil }
        let count = parts[1].dropLast()
        let n: Int64
        if count.isEmpty {
            n = 1
        } else {
            guard count.allSatisfy(\.isASCII), let parsed = Int64(count), parsed > 0, parsed <= 86_400 else {
                return nil
            }
            n = parsed
        }
        let seconds: Int64
        switch unit {
        case "s": seconds = n
        case "m": seconds = n * 60
        case "h": seconds = n * 3600
        default: return nil
        }
        guard (1...86_400).contains(seconds) else { return nil }
        return APIRateLimit(limit: limit, windowSeconds: seconds)
    }
}

/// The counters of the current window. Windows are aligned to multiples of the window's length, so every replica
/// resets at the same instants, and the whole table is dropped when a window ends: memory holds one window only.
package final class APIRateLimiter: Sendable {
    package let rate: APIRateLimit
    /// Keys counted in one window at most. Past it every new key shares one overflow counter: an attacker with many
    /// addresses or made-up tokens can neither grow the table without end nor escape the limit by filling it.
    package let maximumKeys: Int
    private let state = Mutex<(windowStart: Int64, counts: [String: Int])>((0, [:]))

    package init(rate: APIRateLimit, maximumKeys: Int = 200_000) {
        self.rate = rate
        self.maximumKeys = maximumKeys
    }

    package struct Decision: Sendable, Equatable {
        package var allowed: Bool
        /// What is left in the window for the most used of the keys.
        package var remaining: Int
        /// Whole seconds until the window ends (at least 1).
        package var resetSeconds: Int64
    }

    /// Counts one request against every key, unless one of them is already at the limit (then nothing is counted).
    package func admit(_ keys: [String], at now: Instant) -> Decision {
        let nowSeconds = now.microseconds / 1_000_000
        let windowStart = nowSeconds - ((nowSeconds % rate.windowSeconds) + rate.windowSeconds) % rate.windowSeconds
        let reset = max(1, windowStart + rate.windowSeconds - nowSeconds)
        return state.withLock { state in
            if state.windowStart != windowStart {
                state = (windowStart, [:])
            }
            var room = maximumKeys - state.counts.count
            let keys = keys.map { key -> String in
                if state.counts[key] != nil { return key }
                room -= 1
                return room >= 0 ? key : Self.overflowKey
            }
            let used = keys.map { state.counts[$0] ?? 0 }
            let most = used.max() ?? 0
            guard most < rate.limit else {
                return Decision(allowed: false, remaining: 0, resetSeconds: reset)
            }
            // The overflow key may be the one past the maximum: one key more, never more than that.
            for key in Set(keys) { state.counts[key, default: 0] += 1 }
            return Decision(allowed: true, remaining: rate.limit - most - 1, resetSeconds: reset)
        }
    }

    package static let overflowKey = "overflow"

    /// Keys held now (tests: old windows are dropped).
    package var keyCount: Int { state.withLock { $0.counts.count } }
}

/// Applies `APIRateLimiter` to the routes of its group (`/api/v1/*`). A request counts against its client address
/// (TrustedProxies-aware) and against its credential: the bearer token, else the session cookie, each known by a hash
/// of its secret (no store read before the limit; the secret itself is never kept). Every answer carries
/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a refused one is the API's 429 JSON error with
/// `Retry-After`.
package struct APIRateLimitMiddleware: RouterMiddleware {
    package typealias Context = TallyRequestContext
    package let limiter: APIRateLimiter
    package let trustedProxies: TrustedProxies
    package let clock: @Sendable () -> Instant

    package init(
        rate: APIRateLimit, trustedProxies: TrustedProxies, clock: @escaping @Sendable () -> Instant = { .now }
    ) {
        limiter = APIRateLimiter(rate: rate)
        self.trustedProxies = trustedProxies
        self.clock = clock
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let decision = limiter.admit(keys(request, context), at: clock())
        var headers = HTTPFields()
        headers[.init("RateLimit-Limit")!] = String(limiter.rate.limit)
        headers[.init("RateLimit-Remaining")!] = String(decision.remaining)
        headers[.init("RateLimit-Reset")!] = String(decision.resetSeconds)
        guard decision.allowed else {
            var error = APIError(
                .tooManyRequests, "rate_limited",
                "too many API requests: at most \(limiter.rate.limit) per \(Self.window(limiter.rate.windowSeconds)) "
                    + "per token and per address; try again in \(decision.resetSeconds) seconds")
            error.headers = headers
            error.headers[.retryAfter] = String(decision.resetSeconds)
            throw error
        }
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: headers)
            return response
        } catch {
            // Errors answer with the headers too: a client counting its requests counts these as well.
            var mapped = APIError(mapping: error, logger: context.logger)
            mapped.headers.append(contentsOf: headers)
            throw mapped
        }
    }

    func keys(_ request: Request, _ context: Context) -> [String] {
        Self.keys(request, peer: context.remoteAddress, trustedProxies: trustedProxies)
    }

    /// The keys a request counts against (also the live API's WebSocket handshakes, which another router takes).
    package static func keys(_ request: Request, peer: String, trustedProxies: TrustedProxies) -> [String] {
        let address = trustedProxies.clientAddress(
            peer: peer, forwardedFor: request.headers[values: .init("X-Forwarded-For")!])
        var keys = ["a:" + address]
        if let header = request.headers[.authorization], header.count > 7 {
            keys.append("t:" + TokenSecret.hash(header.dropFirst(7).trimmingSpaces))
        } else if let session = Cookies.value(Cookies.session, in: request), !session.isEmpty {
            keys.append("s:" + TokenSecret.hash(session))
        }
        return keys
    }

    static func window(_ seconds: Int64) -> String {
        if seconds % 3600 == 0 { return seconds == 3600 ? "hour" : "\(seconds / 3600) hours" }
        if seconds % 60 == 0 { return seconds == 60 ? "minute" : "\(seconds / 60) minutes" }
        return seconds == 1 ? "second" : "\(seconds) seconds"
    }
}
