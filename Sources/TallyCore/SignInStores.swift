/// Sign-in, round 2 (issue 23): identities from single sign-on, mailed links (password reset, email verification),
/// two-factor state, the sign-in flows in progress, and each organization's sign-in rules.

/// What an account can sign in with, and whether its email was proven.
public struct UserSecurity: Sendable, Equatable {
    public var emailVerified: Bool
    /// SSO-created accounts have no password until they set one through a reset.
    public var hasPassword: Bool
    /// The TOTP secret (sealed by the vault), once enrolment began; `twoFactorEnabled` once a code confirmed it.
    public var totpSecret: String?
    public var twoFactorEnabled: Bool
    public var unusedRecoveryCodes: Int
    public init(
        emailVerified: Bool, hasPassword: Bool, totpSecret: String? = nil, twoFactorEnabled: Bool = false,
        unusedRecoveryCodes: Int = 0
    ) {
        self.emailVerified = emailVerified
        self.hasPassword = hasPassword
        self.totpSecret = totpSecret
        self.twoFactorEnabled = twoFactorEnabled
        self.unusedRecoveryCodes = unusedRecoveryCodes
    }
}

/// An identity at a provider (an OIDC issuer and subject, or GitHub's user id) linked to an account.
public struct LinkedIdentity: Sendable, Equatable {
    public var id: String
    public var userID: String
    /// `oidc`, `google` or `github`: which button signs in with it.
    public var provider: String
    public var issuer: String
    public var subject: String
    public var email: String?
    public var createdAt: Instant
    public var lastUsedAt: Instant?
    public init(
        id: String, userID: String, provider: String, issuer: String, subject: String, email: String?,
        createdAt: Instant, lastUsedAt: Instant? = nil
    ) {
        self.id = id
        self.userID = userID
        self.provider = provider
        self.issuer = issuer
        self.subject = subject
        self.email = email
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }
}

/// A single-use secret link sent by mail. The store keeps only the secret's hash.
public struct AccountLink: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case passwordReset = "password_reset", emailVerification = "email_verification"
    }
    public var id: String
    public var kind: Kind
    public var userID: String
    public var createdAt: Instant
    public var expiresAt: Instant
    public init(id: String, kind: Kind, userID: String, createdAt: Instant, expiresAt: Instant) {
        self.id = id
        self.kind = kind
        self.userID = userID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A single sign-on in progress: what the callback must find again (the state's hash is the key).
public struct SignInFlow: Sendable, Equatable {
    public var provider: String
    public var nonce: String
    public var codeVerifier: String
    /// Where to go after signing in (already checked to be a local path).
    public var next: String
    /// Set when a signed-in person links another identity to their account.
    public var linkUserID: String?
    public var expiresAt: Instant
    public init(
        provider: String, nonce: String, codeVerifier: String, next: String, linkUserID: String?, expiresAt: Instant
    ) {
        self.provider = provider
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.next = next
        self.linkUserID = linkUserID
        self.expiresAt = expiresAt
    }
}

/// Who passed the password (or SSO) and still owes a second factor; the cookie holds the secret, the store its hash.
public struct LoginChallenge: Sendable, Equatable {
    public var userID: String
    public var expiresAt: Instant
    /// Where to go once the second step passes.
    public var next: String
    public init(userID: String, expiresAt: Instant, next: String) {
        self.userID = userID
        self.expiresAt = expiresAt
        self.next = next
    }
}

/// What an organization asks of its members at sign-in.
public struct OrganizationSignInRules: Sendable, Equatable {
    /// Members (owners excepted: they keep a recovery path) must sign in through single sign-on.
    public var requireSSO: Bool
    /// Members must have two-factor enabled; those without it are sent to enrol before anything else.
    public var requireTwoFactor: Bool
    public init(requireSSO: Bool = false, requireTwoFactor: Bool = false) {
        self.requireSSO = requireSSO
        self.requireTwoFactor = requireTwoFactor
    }
}

public protocol SignInStore: Sendable {
    func userSecurity(userID: String) async throws -> UserSecurity
    func markEmailVerified(userID: String, at: Instant) async throws

    /// Keeps only the secret's hash. Earlier unused links of the same kind for the user stop working.
    func createAccountLink(_ link: AccountLink, secretHash: String) async throws
    /// Marks the link used and returns it, in one step, if it is of this kind, unused and unexpired; else nil.
    func useAccountLink(kind: AccountLink.Kind, secretHash: String, at: Instant) async throws -> AccountLink?
    /// Whether such a link would still work, without using it.
    func accountLinkUsable(kind: AccountLink.Kind, secretHash: String, at: Instant) async throws -> Bool
    /// Invites not yet accepted, revoked or expired for this address, in every organization (single sign-on's
    /// `invite` mode accepts them for a new account).
    func usableInvites(email: String, at: Instant) async throws -> [Invite]

    func identities(userID: String) async throws -> [LinkedIdentity]
    /// The one lookup not scoped by user: the provider's issuer and subject are what name the account.
    func identity(issuer: String, subject: String) async throws -> LinkedIdentity?
    /// Throws `conflict` when the identity is linked already.
    func linkIdentity(_ identity: LinkedIdentity) async throws
    func touchIdentity(id: String, at: Instant) async throws
    /// Throws `notFound` when the user has no such identity.
    func unlinkIdentity(userID: String, id: String) async throws

    func saveSignInFlow(_ flow: SignInFlow, stateHash: String) async throws
    /// Deletes and returns the flow (each state works once), nil if unknown or expired.
    func takeSignInFlow(stateHash: String, at: Instant) async throws -> SignInFlow?

    func saveLoginChallenge(_ challenge: LoginChallenge, secretHash: String) async throws
    func loginChallenge(secretHash: String, at: Instant) async throws -> LoginChallenge?
    func deleteLoginChallenge(secretHash: String) async throws

    /// Starts (or restarts) enrolment with a new sealed secret; two-factor is off until `enableTwoFactor`.
    func beginTwoFactor(userID: String, sealedSecret: String) async throws
    /// Turns two-factor on and replaces the recovery codes, in one transaction; the confirming code's step is used.
    func enableTwoFactor(userID: String, recoveryCodeHashes: [String], usedStep: Int64, at: Instant) async throws
    func disableTwoFactor(userID: String) async throws
    /// Records a code's time step as used, only if it is later than the last one used: false for a replay.
    func useTwoFactorStep(userID: String, step: Int64) async throws -> Bool
    /// Marks a recovery code used: false if it is unknown or was used before.
    func useRecoveryCode(userID: String, codeHash: String, at: Instant) async throws -> Bool

    /// `TALLY_OIDC_DEFAULT_ORGANIZATION` names an organization by id or by name (the oldest of that name).
    func organizationID(idOrName: String) async throws -> String?

    func signInRules(organizationID: String) async throws -> OrganizationSignInRules
    func setSignInRules(organizationID: String, _ rules: OrganizationSignInRules) async throws

    func deleteExpiredSignInState(before: Instant) async throws
}
