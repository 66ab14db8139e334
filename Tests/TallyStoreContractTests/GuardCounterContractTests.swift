import TallyCore
import TallyTestSupport
import Testing

/// The guard counters' store contract (issue 19), on both stores: reservations are all or nothing, atomic under
/// concurrency (on PostgreSQL across the pool's connections), settled or expired exactly once, never overflowing.
@Suite(.serialized) struct GuardCounterContractTests {
    let far = at("2100-01-01T00:00:00Z")
    let org = "org_default"

    func hold(_ key: String, _ amount: Int64, limit: Int64, expires: Instant? = nil) -> GuardHold {
        GuardHold(key: key, amount: amount, limit: limit, counterExpiresAt: expires ?? far)
    }

    func counter(_ store: any GuardrailStore, _ key: String) async throws -> GuardCounter? {
        try await store.guardCounters(organizationID: org, keys: [key])[key]
    }

    /// Holds add up until the limit; a hold that would pass it is refused, naming the hold and what its counter held.
    @Test(arguments: StoreKind.available)
    func reservationsAddUpToTheLimit(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            #expect(
                try await store.reserve(organizationID: org, id: "r1", holds: [hold("k", 6, limit: 10)], expiresAt: far)
                    == .reserved)
            #expect(
                try await store.reserve(organizationID: org, id: "r2", holds: [hold("k", 4, limit: 10)], expiresAt: far)
                    == .reserved)
            #expect(
                try await store.reserve(organizationID: org, id: "r3", holds: [hold("k", 1, limit: 10)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: 0, reserved: 10)))
            // A new counter is created only when the amount fits the limit alone.
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r4", holds: [hold("new", 11, limit: 10)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: 0, reserved: 0)))
            #expect(try await counter(store, "new") == nil)
            #expect(
                try await store.guardCounters(organizationID: org, keys: ["k", "new", "k"]) == [
                    "k": GuardCounter(settled: 0, reserved: 10)
                ])
            // The same key in another organization is another counter.
            #expect(
                try await store.reserve(
                    organizationID: "org_b", id: "r1", holds: [hold("k", 10, limit: 10)], expiresAt: far)
                    == .reserved)
            #expect(try await store.guardCounters(organizationID: "org_b", keys: []) == [:])
        }
    }

    /// One refused hold undoes the others, whichever order the caller gave them in (the store takes them in key
    /// order): the index is the caller's.
    @Test(arguments: StoreKind.available)
    func aRefusedHoldReservesNothing(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            #expect(
                try await store.reserve(
                    organizationID: org, id: "fill", holds: [hold("b", 2, limit: 3)], expiresAt: far) == .reserved)
            // "a" is taken first (key order), then "b" refuses: "a" is rolled back.
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r1", holds: [hold("b", 2, limit: 3), hold("a", 5, limit: 10)],
                    expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: 0, reserved: 2)))
            // "a" refuses first; "z", after it in key order, is never tried.
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r2", holds: [hold("z", 1, limit: 10), hold("a", 11, limit: 10)],
                    expiresAt: far)
                    == .refused(index: 1, counter: GuardCounter(settled: 0, reserved: 0)))
            #expect(
                try await store.guardCounters(organizationID: org, keys: ["a", "b", "z"]) == [
                    "b": GuardCounter(settled: 0, reserved: 2)
                ])
            // Nothing of the refused reservations remains to settle or expire.
            try await store.settle(organizationID: org, id: "r1", actual: [:])
            #expect(try await store.expireReservations(now: far) == 1)  // only "fill"
            #expect(try await counter(store, "b") == nil)  // released, and its window is over
        }
    }

    /// 64 concurrent reservations of 1 on a counter limited to 10: exactly 10 are taken, on PostgreSQL over several
    /// connections at once.
    @Test(arguments: StoreKind.available)
    func concurrentReservationsNeverPassTheLimit(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            let org = org
            let holds = [hold("budget:bud_1:2026-12-01", 1, limit: 10), hold("concurrent:pol_1", 1, limit: 1_000)]
            let outcomes = try await withThrowingTaskGroup(of: GuardReservation.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        try await store.reserve(
                            organizationID: org, id: "r\(i)", holds: i % 2 == 0 ? holds : holds.reversed(),
                            expiresAt: at("2100-01-01T00:00:00Z"))
                    }
                }
                return try await group.reduce(into: [GuardReservation]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .reserved }.count == 10)
            #expect(try await counter(store, "budget:bud_1:2026-12-01") == GuardCounter(settled: 0, reserved: 10))
            #expect(try await counter(store, "concurrent:pol_1") == GuardCounter(settled: 0, reserved: 10))
        }
    }

    /// Holds given in opposite orders by concurrent callers never deadlock (each is taken in key order).
    @Test(arguments: StoreKind.available)
    func oppositeOrdersDoNotDeadlock(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            let org = org
            let holds = (0..<4).map { hold("k\($0)", 1, limit: 1_000) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        let outcome = try await store.reserve(
                            organizationID: org, id: "r\(i)", holds: i % 2 == 0 ? holds : holds.reversed(),
                            expiresAt: at("2100-01-01T00:00:00Z"))
                        #expect(outcome == .reserved)
                    }
                }
                try await group.waitForAll()
            }
            for key in holds.map(\.key) {
                #expect(try await counter(store, key) == GuardCounter(settled: 0, reserved: 64))
            }
        }
    }

    /// Settling takes the holds out of `reserved` and adds the actual amounts to `settled`; settling again takes out
    /// nothing more (another reservation's holds stay); an actual for a counter the reservation did not hold is added.
    @Test(arguments: StoreKind.available)
    func settlingMovesReservedToSettledOnce(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            #expect(
                try await store.reserve(organizationID: org, id: "r1", holds: [hold("k", 5, limit: 10)], expiresAt: far)
                    == .reserved)
            #expect(
                try await store.reserve(organizationID: org, id: "r2", holds: [hold("k", 3, limit: 10)], expiresAt: far)
                    == .reserved)
            try await store.settle(organizationID: org, id: "r1", actual: ["k": 4, "gone": 7])
            #expect(try await counter(store, "k") == GuardCounter(settled: 4, reserved: 3))
            #expect(try await counter(store, "gone") == nil)  // no counter, no hold: its window is over
            try await store.settle(organizationID: org, id: "r1", actual: [:])
            #expect(try await counter(store, "k") == GuardCounter(settled: 4, reserved: 3))
            // The freed room is usable: 4 + 3 + 3 = 10.
            #expect(
                try await store.reserve(organizationID: org, id: "r3", holds: [hold("k", 3, limit: 10)], expiresAt: far)
                    == .reserved)
            #expect(
                try await store.reserve(organizationID: org, id: "r4", holds: [hold("k", 1, limit: 10)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: 4, reserved: 6)))
            try await store.settle(organizationID: org, id: "r2", actual: ["k": 0])
            try await store.settle(organizationID: org, id: "unknown", actual: ["k": 1])
            #expect(try await counter(store, "k") == GuardCounter(settled: 5, reserved: 3))
        }
    }

    /// A reservation past its time is released by the sweep (once), a counter past its time with nothing reserved
    /// is forgotten, and settling an expired reservation adds only the actual amounts.
    @Test(arguments: StoreKind.available)
    func expiredReservationsAreReleased(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            let t = at("2026-12-01T10:00:00Z")
            let minute = at("2026-12-01T10:01:00Z")
            #expect(
                try await store.reserve(
                    organizationID: org, id: "crashed",
                    holds: [hold("k", 5, limit: 10), hold("rpm", 1, limit: 1, expires: minute)], expiresAt: t)
                    == .reserved)
            #expect(
                try await store.reserve(
                    organizationID: org, id: "live", holds: [hold("k", 3, limit: 10)], expiresAt: far) == .reserved)
            #expect(try await store.expireReservations(now: at("2026-12-01T09:59:59Z")) == 0)
            #expect(try await counter(store, "k") == GuardCounter(settled: 0, reserved: 8))
            #expect(try await store.expireReservations(now: t) == 1)
            #expect(try await counter(store, "k") == GuardCounter(settled: 0, reserved: 3))
            #expect(try await counter(store, "rpm") == GuardCounter(settled: 0, reserved: 0))
            #expect(try await store.expireReservations(now: t) == 0)
            #expect(try await counter(store, "k") == GuardCounter(settled: 0, reserved: 3))
            // The crashed call ends after all: only what it spent is counted.
            try await store.settle(organizationID: org, id: "crashed", actual: ["k": 2, "rpm": 1])
            #expect(try await counter(store, "k") == GuardCounter(settled: 2, reserved: 3))
            #expect(try await counter(store, "rpm") == GuardCounter(settled: 1, reserved: 0))
            _ = try await store.expireReservations(now: minute)
            #expect(try await counter(store, "rpm") == nil)
            #expect(try await counter(store, "k") == GuardCounter(settled: 2, reserved: 3))
            // A counter past its time is kept while something is reserved on it.
            #expect(
                try await store.reserve(
                    organizationID: org, id: "late", holds: [hold("old", 1, limit: 5, expires: t)], expiresAt: far)
                    == .reserved)
            _ = try await store.expireReservations(now: minute)
            #expect(try await counter(store, "old") == GuardCounter(settled: 0, reserved: 1))
        }
    }

    /// `raiseSettled` raises, creates, and never lowers; reservations then see the floor.
    @Test(arguments: StoreKind.available)
    func raisingSettledNeverLowersIt(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            try await store.raiseSettled(organizationID: org, key: "b", floor: 100, counterExpiresAt: far)
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r1", holds: [hold("b", 20, limit: 130)], expiresAt: far) == .reserved)
            try await store.raiseSettled(organizationID: org, key: "b", floor: 50, counterExpiresAt: far)
            #expect(try await counter(store, "b") == GuardCounter(settled: 100, reserved: 20))
            try await store.raiseSettled(organizationID: org, key: "b", floor: 110, counterExpiresAt: far)
            #expect(try await counter(store, "b") == GuardCounter(settled: 110, reserved: 20))
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r2", holds: [hold("b", 1, limit: 130)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: 110, reserved: 20)))
        }
    }

    /// Amounts near Int64's end are refused or saturate, never overflow (no crash, no "out of range" error); a
    /// negative limit refuses everything.
    @Test(arguments: StoreKind.available)
    func hugeAmountsDoNotOverflow(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            let max = Int64.max
            try await store.raiseSettled(organizationID: org, key: "h", floor: max - 1, counterExpiresAt: far)
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r0", holds: [hold("h", max, limit: max)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: max - 1, reserved: 0)))
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r1", holds: [hold("h", 1, limit: max)], expiresAt: far) == .reserved)
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r2", holds: [hold("h", max, limit: max)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: max - 1, reserved: 1)))
            #expect(
                try await store.reserve(organizationID: org, id: "r3", holds: [hold("h", 1, limit: -5)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: max - 1, reserved: 1)))
            try await store.settle(organizationID: org, id: "r1", actual: ["h": max])
            #expect(try await counter(store, "h") == GuardCounter(settled: max, reserved: 0))
            // A limit below what is settled already, a huge reservation of a fresh counter, and its release.
            #expect(
                try await store.reserve(organizationID: org, id: "r4", holds: [hold("h", 0, limit: 10)], expiresAt: far)
                    == .refused(index: 0, counter: GuardCounter(settled: max, reserved: 0)))
            #expect(
                try await store.reserve(
                    organizationID: org, id: "r5", holds: [hold("f", max, limit: max), hold("f2", max, limit: max)],
                    expiresAt: at("2026-12-01T10:00:00Z")) == .reserved)
            #expect(try await store.expireReservations(now: at("2026-12-01T10:00:00Z")) == 1)
            #expect(try await counter(store, "f") == GuardCounter(settled: 0, reserved: 0))
        }
    }

    /// A reservation id is used once: reusing it is a conflict that reserves nothing.
    @Test(arguments: StoreKind.available)
    func aReservationIDIsUsedOnce(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            _ = try await store.defaultOrganization(timeZone: "UTC")
            #expect(
                try await store.reserve(organizationID: org, id: "r1", holds: [hold("k", 1, limit: 10)], expiresAt: far)
                    == .reserved)
            await #expect(throws: TallyError.self) {
                try await store.reserve(organizationID: org, id: "r1", holds: [hold("k", 1, limit: 10)], expiresAt: far)
            }
            #expect(try await counter(store, "k") == GuardCounter(settled: 0, reserved: 1))
        }
    }
}
