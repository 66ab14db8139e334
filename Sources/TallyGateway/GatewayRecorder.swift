import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import TallyCore
import TallyHTTP
import TallyServices

/// Stores the gateway's events off the request path: calls are queued as they finish and written in batches every
/// `flushMilliseconds`, so recording never delays a response. On graceful shutdown the queue is drained; on a crash
/// at most one flush interval of calls is lost. `/metrics` shows `tally_gateway_events_queued`,
/// `tally_gateway_events_dropped_total` (dropped only when the queue passes `capacity`, e.g. the database is down) and
/// `tally_gateway_events_failed_total` (events the database refused on their own: logged, never retried, so one bad
/// event cannot hold back every tenant's).
public final class GatewayRecorder<Store: TallyStore>: Service, Sendable {
    package let store: Store
    package let logger: Logger
    package let flushMilliseconds: Int
    package let capacity: Int
    package let queue = Mutex<[StoredEvent]>([])
    package let queued = Gauge(label: "tally_gateway_events_queued")
    package let dropped = Counter(label: "tally_gateway_events_dropped_total")
    package let stored = Counter(label: "tally_gateway_events_stored_total")
    package let failed = Counter(label: "tally_gateway_events_failed_total")

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

    /// Writes what is queued, grouped by organization, in one transaction. When that fails and the database answers,
    /// each event is written alone: the ones refused alone are counted and logged and the rest are stored. When the
    /// database does not answer, the events go back to the queue.
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
            guard await store.isReady() else {
                logger.warning("gateway events could not be stored; will retry", metadata: ["events": "\(batch.count)", "error": "\(error)"])
                for event in batch { record(event) }
                return
            }
            await storeOneByOne(batch)
        }
    }

    /// The fallback after a failed batch: a failure now belongs to the one event (PostgreSQL refusing a NUL byte, a
    /// total that would overflow), so that event is given up on and the others are stored.
    package func storeOneByOne(_ batch: [StoredEvent]) async {
        for event in batch {
            do {
                _ = try await store.insert([EventBatch(organizationID: event.organizationID, events: [event])])
                stored.increment()
            } catch {
                failed.increment()
                // Ids and the error only: attribution values may be what was refused, and they are the caller's data.
                logger.error("gateway event refused by the store; not retried", metadata: [
                    "organization": "\(event.organizationID)", "project": "\(event.projectID)", "event": "\(event.event.id)",
                    "error": "\(error)",
                ])
            }
        }
    }
}
