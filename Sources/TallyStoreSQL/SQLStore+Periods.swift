import TallyCore

/// Closed months (issue 20), written once for both dialects.
extension SQLStore {
    public func closingCount(organizationID: String, month: String) async throws -> Int {
        Int(
            try await database.query(
                statement([
                    ("SELECT COUNT(*) AS n FROM period_closings WHERE org_id = ", .text(organizationID)),
                    (" AND month = ", .text(month)),
                ])
            ).only().int("n"))
    }

    public func repricingCount(organizationID: String) async throws -> Int {
        Int(
            try await database.query(
                statement([
                    ("SELECT COUNT(*) AS n FROM audit_log WHERE org_id = ", .text(organizationID)),
                    (" AND action = 'price.recompute'", nil),
                ])
            ).only().int("n"))
    }

    /// On PostgreSQL, closing and re-pricing each lock the organization's row first, so one waits for the other:
    /// a re-pricing after a closing sees the month closed, a closing after a re-pricing sees its audit record and
    /// refuses (the snapshot was computed before). SQLite's one writer orders them the same way.
    func organizationLock(_ organizationID: String) -> SQLStatement? {
        guard dialect == .postgres else { return nil }
        return statement([
            ("SELECT id FROM organizations WHERE id = ", .text(organizationID)), (" FOR UPDATE", nil),
        ])
    }

    public func closePeriod(_ period: ClosedPeriod, closing: Int, repricings: Int, audit: AuditRecord) async throws {
        let count = statement([
            ("INSERT INTO period_closings (org_id, month, closing) VALUES (", .text(period.organizationID)),
            (", ", .text(period.month)), (", ", .int(Int64(closing))), (")", nil),
        ])
        let insert = statement([
            (
                "INSERT INTO closed_periods (org_id, month, number, from_us, to_us, closed_us, closed_by, statements) "
                    + "VALUES (", .text(period.organizationID)
            ),
            (", ", .text(period.month)), (", ", .text(period.number)), (", ", .int(period.range.from.microseconds)),
            (", ", .int(period.range.to.microseconds)), (", ", .int(period.closedAt.microseconds)),
            (", ", .text(period.closedBy)), (", ", .text(period.statements)), (")", nil),
        ])
        let check = statement([
            ("SELECT COUNT(*) AS n FROM audit_log WHERE org_id = ", .text(period.organizationID)),
            (" AND action = 'price.recompute'", nil),
        ])
        let steps = [organizationLock(period.organizationID), check].compactMap { $0 }
        let writes = [count, insert, auditInsert(audit)]
        let repriced: Bool
        do {
            repriced = try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<Bool> in
                if outcomes.count < steps.count { return .run(steps[outcomes.count]) }
                if outcomes.count == steps.count {
                    let n = try outcomes[steps.count - 1].rows.only().int("n")
                    if n != Int64(repricings) { return .rollback(true) }
                }
                let next = outcomes.count - steps.count
                return next < writes.count ? .run(writes[next]) : .commit(false)
            }
        } catch TallyError.conflict {
            throw TallyError.conflict("\(period.month) is already closed")
        }
        if repriced {
            throw TallyError.conflict(
                "prices were recomputed while \(period.month) was being closed; close it again")
        }
    }

    public func reopenPeriod(organizationID: String, month: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM closed_periods WHERE org_id = ", .text(organizationID)),
                        (" AND month = ", .text(month)),
                    ]), expectedChanges: 1),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("closed period '\(month)'"))
    }

    public func closedPeriods(organizationID: String) async throws -> [ClosedPeriod] {
        try await database.query(
            statement([
                (
                    "SELECT org_id, month, number, from_us, to_us, closed_us, closed_by, '' AS statements "
                        + "FROM closed_periods WHERE org_id = ", .text(organizationID)
                ),
                (" ORDER BY month DESC", nil),
            ])
        ).map(Self.closedPeriod)
    }

    public func closedPeriod(organizationID: String, month: String) async throws -> ClosedPeriod? {
        try await database.query(
            statement([
                (
                    "SELECT org_id, month, number, from_us, to_us, closed_us, closed_by, statements "
                        + "FROM closed_periods WHERE org_id = ", .text(organizationID)
                ),
                (" AND month = ", .text(month)),
            ])
        ).first.map(Self.closedPeriod)
    }

    static func closedPeriod(_ r: SQLRow) throws -> ClosedPeriod {
        ClosedPeriod(
            organizationID: try r.text("org_id"), month: try r.text("month"), number: try r.text("number"),
            range: TimeRange(from: try r.instant("from_us"), to: try r.instant("to_us")),
            closedAt: try r.instant("closed_us"), closedBy: try r.text("closed_by"),
            statements: try r.text("statements"))
    }

    /// The first closed month holding one of these events, read in the transaction that would change them.
    static func closedMonth(holding changes: [RepricedEvent], in rows: [SQLRow]) throws -> String? {
        let closed = try rows.map {
            (month: try $0.text("month"), from: try $0.int("from_us"), to: try $0.int("to_us"))
        }
        guard !closed.isEmpty else { return nil }
        for change in changes {
            let ts = change.stored.event.timestamp.microseconds
            if let hit = closed.first(where: { $0.from <= ts && ts < $0.to }) { return hit.month }
        }
        return nil
    }
}
