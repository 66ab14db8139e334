import Foundation

/// People, their organizations and what each role may do.

public struct User: Sendable, Equatable {
    public var id: String
    public var email: String
    public var name: String
    public var createdAt: Instant
    public init(id: String, email: String, name: String, createdAt: Instant) {
        self.id = id
        self.email = email
        self.name = name
        self.createdAt = createdAt
    }

    /// Emails are compared case-insensitively: one person, one account.
    public static func normalize(email: String) -> String {
        email.trimmingCharacters(in: .whitespaces).lowercased()
    }

    public static func validate(email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !email.contains(where: { $0.isWhitespace || $0 == "\r" || $0 == "\n" })
        else { return "must be an email address such as ada@example.com" }
        return nil
    }

    public static let minimumPasswordLength = 12
    public static func validate(password: String) -> String? {
        guard password.count >= minimumPasswordLength else { return "must be at least \(minimumPasswordLength) characters" }
        guard password.utf8.count <= 72 else { return "must be at most 72 bytes (bcrypt reads no further)" }
        return nil
    }
}

public enum Role: String, Sendable, CaseIterable, Comparable {
    case viewer, member, admin, owner
    public static func < (a: Role, b: Role) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Everything a session user may be allowed to do. The table in docs/security.md is this function.
public enum Permission: String, Sendable, CaseIterable {
    case readUsage, ingest, manageOwnTokens, manageAllTokens, manageProjects, manageMembers,
         manageProviderKeys, managePrices, readAudit, editOrganization, deleteOrganization, transferOwnership

    public var minimumRole: Role {
        switch self {
        case .readUsage: .viewer
        case .ingest, .manageOwnTokens: .member
        case .manageAllTokens, .manageProjects, .manageMembers, .manageProviderKeys, .managePrices, .readAudit,
             .editOrganization: .admin
        case .deleteOrganization, .transferOwnership: .owner
        }
    }
}

extension Role {
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }
}

public struct Membership: Sendable, Equatable {
    public var organization: Organization
    public var user: User
    public var role: Role
    public var joinedAt: Instant
    public init(organization: Organization, user: User, role: Role, joinedAt: Instant) {
        self.organization = organization
        self.user = user
        self.role = role
        self.joinedAt = joinedAt
    }
}

/// A signed-in browser. The cookie carries a secret; the store keeps only its hash (`id`).
public struct Session: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var organizationID: String
    public var csrfToken: String
    public var createdAt: Instant
    public var lastSeenAt: Instant
    public init(id: String, userID: String, organizationID: String, csrfToken: String, createdAt: Instant, lastSeenAt: Instant) {
        self.id = id
        self.userID = userID
        self.organizationID = organizationID
        self.csrfToken = csrfToken
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
    }

    public func isExpired(at now: Instant, policy: SessionPolicy) -> Bool {
        now.microseconds - lastSeenAt.microseconds > policy.idleMicroseconds
            || now.microseconds - createdAt.microseconds > policy.absoluteMicroseconds
    }
}

public struct SessionPolicy: Sendable, Equatable {
    public var idleMicroseconds: Int64
    public var absoluteMicroseconds: Int64
    public init(idleMinutes: Int = 12 * 60, absoluteHours: Int = 7 * 24) {
        idleMicroseconds = Int64(idleMinutes) * 60_000_000
        absoluteMicroseconds = Int64(absoluteHours) * 3_600_000_000
    }
}

public struct Invite: Sendable, Equatable {
    public var id: String
    public var organizationID: String
    public var email: String
    public var role: Role
    public var createdBy: String
    public var createdAt: Instant
    public var expiresAt: Instant
    public var acceptedAt: Instant?
    public var revokedAt: Instant?
    public init(id: String, organizationID: String, email: String, role: Role, createdBy: String, createdAt: Instant,
                expiresAt: Instant, acceptedAt: Instant? = nil, revokedAt: Instant? = nil) {
        self.id = id
        self.organizationID = organizationID
        self.email = email
        self.role = role
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.acceptedAt = acceptedAt
        self.revokedAt = revokedAt
    }

