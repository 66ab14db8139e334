import Logging
import ServiceLifecycle
import Synchronization
import TallyCore

/// How often and how far back the provider sync reads.
public struct SyncSchedule: Sendable, Equatable {
    /// Between two passes over the connections (TALLY_SYNC_INTERVAL, default 1 h).
    public var intervalSeconds: Int64 = 3600
    /// Each scheduled run re-reads this many days, because providers finalize late.
    public var rereadDays: Int64 = 3
    /// A connection's first run reads this far back (TALLY_SYNC_BACKFILL_DAYS, default 30, at most 365).
    public var backfillDays: Int64 = 30
    /// How long a replica's claim on a connection lasts if it dies mid-run; renewed after every page.
    public var leaseSeconds: Int64 = SyncLease.seconds
    /// `TALLY_SYNC_INTERVAL=off`: no background sync (runs only through the API or `tally sync run`).
    public var enabled = true
    public init() {}
}

/// Pulls every connection that has an admin key, each interval: a backfill the first time, then the last few days.
/// A lease in the database makes one replica sync a connection at a time; a new connection wakes it at once.
public final class SyncService<Store: SyncStore>: Service, Sendable {
    package let store: Store
    package let runner: SyncRunner<Store>
    package let schedule: SyncSchedule
    package let logger: Logger
    /// Who holds leases: this process.
    package let holder = Identifier.make("replica")
    package let wakeups: AsyncStream<Void>
    package let wakeup: AsyncStream<Void>.Continuation

    public init(store: Store, runner: SyncRunner<Store>, schedule: SyncSchedule, logger: Logger) {
        self.store = store
        self.runner = runner
        self.schedule = schedule
        self.logger = logger
        (wakeups, wakeup) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a pass now (a connection was added or got a new key).
    public func wake() { wakeup.yield() }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wakeups] in
                // Wakes the loop below early; ends with the service.
                for await _ in wakeups.cancelOnGracefulShutdown() { self.pending.store(true, ordering: .relaxed) }
            }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                await pass()
                var waited: Int64 = 0
                while waited < schedule.intervalSeconds, !pending.load(ordering: .relaxed),
                    !Task.isShuttingDownGracefully
                {
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
                    waited += 1
                }
                pending.store(false, ordering: .relaxed)
            }
            group.cancelAll()
        }
    }

    package let pending = Atomic<Bool>(false)

    package func syncIfDue(_ c: ProviderConnection, now: Instant) async throws {
        let runs = try await store.syncRuns(organizationID: c.organizationID, connectionID: c.id, limit: 20)
        let synced = runs.contains { $0.status == .succeeded }
        // Pulled within this interval already (by this replica or another): skip, so each bucket is fetched once.
        if let last = runs.first(where: { $0.trigger != .manual }),
            now.microseconds - last.startedAt.microseconds < schedule.intervalSeconds * 800_000
        {
            return
        }
        let days = synced ? schedule.rereadDays : schedule.backfillDays
        _ = try await runner.run(
            c, from: now.adding(seconds: -days * 86_400), to: now, trigger: synced ? .schedule : .backfill,
            leaseHolder: holder)
    }

    /// One pass: each connection that can be synced, under its lease.
    package func pass() async {
        let connections: [ProviderConnection]
        do { connections = try await store.syncableConnections() } catch {
            logger.warning("provider sync could not list connections; will retry", metadata: ["error": "\(error)"])
            return
        }
        for c in connections where !Task.isShuttingDownGracefully {
            if case .adminKeyRejected = c.health { continue }
            let now = Instant.now
            do {
                _ = try await runner.runLeased(c.id, holder: holder, seconds: schedule.leaseSeconds, now: now) {
                    try await syncIfDue(c, now: now)
                }
            } catch {
                logger.warning(
                    "provider sync of a connection failed", metadata: ["connection": "\(c.id)", "error": "\(error)"])
            }
        }
    }
}

extension SyncRunner {
    /// Runs `body` holding the connection's sync lease as `holder` (one holder per connection across replicas and
    /// the CLI; the runner renews it after each page). nil, and `body` not run, while another holder has it. The
    /// lease is released however `body` ends, a throw included.
    public func runLeased<T: Sendable>(
        _ connectionID: String, holder: String, seconds: Int64 = SyncLease.seconds,
        now: Instant = .now, _ body: () async throws -> T
    ) async throws -> T? {
        guard
            try await store.acquireSyncLease(
                connectionID: connectionID, holder: holder, until: now.adding(seconds: seconds), now: now)
        else { return nil }
        let result: T
        do {
            result = try await body()
        } catch {
            try? await store.releaseSyncLease(connectionID: connectionID, holder: holder)
            throw error
        }
        try await store.releaseSyncLease(connectionID: connectionID, holder: holder)
        return result
    }
}
