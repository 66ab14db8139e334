import TallyCore
import TallyStorePostgres
import TallyStoreSQL
import TallyStoreSQLite
import TallyTestSupport
import Testing

/// The store with the guardrails' protocols, which `TallyStore` does not (yet) gather.
typealias GuardrailStore = TallyStore & PolicyStore & GuardCounterStore

extension StoreKind {
    func withGuardrailStore(_ body: @Sendable (any GuardrailStore) async throws -> Void) async throws {
        try await withStore { store in try await body(try #require(store as? any GuardrailStore)) }
    }
}

/// The policies half of the guardrails' store contract (issue 19), on both stores.
@Suite(.serialized) struct PolicyStoreContractTests {
    func audit(_ org: String, _ action: String = "policy.create") -> AuditRecord {
        AuditRecord(
            id: Identifier.make("aud"), organizationID: org, at: .now, actor: "user:a@b.c", action: action,
            detail: "{}")
    }

    func policy(_ org: String, _ name: String, id: String = Identifier.make("pol")) -> Policy {
        Policy(
            id: id, organizationID: org, name: name,
            scope: PolicyScope(projectID: "prj_1", tokenID: "tok_1", user: "ann \"the\" ✓", feature: "chat"),
            mode: .monitor,
            rules: PolicyRules(
                modelsAllow: ["gpt-5.4-*", "claude-?-\"x\""], modelsDeny: ["o3*"], maxOutputTokens: 4096,
                maxCostPerRequest: USD(decimal: "0.500000001")!, requestsPerMinute: 60, tokensPerMinute: 100_000,
                maxConcurrent: 4),
            channelIDs: ["ch_a", "ch_b"], createdAt: at("2026-12-01T10:00:00.123456Z"),
            updatedAt: at("2026-12-01T10:00:00.123456Z"))
    }

    /// Every field comes back exactly as written (absent rules stay absent, an empty list stays empty), the list is
    /// ordered by name, an update replaces all but id/organization/creation, and each write leaves an audit record.
    @Test(arguments: StoreKind.available)
    func policiesRoundTripExactly(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let full = policy(org.id, "Search")
            try await store.createPolicy(full, audit: audit(org.id))
            let bare = Policy(
                id: "pol_bare", organizationID: org.id, name: "All", scope: PolicyScope(), mode: .enforce,
                rules: PolicyRules(modelsAllow: []), createdAt: .now, updatedAt: .now)
            try await store.createPolicy(bare, audit: audit(org.id))
            #expect(try await store.policy(organizationID: org.id, id: full.id) == full)
            #expect(try await store.policy(organizationID: org.id, id: bare.id) == bare)
            #expect(try await store.policies(organizationID: org.id).map(\.name) == ["All", "Search"])

            var changed = full
            changed.name = "Search v2"
            changed.scope = PolicyScope(feature: "batch")
            changed.mode = .enforce
            changed.rules = PolicyRules(requestsPerMinute: 5)
            changed.channelIDs = []
            changed.updatedAt = at("2026-12-02T10:00:00Z")
            changed.createdAt = at("2030-01-01T00:00:00Z")  // ignored: creation is fixed
            try await store.updatePolicy(changed, audit: audit(org.id, "policy.update"))
            changed.createdAt = full.createdAt
            #expect(try await store.policy(organizationID: org.id, id: full.id) == changed)

            try await store.deletePolicy(organizationID: org.id, id: full.id, audit: audit(org.id, "policy.delete"))
            #expect(try await store.policy(organizationID: org.id, id: full.id) == nil)
            let actions = try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).map(\.action)
            #expect(actions.sorted() == ["policy.create", "policy.create", "policy.delete", "policy.update"])
        }
    }

