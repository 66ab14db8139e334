import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TallyCore
import TallyHTTP
import TallyIngest
import TallyServices

/// Stores the gateway's events off the request path, through the ingest pipeline: each call's event is admitted and
/// priced by `IngestPipeline.recordable`, queued as the call finishes, and committed every `flushMilliseconds` by the
/// pipeline's `GroupCommitter` (the one the API's requests share), so recording never delays a response. On graceful
/// shutdown the queue is drained; on a crash at most one flush interval of calls is lost. `/metrics` shows
/// `tally_gateway_events_queued`, `tally_gateway_events_dropped_total` (dropped only when the queue passes `capacity`,
/// e.g. the database is down), `tally_gateway_events_failed_total` (events the database refused on their own: logged,
/// never retried, so one bad event cannot hold back every tenant's) and `tally_gateway_events_refused_total` (events
/// the rules refused even once admitted: logged, never stored; `EventRules.admit` leaves none today).
public final class GatewayRecorder<Store: ProjectStore & EventStore & SchemaStore>: Service, Sendable {
    package let store: Store
    package let pipeline: IngestPipeline<Store>
    package let logger: Logger
    package let flushMilliseconds: Int
    package let capacity: Int
    package let queue = Mutex<[StoredEvent]>([])
    package let queued = Gauge(label: "tally_gateway_events_queued")
    package let dropped = Counter(label: "tally_gateway_events_dropped_total")
    package let stored = Counter(label: "tally_gateway_events_stored_total")
    package let failed = Counter(label: "tally_gateway_events_failed_total")
    package let refused = Counter(label: "tally_gateway_events_refused_total")

    package init(pipeline: IngestPipeline<Store>, logger: Logger, flushMilliseconds: Int = 250, capacity: Int = 100_000)
    {
        self.store = pipeline.store
        self.pipeline = pipeline
        self.logger = logger
        self.flushMilliseconds = flushMilliseconds
        self.capacity = capacity
    }

    /// A recorder with a pipeline of its own: unpriced, one commit at a time.
    public convenience init(store: Store, logger: Logger, flushMilliseconds: Int = 250, capacity: Int = 100_000) {
        self.init(
            pipeline: IngestPipeline(store: store, pricer: NoPrices()), logger: logger,
            flushMilliseconds: flushMilliseconds,
            capacity: capacity)
    }

    /// Records a finished call charged to `token`'s project: see `IngestPipeline.recordable` for what it admits and
    /// prices. Answers the event as queued (its cost is what the call's guard ticket settles with), nil when the rules
    /// refused it. `free`: nothing went upstream (a guardrail answered), so it cost nothing: $0, not unpriced.
    @discardableResult
    package func record(
        _ event: UsageEvent, token: APIToken, usageKnown: Bool, ownTags: [String: String] = [:], free: Bool = false,
        seal: ((StoredEvent) -> SealedEventContent?)? = nil
    ) -> StoredEvent? {
        do {
            var stored = try pipeline.recordable(
                event, token: token, usageKnown: usageKnown, ownTags: ownTags, receivedAt: .now)
            if free {
                stored.cost = .zero
                stored.priceID = nil
            }
            // Sealed now that the event's id is final: the id is bound into the ciphertext.
            if let seal { stored.content = seal(stored) }
            record(stored)
            return stored
        } catch {
            refused.increment()
            // Ids and field names only: the values refused are the caller's or the upstream's data.
            let problems: [FieldProblem] = if case .invalid(let problems) = error { problems } else { [] }
            logger.error(
                "gateway event refused by the ingest rules; not stored",
                metadata: [
                    "organization": "\(token.organizationID)", "project": "\(token.projectID)",
                    "fields": "\(problems.map(\.field).joined(separator: ","))",
                ])
            return nil
        }
    }

    public func record(_ event: StoredEvent) {
        let accepted = queue.withLock { q -> Bool in
            guard q.count < capacity else { return false }
            q.append(event)
            return true
        }
        if accepted { queued.record(queue.withLock { $0.count }) } else { dropped.increment() }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(self.flushMilliseconds)) }
            await flush()
        }
        await flush()
    }

    /// Commits what is queued, one batch per organization, together (one transaction as far as the committer's group
    /// size allows). A batch that fails when the database answers is written one event at a time: the ones refused
    /// alone are counted and logged and the rest are stored. When the database does not answer, the events go back to
    /// the queue.
    public func flush() async {
        let batch = queue.withLock { q -> [StoredEvent] in
            let taken = q
            q.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty else { return }
        queued.record(queue.withLock { $0.count })
        let batches = Dictionary(grouping: batch, by: \.organizationID).map {
            EventBatch(organizationID: $0.key, events: $0.value)
        }
        var unstored: [StoredEvent] = []
        var lastError: (any Error)?
        for (sent, result) in zip(batches, await pipeline.committer.submitEach(batches)) {
            switch result {
            case .success: stored.increment(by: sent.events.count)
            case .failure(let error):
                unstored += sent.events
                lastError = error
            }
        }
        guard let lastError else { return }
        guard await store.isReady() else {
            logger.warning(
                "gateway events could not be stored; will retry",
                metadata: ["events": "\(unstored.count)", "error": "\(lastError)"])
            for event in unstored { record(event) }
            return
        }
        await storeOneByOne(unstored)
    }

    /// The fallback after a failed batch: a failure now belongs to the one event (PostgreSQL refusing a NUL byte, a
    /// total that would overflow), so that event is given up on and the others are stored.
    package func storeOneByOne(_ batch: [StoredEvent]) async {
        let results = await pipeline.committer.submitEach(
            batch.map { EventBatch(organizationID: $0.organizationID, events: [$0]) })
        for (event, result) in zip(batch, results) {
            switch result {
            case .success: stored.increment()
            case .failure(let error):
                failed.increment()
                // Ids and the error only: attribution values may be what was refused, and they are the caller's data.
                logger.error(
                    "gateway event refused by the store; not retried",
                    metadata: [
                        "organization": "\(event.organizationID)", "project": "\(event.projectID)",
                        "event": "\(event.event.id)",
                        "error": "\(error)",
                    ])
            }
        }
    }
}
