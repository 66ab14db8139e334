import TallyCore
import Testing

@testable import TallyServices

/// `LocalGuardCounters` keeps the store's `GuardCounterStore` behaviour (the same as the contract suite holds SQLStore
/// to): all or nothing, limits, settling, expiry, floors, overflow.
@Suite struct GuardLocalCountersTests {
    let counters = LocalGuardCounters()
    let t0 = Instant(seconds: 1_000_000)
    var later: Instant { t0.adding(seconds: 3600) }

    func hold(_ key: String, _ amount: Int64, limit: Int64) -> GuardHold {
        GuardHold(key: key, amount: amount, limit: limit, counterExpiresAt: later)
    }

    func read(_ keys: String...) async throws -> [String: GuardCounter] {
        try await counters.guardCounters(organizationID: "org_a", keys: keys)
    }

    @Test func reservesEveryHoldOrNone() async throws {
        let answer = try await counters.reserve(
            organizationID: "org_a", id: "r1", holds: [hold("z", 5, limit: 10), hold("a", 2, limit: 1)],
            expiresAt: later)
        #expect(answer == .refused(index: 1, counter: GuardCounter(settled: 0, reserved: 0)))
        #expect(try await read("a", "z").isEmpty, "nothing was created or raised")
        #expect(counters.openReservations == 0)

        #expect(
            try await counters.reserve(
                organizationID: "org_a", id: "r2", holds: [hold("z", 5, limit: 10), hold("a", 1, limit: 1)],
                expiresAt: later) == .reserved)
        #expect(
            try await read("a", "z") == [
                "a": GuardCounter(settled: 0, reserved: 1), "z": GuardCounter(settled: 0, reserved: 5),
            ])
        let refused = try await counters.reserve(
            organizationID: "org_a", id: "r3", holds: [hold("z", 5, limit: 10), hold("a", 1, limit: 1)],
            expiresAt: later)
        #expect(refused == .refused(index: 1, counter: GuardCounter(settled: 0, reserved: 1)))
        #expect(try await read("z")["z"]?.reserved == 5)
    }

    @Test func countersAreSeparatePerOrganization() async throws {
        _ = try await counters.reserve(
            organizationID: "org_a", id: "r1", holds: [hold("k", 1, limit: 1)], expiresAt: later)
        #expect(
            try await counters.reserve(
                organizationID: "org_b", id: "r1", holds: [hold("k", 1, limit: 1)], expiresAt: later)
                == .reserved)
    }

    @Test func aReservationIdIsUsedOnce() async throws {
        _ = try await counters.reserve(
            organizationID: "org_a", id: "r1", holds: [hold("k", 1, limit: 5)], expiresAt: later)
        await #expect(throws: TallyError.self) {
            try await counters.reserve(
                organizationID: "org_a", id: "r1", holds: [hold("k", 1, limit: 5)], expiresAt: later)
        }
    }

    @Test func settlingReleasesTheHoldsAndAddsTheActualAmounts() async throws {
        _ = try await counters.reserve(
            organizationID: "org_a", id: "r1", holds: [hold("cost", 100, limit: 1000), hold("busy", 1, limit: 1)],
            expiresAt: later)
        try await counters.settle(organizationID: "org_a", id: "r1", actual: ["cost": 40])
        #expect(
            try await read("cost", "busy") == [
                "cost": GuardCounter(settled: 40, reserved: 0), "busy": GuardCounter(settled: 0, reserved: 0),
            ])
        // Settling again, or an unknown id, changes nothing but what it reports; a forgotten counter stays forgotten.
        try await counters.settle(organizationID: "org_a", id: "nope", actual: ["unknown": 5])
        #expect(try await read("unknown").isEmpty)
        #expect(counters.openReservations == 0)
    }

    @Test func expiredReservationsAreReleasedAndTheirLateSettlementStillCounts() async throws {
        _ = try await counters.reserve(
            organizationID: "org_a", id: "r1", holds: [hold("cost", 100, limit: 100)], expiresAt: t0.adding(seconds: 60)
        )
        #expect(try await counters.expireReservations(now: t0.adding(seconds: 59)) == 0)
        #expect(try await counters.expireReservations(now: t0.adding(seconds: 60)) == 1)
        #expect(try await read("cost")["cost"] == GuardCounter(settled: 0, reserved: 0))
        try await counters.settle(organizationID: "org_a", id: "r1", actual: ["cost": 70])
        #expect(try await read("cost")["cost"] == GuardCounter(settled: 70, reserved: 0))
        // Counters past their own expiry are forgotten.
        #expect(try await counters.expireReservations(now: later) == 0)
        #expect(try await read("cost").isEmpty)
    }

    @Test func raiseSettledNeverLowers() async throws {
        try await counters.raiseSettled(organizationID: "org_a", key: "b", floor: 50, counterExpiresAt: later)
        try await counters.raiseSettled(organizationID: "org_a", key: "b", floor: 30, counterExpiresAt: later)
        #expect(try await read("b")["b"]?.settled == 50)
        try await counters.raiseSettled(organizationID: "org_a", key: "b", floor: 80, counterExpiresAt: later)
        #expect(try await read("b")["b"]?.settled == 80)
        let answer = try await counters.reserve(
            organizationID: "org_a", id: "r", holds: [hold("b", 21, limit: 100)], expiresAt: later)
        #expect(answer == .refused(index: 0, counter: GuardCounter(settled: 80, reserved: 0)))
    }

    @Test func sumsNearTheTopOfInt64AreRefusedNeverWrapped() async throws {
        #expect(
            try await counters.reserve(
                organizationID: "org_a", id: "r1", holds: [hold("k", .max, limit: .max)], expiresAt: later) == .reserved
        )
        let answer = try await counters.reserve(
            organizationID: "org_a", id: "r2", holds: [hold("k", 1, limit: .max)], expiresAt: later)
        #expect(answer == .refused(index: 0, counter: GuardCounter(settled: 0, reserved: .max)))
        try await counters.raiseSettled(organizationID: "org_a", key: "s", floor: .max - 1, counterExpiresAt: later)
        #expect(
            try await counters.reserve(
                organizationID: "org_a", id: "r3", holds: [hold("s", 2, limit: .max)], expiresAt: later)
                != .reserved)
        try await counters.settle(organizationID: "org_a", id: "r1", actual: ["k": .max])
        try await counters.settle(organizationID: "org_a", id: "none", actual: ["k": .max])
        #expect(try await read("k")["k"]?.settled == .max, "saturates")
    }

    @Test func sixtyFourConcurrentReservationsOnALimitOfTenTakeExactlyTen() async throws {
        let counters = counters
        let later = later
        let taken = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<64 {
                group.addTask {
                    try await counters.reserve(
                        organizationID: "org_a", id: "r\(i)",
                        holds: [GuardHold(key: "k", amount: 1, limit: 10, counterExpiresAt: later)], expiresAt: later)
                        == .reserved
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(taken == 10)
        #expect(try await read("k")["k"] == GuardCounter(settled: 0, reserved: 10))
    }
}
