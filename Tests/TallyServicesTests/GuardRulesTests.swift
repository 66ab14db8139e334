import Logging
import TallyCore
import Testing

@testable import TallyServices

@Suite struct GuardGlobTests {
    @Test func matchesTheWholeNameWithStarAndQuestionMark() {
        #expect(GuardScope.glob("gpt-5.4-*", matches: "gpt-5.4-mini"))
        #expect(GuardScope.glob("gpt-5.4-*", matches: "gpt-5.4-"))
        #expect(!GuardScope.glob("gpt-5.4-*", matches: "gpt-5.4"))
        #expect(GuardScope.glob("gpt-4?", matches: "gpt-4o"))
        #expect(!GuardScope.glob("gpt-4?", matches: "gpt-4"))
        #expect(!GuardScope.glob("gpt-4?", matches: "gpt-4oo"))
        #expect(GuardScope.glob("*", matches: ""))
        #expect(GuardScope.glob("*mini", matches: "gpt-4o-mini"))
        #expect(GuardScope.glob("a*b*c", matches: "axxbyyc"))
        #expect(!GuardScope.glob("a*b*c", matches: "axxbyy"))
        #expect(GuardScope.glob("claude-*-4-*", matches: "claude-sonnet-4-5"))
        #expect(!GuardScope.glob("claude", matches: "claude-sonnet"), "no implicit prefix match")
    }

    @Test func isCaseSensitive() {
        #expect(!GuardScope.glob("GPT-*", matches: "gpt-4o"))
        #expect(GuardScope.glob("gpt-*", matches: "gpt-4o"))
    }

    @Test func aPathologicalPatternAnswersWithoutBacktrackingForever() {
        let name = String(repeating: "a", count: 5000)
        #expect(!GuardScope.glob("a*a*a*a*a*a*a*a*b", matches: name))
        #expect(GuardScope.glob("a*a*a*a*a*a*a*a*a", matches: name))
    }
}

@Suite struct GuardScopeTests {
    let call = GuardFixtures.call(user: "ada", feature: "search")

    @Test func aPolicyScopeMatchesWhenEverySetFieldMatches() {
        #expect(GuardScope.covers(PolicyScope(), call))
        #expect(
            GuardScope.covers(PolicyScope(projectID: "prj_1", tokenID: "tok_1", user: "ada", feature: "search"), call))
        #expect(!GuardScope.covers(PolicyScope(projectID: "prj_2"), call))
        #expect(!GuardScope.covers(PolicyScope(tokenID: "tok_2"), call))
        #expect(!GuardScope.covers(PolicyScope(projectID: "prj_1", user: "bob"), call))
        #expect(!GuardScope.covers(PolicyScope(feature: "chat"), call))
        #expect(!GuardScope.covers(PolicyScope(user: "ada"), GuardFixtures.call()), "a call without a user")
    }

    @Test func aBudgetScopeMatchesEachDimensionByOneOfItsValues() {
        #expect(GuardScope.covers([:], call))
        #expect(GuardScope.covers([.project: ["prj_0", "prj_1"], .apiKey: ["tok_1"], .provider: ["openai"]], call))
        #expect(GuardScope.covers([.model: ["gpt-test"], .user: ["ada"], .feature: ["search"]], call))
        #expect(!GuardScope.covers([.project: ["prj_2"]], call))
        #expect(!GuardScope.covers([.apiKey: ["tok_2"]], call))
        #expect(!GuardScope.covers([.model: ["other"]], call))
        #expect(!GuardScope.covers([.project: []], call), "no values: nothing, as the summary filters")
        #expect(!GuardScope.covers([.environment: ["prod"]], call), "a call without an environment")
    }

    /// Issue 22: gateway events carry the token's name as `api_key`; a budget naming the name covers the call, and
    /// one made earlier naming the token's id still does (review: an upgrade must not lift a hard limit).
    @Test func aBudgetByAPIKeyMatchesTheTokensNameOrItsId() {
        var named = call
        named.apiKey = "checkout-bot"
        #expect(GuardScope.covers([.apiKey: ["checkout-bot"]], named))
        #expect(GuardScope.covers([.apiKey: ["tok_1"]], named), "a budget naming the token's id")
        #expect(!GuardScope.covers([.apiKey: ["other-bot"]], named))
        #expect(GuardScope.covers([.apiKey: ["tok_1"]], call), "an unnamed token's label is its id")
    }
}

