import Synchronization
import TallyCore

/// The guard's counters in memory, for one server (SQLite deployments): the same behaviour as the store's
/// `GuardCounterStore` under one lock, without a write per call. Nothing survives a restart, which is what a crashed
/// server's reservations expiring amounts to; budget counters are raised back to the rollups' spend before their first
/// reservation.
public final class LocalGuardCounters: GuardCounterStore, Sendable {
    struct Key: Hashable {
        var organizationID: String
        var key: String
    }

    struct Counter {
        var settled: Int64
        var reserved: Int64
        var expiresAt: Instant
    }

    struct Reservation {
        var holds: [(key: String, amount: Int64)]
        var expiresAt: Instant
    }

    struct State {
        var counters: [Key: Counter] = [:]
        var reservations: [Key: Reservation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func reserve(organizationID: String, id: String, holds: [GuardHold], expiresAt: Instant) async throws
        -> GuardReservation
    {
        try state.withLock { s in
            let reservationKey = Key(organizationID: organizationID, key: id)
            guard s.reservations[reservationKey] == nil else { throw TallyError.conflict("reservation '\(id)'") }
            // Holds are taken in key order, as the store takes its row locks, so both refuse the same hold first.
            let order = holds.indices.sorted { holds[$0].key < holds[$1].key }
            var taken: [Key: Counter] = [:]
            for index in order {
                let hold = holds[index]
                let key = Key(organizationID: organizationID, key: hold.key)
                let current = taken[key] ?? s.counters[key]
                let counter = current ?? Counter(settled: 0, reserved: 0, expiresAt: hold.counterExpiresAt)
                guard let raised = Self.reserved(counter, adding: hold.amount, limit: hold.limit) else {
                    return .refused(
                        index: index,
                        counter: GuardCounter(
                            settled: current?.settled ?? 0, reserved: current?.reserved ?? 0))
                }
                taken[key] = Counter(
                    settled: counter.settled, reserved: raised, expiresAt: max(counter.expiresAt, hold.counterExpiresAt)
                )
            }
            s.counters.merge(taken) { _, new in new }
            s.reservations[reservationKey] = Reservation(
                holds: holds.map { ($0.key, $0.amount) }, expiresAt: expiresAt)
            return .reserved
        }
    }

    /// `reserved + amount` when `settled + reserved + amount <= limit` holds without overflowing, else nil.
    static func reserved(_ counter: Counter, adding amount: Int64, limit: Int64) -> Int64? {
        let (reserved, o1) = counter.reserved.addingReportingOverflow(amount)
        let (total, o2) = counter.settled.addingReportingOverflow(reserved)
        guard !o1, !o2, total <= limit else { return nil }
        return reserved
    }

    public func settle(organizationID: String, id: String, actual: [String: Int64]) async throws {
        state.withLock { s in
            if let reservation = s.reservations.removeValue(forKey: Key(organizationID: organizationID, key: id)) {
                for hold in reservation.holds {
                    s.counters[Key(organizationID: organizationID, key: hold.key)]?.release(hold.amount)
                }
            }
            // An expired reservation's counters take the actual amounts all the same (a call that outlived its
            // reservation still spent); a counter already forgotten (its window or period over) stays forgotten.
            for (key, amount) in actual where amount != 0 {
                s.counters[Key(organizationID: organizationID, key: key)]?.settle(amount)
            }
        }
    }

    public func expireReservations(now: Instant) async throws -> Int {
        state.withLock { s in
            let expired = s.reservations.filter { $0.value.expiresAt <= now }
            for (key, reservation) in expired {
                s.reservations[key] = nil
                for hold in reservation.holds {
                    s.counters[Key(organizationID: key.organizationID, key: hold.key)]?.release(hold.amount)
                }
            }
            s.counters = s.counters.filter { $0.value.expiresAt > now }
            return expired.count
        }
    }

    public func raiseSettled(organizationID: String, key: String, floor: Int64, counterExpiresAt: Instant)
        async throws
    {
        state.withLock { s in
            let k = Key(organizationID: organizationID, key: key)
            var counter = s.counters[k] ?? Counter(settled: 0, reserved: 0, expiresAt: counterExpiresAt)
            counter.settled = max(counter.settled, floor)
            counter.expiresAt = max(counter.expiresAt, counterExpiresAt)
            s.counters[k] = counter
        }
    }

    public func guardCounters(organizationID: String, keys: [String]) async throws -> [String: GuardCounter] {
        state.withLock { s in
            var out: [String: GuardCounter] = [:]
            for key in keys {
                if let c = s.counters[Key(organizationID: organizationID, key: key)] {
                    out[key] = GuardCounter(settled: c.settled, reserved: c.reserved)
                }
            }
            return out
        }
    }

    /// Open reservations (for tests and the reservations gauge).
    public var openReservations: Int { state.withLock { $0.reservations.count } }
}

extension LocalGuardCounters.Counter {
    mutating func release(_ amount: Int64) { reserved = max(0, reserved - amount) }
    /// Saturating: a counter pinned at the top still refuses every reservation, which is the safe side.
    mutating func settle(_ amount: Int64) {
        let (sum, overflow) = settled.addingReportingOverflow(amount)
        settled = overflow ? (amount > 0 ? .max : .min) : sum
    }
}
