import Foundation
import Logging
import ServiceLifecycle
import TallyClient
import XCTest

/// The client against a real `tally serve` (see TallyProcess): skipped only when no binary can be found.
final class TallyClientLiveTests: XCTestCase {
    private var server: TallyProcess?

    override func tearDown() async throws {
        await server?.tearDown()
        server = nil
    }

    private func startServer() async throws -> TallyProcess {
        let server = try await TallyProcess.start()
        self.server = server
        return server
    }

    private func event(_ n: Int, at timestamp: Date = Date(timeIntervalSince1970: 1_795_000_000)) -> TallyEvent {
        TallyEvent(
            timestamp: timestamp.addingTimeInterval(Double(n)), provider: "openai", model: "gpt-4o",
            inputTokens: 100 + n, outputTokens: 10 + n)
    }

    /// N events go in at most ceil(N / batch) requests, and every field arrives as sent.
    func testBatchesEventsAndKeepsEveryField() async throws {
        let server = try await startServer()
        let client = TallyClient(
            baseURL: server.baseURL, token: server.token,
            configuration: .init(batchSize: 10, flushInterval: .seconds(3_600)))
        let full = TallyEvent(
            id: "full-\(UUID().uuidString)",
            timestamp: Date(timeIntervalSince1970: 1_795_000_000.123),
            provider: "anthropic", model: "claude-sonnet-4-5", operation: .chat,
            inputTokens: 12_000, outputTokens: 900, cachedInputTokens: 8_000, cacheWriteInputTokens: 3_000,
            cacheWrite1hInputTokens: 1_000, reasoningTokens: 100, requests: 1,
            project: "web", feature: "support-bot", user: "u-42", apiKey: "…4f2a", environment: "prod",
            tags: ["team": "growth", "region": "eu"], status: .error, httpStatus: 529, errorType: "overloaded",
            latencyMs: 2_140, timeToFirstTokenMs: 310, streamed: true, retries: 2, finishReason: "stop",
            serviceTier: "standard", providerCostUSD: "0.0125")
        var sent = [full]
        for n in 1..<25 {
            sent.append(event(n))
        }
        for event in sent {
            await client.record(event)
        }
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 25)
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertEqual(stats.retried, 0)
        XCTAssertEqual(stats.queued, 0)
        XCTAssertLessThanOrEqual(stats.requests, 3, "25 events in batches of 10 take at most 3 requests")

