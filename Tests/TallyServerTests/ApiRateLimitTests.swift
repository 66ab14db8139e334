import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TallyCore
import Testing

@testable import TallyHTTP
@testable import TallyServer

/// TALLY_API_RATE_LIMIT: per token and per address, fixed windows, the API's JSON error with Retry-After on a 429
/// and the RateLimit-* headers on every answer.
@Suite struct ApiRateLimitTests {
    final class Clock: Sendable {
        let now = Mutex(Instant(seconds: 1_800_000_000 + 10))  // 10 s into a minute
        func advance(_ seconds: Int64) {
            now.withLock { $0 = Instant(microseconds: $0.microseconds + seconds * 1_000_000) }
        }
    }

    /// Behind a trusted proxy (the test's loopback peer), X-Forwarded-For picks each request's address.
    static func app(limit: Int, window: Int64 = 60, clock: Clock) -> (some ApplicationProtocol, APIRateLimitMiddleware)
    {
        let middleware = APIRateLimitMiddleware(
            rate: APIRateLimit(limit: limit, windowSeconds: window),
            trustedProxies: try! TrustedProxies.parse("127.0.0.1,::1").get(), clock: { clock.now.withLock { $0 } })
        let router = Router(context: TallyRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        let api = router.group("api/v1").add(middleware: middleware)
        api.get("ping") { _, _ in Response.json("{}") }
        api.get("missing") { _, _ -> Response in throw TallyError.notFound("thing") }
        router.get("healthz") { _, _ in Response.json("{}") }
        return (Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0))), middleware)
    }

    static func get(
        _ client: some TestClientProtocol, _ path: String = "/api/v1/ping", from address: String, token: String? = nil
    ) async throws -> Reply {
        var headers: HTTPFields = [.init("X-Forwarded-For")!: address]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: path, method: .get, headers: headers) { r in
            Reply(status: r.status, headers: r.headers, text: String(buffer: r.body))
        }
    }

    @Test func anAddressGets429AfterTheLimitWithTheHeaders() async throws {
        let clock = Clock()
        let (app, _) = Self.app(limit: 3, clock: clock)
        try await app.test(.live) { client in
            for i in 0..<3 {
                let r = try await Self.get(client, from: "203.0.113.7", token: "tly_token_\(i)")
                #expect(r.status == .ok)
                #expect(r.headers[.init("RateLimit-Limit")!] == "3")
                #expect(r.headers[.init("RateLimit-Remaining")!] == String(2 - i))
                #expect(r.headers[.init("RateLimit-Reset")!] == "50")
            }
            let refused = try await Self.get(client, from: "203.0.113.7", token: "tly_token_new")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.errorCode == "rate_limited" && refused.text.contains("3 per minute"))
            #expect(refused.headers[.retryAfter] == "50" && refused.headers[.init("RateLimit-Remaining")!] == "0")
            // Another address is not limited; routes outside /api/v1 never are.
            #expect(try await Self.get(client, from: "198.51.100.1").status == .ok)
            let health = try await Self.get(client, "/healthz", from: "203.0.113.7")
            #expect(health.status == .ok && health.headers[.init("RateLimit-Limit")!] == nil)
        }
    }

    @Test func aTokenIsLimitedAcrossAddresses() async throws {
        let clock = Clock()
        let (app, _) = Self.app(limit: 2, clock: clock)
        try await app.test(.live) { client in
            let first = try await Self.get(client, from: "192.0.2.1", token: "tly_one")
            #expect(first.status == .ok)
            #expect(try await Self.get(client, from: "192.0.2.2", token: "tly_one").status == .ok)
            #expect(try await Self.get(client, from: "192.0.2.3", token: "tly_one").status == .tooManyRequests)
            #expect(try await Self.get(client, from: "192.0.2.3", token: "tly_two").status == .ok)
        }
    }

    /// A new window starts afresh, and the old window's counters are dropped (memory holds one window).
    @Test func windowsRollAndOldCountersAreDropped() async throws {
        let clock = Clock()
        let (app, middleware) = Self.app(limit: 1, clock: clock)
        try await app.test(.live) { client in
            #expect(try await Self.get(client, from: "192.0.2.9").status == .ok)
            #expect(try await Self.get(client, from: "192.0.2.10").status == .ok)
            #expect(middleware.limiter.keyCount == 2)
            let refused = try await Self.get(client, from: "192.0.2.9")
            #expect(refused.status == .tooManyRequests)
            clock.advance(49)
            #expect(try await Self.get(client, from: "192.0.2.9").headers[.retryAfter] == "1")
            clock.advance(1)
            let next = try await Self.get(client, from: "192.0.2.9")
            #expect(next.status == .ok && next.headers[.init("RateLimit-Reset")!] == "60")
            #expect(middleware.limiter.keyCount == 1)
        }
    }

    /// Errors of the routes carry the headers too (a client counting its requests counts these).
    @Test func errorAnswersCarryTheHeaders() async throws {
        let (app, _) = Self.app(limit: 5, clock: Clock())
        try await app.test(.live) { client in
            let r = try await Self.get(client, "/api/v1/missing", from: "192.0.2.1")
            #expect(r.status == .notFound && r.errorCode == "not_found")
            #expect(r.headers[.init("RateLimit-Remaining")!] == "4")
        }
    }

    @Test func theLimiterRefusesWithoutCountingAndBoundsItsKeys() {
        let limiter = APIRateLimiter(rate: APIRateLimit(limit: 2, windowSeconds: 60), maximumKeys: 3)
        let t = Instant(seconds: 1_800_000_020)
        #expect(limiter.admit(["a", "t"], at: t).allowed)
        #expect(limiter.admit(["a", "t"], at: t).remaining == 0)
        #expect(!limiter.admit(["a", "u"], at: t).allowed)
        // The refused request counted nowhere: `u` is still fresh. It is the fourth key, past the maximum of 3: it
        // counts on the one overflow counter that every new key shares from now on.
        #expect(limiter.admit(["b", "u"], at: t).remaining == 1)
        #expect(limiter.keyCount == 4)
        // Filling the table buys no way around the limit: new keys are refused once the overflow counter is full.
        #expect(limiter.admit(["c"], at: t).allowed)
        #expect(!limiter.admit(["d"], at: t).allowed)
        #expect(limiter.keyCount == 4)
    }

    @Test(arguments: [
        ("1000/15m", 1000, Int64(900)), ("20/30s", 20, 30), ("5000/1h", 5000, 3600), ("60/m", 60, 60), ("1/s", 1, 1),
    ])
    func rateLimitSettingsParse(text: String, limit: Int, seconds: Int64) throws {
        let config = try AppConfig.load(environment: ["TALLY_API_RATE_LIMIT": text], flags: [:])
        #expect(config.apiRateLimit == APIRateLimit(limit: limit, windowSeconds: seconds))
    }

    @Test func rateLimitIsOffUnlessSetAndWrongValuesAreReported() throws {
        #expect(try AppConfig.load(environment: [:], flags: [:]).apiRateLimit == nil)
        #expect(try AppConfig.load(environment: ["TALLY_API_RATE_LIMIT": "off"], flags: [:]).apiRateLimit == nil)
        for bad in ["1000", "0/15m", "1000/15x", "-1/1m", "10/0m", "10/2d", "1000/15m/1", "x/1m", "10/ 1m"] {
            #expect(throws: AppConfig.Problem.self, "\(bad)") {
                try AppConfig.load(environment: ["TALLY_API_RATE_LIMIT": bad], flags: [:])
            }
        }
        #expect {
            try AppConfig.load(
                environment: ["TALLY_API_RATE_LIMIT": "lots", "TALLY_GATEWAY_RESERVATION_TTL": "forever"], flags: [:])
        } throws: { error in
            (error as? AppConfig.Problem)?.lines.map { String($0.prefix { $0 != " " }) } == [
                "TALLY_API_RATE_LIMIT", "TALLY_GATEWAY_RESERVATION_TTL",
            ]
        }
    }

    @Test func reservationTTLDefaultsTo15Minutes() throws {
        #expect(try AppConfig.load(environment: [:], flags: [:]).gatewayReservationTTLSeconds == 900)
        #expect(
            try AppConfig.load(environment: ["TALLY_GATEWAY_RESERVATION_TTL": "30s"], flags: [:])
                .gatewayReservationTTLSeconds == 30)
        for bad in ["1s", "2d", "soon", "0"] {
            #expect(throws: AppConfig.Problem.self, "\(bad)") {
                try AppConfig.load(environment: ["TALLY_GATEWAY_RESERVATION_TTL": bad], flags: [:])
            }
        }
    }
}