@Suite struct GuardStaticRuleTests {
    let store = GuardFakeStore()

    func service() -> GuardService<GuardFakeStore> {
        GuardService(
            store: store, counters: LocalGuardCounters(), pricer: GuardFakePricer(), logger: Logger(label: "test"))
    }

    func block(_ decision: GuardDecision) -> PolicyBlock? {
        if case .block(let block) = decision { return block }
        return nil
    }

    @Test func aDeniedModelIs403AndDenyWinsOverAllow() async throws {
        store.set(policies: [
            GuardFixtures.policy(
                "pol_1", name: "No GPT", rules: PolicyRules(modelsAllow: ["gpt-*"], modelsDeny: ["gpt-t*"]))
        ])
        let b = try #require(block(try await service().admit(GuardFixtures.call(model: "gpt-test"))))
        #expect(b.status == 403 && b.code == "permission_denied" && b.rule == .modelsDeny && b.policyID == "pol_1")
        #expect(
            b.message == "Tally gateway: blocked by policy 'No GPT' (models_deny: 'gpt-t*' matches model 'gpt-test')")
        #expect(b.retryAfterSeconds == nil)
        #expect(block(try await service().admit(GuardFixtures.call(model: "gpt-other"))) == nil)
    }

    /// A call naming no model Tally can read (an unread body, a hostile name) might name a denied one.
    @Test func aDenyListRefusesACallNamingNoModel() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", name: "No o3", rules: PolicyRules(modelsDeny: ["o3*"]))])
        let b = try #require(block(try await service().admit(GuardFixtures.call(model: nil))))
        #expect(b.status == 403 && b.rule == .modelsDeny && b.message.contains("names no model"))
    }

    @Test func aModelOutsideTheAllowListIsRefusedAndSoIsACallNamingNone() async throws {
        store.set(policies: [
            GuardFixtures.policy("pol_1", name: "Claude only", rules: PolicyRules(modelsAllow: ["claude-*"]))
        ])
        let s = service()
        let b = try #require(block(try await s.admit(GuardFixtures.call(model: "gpt-test"))))
        #expect(b.status == 403 && b.rule == .modelsAllow)
        #expect(b.message.contains("policy 'Claude only' (models_allow: claude-*; model 'gpt-test' is not among them)"))
        let none = try #require(block(try await s.admit(GuardFixtures.call(model: nil))))
        #expect(none.rule == .modelsAllow && none.message.contains("the call names no model"))
        #expect(block(try await s.admit(GuardFixtures.call(model: "claude-x"))) == nil)
    }

    @Test func tooLargeMaxTokensIs400() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", name: "Short", rules: PolicyRules(maxOutputTokens: 1000))])
        let b = try #require(block(try await service().admit(GuardFixtures.call(maxTokens: 4096))))
        #expect(b.status == 400 && b.code == "invalid_request" && b.rule == .maxOutputTokens)
        #expect(
            b.message == "Tally gateway: blocked by policy 'Short' (max_output_tokens: 1000; the call asks for 4096)")
        #expect(block(try await service().admit(GuardFixtures.call(maxTokens: 1000))) == nil)
        // Tally forwards the request as sent: without a max_tokens the cap could not hold, so one is required.
        let unset = try #require(block(try await service().admit(GuardFixtures.call(maxTokens: nil))))
        #expect(unset.status == 400 && unset.rule == .maxOutputTokens && unset.message.contains("sets no max_tokens"))
    }

    @Test func aTooExpensiveOrUnpricedCallIs403UnderACostCap() async throws {
        store.set(policies: [
            GuardFixtures.policy("pol_1", name: "Cheap", rules: PolicyRules(maxCostPerRequest: USD(decimal: "0.10")))
        ])
        let s = service()
        // 200 tokens at $0.000001: $0.0002.
        #expect(block(try await s.admit(GuardFixtures.call(maxTokens: 100, input: 100))) == nil)
        // 200,000 tokens: $0.20.
        let b = try #require(block(try await s.admit(GuardFixtures.call(maxTokens: 100_000, input: 100_000))))
        #expect(b.status == 403 && b.code == "permission_denied" && b.rule == .maxCostPerRequest)
        #expect(b.message.hasSuffix("(max_cost_per_request_usd: $0.10; this call could cost up to $0.20)"))
        let unpriced = try #require(block(try await s.admit(GuardFixtures.call(model: "unpriced"))))
        #expect(unpriced.rule == .maxCostPerRequest && unpriced.message.contains("'unpriced' has no price"))
    }

    @Test func withoutMaxTokensTheWorstCaseTakesTheEnforcedCapElseTheDefault() async throws {
        let call = GuardFixtures.call(maxTokens: nil, input: 0)
        let pricer = GuardFakePricer()
        let capped = [
            GuardFixtures.policy("a", rules: PolicyRules(maxOutputTokens: 500)),
            GuardFixtures.policy("b", rules: PolicyRules(maxOutputTokens: 300)),
            GuardFixtures.policy("c", mode: .monitor, rules: PolicyRules(maxOutputTokens: 10)),
        ]
        #expect(GuardEstimate(call, policies: capped, pricer: pricer, needsCost: true).outputTokens == 300)
        let estimate = GuardEstimate(call, policies: [], pricer: pricer, needsCost: true)
        #expect(estimate.outputTokens == 32_768 && estimate.cost == USD(nanos: 32_768_000))
        #expect(GuardEstimate(call, policies: [], pricer: pricer, needsCost: false).cost == nil)
    }

    @Test func aPolicyOutOfScopeDoesNotApply() async throws {
        store.set(policies: [
            GuardFixtures.policy("pol_1", scope: PolicyScope(projectID: "prj_2"), rules: PolicyRules(modelsDeny: ["*"]))
        ])
        #expect(block(try await service().admit(GuardFixtures.call())) == nil)
        #expect(block(try await service().admit(GuardFixtures.call(project: "prj_2"))) != nil)
    }

    @Test func anEnforcedBlockIsRecordedAsAHit() async throws {
        store.set(policies: [GuardFixtures.policy("pol_1", rules: PolicyRules(modelsDeny: ["*"]))])
        let s = service()
        _ = try await s.admit(GuardFixtures.call())
        let hits = s.hits.take().hits
        #expect(hits.count == 1)
        #expect(
            hits.first.map { ($0.policyID, $0.rule, $0.mode, $0.projectID, $0.model, $0.at) }
                .map { $0 == ("pol_1", .modelsDeny, .enforce, "prj_1", "gpt-test", GuardFixtures.now) } == true)
    }

    @Test func monitorModeRecordsAndProceeds() async throws {
        store.set(policies: [
            GuardFixtures.policy("pol_1", mode: .monitor, rules: PolicyRules(modelsDeny: ["*"], requestsPerMinute: 1))
        ])
        let s = service()
        for _ in 0..<3 {
            guard case .proceed = try await s.admit(GuardFixtures.call()) else {
                Issue.record("a monitor policy blocked a call")
                return
            }
        }
        let hits = s.hits.take().hits
        #expect(hits.allSatisfy { $0.mode == .monitor && $0.policyID == "pol_1" })
        #expect(hits.map(\.rule) == [.modelsDeny, .modelsDeny, .modelsDeny])
    }
}
