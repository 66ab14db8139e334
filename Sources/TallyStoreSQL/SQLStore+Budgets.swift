import TallyCore

/// Budgets (issue 17), written once for both dialects. Every query but the engine's work list names the organization.
extension SQLStore {
    static var budgetColumns: String {
        "SELECT id, org_id, name, scope, period, custom_from, custom_to, amount_nanos, thresholds, ledger, channel_ids, "
            + "enabled, enforce, muted_until_us, project_budget_of, created_us, updated_us FROM budgets"
    }

    static func budget(_ r: SQLRow) throws -> Budget {
        Budget(
            id: try r.text("id"), organizationID: try r.text("org_id"), name: try r.text("name"),
            scope: try r.parsed("scope", as: "a scope", ScopeColumn.scope(_:)), period: try r.raw("period"),
            customFrom: try r.optionalParsed("custom_from", as: "a date", { CivilDate(parsing: $0) }),
            customTo: try r.optionalParsed("custom_to", as: "a date", { CivilDate(parsing: $0) }),
            amount: USD(nanos: try r.int("amount_nanos")),
            thresholds: try r.parsed("thresholds", as: "a list of thresholds", Self.thresholds(_:)),
            ledger: try r.raw("ledger"), channelIDs: try r.parsed("channel_ids", as: "a list", ScopeColumn.list(_:)),
            enabled: try r.bool("enabled"), enforce: try r.bool("enforce"),
            mutedUntil: try r.optionalInstant("muted_until_us"),
            projectBudgetOf: try r.optionalText("project_budget_of"),
            createdAt: try r.instant("created_us"), updatedAt: try r.instant("updated_us"))
    }

    /// "80,90,100".
    static func thresholds(_ text: String) -> [Int]? {
        if text.isEmpty { return [] }
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int(part) else { return nil }
            out.append(n)
        }
        return out
    }

    private func budgetValues(_ b: Budget) -> [(String, SQLValue)] {
        [
            ("name", .text(b.name)), ("scope", .text(ScopeColumn.text(b.scope))), ("period", .text(b.period.rawValue)),
            ("custom_from", b.customFrom.map { .text($0.description) } ?? .null),
            ("custom_to", b.customTo.map { .text($0.description) } ?? .null), ("amount_nanos", .int(b.amount.nanos)),
            ("thresholds", .text(b.thresholds.map(String.init).joined(separator: ","))),
            ("ledger", .text(b.ledger.rawValue)), ("channel_ids", .text(ScopeColumn.list(b.channelIDs))),
            ("enabled", .int(b.enabled ? 1 : 0)), ("enforce", .int(b.enforce ? 1 : 0)),
            ("muted_until_us", b.mutedUntil.map { .int($0.microseconds) } ?? .null),
            ("project_budget_of", b.projectBudgetOf.map(SQLValue.text) ?? .null),
            ("updated_us", .int(b.updatedAt.microseconds)),
        ]
    }

    /// The unique keys are the name and the project a monthly budget belongs to: say which was taken.
    private func budgetConflict(_ b: Budget) -> TallyError {
        b.projectBudgetOf == nil
            ? .conflict("a budget named '\(b.name)' already exists")
            : .conflict("a budget named '\(b.name)' already exists, or the project has its monthly budget already")
    }

    public func createBudget(_ budget: Budget, audit: AuditRecord) async throws {
        let values =
            [("id", SQLValue.text(budget.id)), ("org_id", .text(budget.organizationID))] + budgetValues(budget)
            + [("created_us", .int(budget.createdAt.microseconds))]
        var insert = SQLStatement(dialect, "INSERT INTO budgets (\(values.map(\.0).joined(separator: ", "))) VALUES (")
        for (i, value) in values.enumerated() {
            if i > 0 { insert.append(", ") }
            insert.bind(value.1)
        }
        insert.append(")")
        do {
            try await database.transaction([SQLStep(insert), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict {
            throw budgetConflict(budget)
        }
    }

    public func updateBudget(_ budget: Budget, audit: AuditRecord) async throws {
        var update = SQLStatement(dialect, "UPDATE budgets SET ")
        for (i, value) in budgetValues(budget).enumerated() {
            update.append((i > 0 ? ", " : "") + value.0 + " = ")
            update.bind(value.1)
        }
        update.append(" WHERE org_id = ")
        update.bind(.text(budget.organizationID))
        update.append(" AND id = ")
        update.bind(.text(budget.id))
        do {
            try await database.transaction([SQLStep(update, expectedChanges: 1), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            throw TallyError.notFound("budget '\(budget.id)'")
        } catch TallyError.conflict {
            throw budgetConflict(budget)
        }
    }

    public func deleteBudget(organizationID: String, id: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM budgets WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
                    ]), expectedChanges: 1),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("budget '\(id)'"))
    }

    public func budgets(organizationID: String) async throws -> [Budget] {
        try await database.query(
            statement([(Self.budgetColumns + " WHERE org_id = ", .text(organizationID)), (" ORDER BY name, id", nil)])
        ).map(Self.budget)
    }

    public func budget(organizationID: String, id: String) async throws -> Budget? {
        try await database.query(
            statement([(Self.budgetColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))])
        ).first.map(Self.budget)
    }

    public func projectBudget(organizationID: String, projectID: String) async throws -> Budget? {
        try await database.query(
            statement([
                (Self.budgetColumns + " WHERE org_id = ", .text(organizationID)),
                (" AND project_budget_of = ", .text(projectID)),
            ])
        ).first.map(Self.budget)
    }

    public func enabledBudgets() async throws -> [Budget] {
        try await database.query(SQLStatement(dialect, Self.budgetColumns + " WHERE enabled = 1 ORDER BY org_id, id"))
            .map(Self.budget)
    }
}
