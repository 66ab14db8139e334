import Foundation

/// People, organizations, sessions, invites, login failures, provider connections and the audit log.
/// Every call that reads an organization's objects names the organization.
public protocol AccountStore: Sendable {
    func userCount() async throws -> Int
    /// Throws `conflict` when the email is taken. An empty `passwordHash` is an account without a password (made by
    /// single sign-on): no password matches it.
    func createUser(_ user: User, passwordHash: String, emailVerified: Bool) async throws
    /// Looks an email up at login: not scoped, because the person chooses the organization after.
    func userCredentials(email: String) async throws -> (user: User, passwordHash: String)?
    func user(id: String) async throws -> User?
    func setPasswordHash(userID: String, passwordHash: String) async throws

    func createOrganization(_ organization: Organization) async throws
    /// Saves name, time zone and billing cycle day; throws `notFound`.
    func updateOrganization(_ organization: Organization) async throws
    /// Deletes the organization and everything in it, in one transaction.
    func deleteOrganization(id: String) async throws

    func addMember(organizationID: String, userID: String, role: Role, at: Instant) async throws
    func memberships(userID: String) async throws -> [Membership]
    func members(organizationID: String) async throws -> [Membership]
    /// Throws `conflict` when the change would leave the organization without an owner, `notFound` when not a member.
    /// Concurrent changes are serialized per organization, so together they cannot remove the last owner either.
    func setRole(organizationID: String, userID: String, role: Role) async throws
    /// Removes the membership, the person's sessions in the organization and revokes the tokens they created there,
    /// in one transaction; returns the tokens it revoked. Throws like `setRole`.
    @discardableResult
    func removeMember(organizationID: String, userID: String, at: Instant) async throws -> [APIToken]
    /// Makes `to` an owner and `from` an admin, in one transaction.
    func transferOwnership(organizationID: String, from: String, to: String) async throws
}

extension AccountStore {
    /// An account whose address was typed by its owner at set-up or proven by an invite's link.
    public func createUser(_ user: User, passwordHash: String) async throws {
        try await createUser(user, passwordHash: passwordHash, emailVerified: true)
    }
}

public protocol SessionStore: Sendable {
    func createSession(_ session: Session) async throws
    func session(id: String) async throws -> Session?
    func touchSession(id: String, at: Instant) async throws
    func switchSession(id: String, organizationID: String) async throws
    func deleteSession(id: String) async throws
    /// Signs a user out everywhere except `keeping` (the session that changed the password).
    func deleteSessions(userID: String, keeping: String?) async throws
    func deleteSessions(lastSeenBefore: Instant, createdBefore: Instant) async throws

    func recordLoginFailure(account: String, address: String, at: Instant) async throws
    /// Takes a sign-in attempt's slot: in one atomic step, counts the attempts since `since` for the account and for
    /// the address and records this one unless either count has reached its limit. Returns nil when the slot was
    /// taken (verify the password now; a success clears the account's attempts), else the recent attempts that are
    /// in the way. Concurrent attempts, on any replica, never take more slots than the limits.
    func takeLoginAttempt(
        account: String, address: String, at: Instant, since: Instant, accountLimit: Int,
        addressLimit: Int
    ) async throws -> (account: [Instant], address: [Instant])?
    func loginFailures(account: String, address: String, since: Instant) async throws -> (
        account: [Instant], address: [Instant]
    )
    func clearLoginFailures(account: String) async throws
    func deleteLoginFailures(before: Instant) async throws
}

public protocol InviteStore: Sendable {
    func createInvite(_ invite: Invite, secretHash: String) async throws
    func invites(organizationID: String) async throws -> [Invite]
    /// The one lookup not scoped by organization: the secret is what tells the organization.
    func invite(secretHash: String) async throws -> Invite?
    /// Marks the invite used and adds the membership in one transaction; throws `gone` if it was used meanwhile.
    func acceptInvite(id: String, userID: String, at: Instant) async throws
    func revokeInvite(organizationID: String, id: String, at: Instant) async throws
}

/// An encrypted secret as stored: which master key sealed it, and nonce + ciphertext + tag.
public struct SealedSecret: Sendable, Equatable {
    public var keyID: String
    public var combined: [UInt8]
    public init(keyID: String, combined: [UInt8]) {
        self.keyID = keyID
        self.combined = combined
    }

    /// `v1.<key id>.<base64>`: the form kept in the database.
    public var text: String { "v1.\(keyID).\(Data(combined).base64EncodedString())" }

    public init?(text: String) {
        let parts = text.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "v1", let data = Data(base64Encoded: String(parts[2])) else { return nil }
        self.init(keyID: String(parts[1]), combined: Array(data))
    }
}

