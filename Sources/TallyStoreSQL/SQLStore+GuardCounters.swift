import TallyCore

/// The guard's counters (issue 19), shared by every replica through the database.
///
/// A reservation is ONE transaction of conditional upserts, one per hold, in key order (two reservations never wait
/// on each other's rows in opposite orders, so they cannot deadlock). Each adds to `reserved` only if the counter stays
/// within the hold's limit; one that changes no row ends the transaction rolled back, so nothing is reserved. On
/// PostgreSQL the upsert locks the counter's row (even when its condition refuses the update) until the transaction
/// ends, so under READ COMMITTED every replica's reservations are applied one after another; SQLite has one writer.
///
/// Amounts are never negative (a negative one counts as 0) and no sum may pass Int64: the conditions compare
/// `amount <= limit - settled - reserved` step by step in a CASE (evaluated in order), and `settled` saturates.
extension SQLStore {
    public func reserve(organizationID: String, id: String, holds: [GuardHold], expiresAt: Instant) async throws
        -> GuardReservation
    {
        let holds = holds.map {
            GuardHold(key: $0.key, amount: max(0, $0.amount), limit: $0.limit, counterExpiresAt: $0.counterExpiresAt)
        }
        let order = holds.indices.sorted { (holds[$0].key, $0) < (holds[$1].key, $1) }
        let upserts = order.map { reserveUpsert(organizationID, holds[$0]) }
        let reads = order.map { counterRead(organizationID, holds[$0].key) }
        let record = statement([
            ("INSERT INTO guard_reservations (org_id, id, holds, expires_us) VALUES (", .text(organizationID)),
            (", ", .text(id)), (", ", .text(Self.holdsText(holds))), (", ", .int(expiresAt.microseconds)), (")", nil),
        ])
        return try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<GuardReservation> in
            // A hold not taken: read what its counter holds (locked by the upsert), then undo everything.
            for (k, outcome) in outcomes.prefix(upserts.count).enumerated() where outcome.changes == 0 {
                guard outcomes.count > k + 1 else { return .run(reads[k]) }
                let counter =
                    try outcomes[k + 1].rows.first.map(Self.guardCounter) ?? GuardCounter(settled: 0, reserved: 0)
                return .rollback(.refused(index: order[k], counter: counter))
            }
            if outcomes.count < upserts.count { return .run(upserts[outcomes.count]) }
            if outcomes.count == upserts.count { return .run(record) }
            return .commit(.reserved)
        }
    }

    /// Creates the counter holding `amount` if it fits the limit alone, else raises `reserved` if it still fits.
    private func reserveUpsert(_ organizationID: String, _ hold: GuardHold) -> SQLStatement {
        let (c, limit) = ("guard_counters", SQLValue.int(hold.limit))
        return statement([
            ("INSERT INTO guard_counters (org_id, key, settled, reserved, expires_us) SELECT ", .text(organizationID)),
            (", ", .text(hold.key)), (", 0, ", .int(hold.amount)), (", ", .int(hold.counterExpiresAt.microseconds)),
            (" WHERE ", .int(hold.amount)), (" <= ", limit),
            (
                " ON CONFLICT (org_id, key) DO UPDATE SET reserved = \(c).reserved + excluded.reserved, "
                    + "expires_us = CASE WHEN excluded.expires_us > \(c).expires_us THEN excluded.expires_us "
                    + "ELSE \(c).expires_us END WHERE CASE WHEN \(c).settled > ", limit
            ),
            (" THEN 0 WHEN \(c).reserved > ", limit), (" - \(c).settled THEN 0 WHEN excluded.reserved > ", limit),
            (" - \(c).settled - \(c).reserved THEN 0 ELSE 1 END = 1", nil),
        ])
    }

    private func counterRead(_ organizationID: String, _ key: String) -> SQLStatement {
        statement([
            ("SELECT key, settled, reserved FROM guard_counters WHERE org_id = ", .text(organizationID)),
            (" AND key = ", .text(key)),
        ])
    }

    static func guardCounter(_ r: SQLRow) throws -> GuardCounter {
        GuardCounter(settled: try r.int("settled"), reserved: try r.int("reserved"))
    }

    /// The reservation is deleted first: only the call that deletes it (settle or the expiry sweep, on any replica)
    /// takes its holds back from `reserved`.
    public func settle(organizationID: String, id: String, actual: [String: Int64]) async throws {
        let delete = statement([
            ("DELETE FROM guard_reservations WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            (" RETURNING holds", nil),
        ])
        let actual = actual.mapValues { max(0, $0) }
        _ = try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<Int> in
            guard let deleted = outcomes.first else { return .run(delete) }
            let holds = try deleted.rows.flatMap { try $0.parsed("holds", as: "a list of holds", Self.holds(_:)) }
            let steps = self.settleSteps(organizationID, holds: holds, actual: actual)
            return outcomes.count <= steps.count ? .run(steps[outcomes.count - 1]) : .commit(steps.count)
        }
    }

    /// Per key, in key order: the held amounts leave `reserved` and the actual joins `settled` (creating the counter
    /// when it is gone, with the hold's expiry); a key with no hold only adds its actual to a counter that exists (one
    /// that is gone has expired: its window is over).
    private func settleSteps(_ organizationID: String, holds: [GuardHold], actual: [String: Int64]) -> [SQLStatement] {
        var released: [String: (amount: Int64, expires: Instant)] = [:]
        for hold in holds {
            let was = released[hold.key] ?? (0, hold.counterExpiresAt)
            let (sum, overflow) = was.amount.addingReportingOverflow(hold.amount)
            released[hold.key] = (overflow ? .max : sum, max(was.expires, hold.counterExpiresAt))
        }
        let c = "guard_counters"
        let settled =
            "settled = CASE WHEN \(c).settled > \(Int64.max) - excluded.settled THEN \(Int64.max) "
            + "ELSE \(c).settled + excluded.settled END"
        return Set(released.keys).union(actual.keys).sorted().compactMap { key in
            let added = actual[key] ?? 0
            guard let release = released[key] else {
                guard added > 0 else { return nil }
                return statement([
                    (
                        "UPDATE guard_counters SET settled = CASE WHEN settled > \(Int64.max) - ", .int(added)
                    ),
                    (" THEN \(Int64.max) ELSE settled + ", .int(added)),
                    (" END WHERE org_id = ", .text(organizationID)),
                    (" AND key = ", .text(key)),
                ])
            }
            return statement([
                (
                    "INSERT INTO guard_counters (org_id, key, settled, reserved, expires_us) VALUES (",
                    .text(organizationID)
                ),
                (", ", .text(key)), (", ", .int(added)), (", 0, ", .int(release.expires.microseconds)),
                (
                    ") ON CONFLICT (org_id, key) DO UPDATE SET \(settled), reserved = CASE WHEN \(c).reserved > ",
                    .int(release.amount)
                ),
                (" THEN \(c).reserved - ", .int(release.amount)), (" ELSE 0 END", nil),
            ])
        }
    }

    public func expireReservations(now: Instant) async throws -> Int {
        let delete = statement([
            ("DELETE FROM guard_reservations WHERE expires_us <= ", .int(now.microseconds)),
            (" RETURNING org_id, holds", nil),
        ])
        let expired = try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<Int> in
            guard let deleted = outcomes.first else { return .run(delete) }
            let steps = try self.releaseSteps(deleted.rows)
            return outcomes.count <= steps.count ? .run(steps[outcomes.count - 1]) : .commit(deleted.rows.count)
        }
        // Its own statement: its row locks, taken in key order, must not join the release's (key order overall).
        var forget = statement([
            (
                "DELETE FROM guard_counters WHERE (org_id, key) IN (SELECT org_id, key FROM guard_counters WHERE expires_us <= ",
                .int(now.microseconds)
            )
        ])
        forget.append(
            dialect == .postgres ? " AND reserved = 0 ORDER BY org_id, key FOR UPDATE)" : " AND reserved = 0)")
        try await database.execute(forget)
        return expired
    }

    /// The expired reservations' holds leave `reserved`, one counter at a time in (organization, key) order.
    private func releaseSteps(_ rows: [SQLRow]) throws -> [SQLStatement] {
        var released: [CounterKey: Int64] = [:]
        for row in rows {
            let org = try row.text("org_id")
            for hold in try row.parsed("holds", as: "a list of holds", Self.holds(_:)) {
                let (sum, overflow) = (released[CounterKey(org: org, key: hold.key)] ?? 0).addingReportingOverflow(
                    hold.amount)
                released[CounterKey(org: org, key: hold.key)] = overflow ? .max : sum
            }
        }
        return released.keys.sorted().map { k in
            let amount = released[k]!
            return statement([
                ("UPDATE guard_counters SET reserved = CASE WHEN reserved > ", .int(amount)),
                (" THEN reserved - ", .int(amount)), (" ELSE 0 END WHERE org_id = ", .text(k.org)),
                (" AND key = ", .text(k.key)),
            ])
        }
    }

    public func raiseSettled(organizationID: String, key: String, floor: Int64, counterExpiresAt: Instant) async throws
    {
        try await database.execute(
            statement([
                (
                    "INSERT INTO guard_counters (org_id, key, settled, reserved, expires_us) VALUES (",
                    .text(organizationID)
                ),
                (", ", .text(key)), (", ", .int(max(0, floor))), (", 0, ", .int(counterExpiresAt.microseconds)),
                (
                    ") ON CONFLICT (org_id, key) DO UPDATE SET settled = excluded.settled "
                        + "WHERE guard_counters.settled < excluded.settled", nil
                ),
            ]))
    }

    public func guardCounters(organizationID: String, keys: [String]) async throws -> [String: GuardCounter] {
        guard !keys.isEmpty else { return [:] }
        var s = statement([("SELECT key, settled, reserved FROM guard_counters WHERE org_id = ", .text(organizationID))]
        )
        s.append(" AND key IN (")
        for (i, key) in Set(keys).sorted().enumerated() {
            if i > 0 { s.append(", ") }
            s.bind(key)
        }
        s.append(")")
        var counters: [String: GuardCounter] = [:]
        for row in try await database.query(s) { counters[try row.text("key")] = try Self.guardCounter(row) }
        return counters
    }

    // MARK: Holds as text

    /// `[{"key":"rpm:pol_1:1796000000","amount":1,"expires_us":…}, …]`: what settling or expiring gives back.
    static func holdsText(_ holds: [GuardHold]) -> String {
        var w = JSONWriter()
        w.beginArray()
        for hold in holds {
            w.beginObject()
            w.field("key", hold.key)
            w.field("amount", hold.amount)
            w.field("expires_us", hold.counterExpiresAt.microseconds)
            w.endObject()
        }
        w.endArray()
        return w.text
    }

    /// nil when the text is not such a list (the row reader then names the column). The limit is not kept.
    static func holds(_ text: String) -> [GuardHold]? {
        guard case .array(let items)? = try? JSONParser.parse(Array(text.utf8)) else { return nil }
        var holds: [GuardHold] = []
        for item in items {
            guard case .object(let members) = item,
                case .string(let key)? = members.first(where: { $0.0 == "key" })?.1,
                case .number(let amount)? = members.first(where: { $0.0 == "amount" })?.1,
                case .number(let expires)? = members.first(where: { $0.0 == "expires_us" })?.1,
                let amount = Int64(amount), amount >= 0, let expires = Int64(expires)
            else { return nil }
            holds.append(
                GuardHold(key: key, amount: amount, limit: 0, counterExpiresAt: Instant(microseconds: expires)))
        }
        return holds
    }
}

/// A counter's key across organizations, ordered as the expiry sweep locks them.
private struct CounterKey: Hashable, Comparable {
    var org: String
    var key: String
    static func < (a: CounterKey, b: CounterKey) -> Bool { (a.org, a.key) < (b.org, b.key) }
}
