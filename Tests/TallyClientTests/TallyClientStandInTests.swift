import Foundation
import Logging
import NIOHTTP1
import TallyClient
import XCTest

/// What a real Tally cannot be made to do on demand (429 with Retry-After, 503s), against a NIO stand-in.
final class TallyClientStandInTests: XCTestCase {
    private var standIn: StandIn?

    override func tearDown() async throws {
        await standIn?.stop()
        standIn = nil
    }

    private func start(_ script: [StandIn.Response]) async throws -> StandIn {
        let standIn = try await StandIn.start(script: script)
        self.standIn = standIn
        return standIn
    }

    private func event(_ n: Int) -> TallyEvent {
        TallyEvent(provider: "openai", model: "gpt-4o", inputTokens: n, outputTokens: 1)
    }

    /// A 429 with `Retry-After: 1` waits a second before the retry, though the backoff alone would wait 10 ms.
    func testRetryAfterIsHonoured() async throws {
        let standIn = try await start([.tooManyRequests(retryAfter: "1"), .acknowledge])
        let client = TallyClient(
            baseURL: standIn.baseURL + "/", token: "tly_test",
            configuration: .init(backoffBase: .milliseconds(10), backoffCap: .milliseconds(10)))
        let events = (0..<3).map { event($0) }
        await client.record(contentsOf: events)
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 3)
        XCTAssertEqual(stats.retried, 1)
        XCTAssertEqual(stats.requests, 2)
        let received = standIn.received
        XCTAssertEqual(received.count, 2)
        guard received.count == 2 else { return }
        let gap = received[1].at - received[0].at
        XCTAssertGreaterThanOrEqual(gap, .milliseconds(950), "waited \(gap) after Retry-After: 1")
        XCTAssertLessThan(gap, .seconds(5))
        // Both attempts carry the same events with the same ids (so the server can deduplicate).
        XCTAssertEqual(received[0].eventIDs, events.map(\.id))
        XCTAssertEqual(received[1].eventIDs, events.map(\.id))
        XCTAssertEqual(received[0].method, .POST)
        XCTAssertEqual(received[0].uri, "/api/v1/events")
        XCTAssertEqual(received[0].headers.first(name: "Authorization"), "Bearer tly_test")
        XCTAssertEqual(received[0].headers.first(name: "Content-Type"), "application/json")
    }

    /// 5xx answers are retried with backoff; past `maxRetries` the batch is dropped, counted, and flush returns.
    func testServerErrorsAreRetriedThenTheBatchDropped() async throws {
        let standIn = try await start([.unavailable])
        let (logger, logs) = CapturingLogHandler.logger()
        let client = TallyClient(
            baseURL: standIn.baseURL, token: "tly_test",
            configuration: .init(maxRetries: 3, backoffBase: .milliseconds(20), backoffCap: .milliseconds(50)),
            logger: logger)
        await client.record(contentsOf: (0..<4).map { event($0) })
        let stats = await client.flush()
        XCTAssertEqual(stats.requests, 4)
        XCTAssertEqual(stats.retried, 3)
        XCTAssertEqual(stats.dropped, 4)
        XCTAssertEqual(stats.sent, 0)
        XCTAssertEqual(stats.queued, 0)
        XCTAssertEqual(standIn.received.count, 4)
        XCTAssertEqual(logs.all.filter { $0.level == .warning }.count, 3)
        let error = try XCTUnwrap(logs.all.first { $0.level == .error })
        XCTAssertTrue("\(error.metadata["tally.error"] ?? "")".contains("unavailable"))
    }

    /// A 503 then success: the events arrive once the server answers.
    func testServerErrorThenSuccess() async throws {
        let standIn = try await start([.unavailable, .unavailable, .acknowledge])
        let client = TallyClient(
            baseURL: standIn.baseURL, token: "tly_test",
            configuration: .init(backoffBase: .milliseconds(10), backoffCap: .milliseconds(20)))
        await client.record(contentsOf: (0..<2).map { event($0) })
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 2)
        XCTAssertEqual(stats.retried, 2)
        XCTAssertEqual(stats.dropped, 0)
    }

    /// Batches leave in the order the events were recorded, full batches without a flush, one request at a time.
    func testBatchesKeepTheOrderAndGoOneAtATime() async throws {
        let standIn = try await start([.acknowledge])
        let client = TallyClient(
            baseURL: standIn.baseURL, token: "tly_test",
            configuration: .init(batchSize: 7, flushInterval: .seconds(3_600)))
        let events = (0..<50).map { event($0) }
        for event in events {
            await client.record(event)
        }
        // 49 of them make 7 full batches, sent without a flush.
        let deadline = ContinuousClock.now + .seconds(10)
        while await client.stats.sent < 49 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let beforeFlush = await client.stats
        XCTAssertEqual(beforeFlush.sent, 49)
        XCTAssertEqual(beforeFlush.queued, 1)
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 50)
        XCTAssertEqual(stats.requests, 8)
        let received = standIn.received
        XCTAssertEqual(received.flatMap(\.eventIDs), events.map(\.id))
        XCTAssertEqual(received.map(\.eventIDs.count), [7, 7, 7, 7, 7, 7, 7, 1])
    }

    /// A full queue drops (counted, one warning), and `record` never throws or blocks.
    func testFullQueueDrops() async throws {
        let standIn = try await start([.acknowledge])
        let (logger, logs) = CapturingLogHandler.logger()
        let client = TallyClient(
            baseURL: standIn.baseURL, token: "tly_test",
            configuration: .init(batchSize: 100, maxQueue: 3), logger: logger)
        let events = (0..<6).map { event($0) }
        await client.record(contentsOf: events)
        var stats = await client.stats
        XCTAssertEqual(stats.queued, 3)
        XCTAssertEqual(stats.dropped, 3)
        XCTAssertEqual(logs.all.filter { $0.level == .warning }.count, 1)
        stats = await client.flush()
        XCTAssertEqual(stats.sent, 3)
        XCTAssertEqual(standIn.received.flatMap(\.eventIDs), events.prefix(3).map(\.id))
    }

    /// Cancelled (not a graceful shutdown), `run()` returns at once, even mid-retry, and logs what it leaves unsent.
    func testCancelledRunStopsAtOnce() async throws {
        let standIn = try await start([.unavailable])
        let (logger, logs) = CapturingLogHandler.logger()
        let client = TallyClient(
            baseURL: standIn.baseURL, token: "tly_test",
            configuration: .init(
                flushInterval: .milliseconds(50), maxRetries: 1_000, backoffBase: .seconds(30),
                backoffCap: .seconds(30)),
            logger: logger)
        await client.record(contentsOf: (0..<3).map { event($0) })
        let running = Task { try await client.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while standIn.received.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(standIn.received.count, 1, "the first attempt was made; the retry waits 15-30 s")
        let cancelled = ContinuousClock.now
        running.cancel()
        try await running.value
        XCTAssertLessThan(ContinuousClock.now - cancelled, .seconds(2))
        let stats = await client.stats
        XCTAssertEqual(stats.queued, 3)
        XCTAssertEqual(stats.sent, 0)
        let error = try XCTUnwrap(logs.all.first { $0.level == .error })
        XCTAssertEqual(error.metadata["tally.unsent"].map { "\($0)" }, "3")
    }

    /// A flush with nothing queued makes no request.
    func testFlushWithNothingQueuedSendsNothing() async throws {
        let standIn = try await start([.acknowledge])
        let client = TallyClient(baseURL: standIn.baseURL, token: "tly_test")
        let stats = await client.flush()
        XCTAssertEqual(stats, TallyClient.Stats())
        XCTAssertEqual(standIn.received.count, 0)
    }

    /// A 413 sends the same events again in halves.
    func testTooLargeIsSplit() async throws {
        let tooLarge = StandIn.Response(
            status: .payloadTooLarge,
            body: #"{"error":{"code":"payload_too_large","message":"more than 1 MiB","details":[]}}"#)
        let standIn = try await start([tooLarge, .acknowledge])
        let client = TallyClient(baseURL: standIn.baseURL, token: "tly_test")
        let events = (0..<4).map { event($0) }
        await client.record(contentsOf: events)
        let stats = await client.flush()
        XCTAssertEqual(stats.sent, 4)
        XCTAssertEqual(stats.dropped, 0)
        XCTAssertEqual(standIn.received.map(\.eventIDs.count), [4, 2, 2])
        XCTAssertEqual(standIn.received.dropFirst().flatMap(\.eventIDs), events.map(\.id))
    }
}

/// The wire format, without a server.
final class TallyEventTests: XCTestCase {
    func testEncodesTheAPIShape() throws {
        let event = TallyEvent(
            id: "req-1", timestamp: Date(timeIntervalSince1970: 1_795_000_000.5), provider: "anthropic",
            model: "claude-sonnet-4-5", operation: .audioTranscription, inputTokens: 12, outputTokens: 0,
            cacheWrite1hInputTokens: 3, apiKey: "…abcd", tags: ["a": "b"], status: .success, httpStatus: 200,
            latencyMs: 5, timeToFirstTokenMs: 2, streamed: false, providerCostUSD: "0.000000001")
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970  // ignored: the timestamp is always RFC 3339
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: try encoder.encode(event)) as? [String: Any])
        XCTAssertEqual(object["id"] as? String, "req-1")
        XCTAssertEqual(object["timestamp"] as? String, "2026-11-18T11:06:40.500Z")
        XCTAssertEqual(object["operation"] as? String, "audio_transcription")
        XCTAssertEqual(object["input_tokens"] as? Int, 12)
        XCTAssertNil(object["output_tokens"], "zero counts are left to the server's default")
        XCTAssertNil(object["requests"])
        XCTAssertEqual(object["cache_write_1h_input_tokens"] as? Int, 3)
        XCTAssertEqual(object["api_key"] as? String, "…abcd")
        XCTAssertEqual(object["http_status"] as? Int, 200)
        XCTAssertEqual(object["time_to_first_token_ms"] as? Int, 2)
        XCTAssertEqual(object["streamed"] as? Bool, false)
        XCTAssertEqual(object["provider_cost_usd"] as? String, "0.000000001")
        XCTAssertEqual(object["tags"] as? [String: String], ["a": "b"])
        XCTAssertNil(object["user"])
        XCTAssertEqual(try JSONDecoder().decode(TallyEvent.self, from: try encoder.encode(event)), event)
    }

    /// Milliseconds are rounded, not truncated: a Double cannot hold .123 exactly.
    func testTimestampsKeepTheirMilliseconds() throws {
        for (seconds, text) in [
            (1_795_000_000.123, "2026-11-18T11:06:40.123Z"), (1_795_000_000.9996, "2026-11-18T11:06:41.000Z"),
            (1_795_000_000.0, "2026-11-18T11:06:40.000Z"), (-0.5, "1969-12-31T23:59:59.500Z"),
        ] {
            let event = TallyEvent(id: "x", timestamp: Date(timeIntervalSince1970: seconds), provider: "p", model: "m")
            let object = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(event)) as? [String: Any]
            XCTAssertEqual(object?["timestamp"] as? String, text)
        }
    }

    func testGeneratedIDsAreUniqueAndKeptByCopies() {
        let a = TallyEvent(provider: "openai", model: "gpt-4o")
        let b = TallyEvent(provider: "openai", model: "gpt-4o")
        XCTAssertNotEqual(a.id, b.id)
        XCTAssertEqual(UUID(uuidString: a.id)?.uuidString.lowercased(), a.id)
        let copy = a
        XCTAssertEqual(copy.id, a.id)
    }

    func testReadsTimestampsWithAndWithoutFractions() throws {
        for (text, seconds) in [
            ("2026-11-20T10:15:00Z", 1_795_169_700.0), ("2026-11-20T10:15:00.25Z", 1_795_169_700.25),
            ("2026-11-20T11:15:00+01:00", 1_795_169_700.0), ("2026-11-20T10:15:00.123456Z", 1_795_169_700.123456),
        ] {
            let json = #"{"id":"x","timestamp":"\#(text)","provider":"openai","model":"m"}"#
            let event = try JSONDecoder().decode(TallyEvent.self, from: Data(json.utf8))
            XCTAssertEqual(event.timestamp.timeIntervalSince1970, seconds, accuracy: 0.001, text)
            XCTAssertEqual(event.requests, 1)
            XCTAssertEqual(event.inputTokens, 0)
        }
    }
}
