import TallyCore

/// Guardrail policies (issue 19): checks what a request asks for, stores it with an audit record, and tells the
/// gateway's guard (`changed`, its cache invalidation) so a new limit holds on this replica at once; other replicas
/// reload within their cache's few seconds.
///
/// Policies live in their own store (`Policies`) beside the one the rest is read from: both are the SQL store in the
/// server, and tests can hold policies in a fake.
public struct PolicyService<Policies: PolicyStore, Store: ProjectStore & TokenStore & AlertChannelStore>: Sendable {
    public let policies: Policies
    public let store: Store
    let changed: @Sendable (_ organizationID: String) -> Void

    public init(
        policies: Policies, store: Store, changed: @escaping @Sendable (_ organizationID: String) -> Void = { _ in }
    ) {
        self.policies = policies
        self.store = store
        self.changed = changed
    }

    // MARK: Reading

    public func list(organizationID: String) async throws -> [Policy] {
        try await policies.policies(organizationID: organizationID)
    }

    /// Another organization's policy is not found, as an unknown one.
    public func find(_ id: String, organizationID: String) async throws -> Policy {
        guard let policy = try await policies.policy(organizationID: organizationID, id: id) else {
            throw TallyError.notFound("policy '\(id.prefix(64))'")
        }
        return policy
    }

    /// Blocks (and would-be blocks) per policy in the last 7 days, by mode: the API's `hits_7d` and the page's counts.
    public func hitCounts(organizationID: String, now: Instant = .now) async throws -> [String: [PolicyMode: Int]] {
        let since = Instant(microseconds: now.microseconds - 7 * 86_400 * 1_000_000)
        var out: [String: [PolicyMode: Int]] = [:]
        for count in try await policies.policyHitCounts(organizationID: organizationID, since: since) {
            guard let id = count.policyID else { continue }
            out[id, default: [:]][count.mode, default: 0] += count.count
        }
        return out
    }

    /// The newest hits, newest first: of one policy, or of every policy and enforced budget.
    public func hits(organizationID: String, policyID: String?, limit: Int) async throws -> [PolicyHit] {
        try await policies.policyHits(organizationID: organizationID, policyID: policyID, limit: limit)
    }

    /// Project ids to names, for showing a scope as the API speaks it.
    public func projectNames(organizationID: String) async throws -> [String: String] {
        Dictionary(
            try await store.projects(organizationID: organizationID).map { ($0.id, $0.name) },
            uniquingKeysWith: { a, _ in a })
    }

    // MARK: Writing

    /// A new policy: `name` and `rules` (at least one) required; `mode` defaults to monitor, a dry run first.
    public static var maximumCount: Int { 100 }

    public func create(_ draft: PolicyDraft, principal: Principal, now: Instant = .now) async throws -> Policy {
        let policy = try await checked(draft, over: nil, organizationID: principal.organizationID, now: now)
        // Every policy in scope is one more counter in each call's reservation: the list stays short.
        guard try await policies.policies(organizationID: principal.organizationID).count < Self.maximumCount else {
            throw TallyError.conflict("an organization has at most \(Self.maximumCount) policies; delete one first")
        }
        try await policies.createPolicy(policy, audit: audit(policy, "policy.create", principal, now))
        changed(policy.organizationID)
        return policy
    }

    /// Changes the fields given only (within `scope` and `rules`, the keys given; null removes one).
    public func update(_ id: String, _ draft: PolicyDraft, principal: Principal, now: Instant = .now) async throws
        -> Policy
    {
        let current = try await find(id, organizationID: principal.organizationID)
        let policy = try await checked(draft, over: current, organizationID: principal.organizationID, now: now)
        try await policies.updatePolicy(policy, audit: audit(policy, "policy.update", principal, now))
        changed(policy.organizationID)
        return policy
    }

    public func delete(_ id: String, principal: Principal, now: Instant = .now) async throws {
        let policy = try await find(id, organizationID: principal.organizationID)
        try await policies.deletePolicy(
            organizationID: principal.organizationID, id: id, audit: audit(policy, "policy.delete", principal, now))
        changed(policy.organizationID)
    }

