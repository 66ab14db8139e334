import TallyCore

/// Sign-in, round 2 (issue 23): linked identities, mailed links, single sign-on flows, second-step challenges,
/// two-factor secrets and recovery codes, organizations' sign-in rules; once for both dialects.
extension SQLStore {
    public func userSecurity(userID: String) async throws -> UserSecurity {
        let rows = try await database.query(
            statement([
                (
                    "SELECT u.email_verified_us, u.password_hash, t.secret, t.enabled_us, "
                        + "(SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_us IS NULL) AS codes "
                        + "FROM users u LEFT JOIN user_two_factor t ON t.user_id = u.id WHERE u.id = ", .text(userID)
                )
            ]))
        guard let r = rows.first else { throw TallyError.notFound("user") }
        return UserSecurity(
            emailVerified: try r.optionalInt("email_verified_us") != nil,
            hasPassword: !(try r.text("password_hash")).isEmpty,
            totpSecret: try r.optionalText("secret"), twoFactorEnabled: try r.optionalInt("enabled_us") != nil,
            unusedRecoveryCodes: Int(try r.int("codes")))
    }

    public func markEmailVerified(userID: String, at: Instant) async throws {
        try await database.execute(
            statement([
                ("UPDATE users SET email_verified_us = ", .int(at.microseconds)), (" WHERE id = ", .text(userID)),
                (" AND email_verified_us IS NULL", nil),
            ]))
    }

    // MARK: Mailed links

    public func createAccountLink(_ link: AccountLink, secretHash: String) async throws {
        try await database.transaction([
            SQLStep(
                statement([
                    ("UPDATE account_links SET used_us = ", .int(link.createdAt.microseconds)),
                    (" WHERE user_id = ", .text(link.userID)), (" AND kind = ", .text(link.kind.rawValue)),
                    (" AND used_us IS NULL", nil),
                ])),
            SQLStep(
                statement([
                    (
                        "INSERT INTO account_links (id, kind, user_id, secret_hash, created_us, expires_us) VALUES (",
                        .text(link.id)
                    ),
                    (", ", .text(link.kind.rawValue)), (", ", .text(link.userID)), (", ", .text(secretHash)),
                    (", ", .int(link.createdAt.microseconds)), (", ", .int(link.expiresAt.microseconds)), (")", nil),
                ])),
        ])
    }

    public func useAccountLink(kind: AccountLink.Kind, secretHash: String, at: Instant) async throws -> AccountLink? {
        // One UPDATE … RETURNING: two requests with the same link cannot both use it.
        try await writeReturning(
            statement([
                ("UPDATE account_links SET used_us = ", .int(at.microseconds)),
                (" WHERE secret_hash = ", .text(secretHash)), (" AND kind = ", .text(kind.rawValue)),
                (" AND used_us IS NULL AND expires_us > ", .int(at.microseconds)),
                (" RETURNING id, user_id, created_us, expires_us", nil),
            ])
        ).first.map { r in
            AccountLink(
                id: try r.text("id"), kind: kind, userID: try r.text("user_id"), createdAt: try r.instant("created_us"),
                expiresAt: try r.instant("expires_us"))
        }
    }

    public func accountLinkUsable(kind: AccountLink.Kind, secretHash: String, at: Instant) async throws -> Bool {
        try await !database.query(
            statement([
                ("SELECT id FROM account_links WHERE secret_hash = ", .text(secretHash)),
                (" AND kind = ", .text(kind.rawValue)),
                (" AND used_us IS NULL AND expires_us > ", .int(at.microseconds)),
            ])
        ).isEmpty
    }

    public func usableInvites(email: String, at: Instant) async throws -> [Invite] {
        try await database.query(
            statement([
                ("\(Self.inviteColumns) WHERE email = ", .text(User.normalize(email: email))),
                (" AND accepted_us IS NULL AND revoked_us IS NULL AND expires_us > ", .int(at.microseconds)),
                (" ORDER BY created_us", nil),
            ])
        ).map(Self.invite)
    }

    // MARK: Linked identities

    private static var identityColumns: String {
        "SELECT id, user_id, provider, issuer, subject, email, created_us, last_used_us FROM user_identities"
    }

    private static func identity(_ r: SQLRow) throws -> LinkedIdentity {
        LinkedIdentity(
            id: try r.text("id"), userID: try r.text("user_id"), provider: try r.text("provider"),
            issuer: try r.text("issuer"), subject: try r.text("subject"), email: try r.optionalText("email"),
            createdAt: try r.instant("created_us"), lastUsedAt: try r.optionalInstant("last_used_us"))
    }

    public func identities(userID: String) async throws -> [LinkedIdentity] {
        try await database.query(
            statement([(Self.identityColumns + " WHERE user_id = ", .text(userID)), (" ORDER BY created_us, id", nil)])
        ).map(Self.identity)
    }

    public func identity(issuer: String, subject: String) async throws -> LinkedIdentity? {
        try await database.query(
            statement([(Self.identityColumns + " WHERE issuer = ", .text(issuer)), (" AND subject = ", .text(subject))])
        ).first.map(Self.identity)
    }

