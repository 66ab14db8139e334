import Foundation
import TallyCore

/// One identity provider as the sign-in flow uses it: where to send the browser, and who came back.
package protocol IdentityProvider: Sendable {
    /// `oidc`, `google` or `github`: the path segment of its routes and the `provider` of its identities.
    var name: String { get }
    /// What its button says.
    var label: String { get }
    func authorizeURL(state: String, nonce: String, codeChallenge: String) async throws -> String
    func identity(code: String, codeVerifier: String, nonce: String) async throws -> ExternalIdentity
}

/// Single sign-on (issue 23): the authorization code flow with PKCE, `state` and `nonce` kept in the store (any
/// replica can finish what another started) and bound to the browser by a cookie, then the identity linked or
/// looked up, an account made as `SignUpSettings` allow, and the second factor as after a password.
public struct SingleSignOn<Store: AccountServiceStore>: Sendable {
    package let accounts: AccountService<Store>
    package let providers: [any IdentityProvider]

    package init(accounts: AccountService<Store>, providers: [any IdentityProvider]) {
        self.accounts = accounts
        self.providers = providers
    }

    /// The buttons of the sign-in page: (route name, label).
    public var buttons: [(name: String, label: String)] { providers.map { ($0.name, $0.label) } }
    public var isConfigured: Bool { !providers.isEmpty }

    package static var flowMicroseconds: Int64 { 10 * 60_000_000 }

    public struct Started: Sendable {
        public var redirect: String
        /// Goes into the browser's cookie: the callback must come back to the browser that started it.
        public var state: String
    }

    public func start(provider name: String, next: String, linking principal: Principal?) async throws -> Started {
        let provider = try self.provider(name)
        let state = PKCE.randomToken()
        let nonce = PKCE.randomToken()
        let verifier = PKCE.verifier()
        let url = try await provider.authorizeURL(
            state: state, nonce: nonce, codeChallenge: PKCE.challenge(verifier: verifier))
        try await accounts.store.saveSignInFlow(
            SignInFlow(
                provider: name, nonce: nonce, codeVerifier: verifier, next: next, linkUserID: principal?.user?.id,
                expiresAt: Instant(microseconds: Instant.now.microseconds + Self.flowMicroseconds)),
            stateHash: TokenSecret.hash(state))
        return Started(redirect: url, state: state)
    }

    public enum Finished: Sendable {
        case signedIn(AccountService<Store>.FirstFactorOutcome)
        /// A signed-in person linked another identity.
        case linked
    }

    /// The callback: the flow taken (once), the code exchanged and the ID token verified, then the account.
    public func finish(
        provider name: String, code: String, state: String, browserState: String, address: String
    ) async throws -> Finished {
        let provider = try self.provider(name)
        // Compared as hashes, so the comparison's time tells nothing of the cookie.
        guard !state.isEmpty, TokenSecret.hash(state) == TokenSecret.hash(browserState) else {
            throw SSOError.stateMismatch
        }
        guard let flow = try await accounts.store.takeSignInFlow(stateHash: TokenSecret.hash(state), at: .now),
            flow.provider == name
        else { throw SSOError.stateMismatch }
        let identity = try await provider.identity(code: code, codeVerifier: flow.codeVerifier, nonce: flow.nonce)
        if let userID = flow.linkUserID {
            try await link(identity, to: userID)
            return .linked
        }
        let user = try await account(for: identity)
        return .signedIn(
            try await accounts.afterFirstFactor(user, next: flow.next, address: address, method: "sso:" + name))
    }

    private func provider(_ name: String) throws -> any IdentityProvider {
        guard let p = providers.first(where: { $0.name == name }) else { throw TallyError.notFound("page") }
        return p
    }

