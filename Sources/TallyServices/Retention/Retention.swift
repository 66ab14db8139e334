import Logging
import ServiceLifecycle
import TallyCore

/// TALLY_EVENT_RETENTION_DAYS and TALLY_ROLLUP_RETENTION_DAYS (issue 24): raw events older than the limit are
/// deleted in chunks (each its own short transaction, so ingest never waits long), the rollups that count them stay,
/// so every summary of whole days over the trimmed period reads as before. Rollups past their own limit go too.
/// The boundaries are recorded first: the events list says where raw data ends from the moment trimming starts.
package struct Retention<Store: RetentionStore>: Sendable {
    package struct Outcome: Sendable, Equatable {
        package var eventsDeleted = 0
        package var rollupRowsDeleted = 0
        package var boundaries = RetentionBoundaries()
    }

    package let store: Store
    package let policy: RetentionPolicy
    /// Events per delete transaction.
    package let chunk: Int

    package init(store: Store, policy: RetentionPolicy, chunk: Int = 5_000) {
        self.store = store
        self.policy = policy
        self.chunk = chunk
    }

    /// Applies the policy once, as of `now`.
    package func apply(now: Instant = .now) async throws -> Outcome {
        var outcome = Outcome()
        let boundaries = RetentionBoundaries(
            rawEventsFrom: policy.eventCutoff(now: now), rollupsFrom: policy.rollupCutoff(now: now))
        guard boundaries.rawEventsFrom != nil || boundaries.rollupsFrom != nil else { return outcome }
        try await store.recordRetentionBoundaries(boundaries)
        outcome.boundaries = boundaries
        if let cutoff = boundaries.rawEventsFrom {
            outcome.eventsDeleted += try await store.dropRawEventPartitions(before: cutoff)
            for organization in try await store.organizationIDs() {
                while !Task.isCancelled {
                    let deleted = try await store.deleteRawEvents(
                        organizationID: organization, before: cutoff, limit: chunk)
                    outcome.eventsDeleted += deleted
                    if deleted < chunk { break }
                    await Task.yield()
                }
            }
        }
        if let cutoff = boundaries.rollupsFrom {
            outcome.rollupRowsDeleted = try await store.deleteRollups(before: cutoff)
        }
        if outcome.eventsDeleted > 0 || outcome.rollupRowsDeleted > 0 { try await store.reclaimSpace() }
        return outcome
    }
}

/// Runs `Retention` at start and then hourly, beside `tally serve` (only when a limit is set). Replicas sharing a
/// PostgreSQL database may all run it: a row deleted twice is deleted once.
package struct RetentionService<Store: RetentionStore>: Service {
    package let retention: Retention<Store>
    package let logger: Logger

    package init(retention: Retention<Store>, logger: Logger) {
        self.retention = retention
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let outcome = try await retention.apply()
                if outcome.eventsDeleted > 0 || outcome.rollupRowsDeleted > 0 {
                    logger.notice(
                        "retention applied",
                        metadata: [
                            "events_deleted": "\(outcome.eventsDeleted)",
                            "rollup_rows_deleted": "\(outcome.rollupRowsDeleted)",
                            "raw_events_from": "\(outcome.boundaries.rawEventsFrom?.rfc3339 ?? "-")",
                        ])
                }
            } catch {
                logger.warning("retention failed; will retry", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
