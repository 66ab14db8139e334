import Logging
import ServiceLifecycle
import TallyCore

/// Beside `tally serve` on PostgreSQL (issue 24): converts an events table made before partitioning, batch by batch
/// (each a short transaction; ingest waits at most one batch), then keeps the next months' partitions made ahead,
/// hourly. Replicas may all run it: a batch is copied once, a partition made once.
package struct EventPartitioningService<Store: EventPartitioningStore>: Service {
    package let store: Store
    package let batch: Int
    /// Partitions are made this far ahead.
    package let ahead: Int64 = 62 * 86_400
    package let logger: Logger

    package init(store: Store, batch: Int = 10_000, logger: Logger) {
        self.store = store
        self.batch = batch
        self.logger = logger
    }

    package func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = 3600
            do {
                if try await convert() == .notApplicable {
                    // SQLite: nothing to do, ever; stay until shutdown (a service that returns ends the group).
                    try? await gracefulShutdown()
                    return
                }
                try await store.prepareEventPartitions(through: Instant.now.adding(seconds: ahead))
                failures = 0
            } catch {
                // A batch that gave up waiting for its locks, or a database restarting: soon again, then less often.
                failures += 1
                wait = min(3600, 5 << min(failures, 9))
                logger.warning(
                    "event partitioning failed; will retry", metadata: ["error": "\(error)", "in_seconds": "\(wait)"])
            }
            let seconds = wait
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
        }
    }

    /// Runs the conversion's steps until it is finished (or the store has nothing to convert).
    func convert() async throws -> EventPartitioningStep {
        var copied = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let step = try await store.partitionEventsStep(batch: batch)
            switch step {
            case .copied(let n):
                copied += n
                if copied / 1_000_000 != (copied - n) / 1_000_000 {
                    logger.notice("partitioning events", metadata: ["copied": "\(copied)"])
                }
                await Task.yield()
            case .finished:
                if copied > 0 { logger.notice("events partitioned by month", metadata: ["copied": "\(copied)"]) }
                return step
            case .notApplicable:
                return step
            }
        }
        return .copied(0)
    }
}
