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
            !email.contains(where: { $0.isWhitespace || $0 == "\r" || $0 == "\n" }),
            !email.unicodeScalars.contains(where: DisplayName.isRefused)
        else { return "must be an email address such as ada@example.com" }
        return nil
    }

    public static let minimumPasswordLength = 12
    /// bcrypt reads at most 72 bytes and stops at a NUL, so longer passwords or ones with NUL would be checked only in part.
    public static func validate(password: String) -> String? {
        guard password.count >= minimumPasswordLength else {
            return "must be at least \(minimumPasswordLength) characters"
        }
        guard !password.utf8.contains(0) else { return "must not contain a NUL character" }
        guard password.utf8.count <= 72 else { return "must be at most 72 bytes in UTF-8 (bcrypt reads no further)" }
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
    /// Budgets, alert channels and alert rules (issue 17): admins; viewers read them under `readUsage`.
    case manageAlerts
    /// Content capture, safety filters and reading captured bodies (issue 21): admins only.
    case manageContent

    public var minimumRole: Role {
        switch self {
        case .readUsage: .viewer
        case .ingest, .manageOwnTokens: .member
        case .manageAllTokens, .manageProjects, .manageMembers, .manageProviderKeys, .managePrices, .readAudit,
            .editOrganization, .manageAlerts, .manageContent:
            .admin
        case .deleteOrganization, .transferOwnership: .owner
        }
    }
}

extension Role {
    public func allows(_ permission: Permission) -> Bool { self >= permission.minimumRole }

    /// The API scopes a person in this role may use; their tokens are capped to these on every request.
    /// `gateway` spends through the organization's provider keys, so it needs a member, like sending events.
    public var tokenScopes: Set<Scope> {
        switch self {
        case .viewer: [.read]
        case .member: [.ingest, .read, .gateway]
        case .admin, .owner: Set(Scope.allCases)
        }
    }
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
    public init(
        id: String, userID: String, organizationID: String, csrfToken: String, createdAt: Instant, lastSeenAt: Instant
    ) {
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
    public init(
        id: String, organizationID: String, email: String, role: Role, createdBy: String, createdAt: Instant,
        expiresAt: Instant, acceptedAt: Instant? = nil, revokedAt: Instant? = nil
    ) {
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

/// Login throttling: attempts per account and per address within a window (the rule, without the storage).
/// The per-address limit is high on purpose: many people may share one address (an office, a proxy), and one of them
/// guessing must not lock out the others; the per-account limit is what stops guessing one password.
public struct LoginThrottle: Sendable {
    public var window: Int64 = 15 * 60_000_000
    public var perAccount = 5
    public var perAddress = 100
    public init() {}

    /// Seconds to wait, or nil when another attempt is allowed. `failures` are the times of recent failures.
    public func retryAfter(accountFailures: [Instant], addressFailures: [Instant], now: Instant) -> Int? {
        func wait(_ failures: [Instant], limit: Int) -> Int64? {
            let recent = failures.filter { now.microseconds - $0.microseconds < window }.sorted()
            guard recent.count >= limit else { return nil }
            // Blocked until enough of them age out of the window.
            return recent[recent.count - limit].microseconds + window - now.microseconds
        }
        let waits = [wait(accountFailures, limit: perAccount), wait(addressFailures, limit: perAddress)].compactMap {
            $0
        }
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

/// Names people type for organizations, people, connections and tokens: trimmed, 1-80 characters, and none of the
/// characters that hide or reorder text (control characters, line and paragraph separators, bidi overrides and
/// isolates), which would let a name impersonate another in pages, mails and the audit log.
public enum DisplayName {
    public static func problem(_ raw: String, field: String) -> FieldProblem? {
        if raw.unicodeScalars.contains(where: isRefused) {
            return FieldProblem(
                field: field, reason: "must not contain control characters, line separators or bidirectional overrides")
        }
        return (1...80).contains(raw.trimmingCharacters(in: .whitespaces).count)
            ? nil : FieldProblem(field: field, reason: "must be 1-80 characters")
    }

    /// C0 and C1 controls (tab and newline included: names are one line), U+2028/2029, U+202A-202E and U+2066-2069.
    public static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    public static func validated(_ raw: String, field: String) throws(TallyError) -> String {
        if let problem = problem(raw, field: field) { throw .invalid([problem]) }
        return raw.trimmingCharacters(in: .whitespaces)
    }
}

extension TimeZoneRules {
    public static func validated(_ identifier: String, field: String = "time_zone") throws(TallyError) -> String {
        guard TimeZoneRules(identifier: identifier) != nil else {
            throw .invalid([
                FieldProblem(field: field, reason: "must be an IANA time zone such as UTC or Europe/Berlin")
            ])
        }
        return identifier
    }
}
