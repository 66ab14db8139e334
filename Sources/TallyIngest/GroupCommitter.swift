import Synchronization
import TallyCore

/// Commits the batches of concurrent requests together: one transaction (one fsync) for many requests,
/// so single-event posts keep their throughput while each is acknowledged only after its commit. Every writer of
/// events goes through it: the API's requests (`submit`, answered once durable) and the gateway's recorder (`submitEach`,
/// one flush of many organizations' calls, each batch with its own result).
public actor GroupCommitter {
    public typealias Commit = @Sendable ([EventBatch]) async throws -> [InsertOutcome]

    struct Waiting {
        var batch: EventBatch
        var done: Completion
    }

    /// Who waits for a batch: one request, or one of the batches of a `submitEach`.
    enum Completion {
        case request(CheckedContinuation<InsertOutcome, any Error>)
        case part(Parts, Int)

        func resume(_ result: Result<InsertOutcome, any Error>) {
            switch self {
            case .request(let continuation): continuation.resume(with: result)
            case .part(let parts, let index): parts.finish(index, result)
            }
        }
    }

    /// The results of one `submitEach`, answered when the last of its batches is done.
    final class Parts: Sendable {
        let state: Mutex<(results: [Result<InsertOutcome, any Error>?], remaining: Int)>
        let continuation: CheckedContinuation<[Result<InsertOutcome, any Error>], Never>

        init(count: Int, continuation: CheckedContinuation<[Result<InsertOutcome, any Error>], Never>) {
            state = Mutex((Array(repeating: nil, count: count), count))
            self.continuation = continuation
        }

        func finish(_ index: Int, _ result: Result<InsertOutcome, any Error>) {
            let all = state.withLock { s -> [Result<InsertOutcome, any Error>]? in
                s.results[index] = result
                s.remaining -= 1
                return s.remaining == 0 ? s.results.map { $0! } : nil
            }
            if let all { continuation.resume(returning: all) }
        }
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
            waiting.append(Waiting(batch: batch, done: .request(continuation)))
            startNextGroup()
        }
    }

    /// Queues the batches together, so they share a transaction (as far as `maxEventsPerGroup` allows), and returns
    /// each one's result once all are done: a batch that fails (alone, after its group failed) fails only itself.
    package func submitEach(_ batches: [EventBatch]) async -> [Result<InsertOutcome, any Error>] {
        guard !batches.isEmpty else { return [] }
        return await withCheckedContinuation { continuation in
            let parts = Parts(count: batches.count, continuation: continuation)
            for (index, batch) in batches.enumerated() {
                waiting.append(Waiting(batch: batch, done: .part(parts, index)))
            }
            // More than one group's worth may be queued at once: start as many as may run.
            while inFlight < maxInFlight, !waiting.isEmpty { startNextGroup() }
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
            for (w, outcome) in zip(group, outcomes) { w.done.resume(.success(outcome)) }
        } catch {
            // One request's failure must not fail the others that shared its transaction: retry each alone.
            if group.count == 1 {
                group[0].done.resume(.failure(error))
            } else {
                for w in group {
                    do { w.done.resume(.success(try await commit([w.batch])[0])) } catch {
                        w.done.resume(.failure(error))
                    }
                }
            }
        }
        inFlight -= 1
        startNextGroup()
    }
}
