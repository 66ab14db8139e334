import Foundation
import Logging
import Synchronization
import TallyCore
import TallyMail

/// Setup, sign-in, sessions, invites, members and organizations: the rules, over the store, for the web and the API.
/// The store it needs: people, organizations and their members, sessions and sign-in attempts, invites, the audit log.
public typealias AccountServiceStore = OrganizationStore & AccountStore & SessionStore & InviteStore & AuditStore
    & SignInStore

public struct AccountService<Store: AccountServiceStore>: Sendable {
    public let store: Store
    public let passwords: Passwords
    public let policy: SessionPolicy
    package let throttle = LoginThrottle()
    package let mailer: (any Mailer)?
    /// Where people reach Tally, for links in invites (TALLY_PUBLIC_URL).
    package let publicURL: String
    package let logger: Logger
    /// Seals TOTP secrets (nil without a master key: two-factor cannot be enrolled then).
    package let vault: Vault?
    /// How accounts are made besides invites: password sign-up, and by single sign-on.
    public let signUp: SignUpSettings
    private let setUp = SetUpFlag()

    package final class SetUpFlag: Sendable { let done = Atomic<Bool>(false) }

    public init(
        store: Store, passwords: Passwords = Passwords(), policy: SessionPolicy = SessionPolicy(),
        mailer: (any Mailer)? = nil, publicURL: String, logger: Logger, vault: Vault? = nil,
        signUp: SignUpSettings = SignUpSettings()
    ) {
        self.store = store
        self.vault = vault
        self.signUp = signUp
        self.passwords = passwords
        self.policy = policy
        self.mailer = mailer
        self.publicURL = publicURL
        self.logger = logger
    }

    // MARK: First run

    public func needsSetup() async throws -> Bool {
        if setUp.done.load(ordering: .relaxed) { return false }
        let needed = try await store.userCount() == 0
        if !needed { setUp.done.store(true, ordering: .relaxed) }
        return needed
    }

    /// Names the default organization (which already holds anything sent before) and creates its owner.
    public func setup(organization: String, name: String, email: String, password: String, timeZone: String)
        async throws -> User
    {
        var problems: [FieldProblem] = []
        let orgName = organization.trimmingCharacters(in: .whitespaces)
        if let problem = DisplayName.problem(organization, field: "organization") { problems.append(problem) }
        problems += validateNewUser(name: name, email: email, password: password)
        guard problems.isEmpty else { throw TallyError.invalid(problems) }
        guard try await needsSetup() else { throw TallyError.notFound("setup") }
        let org = try await store.defaultOrganization(timeZone: timeZone)
        var renamed = org
        renamed.name = orgName
        try await store.updateOrganization(renamed)
        let user = try await createUser(name: name, email: email, password: password)
        try await store.addMember(organizationID: org.id, userID: user.id, role: .owner, at: .now)
        setUp.done.store(true, ordering: .relaxed)
        try await store.recordAudit(
            .make(
                organizationID: org.id, actor: "user:\(user.email)", action: "setup",
                detail: [("organization", .string(orgName))]))
        return user
    }