        let stored = try await server.events()
        XCTAssertEqual(Set(stored.map(\.id)), Set(sent.map(\.id)))
        XCTAssertEqual(stored.count, 25)
        let byID = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0) })
        for event in sent.dropFirst() {
            let back = try XCTUnwrap(byID[event.id])
            XCTAssertEqual(back.inputTokens, event.inputTokens)
            XCTAssertEqual(back.outputTokens, event.outputTokens)
            XCTAssertEqual(back.timestamp.timeIntervalSince1970, event.timestamp.timeIntervalSince1970, accuracy: 0.001)
        }
        let back = try XCTUnwrap(byID[full.id])
        XCTAssertEqual(back.timestamp.timeIntervalSince1970, 1_795_000_000.123, accuracy: 0.0005)
        XCTAssertEqual(back.provider, "anthropic")
        XCTAssertEqual(back.model, "claude-sonnet-4-5")
        XCTAssertEqual(back.operation, .chat)
        XCTAssertEqual(back.inputTokens, 12_000)
        XCTAssertEqual(back.outputTokens, 900)
        XCTAssertEqual(back.cachedInputTokens, 8_000)
        XCTAssertEqual(back.cacheWriteInputTokens, 3_000)
        XCTAssertEqual(back.cacheWrite1hInputTokens, 1_000)
        XCTAssertEqual(back.reasoningTokens, 100)
        XCTAssertEqual(back.project, "web")
        XCTAssertEqual(back.feature, "support-bot")
        XCTAssertEqual(back.user, "u-42")
        XCTAssertEqual(back.apiKey, "…4f2a")
        XCTAssertEqual(back.environment, "prod")
        XCTAssertEqual(back.tags, ["team": "growth", "region": "eu"])
        XCTAssertEqual(back.status, .error)
        XCTAssertEqual(back.httpStatus, 529)
        XCTAssertEqual(back.errorType, "overloaded")
        XCTAssertEqual(back.latencyMs, 2_140)
        XCTAssertEqual(back.timeToFirstTokenMs, 310)
        XCTAssertEqual(back.streamed, true)
        XCTAssertEqual(back.retries, 2)
        XCTAssertEqual(back.finishReason, "stop")
        XCTAssertEqual(back.serviceTier, "standard")
        let providerCost = try XCTUnwrap(back.providerCostUSD)
        XCTAssertEqual(Decimal(string: providerCost), Decimal(string: "0.0125"))
    }

    /// The same ids flushed twice are stored once: the second time they are duplicates.
    func testSameIDsFlushedTwiceAreStoredOnce() async throws {
        let server = try await startServer()
        let client = TallyClient(baseURL: server.baseURL, token: server.token)
        let events = (0..<5).map { event($0) }
        await client.record(contentsOf: events)
        await client.flush()
        await client.record(contentsOf: events)
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 10)
        XCTAssertEqual(stats.duplicates, 5)
        XCTAssertEqual(stats.requests, 2)
        let stored = try await server.events()
        XCTAssertEqual(stored.count, 5)
        XCTAssertEqual(Set(stored.map(\.id)), Set(events.map(\.id)))
    }

    /// `run()` sends every interval without a flush, and a graceful shutdown sends what remained.
    func testRunSendsEveryIntervalAndFlushesOnGracefulShutdown() async throws {
        let server = try await startServer()
        let client = TallyClient(
            baseURL: server.baseURL, token: server.token,
            configuration: .init(flushInterval: .milliseconds(200)))
        let group = ServiceGroup(
            configuration: .init(services: [client], logger: Logger(label: "tests")))
        let running = Task { try await group.run() }

        let early = (0..<3).map { event($0) }
        await client.record(contentsOf: early)
        // No flush: the interval sends them.
        let deadline = ContinuousClock.now + .seconds(10)
        var stored: [TallyEvent] = []
        while ContinuousClock.now < deadline {
            stored = try await server.events()
            if stored.count == 3 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(Set(stored.map(\.id)), Set(early.map(\.id)), "the periodic flush sent the events")

        // Then a long interval: only the shutdown can send these.
        let late = (10..<17).map { event($0) }
        await client.record(contentsOf: late)
        await group.triggerGracefulShutdown()
        try await running.value
        let stats = await client.stats
        XCTAssertEqual(stats.sent, 10)
        XCTAssertEqual(stats.queued, 0)
        stored = try await server.events()
        XCTAssertEqual(Set(stored.map(\.id)), Set((early + late).map(\.id)))
    }

    /// Only the periodic tick is slow here: the shutdown flush alone must send the events.
    func testGracefulShutdownSendsWhatIsQueued() async throws {
        let server = try await startServer()
        let client = TallyClient(
            baseURL: server.baseURL, token: server.token,
            configuration: .init(flushInterval: .seconds(3_600)))
        let group = ServiceGroup(
            configuration: .init(services: [client], logger: Logger(label: "tests")))
        let running = Task { try await group.run() }
        let events = (0..<7).map { event($0) }
        await client.record(contentsOf: events)
        let before = try await server.events()
        XCTAssertEqual(before.count, 0, "nothing is sent before the shutdown")
        await group.triggerGracefulShutdown()
        try await running.value
        let after = try await server.events()
        XCTAssertEqual(Set(after.map(\.id)), Set(events.map(\.id)))
    }

    /// A 400 drops the event the server named (logged with the server's JSON error) and sends the others; nothing
    /// throws.
    func testInvalidEventIsDroppedAndTheRestSent() async throws {
        let server = try await startServer()
        let (logger, logs) = CapturingLogHandler.logger()
        let client = TallyClient(baseURL: server.baseURL, token: server.token, logger: logger)
        let good = (0..<4).map { event($0) }
        let bad = TallyEvent(provider: "Not A Provider!", model: "gpt-4o", inputTokens: 1)
        await client.record(good[0])
        await client.record(good[1])
        await client.record(bad)
        await client.record(good[2])
        await client.record(good[3])
        let stats = await client.flush()
        XCTAssertEqual(stats.dropped, 1)
        XCTAssertEqual(stats.sent, 4)
        XCTAssertEqual(stats.queued, 0)
        let stored = try await server.events()
        XCTAssertEqual(Set(stored.map(\.id)), Set(good.map(\.id)))
        let errors = logs.all.filter { $0.level == .error }
        XCTAssertEqual(errors.count, 1, "\(logs.all.map(\.message))")
        let quoted = errors.first?.metadata["tally.error"].map { "\($0)" } ?? ""
        XCTAssertTrue(quoted.contains("invalid_request"), quoted)
        XCTAssertTrue(quoted.contains("provider"), quoted)
    }

    /// A 4xx other than 429 for the whole batch (a wrong token: 401) drops it, counted, without throwing or retrying.
    func testRefusedBatchIsDroppedWithoutRetrying() async throws {
        let server = try await startServer()
        let (logger, logs) = CapturingLogHandler.logger()
        let client = TallyClient(baseURL: server.baseURL, token: "tly_not-a-real-token", logger: logger)
        await client.record(contentsOf: (0..<3).map { event($0) })
        let stats = await client.flush()
        XCTAssertEqual(stats.dropped, 3)
        XCTAssertEqual(stats.sent, 0)
        XCTAssertEqual(stats.retried, 0)
        XCTAssertEqual(stats.requests, 1)
        let error = try XCTUnwrap(logs.all.first { $0.level == .error })
        XCTAssertEqual(error.metadata["tally.status"].map { "\($0)" }, "401")
        XCTAssertTrue("\(error.metadata["tally.error"] ?? "")".contains("unauthorized"))
    }

    /// With the server down, the batch is retried until it comes back on the same port and data directory.
    func testRetriesThroughAServerOutage() async throws {
        let server = try await startServer()
        let client = TallyClient(
            baseURL: server.baseURL, token: server.token,
            configuration: .init(
                maxRetries: 100, backoffBase: .milliseconds(100), backoffCap: .milliseconds(300),
                requestTimeout: .seconds(2)))
        await server.stop()
        let events = (0..<5).map { event($0) }
        await client.record(contentsOf: events)
        let flushing = Task { await client.flush() }
        let deadline = ContinuousClock.now + .seconds(20)
        while await client.stats.retried < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let beforeRestart = await client.stats
        XCTAssertGreaterThanOrEqual(beforeRestart.retried, 2)
        XCTAssertEqual(beforeRestart.sent, 0)
        XCTAssertEqual(beforeRestart.queued, 5)
        try await server.serve()
        let stats = await flushing.value
        XCTAssertEqual(stats.sent, 5)
        XCTAssertEqual(stats.dropped, 0)
        let stored = try await server.events()
        XCTAssertEqual(Set(stored.map(\.id)), Set(events.map(\.id)))
    }
}
