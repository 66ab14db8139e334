import TallyCore

/// Guardrail policies and their hits (issue 19), written once for both dialects. Every query but the janitor's
/// retention names the organization.
extension SQLStore {
    static var policyColumns: String {
        "SELECT id, org_id, name, project_id, token_id, user_id, feature, mode, models_allow, models_deny, "
            + "max_output_tokens, max_cost_nanos, requests_per_minute, tokens_per_minute, max_concurrent, channel_ids, "
            + "created_us, updated_us FROM policies"
    }

    static func policy(_ r: SQLRow) throws -> Policy {
        let rules = PolicyRules(
            modelsAllow: try r.optionalParsed("models_allow", as: "a list", ScopeColumn.list(_:)),
            modelsDeny: try r.optionalParsed("models_deny", as: "a list", ScopeColumn.list(_:)),
            maxOutputTokens: try r.optionalInt("max_output_tokens").map { Int($0) },
            maxCostPerRequest: try r.optionalInt("max_cost_nanos").map(USD.init(nanos:)),
            requestsPerMinute: try r.optionalInt("requests_per_minute").map { Int($0) },
            tokensPerMinute: try r.optionalInt("tokens_per_minute").map { Int($0) },
            maxConcurrent: try r.optionalInt("max_concurrent").map { Int($0) })
        return Policy(
            id: try r.text("id"), organizationID: try r.text("org_id"), name: try r.text("name"),
            scope: PolicyScope(
                projectID: try r.optionalText("project_id"), tokenID: try r.optionalText("token_id"),
                user: try r.optionalText("user_id"), feature: try r.optionalText("feature")),
            mode: try r.raw("mode"), rules: rules,
            channelIDs: try r.parsed("channel_ids", as: "a list", ScopeColumn.list(_:)),
            createdAt: try r.instant("created_us"), updatedAt: try r.instant("updated_us"))
    }

    private func policyValues(_ p: Policy) -> [(String, SQLValue)] {
        func text(_ v: String?) -> SQLValue { v.map(SQLValue.text) ?? .null }
        func int(_ v: Int?) -> SQLValue { v.map { .int(Int64($0)) } ?? .null }
        func list(_ v: [String]?) -> SQLValue { v.map { .text(ScopeColumn.list($0)) } ?? .null }
        return [
            ("name", .text(p.name)), ("project_id", text(p.scope.projectID)), ("token_id", text(p.scope.tokenID)),
            ("user_id", text(p.scope.user)), ("feature", text(p.scope.feature)), ("mode", .text(p.mode.rawValue)),
            ("models_allow", list(p.rules.modelsAllow)), ("models_deny", list(p.rules.modelsDeny)),
            ("max_output_tokens", int(p.rules.maxOutputTokens)),
            ("max_cost_nanos", p.rules.maxCostPerRequest.map { .int($0.nanos) } ?? .null),
            ("requests_per_minute", int(p.rules.requestsPerMinute)),
            ("tokens_per_minute", int(p.rules.tokensPerMinute)), ("max_concurrent", int(p.rules.maxConcurrent)),
            ("channel_ids", .text(ScopeColumn.list(p.channelIDs))), ("updated_us", .int(p.updatedAt.microseconds)),
        ]
    }

    public func createPolicy(_ policy: Policy, audit: AuditRecord) async throws {
        let values =
            [("id", SQLValue.text(policy.id)), ("org_id", .text(policy.organizationID))] + policyValues(policy)
            + [("created_us", .int(policy.createdAt.microseconds))]
        var insert = SQLStatement(dialect, "INSERT INTO policies (\(values.map(\.0).joined(separator: ", "))) VALUES (")
        for (i, value) in values.enumerated() {
            if i > 0 { insert.append(", ") }
            insert.bind(value.1)
        }
        insert.append(")")
        try await database.transaction(
            [SQLStep(insert), SQLStep(auditInsert(audit))],
            onConflict: .conflict("a policy named '\(policy.name)' already exists"))
    }

