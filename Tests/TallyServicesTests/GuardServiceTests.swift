import Logging
import TallyCore
import Testing

@testable import TallyServices

/// The guard over in-memory counters: budgets, rate limits, settling, expiry, the cache. The fake pricer charges
/// $0.000001 a token, so the fixtures' calls (100 input + 100 output tokens) have a worst case of $0.0002.
@Suite struct GuardServiceTests {
    let store = GuardFakeStore()
    let counters = LocalGuardCounters()
    static let perCall = USD(nanos: 200_000)

    func service(cacheLifetime: Duration = .seconds(3600)) -> GuardService<GuardFakeStore> {
        GuardService(
            store: store, counters: counters, pricer: GuardFakePricer(), cacheLifetime: cacheLifetime,
            logger: Logger(label: "test"))
    }

    func ticket(_ decision: GuardDecision) -> GuardTicket? {
        if case .proceed(let ticket) = decision { return ticket }
        return nil
    }

    func block(_ decision: GuardDecision) -> PolicyBlock? {
        if case .block(let block) = decision { return block }
        return nil
    }

    func budgetRoom(_ calls: Int64) -> USD { USD(nanos: Self.perCall.nanos * calls) }

    @Test func aBudgetStopsCallsOnceItsRoomIsReservedAndSettlingFreesIt() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(5))])
        let s = service()
        var tickets: [GuardTicket] = []
        for _ in 0..<5 { tickets.append(try #require(ticket(try await s.admit(GuardFixtures.call())))) }
        let b = try #require(block(try await s.admit(GuardFixtures.call())))
        #expect(b.status == 429 && b.code == "budget_exceeded" && b.rule == .budget && b.budgetID == "bud_1")
        #expect(b.policyID == nil && b.retryAfterSeconds == nil)
        #expect(
            b.message
                == "Tally gateway: budget 'Budget bud_1' is exhausted ($0.001 for Dec 2026; $0.001 spent or reserved, this call could cost up to $0.0002)"
        )
        #expect(tickets[0].settlements == ["budget:bud_1:2026-12-01": .cost])

        // The call cost less than its worst case: the difference is free again.
        await s.settle(tickets[0], GuardOutcome(cost: USD(nanos: 0), tokens: 10))
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        let counter = try await counters.guardCounters(organizationID: "org_a", keys: ["budget:bud_1:2026-12-01"])
        #expect(counter["budget:bud_1:2026-12-01"] == GuardCounter(settled: 0, reserved: budgetRoom(5).nanos))
    }

    @Test func settlingAddsTheActualCost() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(5))])
        let s = service()
        let t = try #require(ticket(try await s.admit(GuardFixtures.call())))
        await s.settle(t, GuardOutcome(cost: USD(nanos: 123), tokens: 10))
        let key = "budget:bud_1:2026-12-01"
        #expect(try await counters.guardCounters(organizationID: "org_a", keys: [key])[key]?.settled == 123)
        #expect(counters.openReservations == 0)
    }

    @Test func theFirstReservationOfAPeriodStartsFromTheRollupsSpend() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(5))])
        store.set(spend: budgetRoom(3))
        let s = service()
        for _ in 0..<2 { #expect(ticket(try await s.admit(GuardFixtures.call())) != nil) }
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        // The next month is a new period, floored anew (the fake's rollups say nothing was spent in it).
        store.set(spend: .zero)
        let january = GuardFixtures.call(at: Instant(seconds: 1_798_761_600))  // 2027-01-01 00:00 UTC
        let t = try #require(ticket(try await s.admit(january)))
        #expect(t.settlements.keys.sorted() == ["budget:bud_1:2027-01-01"])
    }

    /// Under an enforced budget a call the catalog cannot bound (an unpriced model, none named: an image endpoint,
    /// a body Tally could not read) is refused, even with room left: it could cost anything.
    @Test func anEnforcedBudgetRefusesCallsItCannotBound() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(100))])
        for model in ["unpriced", nil] {
            let b = try #require(block(try await service().admit(GuardFixtures.call(model: model))))
            #expect(b.status == 403 && b.code == "permission_denied" && b.rule == .budget && b.budgetID == "bud_1")
            #expect(b.message.contains("cost cannot be bounded"))
        }
        #expect(ticket(try await service().admit(GuardFixtures.call())) != nil)
    }

    /// A call whose worst case alone passes the whole budget, or a tokens-per-minute limit, gets a 400 with no
    /// Retry-After: waiting would never help.
    @Test func aCallLargerThanTheLimitItselfIs400() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: USD(nanos: Self.perCall.nanos - 1))])
        let b = try #require(block(try await service().admit(GuardFixtures.call())))
        #expect(b.status == 400 && b.code == "invalid_request" && b.rule == .budget && b.retryAfterSeconds == nil)
        #expect(b.message.hasSuffix("this call alone could pass the limit: lower its max_tokens"))
        store.set(budgets: [])
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(tokensPerMinute: 150))])
        let t = try #require(block(try await service().admit(GuardFixtures.call())))
        #expect(t.status == 400 && t.rule == .tokensPerMinute && t.retryAfterSeconds == nil)
    }

    /// `n` answers may each be as long as the output limit: the worst case multiplies.
    @Test func eachAnswerAskedForCountsInTheWorstCase() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(100))])
        var call = GuardFixtures.call()
        call.answers = 4
        let t = try #require(ticket(try await service().admit(call)))
        let key = "budget:bud_1:2026-12-01"
        let held = try await counters.guardCounters(organizationID: "org_a", keys: [key])[key]?.reserved
        #expect(t.settlements[key] == .cost && held == 100 * 1000 + 4 * 100 * 1000)
    }

    @Test func onlyEnabledEnforcedObservedBudgetsInScopeStopCalls() async throws {
        var disabled = GuardFixtures.budget("bud_2", amount: .zero)
        disabled.enabled = false
        store.set(budgets: [
            GuardFixtures.budget("bud_1", amount: .zero, enforce: false),
            disabled,
            GuardFixtures.budget("bud_3", amount: .zero, ledger: .provider),
            GuardFixtures.budget("bud_4", amount: .zero, scope: [.project: ["prj_2"]]),
        ])
        store.set(spend: budgetRoom(1))
        let s = service()
        let t = try #require(ticket(try await s.admit(GuardFixtures.call())))
        #expect(t.reservationID == nil)
        #expect(block(try await s.admit(GuardFixtures.call(project: "prj_2")))?.budgetID == "bud_4")
    }

    @Test func sixtyFourConcurrentCallsGetExactlyTheRoomOfTen() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(10))])
        let s = service()
        let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { ticket(try await s.admit(GuardFixtures.call())) != nil } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 10)
        #expect(s.hits.take().hits.count == 54)
    }

    @Test func anExpiredReservationFreesItsRoom() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: budgetRoom(1))])
        let s = service()
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        #expect(try await counters.expireReservations(now: GuardFixtures.now.adding(seconds: 899)) == 0)
        #expect(try await counters.expireReservations(now: GuardFixtures.now.adding(seconds: 900)) == 1)
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
    }

    @Test func requestsPerMinuteAnswersWithTheSecondsLeftInTheWindow() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", name: "Slow", rules: PolicyRules(requestsPerMinute: 2))])
        let s = service()
        let t = try #require(ticket(try await s.admit(GuardFixtures.call())))
        #expect(t.settlements == ["rpm:pol_1:1796464800": .request])
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        let b = try #require(block(try await s.admit(GuardFixtures.call())))  // at 10:00:30
        #expect(b.status == 429 && b.code == "rate_limit_exceeded" && b.rule == .requestsPerMinute)
        #expect(b.retryAfterSeconds == 30)
        #expect(
            b.message == "Tally gateway: blocked by policy 'Slow' (requests_per_minute: 2 per minute); retry in 30 s")
        let late = try #require(block(try await s.admit(GuardFixtures.call(at: GuardFixtures.now.adding(seconds: 29)))))
        #expect(late.retryAfterSeconds == 1)
        // Settling a request counts it: the window stays full.
        await s.settle(t, GuardOutcome(cost: nil, tokens: 0))
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        #expect(ticket(try await s.admit(GuardFixtures.call(at: GuardFixtures.now.adding(seconds: 30)))) != nil)
    }

    @Test func tokensPerMinuteReservesTheEstimateAndSettlesTheActualTokens() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(tokensPerMinute: 500))])
        let s = service()
        let t = try #require(ticket(try await s.admit(GuardFixtures.call())))
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        let b = try #require(block(try await s.admit(GuardFixtures.call())))
        #expect(b.rule == .tokensPerMinute && b.retryAfterSeconds == 30)
        #expect(b.message.contains("(tokens_per_minute: 500 per minute; this call could use up to 200 tokens)"))
        await s.settle(t, GuardOutcome(cost: nil, tokens: 50))
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
    }

    @Test func maxConcurrentFreesASlotWhenACallEnds() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(maxConcurrent: 2))])
        let s = service()
        let t = try #require(ticket(try await s.admit(GuardFixtures.call())))
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        let b = try #require(block(try await s.admit(GuardFixtures.call())))
        #expect(b.rule == .maxConcurrent && b.status == 429 && b.retryAfterSeconds == 1)
        await s.settle(t, GuardOutcome(cost: nil, tokens: 10))
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
    }

    @Test func aMonitorLimitRecordsWouldBeBlocksAndCountsOnlyWhatItWouldAdmit() async throws {
        store.set(policies: [
            GuardFixtures.policy("pol_m", mode: .monitor, rules: PolicyRules(requestsPerMinute: 1)),
            GuardFixtures.policy("pol_e", rules: PolicyRules(requestsPerMinute: 3)),
        ])
        let s = service()
        var tickets: [GuardTicket] = []
        for _ in 0..<3 { tickets.append(try #require(ticket(try await s.admit(GuardFixtures.call())))) }
        #expect(block(try await s.admit(GuardFixtures.call()))?.policyID == "pol_e")
        let hits = s.hits.take().hits
        #expect(hits.map(\.mode) == [.monitor, .monitor, .enforce])
        #expect(hits.map(\.rule) == [.requestsPerMinute, .requestsPerMinute, .requestsPerMinute])
        #expect(tickets[0].monitorReservationID != nil && tickets[0].monitorSettlements.count == 1)
        #expect(tickets[1].monitorReservationID == nil)
        let key = GuardKeys.requestsPerMinute("pol_m", minuteStart: Instant(seconds: 1_796_464_800))
        #expect(try await counters.guardCounters(organizationID: "org_a", keys: [key])[key]?.reserved == 1)
        for t in tickets { await s.settle(t, GuardOutcome(cost: nil, tokens: 0)) }
        #expect(counters.openReservations == 0)
    }

    @Test func theCacheServesUntilInvalidated() async throws {
        let s = service()
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(modelsDeny: ["*"]))])
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        #expect(store.policyReads == 1)
        s.invalidate(organizationID: "org_a")
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        #expect(store.policyReads == 2)
    }

    @Test func anOldSnapshotIsReadAgainAndKeptWhileTheStoreIsDown() async throws {
        let s = service(cacheLifetime: .zero)
        #expect(ticket(try await s.admit(GuardFixtures.call())) != nil)
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(modelsDeny: ["*"]))])
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        store.set(failing: true)
        #expect(block(try await s.admit(GuardFixtures.call())) != nil)
        let fresh = service()
        await #expect(throws: TallyError.self) { try await fresh.admit(GuardFixtures.call()) }
    }
}
