import Logging
import TallyCore
import TallyMail

/// Invites: made by admins, mailed when a mailer is configured, accepted once through their link.
extension AccountService {
    public struct CreatedInvite: Sendable {
        public var invite: Invite
        public var url: String
        public var mailed: Bool
    }

    public func invite(_ principal: Principal, email: String, role: Role) async throws -> CreatedInvite {
        if let reason = User.validate(email: email) {
            throw TallyError.invalid([FieldProblem(field: "email", reason: reason)])
        }
        if role == .owner, principal.role != .owner {
            throw TallyError.forbidden("only an owner can invite another owner")
        }
        let normalized = User.normalize(email: email)
        if try await store.members(organizationID: principal.organizationID).contains(where: {
            $0.user.email == normalized
        }) {
            throw TallyError.conflict("\(normalized) is already a member")
        }
        let secret = "inv_" + Identifier.make("", length: 40).dropFirst()
        let now = Instant.now
        let invite = Invite(
            id: Identifier.make("inv", length: 16), organizationID: principal.organizationID, email: normalized,
            role: role, createdBy: principal.actor, createdAt: now,
            expiresAt: Instant(microseconds: now.microseconds + Invite.lifetimeMicroseconds))
        try await store.createInvite(invite, secretHash: TokenSecret.hash(secret))
        let url = publicURL + "/invites/" + secret
        var mailed = false
        if let mailer {
            let org = try await store.organization(id: principal.organizationID)
            do {
                try await mailer.send(
                    MailMessage(
                        to: normalized,
                        subject:
                            "You are invited to \((org?.name ?? "an organization").filter { !$0.isNewline }) on Tally",
                        text: """
                            \(principal.user?.name ?? "An administrator") invited you to join \(org?.name ?? "their organization") on Tally \
                            as \(role.rawValue).

                            Accept the invitation (the link works once, until \(invite.expiresAt.rfc3339)):

                            \(url)
                            """))
                mailed = true
            } catch {
                logger.warning("could not mail the invite", metadata: ["to": "\(normalized)", "error": "\(error)"])
            }
        }
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "invite.create",
                detail: [
                    ("id", .string(invite.id)), ("email", .string(normalized)),
                    ("role", .string(role.rawValue)), ("mailed", .bool(mailed)),
                ], at: now))
        return CreatedInvite(invite: invite, url: url, mailed: mailed)
    }

    /// The invite behind a link, if it can still be used.
    public func usableInvite(secret: String) async throws -> Invite {
        guard let invite = try await store.invite(secretHash: TokenSecret.hash(secret)) else {
            throw TallyError.gone("this invite link is not valid")
        }
        guard invite.isUsable(at: .now) else { throw TallyError.gone("this invite has expired or was already used") }
        return invite
    }

    /// Accepts an invite by creating the invited person's account. Someone who already has an account joins while
    /// signed in (`acceptInvite(_:secret:)`): an invite link never checks a password, so it cannot be used to guess
    /// one. Attempts take a sign-in slot for the invited email, so they are throttled like sign-in.
    public func acceptInvite(secret: String, name: String, password: String, address: String) async throws -> SignIn {
        let invite = try await usableInvite(secret: secret)
        let problems = validateNewUser(name: name, email: invite.email, password: password)
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        let now = Instant.now
        try await takeAttemptSlot(account: invite.email, address: address, at: now)
        let user: User
        do {
            // createUser throws `conflict` too, when another request made the account meanwhile.
            guard try await store.userCredentials(email: invite.email) == nil else {
                throw TallyError.conflict("account exists")
            }
            user = try await createUser(name: name, email: invite.email, password: password)
        } catch TallyError.conflict {
            try await store.recordAudit(
                .make(
                    organizationID: invite.organizationID, actor: "invite:\(invite.id)",
                    action: "invite.accept_failed",
                    detail: [
                        ("id", .string(invite.id)), ("address", .string(address)),
                        ("reason", .string("account exists; not signed in")),
                    ], at: now))
            throw TallyError.conflict(
                "an account for \(invite.email) already exists: sign in as \(invite.email), then open this link again")
        }
        try await store.clearLoginFailures(account: invite.email)
        try await store.acceptInvite(id: invite.id, userID: user.id, at: now)
        try await auditAccepted(invite, by: user, address: address)
        return try await startSession(user: user, organizationID: invite.organizationID)
    }

    /// Accepts an invite as the signed-in person it was sent to, and switches their session to its organization.
    public func acceptInvite(_ principal: Principal, secret: String, address: String) async throws {
        guard case .user(let user, _, let session) = principal.kind else {
            throw TallyError.forbidden("sign in to accept an invite")
        }
        let invite = try await usableInvite(secret: secret)
        guard user.email == invite.email else {
            throw TallyError.forbidden("this invite is for another email address; sign out to accept it")
        }
        try await store.acceptInvite(id: invite.id, userID: user.id, at: .now)
        try await store.switchSession(id: session.id, organizationID: invite.organizationID)
        try await auditAccepted(invite, by: user, address: address)
    }

    private func auditAccepted(_ invite: Invite, by user: User, address: String) async throws {
        try await store.recordAudit(
            .make(
                organizationID: invite.organizationID, actor: "user:\(user.email)", action: "invite.accept",
                detail: [
                    ("id", .string(invite.id)), ("role", .string(invite.role.rawValue)),
                    ("address", .string(address)),
                ]))
    }
}
