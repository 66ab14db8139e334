import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyServer

/// Hard budgets (issue 19) in the budgets API: `enforce` is taken and shown, refused by name on a provider-ledger
/// budget, and each budget shows what the gateway's calls in flight hold of its current period.
@Suite struct BudgetEnforceAPITests {
    @Test func enforceIsTakenAndTheOpenReservationsShown() async throws {
        let f = try await Fixture.make()
        let counters = FixedGuardCounters([:])
        let router = guardrailRouter(store: f.store, policies: InMemoryPolicies(), guardCounters: counters)
        try await Application(router: router).test(.router) { client in
            let created = try await client.call(
                .post, "/api/v1/budgets", token: f.admin,
                body: #"{"name":"Hard","period":"month","amount_usd":"10","enforce":true}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json?["enforce"] == .bool(true))
            #expect(created.json?["reserved_usd"] == .string("0.00"))
            let id = try #require(str(created.json?["id"]))
            let start = try #require(str(created.json?["status"]?["period_start"]))
            let firstDay = try #require(CivilDate(parsing: String(start.prefix(10))))
            counters.counters.withLock {
                $0[GuardKeys.budget(id, firstDay: firstDay)] = GuardCounter(settled: 0, reserved: 1_250_000_000)
                // Another period's reservations are not this period's.
                $0[GuardKeys.budget(id, firstDay: CivilDate(year: 2001, month: 1, day: 1))] = GuardCounter(
                    settled: 0, reserved: 9_000_000_000)
            }
            let shown = try await client.call(.get, "/api/v1/budgets/\(id)", token: f.admin)
            #expect(shown.json?["reserved_usd"] == .string("1.25"))
            let list = try await client.call(.get, "/api/v1/budgets", token: f.admin)
            #expect(first(list.json?["data"])?["reserved_usd"] == .string("1.25"))

            let off = try await client.call(
                .patch, "/api/v1/budgets/\(id)", token: f.admin, body: #"{"enforce":false}"#)
            #expect(off.status == .ok && off.json?["enforce"] == .bool(false))
            let plain = try await client.call(
                .post, "/api/v1/budgets", token: f.admin, body: #"{"name":"Soft","period":"month","amount_usd":"10"}"#)
            #expect(plain.json?["enforce"] == .bool(false))
        }
    }

    @Test func aProviderLedgerBudgetCannotEnforce() async throws {
        let f = try await Fixture.make()
        let router = guardrailRouter(store: f.store, policies: InMemoryPolicies())
        try await Application(router: router).test(.router) { client in
            for body in [
                #"{"name":"P","period":"month","amount_usd":"10","ledger":"provider","enforce":true}"#,
                #"{"name":"P","period":"month","amount_usd":"10","enforce":"yes"}"#,
            ] {
                let r = try await client.call(.post, "/api/v1/budgets", token: f.admin, body: body)
                #expect(r.status == .badRequest, "\(r.text)")
                #expect(array(r.json?["error"]?["details"]).compactMap { str($0["field"]) } == ["enforce"])
            }
            let provider = try await client.call(
                .post, "/api/v1/budgets", token: f.admin,
                body: #"{"name":"P","period":"month","amount_usd":"10","ledger":"provider"}"#)
            let id = try #require(str(provider.json?["id"]))
            let r = try await client.call(.patch, "/api/v1/budgets/\(id)", token: f.admin, body: #"{"enforce":true}"#)
            #expect(r.status == .badRequest && r.text.contains("\"field\":\"enforce\""))
        }
    }
}
