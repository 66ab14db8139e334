import TallyCore

/// Alerts, their delivery outbox and the alert channels; once for both dialects.
extension SQLStore {
    private func micros(_ i: Instant?) -> SQLValue { i.map { .int($0.microseconds) } ?? .null }

    // MARK: Alerts

    static var alertColumns: String {
        "SELECT id, org_id, type, dedupe_key, status, fired_us, budget_id, rule, scope, figures, acknowledged_us, "
            + "acknowledged_by, resolved_us FROM alerts"
    }

    static func alert(_ r: SQLRow) throws -> Alert {
        Alert(
            id: try r.text("id"), organizationID: try r.text("org_id"), type: try r.raw("type"),
            dedupeKey: try r.text("dedupe_key"), status: try r.raw("status"), firedAt: try r.instant("fired_us"),
            budgetID: try r.optionalText("budget_id"), rule: try r.optionalText("rule"),
            scope: try r.parsed("scope", as: "a scope", ScopeColumn.scope(_:)),
            figures: try r.parsed("figures", as: "alert figures", FiguresColumn.figures(_:)),
            acknowledgedAt: try r.optionalInstant("acknowledged_us"),
            acknowledgedBy: try r.optionalText("acknowledged_by"),
            resolvedAt: try r.optionalInstant("resolved_us"))
    }

    public func recordAlert(_ alert: Alert, deliveries: [AlertDelivery]) async throws -> Bool {
        var insert = insertStatement(
            "alerts",
            [
                "id", "org_id", "type", "dedupe_key", "status", "fired_us", "budget_id", "rule", "scope", "figures",
                "acknowledged_us", "acknowledged_by", "resolved_us",
            ],
            [
                .text(alert.id), .text(alert.organizationID), .text(alert.type.rawValue), .text(alert.dedupeKey),
                .text(alert.status.rawValue), .int(alert.firedAt.microseconds), Self.optional(alert.budgetID),
                Self.optional(alert.rule), .text(ScopeColumn.text(alert.scope)),
                .text(FiguresColumn.text(alert.figures)), micros(alert.acknowledgedAt),
                Self.optional(alert.acknowledgedBy), micros(alert.resolvedAt),
            ])
        // The key another replica may have recorded a moment ago: then this insert changes no row (PostgreSQL waits
        // for that replica's commit first), the step's expectation rolls the deliveries back, and the answer is false.
        insert.append(" ON CONFLICT (org_id, dedupe_key) DO NOTHING")
        let steps = [SQLStep(insert, expectedChanges: 1)] + deliveries.map { SQLStep(deliveryInsert($0)) }
        do {
            try await database.transaction(steps)
            return true
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            return false
        }
    }

    public func alerts(_ query: AlertQuery) async throws -> [Alert] {
        let org = SQLValue.text(query.organizationID)
        var parts: [(String, SQLValue?)] = [(Self.alertColumns + " WHERE org_id = ", org)]
        if let type = query.type { parts.append((" AND type = ", .text(type.rawValue))) }
        if let status = query.status { parts.append((" AND status = ", .text(status.rawValue))) }
        if let from = query.from { parts.append((" AND fired_us >= ", .int(from.microseconds))) }
        if let to = query.to { parts.append((" AND fired_us < ", .int(to.microseconds))) }
        if let after = query.after {
            // Keyset: strictly after the cursor's alert in (fired_us DESC, id DESC); an unknown cursor finds nothing.
            let cursor = "(SELECT fired_us FROM alerts WHERE org_id = "
            parts += [
                (" AND (fired_us < " + cursor, org), (" AND id = ", .text(after)),
                (") OR (fired_us = " + cursor, org), (" AND id = ", .text(after)), (") AND id < ", .text(after)),
                ("))", nil),
            ]
        }
        parts.append((" ORDER BY fired_us DESC, id DESC LIMIT ", .int(Int64(max(0, query.limit)))))
        return try await database.query(statement(parts)).map(Self.alert)
    }

