import Logging
import Synchronization
import TallyCore
import Testing

@testable import TallyServices

@Suite struct GuardMaintenanceTests {
    let store = GuardFakeStore()
    let counters = LocalGuardCounters()
    let wakes = WakeCount()

    final class WakeCount: Sendable {
        let count = Mutex(0)
        var value: Int { count.withLock { $0 } }
    }

    func make() -> (GuardService<GuardFakeStore>, GuardMaintenance<GuardFakeStore>) {
        let service = GuardService(
            store: store, counters: counters, pricer: GuardFakePricer(), logger: Logger(label: "test"))
        let wakes = wakes
        let maintenance = GuardMaintenance(
            service: service, interval: .seconds(5), wakeDelivery: { wakes.count.withLock { $0 += 1 } },
            logger: Logger(label: "test"))
        return (service, maintenance)
    }

    @Test func flushesHitsAndRecordsOneAlertPerPolicyAndHour() async throws {
        store.set(policies: [
            GuardFixtures.policy(
                "pol_1", name: "No GPT", rules: PolicyRules(modelsDeny: ["gpt-*"]), channelIDs: ["ch_1", "ch_2"]),
            GuardFixtures.policy("pol_m", mode: .monitor, rules: PolicyRules(modelsDeny: ["*"]), channelIDs: ["ch_1"]),
        ])
        let (service, maintenance) = make()
        _ = try await service.admit(GuardFixtures.call())
        await maintenance.round(at: GuardFixtures.now)
        #expect(store.hits.count == 2 && service.hits.count == 0)
        #expect(store.alerts.count == 1, "monitor hits fire no alert")
        let alert = try #require(store.alerts.first)
        #expect(alert.type == .policyBlock && alert.dedupeKey == "policy_block:pol_1:1796464800")
        #expect(alert.rule == "models_deny" && alert.budgetID == nil)
        #expect(alert.figures.summary == "Policy 'No GPT' blocked gateway calls (models_deny)")
        #expect(alert.figures.periodStart == Instant(seconds: 1_796_464_800))
        #expect(store.deliveries.map(\.channelID) == ["ch_1", "ch_2"])
        #expect(store.deliveries.allSatisfy { $0.alertID == alert.id })

        // Later in the same hour: the hits are written, no second alert.
        _ = try await service.admit(GuardFixtures.call(at: GuardFixtures.now.adding(seconds: 1200)))
        await maintenance.round(at: GuardFixtures.now.adding(seconds: 1200))
        #expect(store.hits.count == 4 && store.alerts.count == 1 && wakes.value == 1)
        // The next hour fires again.
        _ = try await service.admit(GuardFixtures.call(at: GuardFixtures.now.adding(seconds: 3600)))
        await maintenance.round(at: GuardFixtures.now.adding(seconds: 3600))
        #expect(store.alerts.map(\.dedupeKey) == ["policy_block:pol_1:1796464800", "policy_block:pol_1:1796468400"])
    }

    @Test func aBudgetsBlockAlertsItsChannelsWithItsId() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: .zero, channelIDs: ["ch_9"])])
        let (service, maintenance) = make()
        _ = try await service.admit(GuardFixtures.call())
        await maintenance.round(at: GuardFixtures.now)
        let alert = try #require(store.alerts.first)
        #expect(alert.dedupeKey == "policy_block:bud_1:1796464800" && alert.budgetID == "bud_1")
        #expect(
            alert.figures.summary
                == "Budget 'Budget bud_1' is exhausted ($0.00): gateway calls in its scope are blocked")
        #expect(store.deliveries.map(\.channelID) == ["ch_9"])
    }

    @Test func hitsAreKeptForTheNextRoundWhenTheStoreFails() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(modelsDeny: ["*"]))])
        let (service, maintenance) = make()
        _ = try await service.admit(GuardFixtures.call())
        store.set(failing: true)
        await maintenance.round(at: GuardFixtures.now)
        #expect(store.hits.isEmpty && service.hits.count == 1)
        store.set(failing: false)
        await maintenance.round(at: GuardFixtures.now)
        #expect(store.hits.count == 1 && service.hits.count == 0 && store.alerts.count == 1)
    }

    @Test func expiresReservationsAndRaisesBudgetFloors() async throws {
        store.set(budgets: [GuardFixtures.budget("bud_1", amount: USD(nanos: 400_000))])
        let (service, maintenance) = make()
        guard case .proceed = try await service.admit(GuardFixtures.call()) else {
            Issue.record("blocked")
            return
        }
        // A crashed call's reservation: freed once past its expiry.
        guard case .proceed = try await service.admit(GuardFixtures.call()) else {
            Issue.record("blocked")
            return
        }
        await maintenance.round(at: GuardFixtures.now.adding(seconds: 900))
        #expect(counters.openReservations == 0)
        // Spend that came in through the API reaches the counter on the next round.
        store.set(spend: USD(nanos: 300_000))
        await maintenance.round(at: GuardFixtures.now.adding(seconds: 901))
        let key = "budget:bud_1:2026-12-01"
        #expect(try await counters.guardCounters(organizationID: "org_a", keys: [key])[key]?.settled == 300_000)
        if case .proceed = try await service.admit(GuardFixtures.call(at: GuardFixtures.now.adding(seconds: 902))) {
            Issue.record("the raised floor leaves no room for a call")
        }
    }

    @Test func theJanitorDeletesHitsOlderThanNinetyDays() async throws {
        let old = PolicyHit(
            organizationID: "org_a", policyID: "pol_1", budgetID: nil, rule: .modelsDeny, mode: .enforce,
            at: GuardFixtures.now.adding(seconds: -91 * 86_400), projectID: "prj_1", model: nil, message: "m")
        var recent = old
        recent.at = GuardFixtures.now.adding(seconds: -89 * 86_400)
        try await store.recordPolicyHits([old, recent])
        #expect(try await PolicyHitRetention.deleteOld(store, now: GuardFixtures.now) == 1)
        #expect(store.hits == [recent])
    }
}