    /// The account an identity signs in: linked before; else the account of its verified address (now linked);
    /// else a new one if sign-up allows.
    private func account(for identity: ExternalIdentity) async throws -> User {
        let store = accounts.store
        let now = Instant.now
        if let linked = try await store.identity(issuer: identity.issuer, subject: identity.subject),
            let user = try await store.user(id: linked.userID)
        {
            try await store.touchIdentity(id: linked.id, at: now)
            return user
        }
        guard let email = identity.email.map(User.normalize(email:)), User.validate(email: email) == nil else {
            throw SSOError.noEmail
        }
        guard accounts.signUp.allows(email: email) else { throw SSOError.domainNotAllowed }
        // Only an address the provider vouches for may take over an account, or make one.
        guard identity.emailVerified else { throw SSOError.emailNotVerified }
        let user: User
        if let existing = try await store.userCredentials(email: email)?.user {
            user = existing
        } else {
            user = try await newAccount(identity, email: email)
        }
        try await store.linkIdentity(record(identity, userID: user.id, at: now))
        try await accounts.auditInEveryOrganization(
            user, action: "identity.link", detail: [("provider", .string(identity.provider))], at: now)
        return user
    }

    private func newAccount(_ identity: ExternalIdentity, email: String) async throws -> User {
        let store = accounts.store
        let settings = accounts.signUp
        let now = Instant.now
        let invites = try await store.usableInvites(email: email, at: now)
        switch settings.sso {
        case .off: throw SSOError.signUpClosed
        case .invite where invites.isEmpty: throw SSOError.signUpClosed
        case .invite, .open: break
        }
        let name =
            DisplayName.problem(identity.name ?? "", field: "name") == nil
            ? identity.name!.trimmingCharacters(in: .whitespaces) : String(email.split(separator: "@")[0])
        let user = User(id: Identifier.make("usr", length: 16), email: email, name: name, createdAt: now)
        try await store.createUser(user, passwordHash: "", emailVerified: true)
        for invite in invites {
            try await store.acceptInvite(id: invite.id, userID: user.id, at: now)
        }
        if settings.sso == .open, invites.isEmpty {
            if let wanted = settings.defaultOrganization,
                let orgID = try await store.organizationID(idOrName: wanted)
            {
                try await store.addMember(organizationID: orgID, userID: user.id, role: settings.defaultRole, at: now)
            } else {
                _ = try await accounts.createOwnOrganization(
                    for: user, named: "\(name)'s organization", timeZone: "UTC")
            }
        }
        for m in try await store.memberships(userID: user.id) {
            try await store.recordAudit(
                .make(
                    organizationID: m.organization.id, actor: "user:\(email)", action: "signup",
                    detail: [("method", .string("sso:" + identity.provider)), ("role", .string(m.role.rawValue))],
                    at: now))
        }
        return user
    }

    private func link(_ identity: ExternalIdentity, to userID: String) async throws {
        guard let user = try await accounts.store.user(id: userID) else { throw TallyError.unauthenticated }
        if let linked = try await accounts.store.identity(issuer: identity.issuer, subject: identity.subject) {
            guard linked.userID == userID else { throw SSOError.linkedElsewhere }
            return
        }
        try await accounts.store.linkIdentity(record(identity, userID: userID, at: .now))
        try await accounts.auditInEveryOrganization(
            user, action: "identity.link", detail: [("provider", .string(identity.provider))], at: .now)
    }

    private func record(_ identity: ExternalIdentity, userID: String, at now: Instant) -> LinkedIdentity {
        LinkedIdentity(
            id: Identifier.make("idn", length: 16), userID: userID, provider: identity.provider,
            issuer: identity.issuer, subject: identity.subject, email: identity.email, createdAt: now, lastUsedAt: now)
    }

    // MARK: A person's identities

    public func identities(_ principal: Principal) async throws -> [LinkedIdentity] {
        try await accounts.store.identities(userID: try accounts.signedInUser(principal).id)
    }

    /// Unlinks one of the person's identities, unless it is their last way in (no password, no other identity).
    public func unlink(_ principal: Principal, id: String) async throws {
        let user = try accounts.signedInUser(principal)
        let all = try await accounts.store.identities(userID: user.id)
        guard all.contains(where: { $0.id == id }) else { throw TallyError.notFound("identity '\(id)'") }
        if all.count == 1, try await !accounts.store.userSecurity(userID: user.id).hasPassword {
            throw TallyError.conflict(
                "this is your only way to sign in: set a password (Forgot password? on the sign-in page) first")
        }
        try await accounts.store.unlinkIdentity(userID: user.id, id: id)
        try await accounts.auditInEveryOrganization(
            user, action: "identity.unlink", detail: [("id", .string(id))], at: .now)
    }
}