    public static let lifetimeMicroseconds: Int64 = 7 * 24 * 3_600_000_000

    public func isUsable(at now: Instant) -> Bool {
        acceptedAt == nil && revokedAt == nil && now < expiresAt
    }
}

/// Login throttling: failures per account and per address within a window (the rule, without the storage).
public struct LoginThrottle: Sendable {
    public var window: Int64 = 15 * 60_000_000
    public var perAccount = 5
    public var perAddress = 20
    public init() {}

    /// Seconds to wait, or nil when another attempt is allowed. `failures` are the times of recent failures.
    public func retryAfter(accountFailures: [Instant], addressFailures: [Instant], now: Instant) -> Int? {
        func wait(_ failures: [Instant], limit: Int) -> Int64? {
            let recent = failures.filter { now.microseconds - $0.microseconds < window }.sorted()
            guard recent.count >= limit else { return nil }
            // Blocked until enough of them age out of the window.
            return recent[recent.count - limit].microseconds + window - now.microseconds
        }
        let waits = [wait(accountFailures, limit: perAccount), wait(addressFailures, limit: perAddress)].compactMap { $0 }
        guard let longest = waits.max() else { return nil }
        return Int(max(1, (longest + 999_999) / 1_000_000))
    }
}

/// Who is making an API call: a token of a project, or a signed-in member of an organization.
public struct Principal: Sendable {
    public enum Kind: Sendable {
        case token(APIToken)
        case user(User, Role, Session)
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public var organizationID: String {
        switch kind {
        case .token(let t): t.organizationID
        case .user(_, _, let s): s.organizationID
        }
    }

    /// Written into the audit log.
    public var actor: String {
        switch kind {
        case .token(let t): "token:\(t.id)"
        case .user(let u, _, _): "user:\(u.email)"
        }
    }

    public var token: APIToken? { if case .token(let t) = kind { t } else { nil } }
    public var user: User? { if case .user(let u, _, _) = kind { u } else { nil } }
    public var role: Role? { if case .user(_, let r, _) = kind { r } else { nil } }

    /// The projects whose data this principal reads: a token without `admin` reads its own project only.
    public var projectScope: [String]? {
        switch kind {
        case .token(let t): t.allows(.admin) ? nil : [t.projectID]
        case .user: nil
        }
    }

    /// API scopes map onto roles for session users: read ← viewer, ingest ← member, admin ← admin.
    /// `gateway` is for apps, so tokens only.
    public func allows(_ scope: Scope) -> Bool {
        switch kind {
        case .token(let t): t.allows(scope)
        case .user(_, let role, _):
            switch scope {
            case .read: role.allows(.readUsage)
            case .ingest: role.allows(.ingest)
            case .admin: role >= .admin
            case .gateway: false
            }
        }
    }

    /// An `admin`-scoped token may do everything an admin may; owner-only actions need an owner's session.
    public func allows(_ permission: Permission) -> Bool {
        switch kind {
        case .token(let t):
            switch permission {
            case .readUsage: t.allows(.read)
            case .ingest: t.allows(.ingest)
            case .deleteOrganization, .transferOwnership: false
            default: t.allows(.admin)
            }
        case .user(_, let role, _): role.allows(permission)
        }
    }
}

/// Names people type for organizations, people and connections: trimmed, 1-80 characters.
public enum DisplayName {
    public static func problem(_ raw: String, field: String) -> FieldProblem? {
        (1...80).contains(raw.trimmingCharacters(in: .whitespaces).count) ? nil : FieldProblem(field: field, reason: "must be 1-80 characters")
    }

    public static func validated(_ raw: String, field: String) throws(TallyError) -> String {
        if let problem = problem(raw, field: field) { throw .invalid([problem]) }
        return raw.trimmingCharacters(in: .whitespaces)
    }
}

extension TimeZoneRules {
    public static func validated(_ identifier: String, field: String = "time_zone") throws(TallyError) -> String {
        guard TimeZoneRules(identifier: identifier) != nil else {
            throw .invalid([FieldProblem(field: field, reason: "must be an IANA time zone such as UTC or Europe/Berlin")])
        }
        return identifier
    }
}