public enum ProviderKind: String, Sendable, CaseIterable {
    case openai, anthropic, google
}

public struct ProviderConnection: Sendable, Equatable {
    public enum SecretField: String, Sendable, CaseIterable {
        case apiKey = "api_key", adminKey = "admin_key"
        /// An alert channel's secret (issue 17), sealed by the same vault so that a master key rotation re-seals it
        /// with the connections' keys; a `SealedSecretRecord` of it holds the channel's id as `connectionID`.
        case alertChannel = "alert_channel"
        /// A person's TOTP secret (issue 23), sealed with the user's id as `connectionID` and no organization.
        case twoFactor = "two_factor"
    }

    /// Which of the provider's endpoints the gateway forwards with this connection's key: its inference endpoints
    /// (the default), or every endpoint (files, batches, fine-tuning, admin…), which an admin opts into.
    public enum GatewayEndpoints: String, Sendable, CaseIterable { case inference, all }

    public var id: String
    public var organizationID: String
    public var provider: ProviderKind
    public var name: String
    public var baseURL: String?
    public var apiKey: SealedSecret?
    public var apiKeyMask: String?
    public var adminKey: SealedSecret?
    public var adminKeyMask: String?
    public var validatedAt: Instant?
    public var validationError: String?
    public var createdAt: Instant
    public var updatedAt: Instant
    public var gatewayEndpoints: GatewayEndpoints

    public init(
        id: String, organizationID: String, provider: ProviderKind, name: String, baseURL: String?,
        apiKey: SealedSecret?, apiKeyMask: String?, adminKey: SealedSecret?, adminKeyMask: String?,
        validatedAt: Instant?, validationError: String?, createdAt: Instant, updatedAt: Instant,
        gatewayEndpoints: GatewayEndpoints = .inference
    ) {
        self.id = id
        self.organizationID = organizationID
        self.provider = provider
        self.name = name
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.apiKeyMask = apiKeyMask
        self.adminKey = adminKey
        self.adminKeyMask = adminKeyMask
        self.validatedAt = validatedAt
        self.validationError = validationError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.gatewayEndpoints = gatewayEndpoints
    }

    public func sealed(_ field: SecretField) -> SealedSecret? {
        switch field {
        case .apiKey: apiKey
        case .adminKey: adminKey
        case .alertChannel, .twoFactor: nil
        }
    }

    /// What a person may see of a key: enough to tell keys apart, never enough to use one.
    public static func mask(_ secret: String) -> String {
        let chars = Array(secret)
        guard chars.count >= 12 else { return "…" + String(chars.suffix(min(2, chars.count / 4))) }
        return String(chars.prefix(3)) + "…" + String(chars.suffix(4))
    }
}

/// One sealed secret, for re-encryption under a new master key.
public struct SealedSecretRecord: Sendable, Equatable {
    public var organizationID: String
    public var connectionID: String
    public var field: ProviderConnection.SecretField
    public var secret: SealedSecret
    public init(
        organizationID: String, connectionID: String, field: ProviderConnection.SecretField, secret: SealedSecret
    ) {
        self.organizationID = organizationID
        self.connectionID = connectionID
        self.field = field
        self.secret = secret
    }
}

public protocol ConnectionStore: Sendable {
    /// Throws `conflict` when the organization has a connection of that name.
    func createConnection(_ connection: ProviderConnection, audit: AuditRecord) async throws
    func connections(organizationID: String) async throws -> [ProviderConnection]
    func connection(organizationID: String, id: String) async throws -> ProviderConnection?
    func updateConnection(_ connection: ProviderConnection, audit: AuditRecord?) async throws
    func deleteConnection(organizationID: String, id: String, audit: AuditRecord) async throws
    func sealedSecrets() async throws -> [SealedSecretRecord]
    /// Replaces each secret (expected to still hold `old`) in one transaction; `conflict` if any changed meanwhile.
    func replaceSealedSecrets(_ changes: [(old: SealedSecretRecord, new: SealedSecret)]) async throws
}

public protocol AuditStore: Sendable {
    func recordAudit(_ record: AuditRecord) async throws
    func auditRecords(organizationID: String, limit: Int, before: Instant?) async throws -> [AuditRecord]
    func deleteAuditRecords(before: Instant) async throws
}

extension AuditRecord {
    public static func make(
        organizationID: String, actor: String, action: String, detail: [(String, JSONValue)] = [],
        at: Instant = .now
    ) -> AuditRecord {
        AuditRecord(
            id: Identifier.timeOrdered("aud", at: at), organizationID: organizationID, at: at, actor: actor,
            action: action, detail: JSONWriter.encode(.object(detail)))
    }
}