    public func alert(organizationID: String, id: String) async throws -> Alert? {
        try await database.query(
            statement([(Self.alertColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))])
        ).first.map(Self.alert)
    }

    public func firedAlerts(organizationID: String, keys: [String]) async throws -> [String: Instant] {
        guard !keys.isEmpty else { return [:] }
        var s = statement([("SELECT dedupe_key, fired_us FROM alerts WHERE org_id = ", .text(organizationID))])
        s.append(" AND dedupe_key IN (")
        for (i, key) in Set(keys).sorted().enumerated() {
            if i > 0 { s.append(", ") }
            s.bind(key)
        }
        s.append(")")
        var fired: [String: Instant] = [:]
        for row in try await database.query(s) { fired[try row.text("dedupe_key")] = try row.instant("fired_us") }
        return fired
    }

    public func updateAlertStatus(
        organizationID: String, id: String, status: AlertStatus, by: String?, at: Instant, audit: AuditRecord?
    ) async throws {
        var parts: [(String, SQLValue?)] = [("UPDATE alerts SET status = ", .text(status.rawValue))]
        switch status {
        case .acknowledged:
            parts += [(", acknowledged_us = ", .int(at.microseconds)), (", acknowledged_by = ", Self.optional(by))]
        case .resolved: parts.append((", resolved_us = ", .int(at.microseconds)))
        case .open: parts.append((", acknowledged_us = NULL, acknowledged_by = NULL, resolved_us = NULL", nil))
        }
        parts += [(" WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))]
        try await database.transaction(
            [SQLStep(statement(parts), expectedChanges: 1)] + (audit.map { [SQLStep(auditInsert($0))] } ?? []),
            onConflict: .notFound("alert '\(id)'"))
    }

    public func deleteAlert(organizationID: String, id: String) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM alert_deliveries WHERE org_id = ", .text(organizationID)),
                        (" AND alert_id = ", .text(id)),
                    ])),
                SQLStep(
                    statement([
                        ("DELETE FROM alerts WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
                    ]), expectedChanges: 1),
            ], onConflict: .notFound("alert '\(id)'"))
    }

    // MARK: Delivery outbox

    static var deliveryColumns: String {
        "SELECT id, org_id, alert_id, channel_id, status, attempts, last_error, next_attempt_us, delivered_us, "
            + "created_us FROM alert_deliveries"
    }

    static func delivery(_ r: SQLRow) throws -> AlertDelivery {
        AlertDelivery(
            id: try r.text("id"), organizationID: try r.text("org_id"), alertID: try r.text("alert_id"),
            channelID: try r.text("channel_id"), status: try r.raw("status"), attempts: Int(try r.int("attempts")),
            lastError: try r.optionalText("last_error"), nextAttemptAt: try r.instant("next_attempt_us"),
            deliveredAt: try r.optionalInstant("delivered_us"), createdAt: try r.instant("created_us"))
    }

    func deliveryInsert(_ d: AlertDelivery) -> SQLStatement {
        insertStatement(
            "alert_deliveries",
            [
                "id", "org_id", "alert_id", "channel_id", "status", "attempts", "last_error", "next_attempt_us",
                "delivered_us", "created_us",
            ],
            [
                .text(d.id), .text(d.organizationID), .text(d.alertID), .text(d.channelID), .text(d.status.rawValue),
                .int(Int64(d.attempts)), Self.optional(d.lastError), .int(d.nextAttemptAt.microseconds),
                micros(d.deliveredAt), .int(d.createdAt.microseconds),
            ])
    }

    public func claimDueDeliveries(holder: String, now: Instant, until: Instant, limit: Int) async throws
        -> [AlertDelivery]
    {
        let due: [(String, SQLValue?)] = [
            (" status = 'pending' AND next_attempt_us <= ", .int(now.microseconds)),
            (" AND (claimed_until_us IS NULL OR claimed_until_us <= ", .int(now.microseconds)), (")", nil),
        ]
        // The outer WHERE repeats the condition: on PostgreSQL a row another replica claimed meanwhile is re-read
        // after its commit and no longer matches (and SKIP LOCKED passes over rows being claimed right now); SQLite
        // has one writer. The claim's own `until` then finds the rows this call took.
        let skipLocked = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let claim = statement(
            [
                ("UPDATE alert_deliveries SET claimed_by = ", .text(holder)),
                (", claimed_until_us = ", .int(until.microseconds)),
                (" WHERE id IN (SELECT id FROM alert_deliveries WHERE", nil),
            ] + due + [
                (" ORDER BY next_attempt_us, id LIMIT ", .int(Int64(max(0, limit)))), (skipLocked + ") AND", nil),
            ] + due)
        guard try await database.execute(claim) > 0 else { return [] }
        return try await database.query(
            statement([
                (Self.deliveryColumns + " WHERE status = 'pending' AND claimed_by = ", .text(holder)),
                (" AND claimed_until_us = ", .int(until.microseconds)), (" ORDER BY next_attempt_us, id", nil),
            ])
        ).map(Self.delivery)
    }

    public func finishDelivery(_ d: AlertDelivery, holder: String) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE alert_deliveries SET status = ", .text(d.status.rawValue)),
                (", attempts = ", .int(Int64(d.attempts))), (", last_error = ", Self.optional(d.lastError)),
                (", next_attempt_us = ", .int(d.nextAttemptAt.microseconds)),
                (", delivered_us = ", micros(d.deliveredAt)),
                (", claimed_by = NULL, claimed_until_us = NULL WHERE org_id = ", .text(d.organizationID)),
                (" AND id = ", .text(d.id)), (" AND claimed_by = ", .text(holder)),
            ]))
        guard changed == 1 else {
            throw TallyError.conflict(
                "delivery '\(d.id)' is no longer claimed by this process; its result was not kept")
        }
    }

    public func deliveries(organizationID: String, alertID: String) async throws -> [AlertDelivery] {
        try await database.query(
            statement([
                (Self.deliveryColumns + " WHERE org_id = ", .text(organizationID)),
                (" AND alert_id = ", .text(alertID)),
                (" ORDER BY created_us, id", nil),
            ])
        ).map(Self.delivery)
    }

    // MARK: Channels

    static var channelColumns: String {
        "SELECT id, org_id, name, kind, targets, secret_sealed, created_us, updated_us FROM alert_channels"
    }

    static func channel(_ r: SQLRow) throws -> AlertChannel {
        AlertChannel(
            id: try r.text("id"), organizationID: try r.text("org_id"), name: try r.text("name"),
            kind: try r.raw("kind"), targets: try r.parsed("targets", as: "a list of targets", ScopeColumn.list(_:)),
            sealedSecret: try r.optionalText("secret_sealed"), createdAt: try r.instant("created_us"),
            updatedAt: try r.instant("updated_us"))
    }

    public func createAlertChannel(_ c: AlertChannel, audit: AuditRecord) async throws {
        let insert = insertStatement(
            "alert_channels", ["id", "org_id", "name", "kind", "targets", "secret_sealed", "created_us", "updated_us"],
            [
                .text(c.id), .text(c.organizationID), .text(c.name), .text(c.kind.rawValue),
                .text(ScopeColumn.list(c.targets)), Self.optional(c.sealedSecret), .int(c.createdAt.microseconds),
                .int(c.updatedAt.microseconds),
            ])
        try await database.transaction([SQLStep(insert), SQLStep(auditInsert(audit))])
    }

    public func updateAlertChannel(_ c: AlertChannel, audit: AuditRecord) async throws {
        let update = statement([
            ("UPDATE alert_channels SET name = ", .text(c.name)), (", kind = ", .text(c.kind.rawValue)),
            (", targets = ", .text(ScopeColumn.list(c.targets))), (", secret_sealed = ", Self.optional(c.sealedSecret)),
            (", updated_us = ", .int(c.updatedAt.microseconds)),
            (" WHERE org_id = ", .text(c.organizationID)), (" AND id = ", .text(c.id)),
        ])
        try await database.transaction(
            [SQLStep(update, expectedChanges: 1), SQLStep(auditInsert(audit))],
            onConflict: .notFound("alert channel '\(c.id)'"))
    }

    public func deleteAlertChannel(organizationID: String, id: String, audit: AuditRecord) async throws {
        let org = SQLValue.text(organizationID)
        try await database.transaction(
            [
                SQLStep(
                    statement([("DELETE FROM alert_channels WHERE org_id = ", org), (" AND id = ", .text(id))]),
                    expectedChanges: 1),
                // Nothing will deliver them now; the alert's delivery log says why.
                SQLStep(
                    statement([
                        (
                            "UPDATE alert_deliveries SET status = 'failed', last_error = 'channel deleted', "
                                + "claimed_by = NULL, claimed_until_us = NULL WHERE org_id = ", org
                        ),
                        (" AND channel_id = ", .text(id)), (" AND status = 'pending'", nil),
                    ])),
                // Rules and budgets stop naming it (else every later save of the rules fails on the stale id).
                SQLStep(withoutChannel(id, table: "alert_rules", column: "definition", organizationID: organizationID)),
                SQLStep(withoutChannel(id, table: "budgets", column: "channel_ids", organizationID: organizationID)),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("alert channel '\(id)'"))
    }

    /// Removes the channel id from the compact JSON string list in `column` (the rules' `"channels":[…]`, a budget's
    /// `channel_ids`): `"id",` when others follow, `,"id"` when it is last, `"id"` when it is alone.
    private func withoutChannel(_ id: String, table: String, column: String, organizationID: String) -> SQLStatement {
        var w = JSONWriter()
        w.string(id)
        let quoted = w.text
        return statement([
            ("UPDATE \(table) SET \(column) = REPLACE(REPLACE(REPLACE(\(column), ", .text(quoted + ",")),
            (", ''), ", .text("," + quoted)), (", ''), ", .text(quoted)),
            (", '') WHERE org_id = ", .text(organizationID)), (" AND \(column) LIKE ", .text("%" + quoted + "%")),
        ])
    }

    public func alertChannels(organizationID: String) async throws -> [AlertChannel] {
        try await database.query(
            statement([
                (Self.channelColumns + " WHERE org_id = ", .text(organizationID)), (" ORDER BY created_us, id", nil),
            ])
        ).map(Self.channel)
    }

    public func alertChannel(organizationID: String, id: String) async throws -> AlertChannel? {
        try await database.query(
            statement([(Self.channelColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id))])
        ).first.map(Self.channel)
    }
}

// MARK: Master key rotation

extension SQLStore {
    /// The alert channels' sealed secrets, as records of the vault's rotation (`connectionID`: the channel).
    func alertChannelSecrets() async throws -> [SealedSecretRecord] {
        try await database.query(
            SQLStatement(
                dialect, "SELECT org_id, id, secret_sealed FROM alert_channels WHERE secret_sealed IS NOT NULL")
        ).map { r in
            SealedSecretRecord(
                organizationID: try r.text("org_id"), connectionID: try r.text("id"), field: .alertChannel,
                secret: try r.parsed("secret_sealed", as: "a sealed secret", SealedSecret.init(text:)))
        }
    }

    /// Re-seals one channel's secret, only if it is still the one read (else the rotation's transaction rolls back).
    func alertChannelSecretUpdate(_ old: SealedSecretRecord, _ new: SealedSecret) -> SQLStep {
        SQLStep(
            statement([
                ("UPDATE alert_channels SET secret_sealed = ", .text(new.text)),
                (" WHERE org_id = ", .text(old.organizationID)), (" AND id = ", .text(old.connectionID)),
                (" AND secret_sealed = ", .text(old.secret.text)),
            ]), expectedChanges: 1)
    }
}
