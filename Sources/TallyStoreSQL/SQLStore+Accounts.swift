import TallyAggregate
import TallyCore

/// Users, organizations, memberships, sessions, login failures, invites and the audit log; once for both dialects.
extension SQLStore {
    private func micros(_ i: Instant?) -> SQLValue { i.map { .int($0.microseconds) } ?? .null }
    private func text(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }

    // MARK: Users

    public func userCount() async throws -> Int {
        Int(try await database.query(SQLStatement(dialect, "SELECT COUNT(*) AS users FROM users")).only().int("users"))
    }

    public func createUser(_ user: User, passwordHash: String, emailVerified: Bool) async throws {
        do {
            try await database.execute(
                statement([
                    (
                        "INSERT INTO users (id, email, name, password_hash, created_us, email_verified_us) VALUES (",
                        .text(user.id)
                    ),
                    (", ", .text(User.normalize(email: user.email))), (", ", .text(user.name)),
                    (", ", .text(passwordHash)),
                    (", ", .int(user.createdAt.microseconds)),
                    (", ", emailVerified ? .int(user.createdAt.microseconds) : .null), (")", nil),
                ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("an account with this email already exists")
        }
    }

    /// A user's columns, named as `user` reads them (the membership query joins them to an organization's).
    static var userColumns: String { "u.id AS user_id, u.email, u.name AS user_name, u.created_us AS user_created_us" }

    static func user(_ r: SQLRow) throws -> User {
        User(
            id: try r.text("user_id"), email: try r.text("email"), name: try r.text("user_name"),
            createdAt: try r.instant("user_created_us"))
    }

    public func userCredentials(email: String) async throws -> (user: User, passwordHash: String)? {
        try await database.query(
            statement([
                (
                    "SELECT \(Self.userColumns), u.password_hash FROM users u WHERE u.email = ",
                    .text(User.normalize(email: email))
                )
            ])
        ).first.map { (try Self.user($0), try $0.text("password_hash")) }
    }

    public func user(id: String) async throws -> User? {
        try await database.query(statement([("SELECT \(Self.userColumns) FROM users u WHERE u.id = ", .text(id))]))
            .first.map(Self.user)
    }

    public func setPasswordHash(userID: String, passwordHash: String) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE users SET password_hash = ", .text(passwordHash)), (" WHERE id = ", .text(userID)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("user") }
    }

    // MARK: Organizations

    public func createOrganization(_ o: Organization) async throws {
        try await database.execute(
            statement([
                ("INSERT INTO organizations (id, name, time_zone, created_us) VALUES (", .text(o.id)),
                (", ", .text(o.name)), (", ", .text(o.timeZone)), (", ", .int(o.createdAt.microseconds)), (")", nil),
            ]))
    }

    public func updateOrganization(_ o: Organization) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE organizations SET name = ", .text(o.name)), (", time_zone = ", .text(o.timeZone)),
                (", billing_cycle_day = ", .int(Int64(o.billingCycleDay))), (" WHERE id = ", .text(o.id)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("organization") }
    }

    public func deleteOrganization(id: String) async throws {
        // Children first: the foreign keys point at organizations, projects and users.
        let tables =
            // PostgreSQL's event keys before the events: the order ingest writes them in (no deadlock).
            (dialect == .postgres ? ["usage_event_keys"] : []) + ["usage_events"] + RollupTable.all.map(\.name)
            + [
                "budgets",
                "provider_usage", "provider_costs", "provider_project_map", "sync_runs", "price_entries", "audit_log",
                "api_tokens", "invites", "organization_sign_in",
                "alert_deliveries", "alerts", "alert_channels", "alert_rules",
                "insights", "insight_settings", "weekly_digests",
                "policies", "policy_hits", "guard_counters", "guard_reservations",
                "event_contents", "safety_filters", "team_projects", "teams", "closed_periods", "period_closings",
                "report_mailings",
                "performance_rollup_hourly",
                "provider_connections", "memberships", "projects",
            ]
        var steps = tables.map { SQLStep(statement([("DELETE FROM \($0) WHERE org_id = ", .text(id))])) }
        if dialect == .postgres {
            // The projects are locked first, in id order as event inserts lock them: an insert already holding one
            // commits before the deletes below run (and its events are deleted with the rest); a later one waits and
            // then finds its project gone. SQLite's single writer gives the same order.
            steps.insert(
                SQLStep(
                    statement([
                        ("SELECT id FROM projects WHERE org_id = ", .text(id)), (" ORDER BY id FOR UPDATE", nil),
                    ])), at: 0)
        }
        steps.append(SQLStep(statement([("DELETE FROM sessions WHERE org_id = ", .text(id))])))
        steps.append(SQLStep(statement([("DELETE FROM organizations WHERE id = ", .text(id))]), expectedChanges: 1))
        try await database.transaction(steps)
    }

    // MARK: Memberships

    static var membershipColumns: String {
        "SELECT o.id AS org_id, o.name AS org_name, o.time_zone, o.created_us AS org_created_us, \(userColumns), m.role, "
            + "m.joined_us, o.billing_cycle_day FROM memberships m JOIN organizations o ON o.id = m.org_id JOIN users u ON u.id = m.user_id"
    }

    static func membership(_ r: SQLRow) throws -> Membership {
        Membership(
            organization: Organization(
                id: try r.text("org_id"), name: try r.text("org_name"), timeZone: try r.text("time_zone"),
                createdAt: try r.instant("org_created_us"), billingCycleDay: Int(try r.int("billing_cycle_day"))),
            user: try user(r), role: try r.raw("role"), joinedAt: try r.instant("joined_us")
        )
    }

    public func addMember(organizationID: String, userID: String, role: Role, at: Instant) async throws {
        do {
            try await database.execute(
                statement([
                    ("INSERT INTO memberships (org_id, user_id, role, joined_us) VALUES (", .text(organizationID)),
                    (", ", .text(userID)), (", ", .text(role.rawValue)), (", ", .int(at.microseconds)), (")", nil),
                ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("this person is already a member of the organization")
        }
    }

    public func memberships(userID: String) async throws -> [Membership] {
        try await database.query(
            statement([
                (Self.membershipColumns + " WHERE m.user_id = ", .text(userID)), (" ORDER BY o.name, o.id", nil),
            ])
        ).map(Self.membership)
    }

    public func members(organizationID: String) async throws -> [Membership] {
        try await database.query(
            statement([
                (Self.membershipColumns + " WHERE m.org_id = ", .text(organizationID)), (" ORDER BY u.email", nil),
            ])
        ).map(Self.membership)
    }

    /// The guard keeps one owner: the row changes only if it is not an owner's, or another owner remains.
    private func lastOwnerGuard(_ organizationID: String) -> [(String, SQLValue?)] {
        [
            (" AND (role <> 'owner' OR (SELECT COUNT(*) FROM memberships WHERE org_id = ", .text(organizationID)),
            (" AND role = 'owner') > 1)", nil),
        ]
    }

    private func requireMember(_ organizationID: String, _ userID: String) async throws {
        let rows = try await database.query(
            statement([
                ("SELECT role FROM memberships WHERE org_id = ", .text(organizationID)),
                (" AND user_id = ", .text(userID)),
            ]))
        guard !rows.isEmpty else { throw TallyError.notFound("member '\(userID)'") }
    }

    /// Serializes the membership changes of one organization for the rest of the transaction. PostgreSQL runs
    /// transactions side by side: without the lock, two owners demoting each other would each still count the other
    /// and both succeed. SQLite has one writer, so its transactions are serialized already.
    private func lockOrganization(_ organizationID: String) -> [SQLStep] {
        dialect == .postgres
            ? [
                SQLStep(
                    statement([
                        ("SELECT id FROM organizations WHERE id = ", .text(organizationID)), (" FOR UPDATE", nil),
                    ]))
            ]
            : []
    }

    public func setRole(organizationID: String, userID: String, role: Role) async throws {
        try await requireMember(organizationID, userID)
        try await database.transaction(
            lockOrganization(organizationID) + [
                SQLStep(
                    statement(
                        [
                            ("UPDATE memberships SET role = ", .text(role.rawValue)),
                            (" WHERE org_id = ", .text(organizationID)),
                            (" AND user_id = ", .text(userID)),
                        ] + (role == .owner ? [] : lastOwnerGuard(organizationID))), expectedChanges: 1)
            ], onConflict: .conflict("an organization must keep at least one owner"))
    }

    @discardableResult
    public func removeMember(organizationID: String, userID: String, at: Instant) async throws -> [APIToken] {
        try await requireMember(organizationID, userID)
        try await database.transaction(
            lockOrganization(organizationID) + [
                SQLStep(
                    statement(
                        [
                            ("DELETE FROM memberships WHERE org_id = ", .text(organizationID)),
                            (" AND user_id = ", .text(userID)),
                        ] + lastOwnerGuard(organizationID)), expectedChanges: 1),
                SQLStep(
                    statement([
                        ("DELETE FROM sessions WHERE org_id = ", .text(organizationID)),
                        (" AND user_id = ", .text(userID)),
                    ])),
                SQLStep(
                    statement([
                        ("UPDATE api_tokens SET revoked_us = ", .int(at.microseconds)),
                        (" WHERE org_id = ", .text(organizationID)),
                        (" AND created_by = ", .text(userID)), (" AND revoked_us IS NULL", nil),
                    ])),
            ], onConflict: .conflict("an organization must keep at least one owner"))
        return try await database.query(
            statement([
                (Self.tokenColumns + " WHERE t.org_id = ", .text(organizationID)),
                (" AND t.created_by = ", .text(userID)),
                (" AND t.revoked_us = ", .int(at.microseconds)), (" ORDER BY t.created_us, t.id", nil),
            ])
        ).map(Self.token)
    }

    public func transferOwnership(organizationID: String, from: String, to: String) async throws {
        try await requireMember(organizationID, to)
        try await database.transaction(
            lockOrganization(organizationID) + [
                SQLStep(
                    statement([
                        ("UPDATE memberships SET role = 'owner' WHERE org_id = ", .text(organizationID)),
                        (" AND user_id = ", .text(to)),
                    ]), expectedChanges: 1),
                SQLStep(
                    statement([
                        ("UPDATE memberships SET role = 'admin' WHERE org_id = ", .text(organizationID)),
                        (" AND user_id = ", .text(from)), (" AND role = 'owner'", nil),
                    ]), expectedChanges: 1),
            ], onConflict: .conflict("only an owner can transfer ownership"))
    }

    // MARK: Sessions

    public func createSession(_ s: Session) async throws {
        try await database.execute(
            statement([
                (
                    "INSERT INTO sessions (id, user_id, org_id, csrf_token, created_us, last_seen_us) VALUES (",
                    .text(s.id)
                ),
                (", ", .text(s.userID)), (", ", .text(s.organizationID)), (", ", .text(s.csrfToken)),
                (", ", .int(s.createdAt.microseconds)), (", ", .int(s.lastSeenAt.microseconds)), (")", nil),
            ]))
    }

    public func session(id: String) async throws -> Session? {
        try await database.query(
            statement([
                (
                    "SELECT id, user_id, org_id, csrf_token, created_us, last_seen_us FROM sessions WHERE id = ",
                    .text(id)
                )
            ])
        ).first.map { r in
            Session(
                id: try r.text("id"), userID: try r.text("user_id"), organizationID: try r.text("org_id"),
                csrfToken: try r.text("csrf_token"), createdAt: try r.instant("created_us"),
                lastSeenAt: try r.instant("last_seen_us"))
        }
    }

    public func touchSession(id: String, at: Instant) async throws {
        try await database.execute(
            statement([
                ("UPDATE sessions SET last_seen_us = ", .int(at.microseconds)), (" WHERE id = ", .text(id)),
            ]))
    }

    public func switchSession(id: String, organizationID: String) async throws {
        try await database.execute(
            statement([
                ("UPDATE sessions SET org_id = ", .text(organizationID)), (" WHERE id = ", .text(id)),
            ]))
    }

    public func deleteSession(id: String) async throws {
        try await database.execute(statement([("DELETE FROM sessions WHERE id = ", .text(id))]))
    }

    public func deleteSessions(userID: String, keeping: String?) async throws {
        try await database.execute(
            statement([
                ("DELETE FROM sessions WHERE user_id = ", .text(userID)), (" AND id <> ", .text(keeping ?? "")),
            ]))
    }

    public func deleteSessions(lastSeenBefore: Instant, createdBefore: Instant) async throws {
        try await database.execute(
            statement([
                ("DELETE FROM sessions WHERE last_seen_us < ", .int(lastSeenBefore.microseconds)),
                (" OR created_us < ", .int(createdBefore.microseconds)),
            ]))
    }

    // MARK: Login failures

    public func recordLoginFailure(account: String, address: String, at: Instant) async throws {
        try await database.execute(
            statement([
                ("INSERT INTO login_failures (account, address, at_us) VALUES (", .text(account)),
                (", ", .text(address)),
                (", ", .int(at.microseconds)), (")", nil),
            ]))
    }

    public func takeLoginAttempt(
        account: String, address: String, at: Instant, since: Instant, accountLimit: Int,
        addressLimit: Int
    ) async throws -> (account: [Instant], address: [Instant])? {
        // One statement counts and inserts. SQLite's writer holds its lock from the statement's start; PostgreSQL
        // would let concurrent statements count the same rows, so transaction-scoped locks on the account and the
        // address (always in that order: no deadlock) make them take turns, each counting the ones before it.
        let locks =
            dialect == .postgres
            ? ["account:" + account, "address:" + address].map { key in
                SQLStep(
                    statement([("SELECT pg_advisory_xact_lock(hashtext(", .text("tally.login." + key)), ("))", nil)]))
            }
            : []
        let insert = statement([
            ("INSERT INTO login_failures (account, address, at_us) SELECT ", .text(account)), (", ", .text(address)),
            (", ", .int(at.microseconds)),
            (" WHERE (SELECT COUNT(*) FROM login_failures WHERE account = ", .text(account)),
            (" AND at_us >= ", .int(since.microseconds)), (") < ", .int(Int64(accountLimit))),
            (" AND (SELECT COUNT(*) FROM login_failures WHERE address = ", .text(address)),
            (" AND at_us >= ", .int(since.microseconds)), (") < ", .int(Int64(addressLimit))),
        ])
        do {
            try await database.transaction(locks + [SQLStep(insert, expectedChanges: 1)])
            return nil
        } catch TallyError.conflict {
            return try await loginFailures(account: account, address: address, since: since)
        }
    }

    public func loginFailures(account: String, address: String, since: Instant) async throws -> (
        account: [Instant], address: [Instant]
    ) {
        func times(_ column: String, _ value: String) async throws -> [Instant] {
            try await database.query(
                statement([
                    ("SELECT at_us FROM login_failures WHERE \(column) = ", .text(value)),
                    (" AND at_us >= ", .int(since.microseconds)),
                ])
            ).map { try $0.instant("at_us") }
        }
        return (try await times("account", account), try await times("address", address))
    }

    public func clearLoginFailures(account: String) async throws {
        try await database.execute(statement([("DELETE FROM login_failures WHERE account = ", .text(account))]))
    }

    public func deleteLoginFailures(before: Instant) async throws {
        try await database.execute(
            statement([("DELETE FROM login_failures WHERE at_us < ", .int(before.microseconds))]))
    }

    // MARK: Invites

    static var inviteColumns: String {
        "SELECT id, org_id, email, role, created_by, created_us, expires_us, accepted_us, revoked_us FROM invites"
    }

    static func invite(_ r: SQLRow) throws -> Invite {
        Invite(
            id: try r.text("id"), organizationID: try r.text("org_id"), email: try r.text("email"),
            role: try r.raw("role"), createdBy: try r.text("created_by"),
            createdAt: try r.instant("created_us"), expiresAt: try r.instant("expires_us"),
            acceptedAt: try r.optionalInstant("accepted_us"), revokedAt: try r.optionalInstant("revoked_us"))
    }

    public func createInvite(_ i: Invite, secretHash: String) async throws {
        try await database.execute(
            statement([
                (
                    "INSERT INTO invites (id, org_id, email, role, secret_hash, created_by, created_us, expires_us) VALUES (",
                    .text(i.id)
                ),
                (", ", .text(i.organizationID)), (", ", .text(User.normalize(email: i.email))),
                (", ", .text(i.role.rawValue)),
                (", ", .text(secretHash)), (", ", .text(i.createdBy)), (", ", .int(i.createdAt.microseconds)),
                (", ", .int(i.expiresAt.microseconds)), (")", nil),
            ]))
    }

    public func invites(organizationID: String) async throws -> [Invite] {
        try await database.query(
            statement([
                (Self.inviteColumns + " WHERE org_id = ", .text(organizationID)),
                (" ORDER BY created_us DESC, id", nil),
            ])
        ).map(Self.invite)
    }

    public func invite(secretHash: String) async throws -> Invite? {
        try await database.query(statement([(Self.inviteColumns + " WHERE secret_hash = ", .text(secretHash))]))
            .first.map(Self.invite)
    }

    public func acceptInvite(id: String, userID: String, at: Instant) async throws {
        guard
            let invite = try await database.query(statement([(Self.inviteColumns + " WHERE id = ", .text(id))]))
                .first.map(Self.invite)
        else { throw TallyError.notFound("invite") }
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("UPDATE invites SET accepted_us = ", .int(at.microseconds)), (" WHERE id = ", .text(id)),
                        (" AND accepted_us IS NULL AND revoked_us IS NULL AND expires_us > ", .int(at.microseconds)),
                    ]), expectedChanges: 1),
                SQLStep(
                    statement([
                        (
                            "INSERT INTO memberships (org_id, user_id, role, joined_us) VALUES (",
                            .text(invite.organizationID)
                        ),
                        (", ", .text(userID)), (", ", .text(invite.role.rawValue)), (", ", .int(at.microseconds)),
                        (")", nil),
                    ])),
            ], onConflict: .gone("this invite has expired or was already used"))
    }

    public func revokeInvite(organizationID: String, id: String, at: Instant) async throws {
        let changed = try await database.execute(
            statement([
                ("UPDATE invites SET revoked_us = COALESCE(revoked_us, ", .int(at.microseconds)),
                (") WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("invite '\(id)'") }
    }

    // MARK: Audit

    public func recordAudit(_ record: AuditRecord) async throws {
        try await database.execute(auditInsert(record))
    }

    public func auditRecords(organizationID: String, limit: Int, before: Instant?) async throws -> [AuditRecord] {
        var parts: [(String, SQLValue?)] = [
            ("SELECT id, org_id, at_us, actor, action, detail FROM audit_log WHERE org_id = ", .text(organizationID))
        ]
        if let before { parts.append((" AND at_us < ", .int(before.microseconds))) }
        parts.append((" ORDER BY at_us DESC, id DESC LIMIT ", .int(Int64(limit))))
        var records = try await database.query(statement(parts)).map(Self.auditRecord)
        // The next page starts `before` the last entry's time, so a full page must not end in the middle of entries
        // sharing that microsecond (two replicas, or concurrent requests, can write them): the rest of them come along,
        // else paging would skip them.
        if records.count == limit, let last = records.last {
            records += try await database.query(
                statement([
                    (
                        "SELECT id, org_id, at_us, actor, action, detail FROM audit_log WHERE org_id = ",
                        .text(organizationID)
                    ),
                    (" AND at_us = ", .int(last.at.microseconds)), (" AND id < ", .text(last.id)),
                    (" ORDER BY id DESC", nil),
                ])
            ).map(Self.auditRecord)
        }
        return records
    }

    static func auditRecord(_ r: SQLRow) throws -> AuditRecord {
        AuditRecord(
            id: try r.text("id"), organizationID: try r.text("org_id"), at: try r.instant("at_us"),
            actor: try r.text("actor"), action: try r.text("action"), detail: try r.text("detail"))
    }

    public func deleteAuditRecords(before: Instant) async throws {
        try await database.execute(statement([("DELETE FROM audit_log WHERE at_us < ", .int(before.microseconds))]))
    }

    // MARK: Provider connections

    static var connectionColumns: String {
        "SELECT id, org_id, provider, name, base_url, api_key_sealed, api_key_mask, admin_key_sealed, admin_key_mask, "
            + "validated_us, validation_error, created_us, updated_us, gateway_endpoints FROM provider_connections"
    }

    static func connection(_ r: SQLRow) throws -> ProviderConnection {
        ProviderConnection(
            id: try r.text("id"), organizationID: try r.text("org_id"), provider: try r.raw("provider"),
            name: try r.text("name"), baseURL: try r.optionalText("base_url"), apiKey: try sealed(r, "api_key_sealed"),
            apiKeyMask: try r.optionalText("api_key_mask"), adminKey: try sealed(r, "admin_key_sealed"),
            adminKeyMask: try r.optionalText("admin_key_mask"), validatedAt: try r.optionalInstant("validated_us"),
            validationError: try r.optionalText("validation_error"), createdAt: try r.instant("created_us"),
            updatedAt: try r.instant("updated_us"), gatewayEndpoints: try r.raw("gateway_endpoints")
        )
    }

    static func sealed(_ r: SQLRow, _ column: String) throws -> SealedSecret? {
        try r.optionalParsed(column, as: "a sealed secret", SealedSecret.init(text:))
    }

    public func createConnection(_ c: ProviderConnection, audit: AuditRecord) async throws {
        let insert = statement([
            (
                "INSERT INTO provider_connections (id, org_id, provider, name, base_url, api_key_sealed, api_key_mask, "
                    + "admin_key_sealed, admin_key_mask, validated_us, validation_error, created_us, updated_us, gateway_endpoints) VALUES (",
                .text(c.id)
            ),
            (", ", .text(c.organizationID)), (", ", .text(c.provider.rawValue)), (", ", .text(c.name)),
            (", ", text(c.baseURL)),
            (", ", text(c.apiKey?.text)), (", ", text(c.apiKeyMask)), (", ", text(c.adminKey?.text)),
            (", ", text(c.adminKeyMask)),
            (", ", micros(c.validatedAt)), (", ", text(c.validationError)), (", ", .int(c.createdAt.microseconds)),
            (", ", .int(c.updatedAt.microseconds)), (", ", .text(c.gatewayEndpoints.rawValue)), (")", nil),
        ])
        do {
            try await database.transaction([SQLStep(insert), SQLStep(auditInsert(audit))])
        } catch TallyError.conflict {
            throw TallyError.conflict("a provider connection named '\(c.name)' already exists")
        }
    }

    public func connections(organizationID: String) async throws -> [ProviderConnection] {
        try await database.query(
            statement([
                (Self.connectionColumns + " WHERE org_id = ", .text(organizationID)), (" ORDER BY name, id", nil),
            ])
        ).map(Self.connection)
    }

    public func syncableConnections() async throws -> [ProviderConnection] {
        try await database.query(
            SQLStatement(
                dialect,
                Self.connectionColumns
                    + " WHERE admin_key_sealed IS NOT NULL AND provider IN ('openai', 'anthropic') ORDER BY org_id, id")
        ).map(Self.connection)
    }

    public func connection(organizationID: String, id: String) async throws -> ProviderConnection? {
        try await database.query(
            statement([
                (Self.connectionColumns + " WHERE org_id = ", .text(organizationID)), (" AND id = ", .text(id)),
            ])
        ).first.map(Self.connection)
    }

    public func updateConnection(_ c: ProviderConnection, audit: AuditRecord?) async throws {
        let update = statement([
            ("UPDATE provider_connections SET name = ", .text(c.name)), (", base_url = ", text(c.baseURL)),
            (", api_key_sealed = ", text(c.apiKey?.text)), (", api_key_mask = ", text(c.apiKeyMask)),
            (", admin_key_sealed = ", text(c.adminKey?.text)), (", admin_key_mask = ", text(c.adminKeyMask)),
            (", validated_us = ", micros(c.validatedAt)), (", validation_error = ", text(c.validationError)),
            (", updated_us = ", .int(c.updatedAt.microseconds)),
            (", gateway_endpoints = ", .text(c.gatewayEndpoints.rawValue)),
            (" WHERE org_id = ", .text(c.organizationID)), (" AND id = ", .text(c.id)),
        ])
        do {
            try await database.transaction(
                [SQLStep(update, expectedChanges: 1)] + (audit.map { [SQLStep(auditInsert($0))] } ?? []))
        } catch TallyError.conflict(let message) where message.hasPrefix("the data changed") {
            throw TallyError.notFound("provider connection '\(c.id)'")
        } catch TallyError.conflict {
            throw TallyError.conflict("a provider connection named '\(c.name)' already exists")
        }
    }

    public func deleteConnection(organizationID: String, id: String, audit: AuditRecord) async throws {
        try await database.transaction(
            [
                SQLStep(
                    statement([
                        ("DELETE FROM provider_connections WHERE org_id = ", .text(organizationID)),
                        (" AND id = ", .text(id)),
                    ]), expectedChanges: 1),
                // Its synced reports go with it: they were its provider's figures.
                SQLStep(
                    statement([
                        ("DELETE FROM provider_usage WHERE org_id = ", .text(organizationID)),
                        (" AND connection_id = ", .text(id)),
                    ])),
                SQLStep(
                    statement([
                        ("DELETE FROM provider_costs WHERE org_id = ", .text(organizationID)),
                        (" AND connection_id = ", .text(id)),
                    ])),
                SQLStep(statement([("DELETE FROM sync_leases WHERE connection_id = ", .text(id))])),
                SQLStep(
                    statement([
                        ("DELETE FROM provider_project_map WHERE org_id = ", .text(organizationID)),
                        (" AND connection_id = ", .text(id)),
                    ])),
                SQLStep(auditInsert(audit)),
            ], onConflict: .notFound("provider connection '\(id)'"))
    }

    public func sealedSecrets() async throws -> [SealedSecretRecord] {
        try await connectionSecrets() + alertChannelSecrets() + twoFactorSecrets()
    }

    private func connectionSecrets() async throws -> [SealedSecretRecord] {
        try await database.query(
            SQLStatement(dialect, "SELECT org_id, id, api_key_sealed, admin_key_sealed FROM provider_connections")
        )
        .flatMap { r -> [SealedSecretRecord] in
            var out: [SealedSecretRecord] = []
            for (field, column) in [
                (ProviderConnection.SecretField.apiKey, "api_key_sealed"), (.adminKey, "admin_key_sealed"),
            ] {
                if let sealed = try Self.sealed(r, column) {
                    out.append(
                        SealedSecretRecord(
                            organizationID: try r.text("org_id"), connectionID: try r.text("id"),
                            field: field, secret: sealed))
                }
            }
            return out
        }
    }

    public func replaceSealedSecrets(_ changes: [(old: SealedSecretRecord, new: SealedSecret)]) async throws {
        let steps = changes.map { change in
            if change.old.field == .alertChannel { return alertChannelSecretUpdate(change.old, change.new) }
            if change.old.field == .twoFactor { return twoFactorSecretUpdate(change.old, change.new) }
            let column = change.old.field == .apiKey ? "api_key_sealed" : "admin_key_sealed"
            return SQLStep(
                statement([
                    ("UPDATE provider_connections SET \(column) = ", .text(change.new.text)),
                    (" WHERE org_id = ", .text(change.old.organizationID)),
                    (" AND id = ", .text(change.old.connectionID)),
                    (" AND \(column) = ", .text(change.old.secret.text)),
                ]), expectedChanges: 1)
        }
        try await database.transaction(steps)
    }
}

extension SQLDatabase {
    /// Runs a transaction whose guarded steps mean something in the domain when they change no row.
    func transaction(_ steps: [SQLStep], onConflict mapped: TallyError) async throws {
        do {
            try await transaction(steps)
        } catch TallyError.conflict {
            throw mapped
        }
    }
}