    /// A taken name is a conflict that stores nothing (audit record included), on create and on rename; another
    /// organization may use the same name.
    @Test(arguments: StoreKind.available)
    func aTakenNameIsAConflict(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            try await store.createPolicy(policy(org.id, "Search"), audit: audit(org.id))
            try await store.createPolicy(policy(org.id, "Chat", id: "pol_chat"), audit: audit(org.id))
            await #expect(throws: TallyError.conflict("a policy named 'Search' already exists")) {
                try await store.createPolicy(policy(org.id, "Search"), audit: audit(org.id))
            }
            await #expect(throws: TallyError.conflict("a policy named 'Search' already exists")) {
                try await store.updatePolicy(policy(org.id, "Search", id: "pol_chat"), audit: audit(org.id))
            }
            #expect(try await store.policy(organizationID: org.id, id: "pol_chat")?.name == "Chat")
            try await store.createPolicy(policy(other.id, "Search"), audit: audit(other.id))
            #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).count == 2)
        }
    }

    /// Another organization's policy is not found by any call: read, list, update, delete.
    @Test(arguments: StoreKind.available)
    func anotherOrganizationsPolicyIsNotFound(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            let theirs = policy(other.id, "Theirs", id: "pol_theirs")
            try await store.createPolicy(theirs, audit: audit(other.id))
            #expect(try await store.policy(organizationID: org.id, id: theirs.id) == nil)
            #expect(try await store.policies(organizationID: org.id).isEmpty)
            var hijack = theirs
            hijack.organizationID = org.id
            hijack.name = "Mine"
            await #expect(throws: TallyError.notFound("policy 'pol_theirs'")) {
                try await store.updatePolicy(hijack, audit: audit(org.id, "policy.update"))
            }
            await #expect(throws: TallyError.notFound("policy 'pol_theirs'")) {
                try await store.deletePolicy(organizationID: org.id, id: theirs.id, audit: audit(org.id))
            }
            #expect(try await store.policy(organizationID: other.id, id: theirs.id) == theirs)
            #expect(try await store.auditRecords(organizationID: org.id, limit: 10, before: nil).isEmpty)
        }
    }

    func hit(
        _ org: String, policy: String? = "pol_a", budget: String? = nil, _ rule: PolicyRule = .requestsPerMinute,
        mode: PolicyMode = .enforce, at time: String, model: String? = "gpt-4o", message: String = "blocked"
    ) -> PolicyHit {
        PolicyHit(
            organizationID: org, policyID: policy, budgetID: budget, rule: rule, mode: mode, at: at(time),
            projectID: "prj_1", model: model, message: message)
    }

    /// Hits are stored in one call however many there are, counted by policy or budget, rule and mode with the
    /// newest time, read newest first (of one policy or all), kept when their policy is deleted, and deleted by age.
    @Test(arguments: StoreKind.available)
    func hitsAreCountedListedAndRetired(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            let org = try await store.defaultOrganization(timeZone: "UTC")
            let other = Organization(id: "org_other", name: "Other", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(other)
            let many = (0..<1_203).map { i in
                hit(org.id, .maxConcurrent, mode: .monitor, at: "2026-12-01T10:\(i % 60 < 10 ? "0" : "")\(i % 60):00Z")
            }
            try await store.recordPolicyHits(many)
            try await store.recordPolicyHits([
                hit(
                    org.id, policy: nil, budget: "bud_1", .budget, at: "2026-12-02T09:00:00Z", model: nil,
                    message: "$10 ✓"),
                hit(org.id, .requestsPerMinute, at: "2026-12-02T10:00:00Z", message: "first"),
                hit(org.id, .requestsPerMinute, at: "2026-12-02T10:00:00Z", message: "second"),
                hit(org.id, policy: "pol_b", .modelsDeny, at: "2026-11-01T00:00:00Z"),
                hit(other.id, .requestsPerMinute, at: "2026-12-02T11:00:00Z"),
            ])
            try await store.recordPolicyHits([])

            let counts = try await store.policyHitCounts(organizationID: org.id, since: at("2026-12-01T00:00:00Z"))
            #expect(
                counts == [
                    PolicyHitCount(
                        policyID: nil, budgetID: "bud_1", rule: .budget, mode: .enforce, count: 1,
                        last: at("2026-12-02T09:00:00Z")),
                    PolicyHitCount(
                        policyID: "pol_a", budgetID: nil, rule: .maxConcurrent, mode: .monitor, count: 1_203,
                        last: at("2026-12-01T10:59:00Z")),
                    PolicyHitCount(
                        policyID: "pol_a", budgetID: nil, rule: .requestsPerMinute, mode: .enforce, count: 2,
                        last: at("2026-12-02T10:00:00Z")),
                ])

            let newest = try await store.policyHits(organizationID: org.id, policyID: nil, limit: 3)
            #expect(newest.map(\.message) == ["second", "first", "$10 ✓"])
            #expect(
                newest[2]
                    == hit(
                        org.id, policy: nil, budget: "bud_1", .budget, at: "2026-12-02T09:00:00Z", model: nil,
                        message: "$10 ✓"))
            let ofB = try await store.policyHits(organizationID: org.id, policyID: "pol_b", limit: 10)
            #expect(ofB == [hit(org.id, policy: "pol_b", .modelsDeny, at: "2026-11-01T00:00:00Z")])
            #expect(try await store.policyHits(organizationID: other.id, policyID: "pol_b", limit: 10).isEmpty)

            // pol_b's, and the 1,203's of minutes 0-29.
            #expect(try await store.deletePolicyHits(before: at("2026-12-01T10:30:00Z")) == 1 + 20 * 30 + 3)
            #expect(try await store.policyHits(organizationID: org.id, policyID: "pol_b", limit: 10).isEmpty)
            #expect(try await store.policyHits(organizationID: other.id, policyID: nil, limit: 10).count == 1)
        }
    }

    /// Policies, hits, counters and reservations go with their organization.
    @Test(arguments: StoreKind.available)
    func guardrailsGoWithTheirOrganization(kind: StoreKind) async throws {
        try await kind.withGuardrailStore { store in
            let gone = Organization(id: "org_gone", name: "Gone", timeZone: "UTC", createdAt: .now)
            try await store.createOrganization(gone)
            try await store.createPolicy(policy(gone.id, "Search"), audit: audit(gone.id))
            try await store.recordPolicyHits([hit(gone.id, at: "2026-12-02T10:00:00Z")])
            let hold = GuardHold(
                key: "concurrent:pol_a", amount: 1, limit: 5, counterExpiresAt: at("2100-01-01T00:00:00Z"))
            #expect(
                try await store.reserve(organizationID: gone.id, id: "r1", holds: [hold], expiresAt: .now) == .reserved)
            try await store.deleteOrganization(id: gone.id)
            #expect(try await store.policies(organizationID: gone.id).isEmpty)
            #expect(try await store.policyHits(organizationID: gone.id, policyID: nil, limit: 10).isEmpty)
            #expect(try await store.guardCounters(organizationID: gone.id, keys: [hold.key]).isEmpty)
            #expect(try await store.expireReservations(now: at("2100-01-01T00:00:00Z")) == 0)
        }
    }
}
