import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TallyCore

/// Stores the gateway's events off the request path: calls are queued as they finish and written in batches every
/// `flushMilliseconds`, so recording never delays a response. On graceful shutdown the queue is drained; on a crash
/// at most one flush interval of calls is lost. `/metrics` shows `tally_gateway_events_queued` and
/// `tally_gateway_events_dropped_total` (dropped only when the queue passes `capacity`, e.g. the database is down).
public final class GatewayRecorder<Store: TallyStore>: Service, Sendable {
    let store: Store
    let logger: Logger
    let flushMilliseconds: Int
    let capacity: Int
    let queue = Mutex<[StoredEvent]>([])
    let queued = Gauge(label: "tally_gateway_events_queued")
    let dropped = Counter(label: "tally_gateway_events_dropped_total")
    let stored = Counter(label: "tally_gateway_events_stored_total")

    public init(store: Store, logger: Logger, flushMilliseconds: Int = 250, capacity: Int = 100_000) {
        self.store = store
        self.logger = logger
        self.flushMilliseconds = flushMilliseconds
        self.capacity = capacity
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

    /// Writes what is queued, grouped by organization; on a store failure the events go back to the queue.
    public func flush() async {
        let batch = queue.withLock { q -> [StoredEvent] in
            let taken = q
            q.removeAll(keepingCapacity: true)
            return taken
        }
        guard !batch.isEmpty else { return }
        queued.record(queue.withLock { $0.count })
        let byOrganization = Dictionary(grouping: batch, by: \.organizationID)
        do {
            _ = try await store.insert(byOrganization.map { EventBatch(organizationID: $0.key, events: $0.value) })
            stored.increment(by: batch.count)
        } catch {
            logger.warning("gateway events could not be stored; will retry", metadata: ["events": "\(batch.count)", "error": "\(error)"])
            for event in batch { record(event) }
        }
    }
}
