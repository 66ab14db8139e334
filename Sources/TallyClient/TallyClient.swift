import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Reports a Swift service's LLM calls to Tally (`POST /api/v1/events`, docs/api.md), in batches, in the background.
///
/// - `record(_:)` only queues: it never throws and never waits for the network. A full queue drops the event
///   (counted in ``Stats/dropped``, with a warning).
/// - Batches go out when `batchSize` events are queued, every `flushInterval` while ``run()`` runs, on ``flush()``,
///   and once more when the service group shuts down gracefully. One batch is in flight at a time, in the order the
///   events were recorded.
/// - 429, 5xx, connection errors and timeouts are retried with exponential backoff and jitter (or after the server's
///   `Retry-After`), up to `maxRetries` times; events carry their `id`, so a retry never counts an event twice.
/// - Any other 4xx drops what the server refused, logged at error level with the server's JSON error. On a 400
///   naming the events at fault (`details[].index`), only those are dropped and the rest is sent again.
public actor TallyClient: Service {
    public struct Configuration: Sendable {
        /// Events per request, 1–1,000 (the server takes at most 1,000). A full batch is sent at once.
        public var batchSize: Int
        /// How often ``TallyClient/run()`` sends what is queued.
        public var flushInterval: Duration
        /// Events waiting (the batch in flight included) beyond which `record` drops.
        public var maxQueue: Int
        /// Retries of one batch before it is dropped.
        public var maxRetries: Int
        /// The first retry waits about `backoffBase`, each next one twice as long, never more than `backoffCap`;
        /// each wait is between half and all of that (jitter).
        public var backoffBase: Duration
        public var backoffCap: Duration
        /// The longest a `Retry-After` is honoured for.
        public var maxRetryAfter: Duration
        /// One request, response included.
        public var requestTimeout: Duration
        // Every wait and timeout is used as at most `Int64.max` nanoseconds (about 292 years, what NIO's `TimeAmount`
        // holds) and at least zero: `.seconds(Int64.max)` means "as long as possible", it does not trap.

        public init(
            batchSize: Int = 100,
            flushInterval: Duration = .seconds(1),
            maxQueue: Int = 10_000,
            maxRetries: Int = 8,
            backoffBase: Duration = .milliseconds(250),
            backoffCap: Duration = .seconds(30),
            maxRetryAfter: Duration = .seconds(60),
            requestTimeout: Duration = .seconds(10)
        ) {
            self.batchSize = min(max(batchSize, 1), 1_000)
            self.flushInterval = flushInterval
            self.maxQueue = max(maxQueue, 1)
            self.maxRetries = max(maxRetries, 0)
            self.backoffBase = backoffBase
            self.backoffCap = backoffCap
            self.maxRetryAfter = maxRetryAfter
            self.requestTimeout = requestTimeout
        }
    }

    /// What the client has done so far.
    public struct Stats: Sendable, Hashable {
        /// Events the server acknowledged (stored, or already stored: `duplicates`).
        public var sent = 0
        /// Of `sent`, the events the server already had (an `id` sent before).
        public var duplicates = 0
        /// Events that will never be sent: the queue was full, the server refused them (4xx), or retries ran out.
        public var dropped = 0
        /// Requests sent again after a 429, a 5xx, a connection error or a timeout.
        public var retried = 0
        /// Requests made, retries included.
        public var requests = 0
        /// Events waiting, the batch in flight included.
        public var queued = 0

        public init() {}
    }

    private let eventsURL: String
    private let authorization: String
    private let configuration: Configuration
    private let httpClient: HTTPClient
    private let logger: Logger
    private let encoder = JSONEncoder()

    /// Oldest first; the batch in flight is its prefix and leaves it only once settled (sent or dropped).
    private var queue: [TallyEvent] = []
    /// Events ever queued, and of them those settled: `settled + queue.count == enqueued`.
    private var enqueued: UInt64 = 0
    private var settled: UInt64 = 0
    /// `flush()` asked for everything up to this.
    private var flushTarget: UInt64 = 0
    private var draining = false
    private var drainTask: Task<Void, Never>?
    private var waiters: [UInt64: (target: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
    private var nextWaiter: UInt64 = 0
    private var counters = Stats()
    /// Drops since the queue was last not full (one warning per episode, not one per event).
    private var queueFullDrops = 0

    /// - Parameters:
    ///   - baseURL: Tally's address, `https://tally.example.com` (the client posts to `/api/v1/events` under it).
    ///   - token: an API token with the `ingest` scope (`tally tokens create --project NAME --scopes ingest`).
    ///   - httpClient: defaults to `HTTPClient.shared`; one you pass stays yours to shut down (after the client).
    public init(
        baseURL: String,
        token: String,
        configuration: Configuration = Configuration(),
        httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "tally.client")
    ) {
        var base = baseURL
        while base.hasSuffix("/") {
            base.removeLast()
        }
        self.eventsURL = base + "/api/v1/events"
        self.authorization = "Bearer " + token
        self.configuration = configuration
        self.httpClient = httpClient
        self.logger = logger
    }

    /// The counters, and how many events wait now.
    public var stats: Stats {
        var stats = counters
        stats.queued = queue.count
        return stats
    }

    // MARK: Recording

    /// Queues an event. Never throws and never waits for the network: sending happens in the background. A full
    /// queue (`maxQueue`) drops the event, counted in ``Stats/dropped``.
    public func record(_ event: TallyEvent) {
        guard queue.count < configuration.maxQueue else {
            counters.dropped += 1
            queueFullDrops += 1
            if queueFullDrops == 1 {
                logger.warning(
                    "Tally queue full: dropping events until it drains",
                    metadata: ["tally.max_queue": "\(configuration.maxQueue)", "tally.dropped": "\(counters.dropped)"])
            }
            return
        }
        if queueFullDrops > 0 {
            logger.warning(
                "Tally queue no longer full", metadata: ["tally.dropped_while_full": "\(queueFullDrops)"])
            queueFullDrops = 0
        }
        queue.append(event)
        enqueued += 1
        if queue.count >= configuration.batchSize {
            startDraining()
        }
    }

    /// Queues events in order, as ``record(_:)`` does each.
    public func record(contentsOf events: some Sequence<TallyEvent>) {
        for event in events {
            record(event)
        }
    }

    /// Sends everything queued so far and returns once it is settled: acknowledged, or dropped after the retries
    /// (see ``Stats``). Never throws. Cancelling the caller stops the waiting, not the sending.
    @discardableResult
    public func flush() async -> Stats {
        let target = enqueued
        if settled < target {
            flushTarget = max(flushTarget, target)
            startDraining()
            await waitUntilSettled(target)
        }
        return stats
    }

    // MARK: Service

    /// Sends what is queued every `flushInterval` until graceful shutdown, then everything left. Add the client to
    /// the `ServiceGroup` before the services that record, so it shuts down after them. Cancelled, it stops at once
    /// (what was still queued is logged and lost).
    public func run() async throws {
        let interval = configuration.flushInterval.clampedWait
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    break
                }
                await self.flush()
            }
        }
        // Until nothing is left (events recorded meanwhile included), unless cancelled.
        repeat {
            await flush()
        } while !queue.isEmpty && !Task.isCancelled
        if !queue.isEmpty {
            drainTask?.cancel()
            logger.error(
                "Tally client stopped before sending every event",
                metadata: ["tally.unsent": "\(queue.count)"])
        }
    }

    // MARK: Sending

    private func startDraining() {
        guard !draining else { return }
        draining = true
        drainTask = Task { await self.drain() }
    }

    /// Sends batch after batch while a full batch is queued or a flush waits, one request at a time.
    private func drain() async {
        while let count = nextBatchSize(), !Task.isCancelled {
            await sendHead(count)
            resumeSatisfiedWaiters()
        }
        draining = false
        drainTask = nil
        // Stopped normally, every flush waiting is satisfied; cancelled, nothing more is sent for them: let them go.
        resumeSatisfiedWaiters(all: Task.isCancelled)
    }

    private func nextBatchSize() -> Int? {
        if queue.count >= configuration.batchSize {
            return configuration.batchSize
        }
        if !queue.isEmpty && flushTarget > settled {
            return queue.count
        }
        return nil
    }

    /// Sends the first `count` queued events until they are settled: acknowledged, or dropped.
    private func sendHead(_ count: Int) async {
        var limit = count
        var attempt = 0
        while limit > 0 {
            let batch = Array(queue.prefix(limit))
            let outcome = await post(batch)
            counters.requests += 1
            switch outcome {
            case .stored(let accepted, let duplicates):
                counters.sent += batch.count
                counters.duplicates += min(duplicates, batch.count)
                settle(batch.count)
                logger.trace(
                    "Tally batch stored",
                    metadata: ["tally.accepted": "\(accepted)", "tally.duplicates": "\(duplicates)"])
                return

            case .tooLarge(let body) where limit > 1:
                // More than the server takes in one body (1 MiB): the same events in smaller requests.
                limit = (limit + 1) / 2
                logger.notice(
                    "Tally batch too large, sending it in halves",
                    metadata: ["tally.events": "\(batch.count)", "tally.error": "\(body)"])

            case .invalid(let indices, let body) where indices.count < batch.count:
                // All or nothing: drop the events the server named, send the others again.
                logger.error(
                    "Tally refused events; dropping them and sending the rest again",
                    metadata: [
                        "tally.dropped_ids": "\(indices.sorted().map { batch[$0].id })",
                        "tally.error": "\(body)",
                    ])
                let kept = batch.enumerated().filter { !indices.contains($0.offset) }.map { $0.element }
                queue.replaceSubrange(0..<batch.count, with: kept)
                counters.dropped += indices.count
                settled += UInt64(indices.count)
                limit = kept.count

            case .tooLarge(let body), .invalid(_, let body), .rejected(_, let body):
                var metadata: Logger.Metadata = ["tally.events": "\(batch.count)", "tally.error": "\(body)"]
                if case .rejected(let status, _) = outcome {
                    metadata["tally.status"] = "\(status)"
                }
                logger.error("Tally refused a batch; its events are dropped", metadata: metadata)
                drop(batch.count)
                return

            case .retry(let reason, let retryAfter):
                guard attempt < configuration.maxRetries else {
                    logger.error(
                        "Tally unreachable after retries; the batch is dropped",
                        metadata: [
                            "tally.events": "\(batch.count)", "tally.attempts": "\(attempt + 1)",
                            "tally.error": "\(reason)",
                        ])
                    drop(batch.count)
                    return
                }
                attempt += 1
                counters.retried += 1
                let delay = (retryAfter.map { min($0, configuration.maxRetryAfter) } ?? backoff(attempt: attempt))
                    .clampedWait
                logger.warning(
                    "Tally request failed; retrying",
                    metadata: [
                        "tally.events": "\(batch.count)", "tally.attempt": "\(attempt)",
                        "tally.retry_in_ms": "\(Int(delay / .milliseconds(1)))",
                        "tally.error": "\(reason)",
                    ])
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return  // cancelled: the events stay queued
                }
            }
            if Task.isCancelled {
                return
            }
        }
    }

    private func settle(_ count: Int) {
        queue.removeFirst(count)
        settled += UInt64(count)
    }

    private func drop(_ count: Int) {
        counters.dropped += count
        settle(count)
    }

    /// The wait before retry `attempt` (1, 2, …): `backoffBase × 2^(attempt−1)` capped at `backoffCap`, of which
    /// a random half to all.
    private func backoff(attempt: Int) -> Duration {
        // Both clamped first: the doubling stays below twice `Duration.longestWait`, far from overflowing.
        let cap = configuration.backoffCap.clampedWait
        var delay = configuration.backoffBase.clampedWait
        var doubled = 1
        while doubled < attempt && delay < cap && delay > .zero {
            delay *= 2
            doubled += 1
        }
        delay = min(delay, cap)
        return delay * Double.random(in: 0.5...1)
    }

    private enum Outcome {
        case stored(accepted: Int, duplicates: Int)
        case retry(String, retryAfter: Duration?)
        case tooLarge(String)
        /// A 400 whose details name the events at fault by index (none of them: the whole batch is at fault).
        case invalid(Set<Int>, String)
        case rejected(Int, String)
    }

    private struct Body: Encodable {
        let events: [TallyEvent]
    }

    private struct Acknowledgement: Decodable {
        let accepted: Int
        let duplicates: Int
    }

    private struct ErrorEnvelope: Decodable {
        struct Detail: Decodable {
            let index: Int?
        }
        struct Problem: Decodable {
            let code: String
            let details: [Detail]?
        }
        let error: Problem
    }

    private func post(_ batch: [TallyEvent]) async -> Outcome {
        let data: Data
        do {
            data = try encoder.encode(Body(events: batch))
        } catch {
            return .rejected(0, "the events could not be encoded: \(error)")
        }
        var request = HTTPClientRequest(url: eventsURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Authorization", value: authorization)
        request.headers.add(name: "User-Agent", value: "tally-swift-client")
        request.body = .bytes(ByteBuffer(bytes: data))
        let status: HTTPResponseStatus
        let headers: HTTPHeaders
        let text: String
        do {
            let response = try await httpClient.execute(
                request, timeout: TimeAmount(saturating: configuration.requestTimeout.clampedWait), logger: logger)
            status = response.status
            headers = response.headers
            text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            return .retry(String(describing: error), retryAfter: nil)
        }
        switch status.code {
        case 200..<300:
            let ack = try? JSONDecoder().decode(Acknowledgement.self, from: Data(text.utf8))
            return .stored(accepted: ack?.accepted ?? batch.count, duplicates: ack?.duplicates ?? 0)
        case 408, 429, 500..<600:
            let retryAfter = headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
            return .retry("HTTP \(status.code): \(text.prefix(2_000))", retryAfter: retryAfter)
        case 413:
            return .tooLarge(String(text.prefix(2_000)))
        case 400:
            let envelope = try? JSONDecoder().decode(ErrorEnvelope.self, from: Data(text.utf8))
            let indices = envelope?.error.details?.map(\.index) ?? []
            let atFault = Set(indices.compactMap { $0 }.filter { batch.indices.contains($0) })
            // Salvage only when every problem names an event of this batch.
            let named =
                !atFault.isEmpty && indices.allSatisfy { index in index.map { batch.indices.contains($0) } ?? false }
            return .invalid(named ? atFault : Set(batch.indices), String(text.prefix(2_000)))
        default:
            return .rejected(Int(status.code), String(text.prefix(2_000)))
        }
    }

    /// `Retry-After`: delay-seconds or an HTTP-date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) {
            return .seconds(max(seconds, 0))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(max(Int(date.timeIntervalSinceNow * 1_000), 0))
    }

    // MARK: Waiting for a flush

    private func waitUntilSettled(_ target: UInt64) async {
        let id = nextWaiter
        nextWaiter += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if settled >= target || Task.isCancelled {
                    continuation.resume()
                } else {
                    waiters[id] = (target, continuation)
                }
            }
        } onCancel: {
            Task { await self.releaseWaiter(id) }
        }
    }

    private func releaseWaiter(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    private func resumeSatisfiedWaiters(all: Bool = false) {
        for (id, waiter) in waiters where all || waiter.target <= settled {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }
}

extension Duration {
    /// The longest the client waits for anything: `Int64.max` nanoseconds (about 292 years), what a `TimeAmount`
    /// holds and what a clock's "now" can be advanced by without overflowing.
    static let longestWait = Duration.nanoseconds(Int64.max)

    /// This duration as a wait: within `.zero...longestWait` (a negative one is no wait, a huge one the longest).
    var clampedWait: Duration {
        min(max(self, .zero), .longestWait)
    }
}

extension TimeAmount {
    /// `duration` in whole nanoseconds, saturated at `.nanoseconds(Int64.max)` (or `Int64.min`) instead of trapping
    /// on a duration a `TimeAmount` cannot hold (`requestTimeout: .seconds(Int64.max)`).
    init(saturating duration: Duration) {
        // `components` itself traps beyond `Int64.max` seconds (`.seconds(Int64.max) * 2`): compared first.
        if duration >= .longestWait {
            self = .nanoseconds(.max)
            return
        }
        if duration <= .nanoseconds(Int64.min) {
            self = .nanoseconds(.min)
            return
        }
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, overflowSum) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        self = .nanoseconds(overflow || overflowSum ? (seconds < 0 ? .min : .max) : sum)
    }
}
