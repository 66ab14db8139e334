import Foundation
import Logging
import TallyCore
import TallyMail

/// Links sent by mail (issue 23): password reset (single use, one hour) and email verification; open sign-up.
extension AccountService {
    package static var resetLifetimeMicroseconds: Int64 { 3_600_000_000 }
    package static var verificationLifetimeMicroseconds: Int64 { 3 * 86_400_000_000 }

    /// Whether reset links can be sent at all (they need a mailer).
    public var canMailLinks: Bool { mailer != nil }

    /// Mails a reset link if the address has an account. The answer, and its timing, are the same either way: the
    /// mail is sent after the request returns. Throttled per address and per account like sign-in.
    public func requestPasswordReset(email: String, address: String) async throws {
        let typed = User.normalize(email: email)
        guard User.validate(email: typed) == nil else {
            throw TallyError.invalid([FieldProblem(field: "email", reason: "must be an email address")])
        }
        try await takeAttemptSlot(account: "reset:" + typed, address: address, at: .now)
        guard let mailer, let user = try await store.userCredentials(email: typed)?.user else { return }
        let url = try await makeLink(.passwordReset, for: user, lifetime: Self.resetLifetimeMicroseconds)
        send(
            mailer,
            MailMessage(
                to: user.email, subject: "Reset your Tally password",
                text: """
                    Someone (we hope you) asked to reset the password of your Tally account, \(user.email).

                    Choose a new password here within the hour (the link works once):

                    \(url)

                    If it was not you, ignore this mail: your password stays as it is.
                    """), what: "password reset")
    }

    /// Sets the new password through a reset link, signs the person out everywhere and audits it. Throws `gone`
    /// for a link used, expired or unknown.
    public func resetPassword(secret: String, password: String) async throws {
        if let reason = User.validate(password: password) {
            throw TallyError.invalid([FieldProblem(field: "password", reason: reason)])
        }
        let now = Instant.now
        guard
            let link = try await store.useAccountLink(
                kind: .passwordReset, secretHash: TokenSecret.hash(secret), at: now),
            let user = try await store.user(id: link.userID)
        else { throw TallyError.gone("this reset link was used, has expired or does not exist") }
        try await store.setPasswordHash(userID: user.id, passwordHash: try await passwords.hash(password))
        try await store.deleteSessions(userID: user.id, keeping: nil)
        try await store.clearLoginFailures(account: user.email)
        // The mail reached its owner: that proves the address too.
        try await store.markEmailVerified(userID: user.id, at: now)
        try await auditInEveryOrganization(user, action: "password.reset", detail: [], at: now)
    }

    /// Whether a reset link still works, for the page that asks for the new password.
    public func resetLinkIsUsable(_ secret: String) async throws -> Bool {
        // Looked up without using it: the form's POST uses it.
        try await store.accountLinkUsable(kind: .passwordReset, secretHash: TokenSecret.hash(secret), at: .now)
    }

    // MARK: Sign-up and email verification

    /// Open sign-up (`TALLY_SIGNUP=open`): an account and an organization of its own, signed in at once. With a
    /// mailer the address must then be verified through a mailed link before connections or tokens are created.
    public func signUp(
        name: String, email: String, password: String, organization: String, timeZone: String, address: String
    ) async throws -> SignIn {
        guard signUp.passwords == .open else { throw TallyError.notFound("page") }
        var problems = validateNewUser(name: name, email: email, password: password)
        if let problem = DisplayName.problem(organization, field: "organization") { problems.append(problem) }
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        try await takeAttemptSlot(account: "signup:" + User.normalize(email: email), address: address, at: .now)
        let user = User(
            id: Identifier.make("usr", length: 16), email: User.normalize(email: email),
            name: name.trimmingCharacters(in: .whitespaces), createdAt: .now)
        try await store.createUser(user, passwordHash: try await passwords.hash(password), emailVerified: mailer == nil)
        let org = try await createOwnOrganization(for: user, named: organization, timeZone: timeZone)
        try await store.recordAudit(
            .make(
                organizationID: org.id, actor: "user:\(user.email)", action: "signup",
                detail: [("method", .string("password"))]))
        if mailer != nil { try await sendVerification(user) }
        return try await startSession(user: user, organizationID: org.id)
    }

    package func createOwnOrganization(for user: User, named name: String, timeZone: String) async throws
        -> Organization
    {
        let org = Organization(
            id: Identifier.make("org", length: 16), name: try DisplayName.validated(name, field: "organization"),
            timeZone: timeZone, createdAt: .now)
        try await store.createOrganization(org)
        try await store.addMember(organizationID: org.id, userID: user.id, role: .owner, at: .now)
        return org
    }

    /// Mails a verification link (a new one replaces any earlier one).
    public func sendVerification(_ user: User) async throws {
        guard let mailer else { return }
        let url = try await makeLink(
            .emailVerification, for: user, lifetime: Self.verificationLifetimeMicroseconds)
        send(
            mailer,
            MailMessage(
                to: user.email, subject: "Verify your email for Tally",
                text: """
                    Welcome to Tally. Confirm that \(user.email) is yours by opening this link (it works once, for \
                    three days):

                    \(url)
                    """), what: "verification")
    }

    /// Marks the address verified through its link; returns the person.
    public func verifyEmail(secret: String) async throws -> User {
        let now = Instant.now
        guard
            let link = try await store.useAccountLink(
                kind: .emailVerification, secretHash: TokenSecret.hash(secret), at: now),
            let user = try await store.user(id: link.userID)
        else { throw TallyError.gone("this verification link was used, has expired or does not exist") }
        try await store.markEmailVerified(userID: user.id, at: now)
        try await auditInEveryOrganization(user, action: "email.verify", detail: [], at: now)
        return user
    }

    /// Connections and tokens are for people whose address is proven (an unverified sign-up can look, not spend).
    public func requireVerifiedEmail(_ principal: Principal) async throws {
        guard let user = principal.user else { return }
        guard try await store.userSecurity(userID: user.id).emailVerified else {
            throw TallyError.forbidden("verify your email address first: open the link we mailed you")
        }
    }

    private func makeLink(_ kind: AccountLink.Kind, for user: User, lifetime: Int64) async throws -> String {
        let secret = (kind == .passwordReset ? "rst_" : "vfy_") + Identifier.make("", length: 40).dropFirst()
        let now = Instant.now
        try await store.createAccountLink(
            AccountLink(
                id: Identifier.make("lnk", length: 16), kind: kind, userID: user.id, createdAt: now,
                expiresAt: Instant(microseconds: now.microseconds + lifetime)), secretHash: TokenSecret.hash(secret))
        return publicURL + (kind == .passwordReset ? "/password/reset/" : "/verify-email/") + secret
    }

    /// Sends after the caller has answered, so how long a mail takes tells nothing about the address.
    private func send(_ mailer: any Mailer, _ message: MailMessage, what: String) {
        let logger = logger
        Task {
            do {
                try await mailer.send(message)
            } catch {
                logger.warning("could not mail the \(what) link", metadata: ["error": "\(error)"])
            }
        }
    }
}
