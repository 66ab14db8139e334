import Foundation
import NIOCore
import XCTest

@testable import TallyClient

/// Durations of the configuration too long for NIO (or for the clocks) are clamped, not trapped on; no server needed.
final class TallyClientDurationTests: XCTestCase {
    func testTimeAmountSaturatesInsteadOfTrapping() {
        XCTAssertEqual(TimeAmount(saturating: .seconds(10)), .seconds(10))
        XCTAssertEqual(TimeAmount(saturating: .milliseconds(1_500)), .milliseconds(1_500))
        XCTAssertEqual(TimeAmount(saturating: .nanoseconds(7)), .nanoseconds(7))
        XCTAssertEqual(TimeAmount(saturating: .zero), .zero)
        XCTAssertEqual(TimeAmount(saturating: .seconds(-3)), .seconds(-3))
        XCTAssertEqual(TimeAmount(saturating: .nanoseconds(Int64.max)), .nanoseconds(Int64.max))
        XCTAssertEqual(TimeAmount(saturating: .nanoseconds(Int64.max - 1)), .nanoseconds(Int64.max - 1))
        // 9_223_372_036 s is the last whole second a TimeAmount holds; one more overflows the nanoseconds.
        XCTAssertEqual(TimeAmount(saturating: .seconds(9_223_372_036)), .nanoseconds(9_223_372_036_000_000_000))
        XCTAssertEqual(TimeAmount(saturating: .seconds(9_223_372_037)), .nanoseconds(Int64.max))
        XCTAssertEqual(TimeAmount(saturating: .seconds(Int64.max)), .nanoseconds(Int64.max))
        XCTAssertEqual(TimeAmount(saturating: .seconds(Int64.max) * 4), .nanoseconds(Int64.max))
        XCTAssertEqual(TimeAmount(saturating: .seconds(Int64.min)), .nanoseconds(Int64.min))
        XCTAssertEqual(TimeAmount(saturating: .seconds(-9_223_372_037)), .nanoseconds(Int64.min))
    }

    func testWaitsAreClamped() {
        XCTAssertEqual(Duration.seconds(Int64.max).clampedWait, .nanoseconds(Int64.max))
        XCTAssertEqual((Duration.seconds(Int64.max) * 4).clampedWait, .nanoseconds(Int64.max))
        XCTAssertEqual(Duration.seconds(-1).clampedWait, .zero)
        XCTAssertEqual(Duration.milliseconds(250).clampedWait, .milliseconds(250))
    }

    /// Every duration of the configuration as long as a `Duration` gets: the request fails at once (a scheme the HTTP
    /// client refuses before connecting: no server involved; a refused connection would be tried again by the
    /// connection pool until the request's deadline), its retry waits "forever" (neither trapping nor coming back
    /// at once), and cancelling `run()` ends it.
    func testHugeConfiguredDurationsDoNotTrap() async throws {
        let huge = Duration.seconds(Int64.max)
        let client = TallyClient(
            baseURL: "ftp://127.0.0.1", token: "t",
            configuration: .init(
                flushInterval: huge, maxRetries: 1, backoffBase: huge, backoffCap: huge * 2, maxRetryAfter: huge,
                requestTimeout: huge))
        let run = Task { try await client.run() }
        await client.record(TallyEvent(provider: "openai", model: "gpt-4o-mini", inputTokens: 1))
        let flush = Task { await client.flush() }
        let deadline = ContinuousClock.now + .seconds(20)
        while await client.stats.retried == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))
        var stats = await client.stats
        XCTAssertEqual(stats.requests, 1)
        XCTAssertEqual(stats.retried, 1, "the first request failed and its retry waits")
        XCTAssertEqual(stats.dropped, 0, "the retry's wait did not end at once")
        run.cancel()
        flush.cancel()
        try await run.value
        _ = await flush.value
        stats = await client.stats
        XCTAssertEqual(stats.requests, 1)
        XCTAssertEqual(stats.queued, 1, "cancelled: what was queued is left")
    }
}
