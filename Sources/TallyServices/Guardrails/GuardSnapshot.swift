import Synchronization
import TallyCore

/// What the guard reads of an organization: its policies and the budgets it enforces, with the time zone and billing
/// cycle day their periods are computed in.
struct GuardSnapshot: Sendable {
    struct EnforcedBudget: Sendable {
        var budget: Budget
        /// The period in force when the snapshot was read; recomputed for a call outside it (a period just ended).
        var period: BudgetPeriod?
    }

    var policies: [Policy]
    var budgets: [EnforcedBudget]
    var zone: TimeZoneRules
    var billingCycleDay: Int

    static let empty = GuardSnapshot(policies: [], budgets: [], zone: .utc, billingCycleDay: 1)

    /// Only budgets that are on, enforced and on the observed ledger stop calls (the API refuses `enforce` on the
    /// provider ledger, whose figures arrive a day late).
    static func enforces(_ budget: Budget) -> Bool {
        budget.enabled && budget.enforce && budget.ledger == .observed
    }

    func period(of entry: EnforcedBudget, at instant: Instant) -> BudgetPeriod? {
        if let period = entry.period, period.range.from <= instant, instant < period.range.to { return period }
        return entry.budget.period(containing: instant, zone: zone, billingCycleDay: billingCycleDay)
    }
}

/// One snapshot per organization, read again when older than `lifetime` (so other replicas' changes arrive) or after
/// `invalidate`. A read on the request path is one lock and a dictionary lookup.
final class GuardSnapshotCache: Sendable {
    struct Entry {
        var snapshot: GuardSnapshot
        var loadedAt: ContinuousClock.Instant
        /// The organization's version when the load began: an invalidation during the load makes it stale at once.
        var version: UInt64
    }

    struct State {
        var entries: [String: Entry] = [:]
        var versions: [String: UInt64] = [:]
    }

    private let state = Mutex(State())
    let lifetime: Duration

    init(lifetime: Duration) { self.lifetime = lifetime }

    func snapshot(
        _ organizationID: String, load: (String) async throws -> GuardSnapshot, onStaleFailure: (any Error) -> Void
    ) async throws -> GuardSnapshot {
        let now = ContinuousClock.now
        let (entry, version) = state.withLock { ($0.entries[organizationID], $0.versions[organizationID] ?? 0) }
        if let entry, entry.version == version, now - entry.loadedAt < lifetime { return entry.snapshot }
        do {
            let snapshot = try await load(organizationID)
            state.withLock { $0.entries[organizationID] = Entry(snapshot: snapshot, loadedAt: now, version: version) }
            return snapshot
        } catch {
            // The store is unreachable: the last snapshot keeps deciding (it is at most a few seconds behind), and the
            // next read is tried after another lifetime rather than on every call.
            guard var entry else { throw error }
            onStaleFailure(error)
            entry.loadedAt = now
            entry.version = version
            let kept = entry
            state.withLock { $0.entries[organizationID] = kept }
            return entry.snapshot
        }
    }

    func invalidate(_ organizationID: String) {
        state.withLock { $0.versions[organizationID, default: 0] &+= 1 }
    }
}