    public func linkIdentity(_ i: LinkedIdentity) async throws {
        do {
            try await database.execute(
                statement([
                    (
                        "INSERT INTO user_identities (id, user_id, provider, issuer, subject, email, created_us, "
                            + "last_used_us) VALUES (",
                        .text(i.id)
                    ),
                    (", ", .text(i.userID)), (", ", .text(i.provider)), (", ", .text(i.issuer)),
                    (", ", .text(i.subject)), (", ", i.email.map(SQLValue.text) ?? .null),
                    (", ", .int(i.createdAt.microseconds)),
                    (", ", i.lastUsedAt.map { SQLValue.int($0.microseconds) } ?? .null), (")", nil),
                ]))
        } catch TallyError.conflict {
            throw TallyError.conflict("this identity is linked to an account already")
        }
    }

    public func touchIdentity(id: String, at: Instant) async throws {
        try await database.execute(
            statement([
                ("UPDATE user_identities SET last_used_us = ", .int(at.microseconds)), (" WHERE id = ", .text(id)),
            ]))
    }

    public func unlinkIdentity(userID: String, id: String) async throws {
        let changed = try await database.execute(
            statement([
                ("DELETE FROM user_identities WHERE user_id = ", .text(userID)), (" AND id = ", .text(id)),
            ]))
        guard changed == 1 else { throw TallyError.notFound("identity '\(id)'") }
    }

    // MARK: Single sign-on flows and second-step challenges

    public func saveSignInFlow(_ f: SignInFlow, stateHash: String) async throws {
        try await database.execute(
            statement([
                (
                    "INSERT INTO sign_in_flows (state_hash, provider, nonce, code_verifier, next, link_user_id, "
                        + "expires_us) VALUES (", .text(stateHash)
                ),
                (", ", .text(f.provider)), (", ", .text(f.nonce)), (", ", .text(f.codeVerifier)), (", ", .text(f.next)),
                (", ", f.linkUserID.map(SQLValue.text) ?? .null), (", ", .int(f.expiresAt.microseconds)), (")", nil),
            ]))
    }

    public func takeSignInFlow(stateHash: String, at: Instant) async throws -> SignInFlow? {
        try await writeReturning(
            statement([
                ("DELETE FROM sign_in_flows WHERE state_hash = ", .text(stateHash)),
                (" RETURNING provider, nonce, code_verifier, next, link_user_id, expires_us", nil),
            ])
        ).first.flatMap { r -> SignInFlow? in
            let flow = SignInFlow(
                provider: try r.text("provider"), nonce: try r.text("nonce"), codeVerifier: try r.text("code_verifier"),
                next: try r.text("next"), linkUserID: try r.optionalText("link_user_id"),
                expiresAt: try r.instant("expires_us"))
            return flow.expiresAt > at ? flow : nil
        }
    }

    public func saveLoginChallenge(_ c: LoginChallenge, secretHash: String) async throws {
        try await database.execute(
            statement([
                ("INSERT INTO login_challenges (secret_hash, user_id, next, expires_us) VALUES (", .text(secretHash)),
                (", ", .text(c.userID)), (", ", .text(c.next)), (", ", .int(c.expiresAt.microseconds)), (")", nil),
            ]))
    }

    public func loginChallenge(secretHash: String, at: Instant) async throws -> LoginChallenge? {
        try await database.query(
            statement([
                ("SELECT user_id, next, expires_us FROM login_challenges WHERE secret_hash = ", .text(secretHash)),
                (" AND expires_us > ", .int(at.microseconds)),
            ])
        ).first.map { r in
            LoginChallenge(
                userID: try r.text("user_id"), expiresAt: try r.instant("expires_us"), next: try r.text("next"))
        }
    }

    public func deleteLoginChallenge(secretHash: String) async throws {
        try await database.execute(
            statement([("DELETE FROM login_challenges WHERE secret_hash = ", .text(secretHash))]))
    }

    // MARK: Two-factor

    public func beginTwoFactor(userID: String, sealedSecret: String) async throws {
        try await database.transaction([
            SQLStep(statement([("DELETE FROM user_two_factor WHERE user_id = ", .text(userID))])),
            SQLStep(statement([("DELETE FROM recovery_codes WHERE user_id = ", .text(userID))])),
            SQLStep(
                statement([
                    ("INSERT INTO user_two_factor (user_id, secret) VALUES (", .text(userID)),
                    (", ", .text(sealedSecret)), (")", nil),
                ])),
        ])
    }

    public func enableTwoFactor(userID: String, recoveryCodeHashes: [String], usedStep: Int64, at: Instant)
        async throws
    {
        var steps = [
            SQLStep(
                statement([
                    ("UPDATE user_two_factor SET enabled_us = ", .int(at.microseconds)),
                    (", last_step = ", .int(usedStep)), (" WHERE user_id = ", .text(userID)),
                    (" AND enabled_us IS NULL AND last_step < ", .int(usedStep)),
                ]), expectedChanges: 1),
            SQLStep(statement([("DELETE FROM recovery_codes WHERE user_id = ", .text(userID))])),
        ]
        for hash in recoveryCodeHashes {
            steps.append(
                SQLStep(
                    statement([
                        ("INSERT INTO recovery_codes (user_id, code_hash) VALUES (", .text(userID)),
                        (", ", .text(hash)), (")", nil),
                    ])))
        }
        try await database.transaction(steps, onConflict: .conflict("two-factor was enabled or restarted meanwhile"))
    }

