/// How long raw events and rollups are kept (TALLY_EVENT_RETENTION_DAYS, TALLY_ROLLUP_RETENTION_DAYS; nil: for
/// ever). Cut-offs fall on a UTC midnight, so every hourly and daily rollup bucket is either wholly kept or wholly
/// gone, and a summary of whole days reads the same before and after raw events are trimmed.
public struct RetentionPolicy: Sendable, Equatable {
    public var eventDays: Int?
    public var rollupDays: Int?

    public init(eventDays: Int? = nil, rollupDays: Int? = nil) {
        self.eventDays = eventDays
        self.rollupDays = rollupDays
    }

    public var keepsEverything: Bool { eventDays == nil && rollupDays == nil }

    /// Raw events before this go (rollups past their own limit take their events with them: an event is never kept
    /// without the rollup that counts it).
    public func eventCutoff(now: Instant) -> Instant? {
        [eventDays, rollupDays].compactMap { $0.map { Self.cutoff(days: $0, now: now) } }.max()
    }

    public func rollupCutoff(now: Instant) -> Instant? {
        rollupDays.map { Self.cutoff(days: $0, now: now) }
    }

    /// The UTC midnight `days` whole days before today's.
    static func cutoff(days: Int, now: Instant) -> Instant {
        let day: Int64 = 86_400_000_000
        let today = now.microseconds >= 0 ? now.microseconds / day : (now.microseconds - day + 1) / day
        return Instant(microseconds: (today - Int64(days)) * day)
    }
}

/// Where kept data begins once retention has trimmed it (nil: nothing trimmed yet).
public struct RetentionBoundaries: Sendable, Equatable {
    public var rawEventsFrom: Instant?
    public var rollupsFrom: Instant?
    public init(rawEventsFrom: Instant? = nil, rollupsFrom: Instant? = nil) {
        self.rawEventsFrom = rawEventsFrom
        self.rollupsFrom = rollupsFrom
    }
}

public protocol RetentionStore: Sendable {
    /// Records where kept data begins (a boundary only moves forward). Recorded before deleting, so a reader never
    /// takes a half-trimmed period for a complete one.
    func recordRetentionBoundaries(_ boundaries: RetentionBoundaries) async throws
    func retentionBoundaries() async throws -> RetentionBoundaries
    /// Deletes at most `limit` raw events of the organization timestamped before `before`, with their captured
    /// bodies, in one transaction; the rollups stay. Returns how many went (fewer than `limit`: none are left).
    func deleteRawEvents(organizationID: String, before: Instant, limit: Int) async throws -> Int
    /// Where raw events are kept in whole periods (PostgreSQL's monthly partitions), drops those wholly before
    /// `before`, with their captured bodies; returns how many events went (0 where there are none).
    func dropRawEventPartitions(before: Instant) async throws -> Int
    /// Deletes the hourly, daily and performance rollup rows of buckets before `before` (a UTC midnight).
    func deleteRollups(before: Instant) async throws -> Int
    /// Gives freed pages back to the file system where the database needs asking (SQLite's incremental vacuum).
    func reclaimSpace() async throws
    /// Every organization's id (retention runs over each, along its index).
    func organizationIDs() async throws -> [String]
}

/// One step of converting PostgreSQL's events table to monthly partitions in place (issue 24).
public enum EventPartitioningStep: Sendable, Equatable {
    /// The store keeps events in one table (SQLite).
    case notApplicable
    /// Events are partitioned.
    case finished
    /// This many events were copied into the partitioned table; more remain.
    case copied(Int)
}

public protocol EventPartitioningStore: Sendable {
    /// Creates the monthly partitions from this month through the one holding `through`, where events are
    /// partitioned; nothing elsewhere.
    func prepareEventPartitions(through: Instant) async throws
    /// Copies the next `batch` events of a table made before partitioning into the partitioned one, or, when at
    /// most `batch` remain, copies them and puts the partitioned table in the old one's place. Resumable: progress is
    /// stored with each batch, and replicas may run it at once.
    func partitionEventsStep(batch: Int) async throws -> EventPartitioningStep
}