    package func validateNewUser(name: String, email: String, password: String) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if let problem = DisplayName.problem(name, field: "name") { problems.append(problem) }
        if let reason = User.validate(email: email) { problems.append(FieldProblem(field: "email", reason: reason)) }
        if let reason = User.validate(password: password) {
            problems.append(FieldProblem(field: "password", reason: reason))
        }
        return problems
    }

    package func createUser(name: String, email: String, password: String) async throws -> User {
        let user = User(
            id: Identifier.make("usr", length: 16), email: User.normalize(email: email),
            name: name.trimmingCharacters(in: .whitespaces), createdAt: .now)
        try await store.createUser(user, passwordHash: try await passwords.hash(password))
        return user
    }

    // MARK: Sessions

    public struct SignIn: Sendable {
        public var user: User
        public var session: Session
        /// The cookie value; the store keeps only its hash.
        public var secret: String
    }

    /// The person whose password this is, throttled by account and address, refused when one of their organizations
    /// requires single sign-on (owners excepted: they keep a way in when the identity provider fails).
    public func authenticate(email: String, password: String, address: String) async throws -> User {
        // What no account can have (control characters: PostgreSQL refuses NUL in text) is throttled under its hash.
        let typed = User.normalize(email: email)
        let account = User.validate(email: typed) == nil ? typed : "invalid:" + TokenSecret.hash(typed)
        let now = Instant.now
        try await takeAttemptSlot(account: account, address: address, at: now)
        let credentials = try await store.userCredentials(email: account)
        guard try await passwords.verify(password, hash: credentials?.passwordHash), let user = credentials?.user else {
            // The slot taken above stays: it is this failure's record.
            if let user = credentials?.user {
                try await auditInEveryOrganization(
                    user, action: "login_failed", detail: [("address", .string(address))], at: now)
            }
            throw TallyError.unauthenticated
        }
        try await store.clearLoginFailures(account: account)
        for m in try await store.memberships(userID: user.id) where m.role != .owner {
            if try await store.signInRules(organizationID: m.organization.id).requireSSO {
                throw TallyError.forbidden(
                    "\(m.organization.name) requires single sign-on: sign in with your identity provider")
            }
        }
        return user
    }

    /// A session for someone who passed every step, audited as a sign-in by `method`.
    package func startSignedInSession(_ user: User, address: String, method: String) async throws -> SignIn {
        let signIn = try await startSession(user: user)
        try await store.recordAudit(
            .make(
                organizationID: signIn.session.organizationID, actor: "user:\(user.email)",
                action: "login", detail: [("address", .string(address)), ("method", .string(method))]))
        return signIn
    }

    /// Takes a sign-in attempt's slot before anything is verified, atomically in the store, so a burst of concurrent
    /// guesses gets at most the limit verified (the rest `throttled` at once) and refused attempts record nothing.
    package func takeAttemptSlot(account: String, address: String, at now: Instant) async throws {
        let since = Instant(microseconds: now.microseconds - throttle.window)
        guard
            let recent = try await store.takeLoginAttempt(
                account: account, address: address, at: now, since: since,
                accountLimit: throttle.perAccount, addressLimit: throttle.perAddress)
        else { return }
        throw TallyError.throttled(
            retryAfterSeconds: throttle.retryAfter(
                accountFailures: recent.account,
                addressFailures: recent.address, now: now) ?? 1)
    }

    package func auditInEveryOrganization(_ user: User, action: String, detail: [(String, JSONValue)], at: Instant)
        async throws
    {
        for m in try await store.memberships(userID: user.id) {
            try await store.recordAudit(
                .make(
                    organizationID: m.organization.id, actor: "user:\(user.email)", action: action,
                    detail: detail, at: at))
        }
    }

    public func startSession(user: User, organizationID: String? = nil) async throws -> SignIn {
        let memberships = try await store.memberships(userID: user.id)
        guard let org = organizationID ?? memberships.first?.organization.id else {
            throw TallyError.forbidden("this account belongs to no organization")
        }
        let secret = "tss_" + Identifier.make("", length: 43).dropFirst()
        let now = Instant.now
        let session = Session(
            id: TokenSecret.hash(secret), userID: user.id, organizationID: org,
            csrfToken: Identifier.make("", length: 32).dropFirst().description, createdAt: now, lastSeenAt: now)
        try await store.createSession(session)
        return SignIn(user: user, session: session, secret: secret)
    }

    public func logout(_ principal: Principal) async throws {
        guard case .user(let user, _, let session) = principal.kind else { return }
        try await store.deleteSession(id: session.id)
        try await store.recordAudit(
            .make(organizationID: session.organizationID, actor: "user:\(user.email)", action: "logout"))
    }

    /// Changes the password and signs the user out everywhere else.
    public func changePassword(_ principal: Principal, current: String, new: String) async throws {
        guard case .user(let user, _, let session) = principal.kind else {
            throw TallyError.forbidden("sign in to change your password")
        }
        let credentials = try await store.userCredentials(email: user.email)
        guard try await passwords.verify(current, hash: credentials?.passwordHash) else {
            throw TallyError.invalid([FieldProblem(field: "current_password", reason: "is not your current password")])
        }
        if let reason = User.validate(password: new) {
            throw TallyError.invalid([FieldProblem(field: "new_password", reason: reason)])
        }
        try await store.setPasswordHash(userID: user.id, passwordHash: try await passwords.hash(new))
        try await store.deleteSessions(userID: user.id, keeping: session.id)
        try await store.recordAudit(
            .make(organizationID: session.organizationID, actor: principal.actor, action: "password.change"))
    }

    public func switchOrganization(_ principal: Principal, to organizationID: String) async throws {
        guard case .user(let user, _, let session) = principal.kind else {
            throw TallyError.forbidden("sign in to switch organizations")
        }
        guard try await store.memberships(userID: user.id).contains(where: { $0.organization.id == organizationID })
        else {
            throw TallyError.notFound("organization '\(organizationID)'")
        }
        try await store.switchSession(id: session.id, organizationID: organizationID)
    }

    /// A new organization, owned by its creator, who switches to it.
    public func createOrganization(_ principal: Principal, name: String, timeZone: String) async throws -> Organization
    {
        guard case .user(let user, _, let session) = principal.kind else {
            throw TallyError.forbidden("organizations are created by a signed-in person")
        }
        let trimmed = try DisplayName.validated(name, field: "name")
        _ = try TimeZoneRules.validated(timeZone)
        let org = Organization(
            id: Identifier.make("org", length: 16), name: trimmed, timeZone: timeZone, createdAt: .now)
        try await store.createOrganization(org)
        try await store.addMember(organizationID: org.id, userID: user.id, role: .owner, at: .now)
        try await store.switchSession(id: session.id, organizationID: org.id)
        try await store.recordAudit(
            .make(
                organizationID: org.id, actor: principal.actor, action: "organization.create",
                detail: [("name", .string(trimmed))]))
        return org
    }

    // MARK: Members

    public func setRole(_ principal: Principal, userID: String, role: Role) async throws {
        let members = try await store.members(organizationID: principal.organizationID)
        guard let target = members.first(where: { $0.user.id == userID }) else {
            throw TallyError.notFound("member '\(userID)'")
        }
        if role == .owner || target.role == .owner, principal.role != .owner {
            throw TallyError.forbidden("only an owner can grant or take away the owner role")
        }
        try await store.setRole(organizationID: principal.organizationID, userID: userID, role: role)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "member.role",
                detail: [
                    ("user", .string(target.user.email)), ("from", .string(target.role.rawValue)),
                    ("to", .string(role.rawValue)),
                ]))
    }

    /// Removes a member and revokes the tokens they created here; returns those tokens.
    public func removeMember(_ principal: Principal, userID: String) async throws -> [APIToken] {
        let members = try await store.members(organizationID: principal.organizationID)
        guard let target = members.first(where: { $0.user.id == userID }) else {
            throw TallyError.notFound("member '\(userID)'")
        }
        if target.role == .owner, principal.role != .owner {
            throw TallyError.forbidden("only an owner can remove an owner")
        }
        let revoked = try await store.removeMember(organizationID: principal.organizationID, userID: userID, at: .now)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor, action: "member.remove",
                detail: [
                    ("user", .string(target.user.email)),
                    ("revoked_tokens", .array(revoked.map { .string($0.id) })),
                ]))
        return revoked
    }

    public func transferOwnership(_ principal: Principal, to userID: String) async throws {
        guard let me = principal.user else {
            throw TallyError.forbidden("ownership is transferred by a signed-in owner")
        }
        guard userID != me.id else {
            throw TallyError.invalid([FieldProblem(field: "user_id", reason: "is you already")])
        }
        try await store.transferOwnership(organizationID: principal.organizationID, from: me.id, to: userID)
        try await store.recordAudit(
            .make(
                organizationID: principal.organizationID, actor: principal.actor,
                action: "organization.transfer", detail: [("to", .string(userID))]))
    }

    /// Unattended first run: TALLY_ADMIN_EMAIL + TALLY_ADMIN_PASSWORD create the owner if nobody exists yet.
    public func bootstrapAdmin(email: String, password: String, timeZone: String) async throws -> Bool {
        guard try await needsSetup() else { return false }
        let name = String(email.split(separator: "@").first ?? "Admin")
        do {
            _ = try await setup(
                organization: "Default", name: name, email: email, password: password, timeZone: timeZone)
        } catch TallyError.conflict {
            // Another replica starting at the same moment created the owner first.
            return false
        }
        return true
    }
}