    /// The policy a draft asks for; every problem is reported at once, each naming its field; nothing is stored.
    func checked(_ draft: PolicyDraft, over current: Policy?, organizationID org: String, now: Instant) async throws
        -> Policy
    {
        var problems: [FieldProblem] = []
        func take<T>(_ result: Result<T, FieldProblem>) -> T? {
            switch result {
            case .success(let value): return value
            case .failure(let problem):
                problems.append(problem)
                return nil
            }
        }
        var policy =
            current
            ?? Policy(
                id: Identifier.make("pol"), organizationID: org, name: "", scope: PolicyScope(), mode: .monitor,
                rules: PolicyRules(), createdAt: now, updatedAt: now)
        policy.updatedAt = now
        if let raw = draft.name, let name = take(PolicyChecks.name(raw)) {
            policy.name = name
        } else if draft.name == nil, current == nil {
            problems.append(FieldProblem(field: "name", reason: "is required"))
        }
        if let raw = draft.mode, let mode = take(PolicyChecks.mode(raw)) { policy.mode = mode }
        if let scope = draft.scope {
            problems += try await apply(scope, to: &policy.scope, organizationID: org)
        }
        if let rules = draft.rules {
            problems += PolicyChecks.apply(rules, to: &policy.rules)
        } else if current == nil {
            problems.append(FieldProblem(field: "rules", reason: "is required: at least one rule"))
        }
        if policy.rules.isEmpty, !problems.contains(where: { $0.field == "rules" || $0.field.hasPrefix("rules.") }) {
            problems.append(
                FieldProblem(
                    field: "rules",
                    reason: "must hold at least one rule: " + PolicyDraft.ruleFields.joined(separator: ", ")))
        }
        if let ids = draft.channelIDs {
            problems += try await checkChannels(ids, organizationID: org)
            var seen = Set<String>()
            policy.channelIDs = ids.filter { seen.insert($0).inserted }
        }
        if !problems.isEmpty { throw TallyError.invalid(problems) }
        return policy
    }

    /// Projects by name (kept by id), tokens by id (of this organization), user and feature as events hold them.
    private func apply(_ given: [String: String?], to scope: inout PolicyScope, organizationID org: String)
        async throws -> [FieldProblem]
    {
        var problems: [FieldProblem] = []
        for key in PolicyDraft.scopeFields {
            guard let entry = given[key] else { continue }
            let field = "scope.\(key)"
            guard let value = entry else {
                switch key {
                case "project": scope.projectID = nil
                case "token": scope.tokenID = nil
                case "user": scope.user = nil
                default: scope.feature = nil
                }
                continue
            }
            switch key {
            case "project":
                guard PolicyChecks.text(value, field: field) == nil,
                    let project = try await store.project(organizationID: org, name: value)
                else {
                    problems.append(
                        FieldProblem(
                            field: field, reason: "'\(value.prefix(64))' is not a project of this organization"))
                    continue
                }
                scope.projectID = project.id
            case "token":
                guard PolicyChecks.isTokenID(value),
                    try await store.tokens(organizationID: org).contains(where: { $0.id == value })
                else {
                    problems.append(
                        FieldProblem(
                            field: field, reason: "must be the id (tok_…) of an API token of this organization"))
                    continue
                }
                scope.tokenID = value
            default:
                if let problem = PolicyChecks.text(value, field: field) {
                    problems.append(problem)
                } else if key == "user" {
                    scope.user = value
                } else {
                    scope.feature = value
                }
            }
        }
        return problems
    }

    private func checkChannels(_ ids: [String], organizationID org: String) async throws -> [FieldProblem] {
        var seen = Set<String>()
        let unique = ids.filter { seen.insert($0).inserted }
        guard unique.count <= PolicyChecks.maximumChannels else {
            return [FieldProblem(field: "channel_ids", reason: "at most \(PolicyChecks.maximumChannels) channels")]
        }
        var problems: [FieldProblem] = []
        for id in unique {
            // The form first: a NUL byte or other junk never reaches the store (PostgreSQL refuses it with a 5xx).
            guard AlertRules.isChannelID(id) else {
                problems.append(
                    FieldProblem(field: "channel_ids", reason: "must hold alert channel ids such as \"ch_…\""))
                continue
            }
            if try await store.alertChannel(organizationID: org, id: id) == nil {
                problems.append(
                    FieldProblem(field: "channel_ids", reason: "'\(id)' is not an alert channel of this organization"))
            }
        }
        return problems
    }

    /// Id, name and mode: what a reader of the audit log needs to find the policy.
    private func audit(_ p: Policy, _ action: String, _ principal: Principal, _ now: Instant) -> AuditRecord {
        .make(
            organizationID: p.organizationID, actor: principal.actor, action: action,
            detail: [("id", .string(p.id)), ("name", .string(p.name)), ("mode", .string(p.mode.rawValue))], at: now)
    }
}