    public func updatePolicy(_ policy: Policy, audit: AuditRecord) async throws {
        var update = SQLStatement(dialect, "UPDATE policies SET ")
        for (i, value) in policyValues(policy).enumerated() {
            update.append((i > 0 ? ", " : "") + value.0 + " = ")
            update.bind(value.1)
        }
        update.append(" WHERE org_id = ")
        update.bind(.text(policy.organizationID))
        update.append(" AND id = ")
        update.bind(.text(policy.id))
        do {
            try await database.transaction([SQLStep(update, expectedChanges: 1), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            throw TallyError.notFound("policy '\(policy.id)'")
        } catch TallyError.conflict {
            throw TallyError.conflict("a policy named '\(policy.name)' already exists")
        }
    }

    public func deletePolicy(organizationID: String, id: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM policies WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
                    ]), expectedChanges: 1),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("policy '\(id)'"))
    }

    public func policies(organizationID: String) async throws -> [Policy] {
        try await database.query(
            statement([(Self.policyColumns + " WHERE org_id = ", .text(organizationID)), (" ORDER BY name, id", nil)])
        ).map(Self.policy)
    }

    public func policy(organizationID: String, id: String) async throws -> Policy? {
        try await database.query(
            statement([(Self.policyColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))])
        ).first.map(Self.policy)
    }

    // MARK: Hits

    /// Rows per INSERT: 9 parameters each stays far below either database's limit on bound parameters.
    static var hitsPerStatement: Int { 500 }

    public func recordPolicyHits(_ hits: [PolicyHit]) async throws {
        guard !hits.isEmpty else { return }
        var steps: [SQLStep] = []
        for start in stride(from: 0, to: hits.count, by: Self.hitsPerStatement) {
            var insert = SQLStatement(
                dialect,
                "INSERT INTO policy_hits (org_id, policy_id, budget_id, rule, mode, at_us, project_id, model, message) VALUES "
            )
            for (i, hit) in hits[start..<min(start + Self.hitsPerStatement, hits.count)].enumerated() {
                let values: [SQLValue] = [
                    .text(hit.organizationID), hit.policyID.map(SQLValue.text) ?? .null,
                    hit.budgetID.map(SQLValue.text) ?? .null, .text(hit.rule.rawValue), .text(hit.mode.rawValue),
                    .int(hit.at.microseconds), .text(hit.projectID), hit.model.map(SQLValue.text) ?? .null,
                    .text(hit.message),
                ]
                insert.append(i > 0 ? ", (" : "(")
                for (j, value) in values.enumerated() {
                    if j > 0 { insert.append(", ") }
                    insert.bind(value)
                }
                insert.append(")")
            }
            steps.append(SQLStep(insert))
        }
        try await database.transaction(steps)
    }

    public func policyHitCounts(organizationID: String, since: Instant) async throws -> [PolicyHitCount] {
        // COALESCE: the two databases sort NULLs at opposite ends.
        try await database.query(
            statement([
                (
                    "SELECT policy_id, budget_id, rule, mode, COUNT(*) AS n, MAX(at_us) AS last_us FROM policy_hits "
                        + "WHERE org_id = ", .text(organizationID)
                ),
                (" AND at_us >= ", .int(since.microseconds)),
                (
                    " GROUP BY policy_id, budget_id, rule, mode "
                        + "ORDER BY COALESCE(policy_id, ''), COALESCE(budget_id, ''), rule, mode", nil
                ),
            ])
        ).map { r in
            PolicyHitCount(
                policyID: try r.optionalText("policy_id"), budgetID: try r.optionalText("budget_id"),
                rule: try r.raw("rule"), mode: try r.raw("mode"), count: Int(try r.int("n")),
                last: try r.instant("last_us"))
        }
    }

    public func policyHits(organizationID: String, policyID: String?, limit: Int) async throws -> [PolicyHit] {
        var s = statement([
            (
                "SELECT org_id, policy_id, budget_id, rule, mode, at_us, project_id, model, message FROM policy_hits "
                    + "WHERE org_id = ", .text(organizationID)
            )
        ])
        if let policyID {
            s.append(" AND policy_id = ")
            s.bind(policyID)
        }
        s.append(" ORDER BY at_us DESC, seq DESC LIMIT ")
        s.bind(Int64(max(0, limit)))
        return try await database.query(s).map { r in
            PolicyHit(
                organizationID: try r.text("org_id"), policyID: try r.optionalText("policy_id"),
                budgetID: try r.optionalText("budget_id"), rule: try r.raw("rule"), mode: try r.raw("mode"),
                at: try r.instant("at_us"), projectID: try r.text("project_id"), model: try r.optionalText("model"),
                message: try r.text("message"))
        }
    }

    public func deletePolicyHits(before: Instant) async throws -> Int {
        try await database.execute(statement([("DELETE FROM policy_hits WHERE at_us < ", .int(before.microseconds))]))
    }
}
