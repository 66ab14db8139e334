import TallyCore

/// Commits the batches of concurrent requests together: one transaction (one fsync) for many requests,
/// so single-event posts keep their throughput while each is acknowledged only after its commit.
public actor GroupCommitter {
    public typealias Commit = @Sendable ([EventBatch]) async throws -> [InsertOutcome]

    struct Waiting {
        var batch: EventBatch
        var continuation: CheckedContinuation<InsertOutcome, any Error>
    }

    private let commit: Commit
    private let maxInFlight: Int
    private let maxEventsPerGroup: Int
    private var waiting: [Waiting] = []
    private var inFlight = 0

    /// `maxInFlight`: transactions run at once (1 for SQLite's single writer, a few for PostgreSQL).
    public init(maxInFlight: Int, maxEventsPerGroup: Int = 5000, commit: @escaping Commit) {
        self.commit = commit
        self.maxInFlight = maxInFlight
        self.maxEventsPerGroup = maxEventsPerGroup
    }

    /// Returns once the batch is committed (durable), or throws if it was not stored.
    public func submit(_ batch: EventBatch) async throws -> InsertOutcome {
        try await withCheckedThrowingContinuation { continuation in
            waiting.append(Waiting(batch: batch, continuation: continuation))
            startNextGroup()
        }
    }

    private func startNextGroup() {
        guard inFlight < maxInFlight, !waiting.isEmpty else { return }
        var events = 0
        var take = 0
        while take < waiting.count, take == 0 || events + waiting[take].batch.events.count <= maxEventsPerGroup {
            events += waiting[take].batch.events.count
            take += 1
        }
        let group = Array(waiting.prefix(take))
        waiting.removeFirst(take)
        inFlight += 1
        Task { await self.run(group) }
    }

    private func run(_ group: [Waiting]) async {
        do {
            let outcomes = try await commit(group.map(\.batch))
            for (w, outcome) in zip(group, outcomes) { w.continuation.resume(returning: outcome) }
        } catch {
            // One request's failure must not fail the others that shared its transaction: retry each alone.
            if group.count == 1 {
                group[0].continuation.resume(throwing: error)
            } else {
                for w in group {
                    do { w.continuation.resume(returning: try await commit([w.batch])[0]) } catch { w.continuation.resume(throwing: error) }
                }
            }
        }
        inFlight -= 1
        startNextGroup()
    }
}