    public func disableTwoFactor(userID: String) async throws {
        try await database.transaction([
            SQLStep(statement([("DELETE FROM user_two_factor WHERE user_id = ", .text(userID))])),
            SQLStep(statement([("DELETE FROM recovery_codes WHERE user_id = ", .text(userID))])),
        ])
    }

    public func useTwoFactorStep(userID: String, step: Int64) async throws -> Bool {
        // Conditional on the last step, in one statement: a code is accepted once even by two replicas at once.
        try await database.execute(
            statement([
                ("UPDATE user_two_factor SET last_step = ", .int(step)), (" WHERE user_id = ", .text(userID)),
                (" AND enabled_us IS NOT NULL AND last_step < ", .int(step)),
            ])) == 1
    }

    public func useRecoveryCode(userID: String, codeHash: String, at: Instant) async throws -> Bool {
        try await database.execute(
            statement([
                ("UPDATE recovery_codes SET used_us = ", .int(at.microseconds)), (" WHERE user_id = ", .text(userID)),
                (" AND code_hash = ", .text(codeHash)), (" AND used_us IS NULL", nil),
            ])) == 1
    }

    func twoFactorSecrets() async throws -> [SealedSecretRecord] {
        try await database.query(SQLStatement(dialect, "SELECT user_id, secret FROM user_two_factor")).map { r in
            SealedSecretRecord(
                organizationID: "", connectionID: try r.text("user_id"), field: .twoFactor,
                secret: try r.parsed("secret", as: "a sealed secret", SealedSecret.init(text:)))
        }
    }

    /// Re-seals one person's TOTP secret, only if it is still the one read (else the rotation rolls back).
    func twoFactorSecretUpdate(_ old: SealedSecretRecord, _ new: SealedSecret) -> SQLStep {
        SQLStep(
            statement([
                ("UPDATE user_two_factor SET secret = ", .text(new.text)),
                (" WHERE user_id = ", .text(old.connectionID)), (" AND secret = ", .text(old.secret.text)),
            ]), expectedChanges: 1)
    }

    // MARK: Organizations' rules

    public func organizationID(idOrName: String) async throws -> String? {
        try await database.query(
            statement([
                ("SELECT id FROM organizations WHERE id = ", .text(idOrName)), (" OR name = ", .text(idOrName)),
                (" ORDER BY CASE WHEN id = ", .text(idOrName)), (" THEN 0 ELSE 1 END, created_us LIMIT 1", nil),
            ])
        ).first.map { try $0.text("id") }
    }

    public func signInRules(organizationID: String) async throws -> OrganizationSignInRules {
        guard
            let r = try await database.query(
                statement([
                    (
                        "SELECT require_sso, require_two_factor FROM organization_sign_in WHERE org_id = ",
                        .text(organizationID)
                    )
                ])
            ).first
        else { return OrganizationSignInRules() }
        return OrganizationSignInRules(
            requireSSO: try r.int("require_sso") != 0, requireTwoFactor: try r.int("require_two_factor") != 0)
    }

    public func setSignInRules(organizationID: String, _ rules: OrganizationSignInRules) async throws {
        try await database.execute(
            statement([
                (
                    "INSERT INTO organization_sign_in (org_id, require_sso, require_two_factor) VALUES (",
                    .text(organizationID)
                ),
                (", ", .int(rules.requireSSO ? 1 : 0)), (", ", .int(rules.requireTwoFactor ? 1 : 0)),
                (
                    ") ON CONFLICT (org_id) DO UPDATE SET require_sso = excluded.require_sso, "
                        + "require_two_factor = excluded.require_two_factor", nil
                ),
            ]))
    }

    public func deleteExpiredSignInState(before: Instant) async throws {
        try await database.transaction([
            SQLStep(statement([("DELETE FROM sign_in_flows WHERE expires_us < ", .int(before.microseconds))])),
            SQLStep(statement([("DELETE FROM login_challenges WHERE expires_us < ", .int(before.microseconds))])),
            SQLStep(
                statement([
                    ("DELETE FROM account_links WHERE expires_us < ", .int(before.microseconds - 30 * 86_400_000_000))
                ])),
        ])
    }

    /// A write whose `RETURNING` rows are wanted: in a write transaction (a plain query runs read-only on SQLite).
    private func writeReturning(_ write: SQLStatement) async throws -> [SQLRow] {
        try await database.transaction { (outcomes: [SQLOutcome]) -> SQLDecision<[SQLRow]> in
            guard let done = outcomes.first else { return .run(write) }
            return .commit(done.rows)
        }
    }
}
