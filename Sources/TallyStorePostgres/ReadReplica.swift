import Foundation
import Logging
import PostgresNIO
import Synchronization
import TallyCore
import TallyStoreSQL

/// `TALLY_DATABASE_READ_URL` (issue 24): a PostgreSQL streaming replica that answers the reads that may lag
/// (`SQLDatabase.queryMayLag`: summaries, the events list, the performance report) while it is reachable and at most
/// `maxLag` behind. Everything else, writes and the reads that must see them, stays on the primary.
///
/// `monitor()` asks the replica every second how far its replay is behind; a lagging, unreachable or failing replica
/// sends every read to the primary until it has caught up again. A read the replica fails is asked of the primary
/// at once: falling back never fails a request.
public final class ReadReplica: Sendable {
    public let client: PostgresClient
    let maxLag: Duration
    let logger: Logger
    /// Whether reads go to the replica now, and the replay lag last measured (milliseconds; nil: unknown).
    let state = Mutex<(usable: Bool, lagMilliseconds: Int64?)>((false, nil))

    public init(client: PostgresClient, maxLag: Duration, logger: Logger) {
        self.client = client
        self.maxLag = maxLag
        self.logger = logger
    }

    public var isUsable: Bool { state.withLock { $0.usable } }
    public var lagMilliseconds: Int64? { state.withLock { $0.lagMilliseconds } }

    /// The replay lag in milliseconds: zero when everything received is replayed (an idle primary sends nothing),
    /// else the age of the last transaction replayed. -1: not a standby at all (a promoted one, another primary);
    /// -2: no WAL streaming from the primary (a standby whose link broke looks caught up forever otherwise). A status
    /// hidden from an unprivileged role is taken as streaming.
    static let lagQuery = PostgresQuery(
        unsafeSQL: """
            SELECT CAST(CASE WHEN NOT pg_is_in_recovery() THEN -1
                             WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver)
                               OR EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status <> 'streaming') THEN -2
                             WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                             ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 86400000)
                        END AS BIGINT) AS lag_ms
            """)

    /// How long a check may take before the replica counts as unreachable, and a read before the primary is asked.
    static let checkTimeout = Duration.seconds(2)
    static let readTimeout = Duration.seconds(10)

    /// Measures the lag once and decides where reads go.
    public func check() async {
        let lag =
            await Self.within(Self.checkTimeout) { [client, logger] () async throws -> Int64? in
                var lag: Int64?
                for try await row in try await client.query(Self.lagQuery, logger: logger) {
                    lag = try row.decode(Int64.self)
                }
                return lag
            } ?? nil
        let limit = maxLag.components.seconds * 1000 + maxLag.components.attoseconds / 1_000_000_000_000_000
        let usable = lag.map { (0...limit).contains($0) } ?? false
        let was = state.withLock { state in
            defer { state = (usable, lag) }
            return state.usable
        }
        if was != usable {
            if usable {
                logger.notice("the read replica has caught up: dashboard reads go to it")
            } else {
                let why =
                    switch lag {
                    case nil: "unreachable"
                    case -1: "not a standby"
                    case -2: "not streaming from the primary"
                    case let ms?: "\(ms) ms behind"
                    }
                logger.warning("the read replica is \(why): dashboard reads go to the primary")
            }
        }
    }

    /// `body`'s value, or nil when it throws or takes longer than `limit` (it is cancelled then).
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { try? await body() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Checks every second until cancelled (run beside the store's clients).
    public func monitor() async {
        while !Task.isCancelled {
            await check()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// The replica's answer, or nil when it is not to be asked, fails or is slower than `readTimeout` (the caller
    /// asks the primary).
    func query(_ statement: SQLStatement) async -> [SQLRow]? {
        guard isUsable else { return nil }
        let rows = await Self.within(Self.readTimeout) { [client, logger] () async throws -> [SQLRow] in
            var rows: [SQLRow] = []
            var columns: SQLColumns?
            for try await row in try await client.query(PostgresSQLDatabase.query(statement), logger: logger) {
                rows.append(try PostgresSQLDatabase.row(row, &columns))
            }
            return rows
        }
        if rows == nil {
            state.withLock { $0.usable = false }
            logger.warning("a read on the replica failed or timed out; reads go to the primary until it answers again")
        }
        return rows
    }
}
